"""One run of a tree: compute -> attribute -> evaluate alert rules -> commit -> deliver.

``kpitree run`` starts it by hand and the scheduler starts the same code. The run's results (the
period's node values), the alerts' new states, the events (the audit trail) and the outbox rows
are committed in **one transaction**: a run killed halfway leaves nothing behind, and a message
is queued if and only if the results that explain it are stored. Delivery happens after the
commit, from the outbox, so a crash after the commit loses nothing (the next delivery sends it).

A run has a key (tree, period, segment, and the scheduled time, or when a run by hand ran) and a row
in the run ledger (:mod:`kpitree.state.runs`), which turns ``succeeded`` in that same transaction.
Running the same period again recomputes and stores the values, but the lifecycle finds every alert
already told, so nothing new is sent; a scheduled run taken up twice is claimed once by the ledger,
and would write the same event and outbox keys, which the database refuses the second time.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from uuid import uuid4
from zoneinfo import ZoneInfo

from sqlmodel import Session

from kpitree.alert.entities import crossing_watches
from kpitree.alert.evaluate import Finding, evaluate, history_needed, wants_year_ago
from kpitree.alert.lifecycle import Decision, decide, fingerprint, suppression
from kpitree.alert.messages import (
    MessagePlan,
    Notice,
    build_messages,
    digest_key,
    digest_messages,
    entity_file_name,
)
from kpitree.alert.queue import NewMessage
from kpitree.alert.routing import Role, Route, RouteMemo
from kpitree.alert.templates import AlertTemplates, template_dir
from kpitree.alert.views import AlertView, alert_view
from kpitree.analysis.variance import VarianceReport, build_report
from kpitree.compute.batch import SegmentFilter
from kpitree.delivery.channels import Channel
from kpitree.delivery.outbox import enqueue
from kpitree.delivery.worker import DeliveryTally, RetryPolicy, deliver_due
from kpitree.errors import InternalError
from kpitree.periods import Comparison, Period
from kpitree.progress import SILENT, Progress
from kpitree.state.alerts import (
    AlertKey,
    NewEvent,
    active_silences,
    alert_memory,
    read_alert_memory,
    record_events,
    save_decisions,
    take_pending_digests,
)
from kpitree.state.runs import (
    RunRequest,
    RunTally,
    RunTicket,
    begin_run,
    fail_run,
    finish_run,
    holder_name,
    lock_tree,
)
from kpitree.state.store import StateStore, keep_computed, write_snapshot
from kpitree.tree import MetricTree, tree_calendar
from kpitree.warehouse import Warehouse

EVENTS_SHOWN = 12  # per run in the terminal; the outbox and the events table have them all
CATCH_UP_HOLD = "catch-up: not the latest period"


@dataclass(frozen=True)
class EventSummary:
    node_id: str
    rule_id: str
    entity: str
    kind: str
    notified: bool
    suppressed_by: str | None
    summary: str


@dataclass(frozen=True)
class RunOutcome:
    run_key: str
    run_id: int
    report: VarianceReport
    findings: int  # rules evaluated (entities counted one by one)
    firing: int  # of those, holding now
    events: tuple[EventSummary, ...]
    queued: int  # new outbox rows
    delivered: DeliveryTally | None = None  # None when delivery was left to a worker
    flags: tuple[str, ...] = field(default_factory=tuple)
    # Every entity alert the run told, as CSV (None without any): written beside the run's report,
    # where its messages say the full list is (kpitree.alert.messages.entity_file_name).
    entity_list: str | None = None


def run_key(
    tree: MetricTree, period: Period, segment: SegmentFilter, scheduled_for: datetime | None, now: datetime
) -> str:
    """A scheduled run is keyed by its fire time, so a fire taken up twice (two schedulers, a
    restart) is the same run, which the ledger lets succeed once. A run by hand is keyed by when it
    ran (and a nonce): what it may notify is decided by the alerts' states, which a re-run finds
    already told."""
    if scheduled_for is None:
        # Two runs by hand are two runs, even within one clock tick (or under a frozen clock).
        when = f"manual@{now.astimezone(UTC).isoformat()}#{uuid4().hex[:8]}"
    else:
        when = scheduled_for.astimezone(UTC).isoformat()
    return f"{tree.id}/{tree_calendar(tree).label(period)}/{segment.key() or 'all'}/{when}"


def run_request(
    tree: MetricTree,
    period: Period,
    segment: SegmentFilter,
    now: datetime,
    *,
    scheduled_for: datetime | None = None,
    trigger: str = "manual",
    notify: bool = True,
) -> RunRequest:
    return RunRequest(
        run_key(tree, period, segment, scheduled_for, now),
        tree.id,
        tree_calendar(tree).label(period),
        segment.key(),
        trigger,
        scheduled_for,
        notify,
    )


def run_tree(
    tree: MetricTree,
    period: Period,
    warehouse: Warehouse,
    store: StateStore,
    *,
    now: datetime | None = None,
    segment: SegmentFilter | None = None,
    ticket: RunTicket | None = None,
    channels: Mapping[str, Channel] | None = None,
    policy: RetryPolicy | None = None,
    trend_periods: int = 1,
    progress: Progress = SILENT,
) -> RunOutcome:
    """Run the pipeline once for ``period``. With ``channels``, deliver what is due afterwards.

    Without a ``ticket`` this is a run by hand: it is entered in the ledger as ``manual``. The
    scheduler claims its runs first (:func:`kpitree.state.runs.begin_run`) and passes the ticket;
    a ticket with ``notify=False`` records the results and the alerts' states without queuing
    messages (the catch-up of older periods, so owners hear about the latest one only).
    A failure is entered in the ledger, then raised.

    The report has ``trend_periods`` periods of trend (the scheduler asks for a report's worth),
    or more when slide and anomaly rules read further back. Past periods that earlier runs of this
    tree file stored are read from the state database, not computed again (docs/alerts.md).
    """
    now = now or datetime.now(UTC)
    segment = segment or SegmentFilter()
    if ticket is None:
        ticket = begin_run(store.engine, run_request(tree, period, segment, now), holder_name(), now)
        if ticket is None:
            raise InternalError("ticket is missing (a run by hand has a key of its own)")
    clock = time.monotonic()
    try:
        outcome = _run(tree, period, warehouse, store, now, segment, ticket, clock, trend_periods, progress)
    except Exception as exc:
        fail_run(store.engine, ticket, f"{type(exc).__name__}: {exc}", _later(now, clock))
        raise
    if channels is None:
        return outcome
    progress.stage("delivering")
    return replace(outcome, delivered=deliver_due(store.engine, channels, now, policy))


def _later(now: datetime, clock: float) -> datetime:
    """``now`` plus the time spent since ``clock``: a duration that holds under a frozen clock too."""
    return now + timedelta(seconds=time.monotonic() - clock)


def _run(
    tree: MetricTree,
    period: Period,
    warehouse: Warehouse,
    store: StateStore,
    now: datetime,
    segment: SegmentFilter,
    ticket: RunTicket,
    clock: float,
    trend_periods: int,
    progress: Progress,
) -> RunOutcome:
    calendar = tree_calendar(tree)
    year_ago_period = calendar.compare_period(period, Comparison.YOY) if wants_year_ago(tree) else None
    trend = max(trend_periods, history_needed(tree))
    past = [calendar.shift(period, -steps) for steps in range(2, trend)]  # the comparison is computed
    memory = alert_memory(store.engine, tree.id)
    report = build_report(
        tree,
        period,
        warehouse,
        Comparison.PREVIOUS,
        segment,
        trend_periods=trend,
        also=[year_ago_period] if year_ago_period else [],
        recorded=store.recorded(tree, past, segment.key()),
        # The entities the crossing rules look for, found from the scores the compute takes.
        crossings=crossing_watches(tree, memory.firing_entities),
        progress=progress,
    )
    year_ago = _values_of(report, year_ago_period) if year_ago_period else {}
    progress.stage("evaluating alert rules")
    findings = evaluate(report, warehouse, year_ago, memory.firing_entities)
    silences = active_silences(store.engine, now)
    key = ticket.run_key
    label = calendar.label(period)
    templates = AlertTemplates(template_dir(tree))
    events: list[EventSummary] = []
    notices: list[Notice] = []
    flags: list[str] = []
    progress.stage("deciding, recording and queueing messages")
    with Session(store.engine) as session:
        # The decisions below are made under the tree's lock, against the alert states as the run
        # before this one left them: evaluated again only if a run committed since they were read.
        lock_tree(session, tree.id, now)
        fresh = read_alert_memory(session, tree.id)
        if fresh.firing_entities != memory.firing_entities:
            findings = evaluate(report, warehouse, year_ago, fresh.firing_entities)
        memory = fresh
        run_id = write_snapshot(session, report.snapshot, now)
        if report.computation is not None:  # the trend's periods: the next run reads them
            keep_computed(session, report.computation, now, skip={period}, started_at=now)
        decided: list[tuple[AlertKey, Decision]] = []
        told: list[tuple[Finding, AlertKey, Decision, NewEvent, AlertView, Route]] = []
        routes = RouteMemo(tree)
        for finding in findings:
            alert = _alert_key(tree, finding)
            held = suppression(
                silences, tree.alerting.maintenance, (tree.id, alert.node_id, alert.rule_id, alert.entity), now
            )
            decision = decide(finding.rule, finding.condition, memory.remembered.get(alert.fingerprint), now, held)
            if decision.notify and not ticket.notify:
                decision = replace(decision, notify=False, suppressed_by=CATCH_UP_HOLD)
            decided.append((alert, decision))
            if decision.kind is None:
                continue
            values = finding.crossing.owner_values if finding.crossing else None
            routed = routes.route(finding.branch, finding.rule.channels, values, finding.segment)
            view = alert_view(report, finding, decision.kind.value, routed)
            event = NewEvent(alert, decision.kind.value, decision.suppressed_by, view)
            told.append((finding, alert, decision, event, view, routed))
        # In bulk: a run where thousands of contacts crossed writes them in a few statements.
        save_decisions(session, decided, now, label)
        recorded = record_events(session, [t[3] for t in told], key, label, now)
        for (finding, alert, decision, event, view, routed), (event_id, new) in zip(told, recorded, strict=True):
            events.append(
                EventSummary(
                    alert.node_id,
                    alert.rule_id,
                    alert.entity,
                    event.kind,
                    decision.notify and new,
                    decision.suppressed_by,
                    finding.condition.summary,
                )
            )
            if decision.notify and new:
                notices.append(Notice(event_id, alert.fingerprint, event.kind, view, routed))
                flags.extend(routed.flags)
        plan = MessagePlan(tree, label, key, f"kpitree report {tree.id} --period {label}")
        messages = build_messages(plan, notices, templates) + _digests(session, plan, notices, templates, now)
        queued = enqueue(session.connection(), messages, now)
        tally = RunTally(run_id, len(report.snapshot.results), len(events), queued)
        finish_run(session, ticket, tally, _later(now, clock))
        session.commit()
    return RunOutcome(
        key,
        run_id,
        report,
        len(findings),
        sum(1 for f in findings if f.condition.holds),
        tuple(events),
        queued,
        None,
        tuple(dict.fromkeys(flags)),
        plan.entity_rows.csv([n.view for n in notices]) if any(n.view.get("crossing") for n in notices) else None,
    )


def _digests(
    session: Session, plan: MessagePlan, notices: list[Notice], templates: AlertTemplates, now: datetime
) -> list[NewMessage]:
    """Per run, or (``alerting.digest: daily``) one per recipient and local day, due at its end,
    replacing the day's earlier digest still waiting."""
    tree = plan.tree
    if tree.alerting.digest == "run":
        return digest_messages(plan, notices, templates)
    zone = ZoneInfo(tree.timezone)
    day = now.astimezone(zone).date()
    due = datetime.combine(day + timedelta(days=1), clock_time(), tzinfo=zone).astimezone(UTC)
    keys = [
        digest_key(plan, day.isoformat(), r.channel, r.address) for n in notices for r in n.route.for_role(Role.DIGEST)
    ]
    earlier = take_pending_digests(session, keys)
    digests = digest_messages(plan, notices, templates, day.isoformat(), earlier)
    return [replace(message, not_before=due) for message in digests]


def _alert_key(tree: MetricTree, finding: Finding) -> AlertKey:
    return AlertKey(
        fingerprint(tree.id, finding.node_id, finding.rule.id, finding.entity),
        tree.id,
        finding.node_id,
        finding.rule.id,
        finding.entity,
    )


def _values_of(report: VarianceReport, period: Period) -> dict[str, float | None]:
    if report.computation is None:
        raise InternalError("report.computation is missing")
    for values in report.computation.periods:
        if values.window.period == period:
            return {node_id: value.value for node_id, value in values.values.items()}
    return {}


def write_entity_list(outcome: RunOutcome, tree: MetricTree, reports_dir: Path) -> Path | None:
    """Write the run's entity alerts where its messages say they are: ``<reports>/<tree>/<period>-entities.csv``."""
    if outcome.entity_list is None:
        return None
    path = reports_dir / entity_file_name(tree.id, tree_calendar(tree).label(outcome.report.snapshot.period))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(outcome.entity_list, encoding="utf-8")
    return path


def outcome_lines(outcome: RunOutcome) -> Sequence[str]:
    """The run in a few lines, for the terminal and the log."""
    told = [e for e in outcome.events if e.notified]
    held = [e for e in outcome.events if e.suppressed_by]
    lines = [
        f"run {outcome.run_key}: {len(outcome.report.snapshot.results)} nodes computed, "
        f"{outcome.findings} rule checks, {outcome.firing} holding, {len(outcome.events)} events "
        f"({len(told)} to notify, {len(held)} held back), {outcome.queued} messages queued"
    ]
    shown = outcome.events[:EVENTS_SHOWN]
    for event in shown:
        entity = f" [{event.entity}]" if event.entity else ""
        note = f" (held: {event.suppressed_by})" if event.suppressed_by else ""
        lines.append(f"  {event.kind:<8} {event.node_id}/{event.rule_id}{entity}: {event.summary}{note}")
    if len(outcome.events) > len(shown):
        lines.append(f"  ... and {len(outcome.events) - len(shown)} more events (see: kpitree alerts outbox)")
    for flag in outcome.flags[:EVENTS_SHOWN]:
        lines.append(f"  flagged: {flag}")
    if outcome.delivered is not None:
        d = outcome.delivered
        lines.append(f"delivery: {d.sent} sent, {d.retrying} to retry, {d.dead} dead")
    return lines
