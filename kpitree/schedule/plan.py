"""Which runs are due: after a fire, after a downtime, after a crash. Pure, so it is tested alone.

The misfire policy, in full:

- every fire time since the last one taken up is due, **once per period**: several missed fires
  that compute the same period (a weekly cron on a monthly tree) run it once, with the latest fire;
- at most ``max_periods`` periods are caught up (the newest); older ones are reported as skipped
  and can be run by hand with ``kpitree run TREE --period P``;
- runs left ``running`` (their process died) or ``failed`` are run again, with their own keys;
- in one batch, only the run of the **latest** fire notifies; the others record values and alert
  states, so owners hear once, about where things stand now, never a flood;
- a tree the scheduler never ran starts with its next fire: nothing before it is backfilled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from kpitree.crontab import CrontabTrigger
from kpitree.periods import Period
from kpitree.schedule.triggers import before_fires_for, closed_period, fire_times
from kpitree.tree import MetricTree, tree_calendar

DEFAULT_MAX_PERIODS = 12


@dataclass(frozen=True)
class PlannedRun:
    scheduled_for: datetime  # the fire time: the run's identity
    period: Period
    trigger: str  # schedule (on time) | catch-up (a missed fire) | retry (an unfinished run)
    notify: bool


@dataclass(frozen=True)
class Plan:
    runs: tuple[PlannedRun, ...]
    skipped_periods: tuple[Period, ...]  # after the last fire, but older than max_periods


@dataclass(frozen=True)
class Unfinished:
    """A ledger row left running or failed: its fire time and period."""

    scheduled_for: datetime
    period_label: str


def due_runs(
    tree: MetricTree,
    trigger: CrontabTrigger,
    last_fire: datetime | None,
    now: datetime,
    *,
    on_time: datetime | None = None,
    unfinished: Sequence[Unfinished] = (),
    max_periods: int = DEFAULT_MAX_PERIODS,
) -> Plan:
    """The runs due at ``now`` for a tree whose latest fire taken up was ``last_fire``.

    ``on_time`` is the fire APScheduler is executing right now, if any: it is due even for a tree
    that has no ``last_fire`` yet (its first scheduled run), and counts as on time, not catch-up.
    """
    calendar = tree_calendar(tree)
    oldest = calendar.shift(closed_period(tree, now), -(max_periods - 1))
    fires: list[datetime] = []
    skipped: list[Period] = []
    if last_fire is not None:
        # Fires after this instant compute `oldest` or a later period: iterating from there keeps a
        # long downtime of a frequent cron cheap.
        bound = before_fires_for(tree, oldest)
        fires = fire_times(trigger, max(last_fire, bound), now)
        period = calendar.shift(closed_period(tree, last_fire), 1)
        while period < oldest:
            skipped.append(period)
            period = calendar.shift(period, 1)
    if on_time is not None and (last_fire is None or on_time > last_fire) and on_time not in fires:
        fires.append(on_time)
    by_period = {closed_period(tree, fire): fire for fire in sorted(fires)}  # a period's latest fire wins
    retries = [(u.scheduled_for, calendar.parse(u.period_label), "retry") for u in unfinished]
    fresh = [(fire, period, "schedule" if fire == on_time else "catch-up") for period, fire in by_period.items()]
    ordered = sorted(retries + fresh, key=lambda item: item[0])
    latest = ordered[-1][0] if ordered else None
    runs = tuple(PlannedRun(fire, period, kind, fire == latest) for fire, period, kind in ordered)
    return Plan(runs, tuple(skipped))
