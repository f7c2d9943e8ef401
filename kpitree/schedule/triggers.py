"""When a tree's schedule fires, and which period each fire computes.

A schedule is a crontab line in the tree's timezone, read as cron reads it (day-of-week numbers,
daylight saving): see :mod:`kpitree.crontab`.

A fire computes the tree's latest **closed** period: the one before the period holding the fire's
local date. A Monday 06:00 fire of a weekly tree computes the week that ended at midnight; a fire on
the 1st of a month computes the month before, whatever the weekday.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from kpitree.crontab import CrontabTrigger, crontab_trigger
from kpitree.periods import Grain, Period
from kpitree.tree import MetricTree, tree_calendar

ONE_MICROSECOND = timedelta(microseconds=1)


def tree_trigger(tree: MetricTree) -> CrontabTrigger | None:
    """The tree's trigger, or None when the tree has no ``schedule`` (the spec checked the cron)."""
    if tree.schedule is None:
        return None
    return crontab_trigger(tree.schedule.cron, ZoneInfo(tree.schedule.timezone or tree.timezone))


def fire_times(trigger: CrontabTrigger, after: datetime, until: datetime) -> list[datetime]:
    """Every fire time in ``(after, until]``, oldest first."""
    fires: list[datetime] = []
    fire = trigger.get_next_fire_time(after, after)
    while fire is not None and fire <= until:
        fires.append(fire)
        fire = trigger.get_next_fire_time(fire, fire)
    return fires


def closed_period(tree: MetricTree, fire: datetime) -> Period:
    """The period a fire at ``fire`` computes: the last one of the tree's grain closed by then."""
    calendar = tree_calendar(tree)
    return calendar.previous(calendar.period_at(fire, Grain(tree.grain)))


def before_fires_for(tree: MetricTree, period: Period) -> datetime:
    """The instant just before the first fire that can compute ``period`` (the start of the
    period after it): fires strictly after it compute ``period`` or a later one."""
    calendar = tree_calendar(tree)
    return calendar.bounds(calendar.shift(period, 1))[0] - ONE_MICROSECOND


def latest_fire(trigger: CrontabTrigger, now: datetime) -> datetime | None:
    """The last fire time at or before ``now``: the fire APScheduler is executing (it does not
    tell the job). Looks back a day first, then a year, for crons that fire rarely."""
    for lookback in (timedelta(days=1), timedelta(days=400)):
        fires = fire_times(trigger, now - lookback, now)
        if fires:
            return fires[-1]
    return None
