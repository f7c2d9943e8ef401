"""Claims a tree's due runs in the ledger and runs each through the pipeline, oldest first.

Each run is claimed (:func:`kpitree.state.runs.begin_run`) before it computes: a run that already
succeeded is skipped, so a fire taken up twice runs once. Before each run the scheduler's lease is
renewed; a scheduler that lost it runs nothing more (its successor catches up). After a run, its
variance report is written as Markdown and HTML to ``<reports>/<tree>/<period>.{md,html}``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from kpitree.analysis.variance import TREND_PERIODS
from kpitree.compute.batch import SegmentFilter
from kpitree.crontab import CrontabTrigger
from kpitree.delivery.channels import Channel
from kpitree.delivery.worker import DeliveryTally, RetryPolicy, deliver_due
from kpitree.errors import RunSuperseded, UserError
from kpitree.impact.describe import summaries
from kpitree.impact.loop import evaluate_due
from kpitree.pipeline import RunOutcome, run_request, run_tree, write_entity_list
from kpitree.report.render import report_html, report_markdown
from kpitree.schedule.logs import log_event
from kpitree.schedule.plan import DEFAULT_MAX_PERIODS, PlannedRun, Unfinished, due_runs
from kpitree.state.runs import begin_run, last_scheduled_fire, unfinished_runs
from kpitree.state.store import StateStore
from kpitree.tree import MetricTree, tree_calendar
from kpitree.warehouse import Warehouse, open_warehouse


@dataclass(frozen=True)
class RunnerSettings:
    warehouse_url: str | None  # None: $KPITREE_WAREHOUSE, else the default DuckDB file
    reports_dir: Path | None  # None: no report files
    max_periods: int = DEFAULT_MAX_PERIODS
    policy: RetryPolicy | None = None


@dataclass(frozen=True)
class RunResult:
    planned: PlannedRun
    status: str  # succeeded | already-done | failed | superseded | deferred
    outcome: RunOutcome | None = None


class TreeRunner:
    def __init__(
        self,
        store: StateStore,
        settings: RunnerSettings,
        channels: Mapping[str, Channel],
        holder: str,
        clock: Callable[[], datetime],
        may_run: Callable[[], bool],
    ) -> None:
        self.store = store
        self.settings = settings
        self.channels = channels
        self.holder = holder
        self.clock = clock
        self.may_run = may_run  # renews the lease: False once another scheduler holds it

    def reconcile(
        self,
        tree: MetricTree,
        trigger: CrontabTrigger,
        *,
        on_time: datetime | None = None,
        stopping: Callable[[], bool] = lambda: False,
    ) -> list[RunResult]:
        """Run what is due for ``tree`` now (see :mod:`kpitree.schedule.plan` for the policy)."""
        engine = self.store.engine
        unfinished = [
            Unfinished(row.scheduled_for, row.period_label)
            for row in unfinished_runs(engine, tree.id)
            if row.scheduled_for is not None
        ]
        plan = due_runs(
            tree,
            trigger,
            last_scheduled_fire(engine, tree.id),
            self.clock(),
            on_time=on_time,
            unfinished=unfinished,
            max_periods=self.settings.max_periods,
        )
        if plan.skipped_periods:
            labels = [tree_calendar(tree).label(p) for p in plan.skipped_periods]
            log_event(
                logging.WARNING,
                "catch_up.skipped",
                tree=tree.id,
                periods=len(labels),
                first=labels[0],
                last=labels[-1],
                hint=f"older than --max-catch-up {self.settings.max_periods}; run them with 'kpitree run'",
            )
        results: list[RunResult] = []
        for planned in plan.runs:
            if stopping() or not self.may_run():
                log_event(logging.INFO, "run.deferred", tree=tree.id, scheduled_for=planned.scheduled_for)
                results.append(RunResult(planned, "deferred"))
                break
            results.append(self._run_one(tree, planned))
        return results

    def _run_one(self, tree: MetricTree, planned: PlannedRun) -> RunResult:
        now = self.clock()
        label = tree_calendar(tree).label(planned.period)
        request = run_request(
            tree,
            planned.period,
            SegmentFilter(),
            now,
            scheduled_for=planned.scheduled_for,
            trigger=planned.trigger,
            notify=planned.notify,
        )
        ticket = begin_run(self.store.engine, request, self.holder, now)
        fields: dict[str, Any] = {
            "tree": tree.id,
            "period": label,
            "scheduled_for": planned.scheduled_for,
            "run_key": request.run_key,
        }
        if ticket is None:
            log_event(logging.INFO, "run.already_done", **fields)
            return RunResult(planned, "already-done")
        log_event(
            logging.INFO,
            "run.started",
            **fields,
            trigger=planned.trigger,
            notify=planned.notify,
            attempt=ticket.attempt,
        )
        warehouse = open_warehouse(self.settings.warehouse_url)
        try:
            trend = TREND_PERIODS if self.settings.reports_dir is not None else 1  # the report's sparklines
            outcome = run_tree(tree, planned.period, warehouse, self.store, now=now, ticket=ticket, trend_periods=trend)
            self._evaluate_interventions(tree, warehouse, now, planned.notify)
        except RunSuperseded as exc:
            log_event(logging.WARNING, "run.superseded", **fields, reason=str(exc))
            return RunResult(planned, "superseded")
        except UserError as exc:
            log_event(logging.ERROR, "run.failed", **fields, error=str(exc), hint=exc.hint or "")
            return RunResult(planned, "failed")
        except Exception as exc:  # a bug: logged with its traceback; the scheduler carries on
            log_event(logging.ERROR, "run.failed", exc_info=True, **fields, error=f"{type(exc).__name__}: {exc}")
            return RunResult(planned, "failed")
        finally:
            warehouse.dispose()
        try:
            written = self._write_reports(tree, label, outcome)
        except OSError as exc:  # the run has committed and its messages are queued: log, carry on
            log_event(logging.ERROR, "report.failed", **fields, error=f"{type(exc).__name__}: {exc}")
            written = None
        except Exception as exc:  # a bug in rendering: logged with its traceback; the run stands
            log_event(logging.ERROR, "report.failed", exc_info=True, **fields, error=f"{type(exc).__name__}: {exc}")
            written = None
        told = sum(1 for event in outcome.events if event.notified)
        log_event(
            logging.INFO,
            "run.succeeded",
            **fields,
            nodes=len(outcome.report.snapshot.results),
            firing=outcome.firing,
            events=len(outcome.events),
            notified=told,
            queued=outcome.queued,
            report=written or "",
        )
        return RunResult(planned, "succeeded", outcome)

    def _evaluate_interventions(self, tree: MetricTree, warehouse: Warehouse, now: datetime, notify: bool) -> None:
        """Judge the tree's interventions whose window has passed since the last run. The run has
        committed by now: a failure here is logged and retried by the next run, not the run's."""
        today = now.astimezone(tree_calendar(tree).timezone).date()
        try:
            for done in evaluate_due(self.store.engine, tree, warehouse, today, now, notify):
                log_event(
                    logging.INFO,
                    "impact.evaluated",
                    tree=tree.id,
                    intervention=done.evaluation.intervention.id,
                    verdict=done.evaluation.verdict.value,
                    queued=done.queued,
                )
        except UserError as exc:
            log_event(logging.ERROR, "impact.failed", tree=tree.id, error=str(exc), hint=exc.hint or "")
        except Exception as exc:  # a bug: logged with its traceback; the run itself has succeeded
            log_event(logging.ERROR, "impact.failed", exc_info=True, tree=tree.id, error=f"{type(exc).__name__}: {exc}")

    def _write_reports(self, tree: MetricTree, label: str, outcome: RunOutcome) -> str | None:
        if self.settings.reports_dir is None:
            return None
        folder = self.settings.reports_dir / tree.id
        folder.mkdir(parents=True, exist_ok=True)
        interventions = summaries(self.store.engine, tree)
        (folder / f"{label}.md").write_text(report_markdown(outcome.report, interventions), encoding="utf-8")
        html = folder / f"{label}.html"
        html.write_text(report_html(outcome.report, interventions), encoding="utf-8")
        write_entity_list(outcome, tree, self.settings.reports_dir)
        return str(html)

    def deliver(self) -> DeliveryTally:
        tally = deliver_due(self.store.engine, self.channels, self.clock(), self.settings.policy)
        if tally.sent or tally.retrying or tally.dead:
            level = logging.WARNING if tally.dead else logging.INFO
            log_event(level, "outbox.delivered", sent=tally.sent, retrying=tally.retrying, dead=tally.dead)
        return tally
