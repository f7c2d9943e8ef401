"""The scheduler in simulated time: fires, catch-up after a downtime, idempotent restarts, reload.

The plan (which runs are due) is pure and checked first; then whole scheduler lives run in one
process with a frozen clock (tests/sim_scheduler.py) against a real state database and warehouse.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from freezegun import freeze_time

from kpitree.delivery.outbox import list_outbox
from kpitree.periods import Period
from kpitree.pipeline import CATCH_UP_HOLD
from kpitree.schedule.health import scheduler_status
from kpitree.schedule.plan import Unfinished, due_runs
from kpitree.schedule.triggers import tree_trigger
from kpitree.state.alerts import events
from kpitree.state.runs import list_runs
from kpitree.state.store import StateStore
from kpitree.tree import MetricTree, tree_calendar
from kpitree.tree_files import load_tree_or_raise
from tests.alerting_world import FIXTURE, QUIET, write_touches
from tests.sim_scheduler import serve_until

MONTHLY = "schedule: {cron: '0 7 1 * *'}\n"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def trees_dir(tmp_path: Path) -> Path:
    """The alerting fixture, scheduled at 07:00 UTC on the 1st of each month."""
    directory = tmp_path / "trees"
    directory.mkdir()
    (directory / "alerting.yaml").write_text(FIXTURE.read_text(encoding="utf-8") + MONTHLY, encoding="utf-8")
    return directory


@pytest.fixture
def tree(trees_dir: Path) -> MetricTree:
    return load_tree_or_raise(trees_dir / "alerting.yaml")


def labels(tree: MetricTree, periods: Sequence[Period]) -> list[str]:
    calendar = tree_calendar(tree)
    return [calendar.label(p) for p in periods]


def test_missed_fires_run_once_per_period_and_only_the_latest_notifies(tree: MetricTree) -> None:
    trigger = tree_trigger(tree)
    assert trigger is not None
    plan = due_runs(tree, trigger, utc("2026-08-01T07:00"), utc("2026-11-15T00:00"))
    assert labels(tree, [run.period for run in plan.runs]) == ["2026-08", "2026-09", "2026-10"]
    assert [run.scheduled_for for run in plan.runs] == [
        utc("2026-09-01T07:00"),
        utc("2026-10-01T07:00"),
        utc("2026-11-01T07:00"),
    ]
    assert [run.notify for run in plan.runs] == [False, False, True]
    assert {run.trigger for run in plan.runs} == {"catch-up"}


def test_a_long_downtime_catches_up_the_newest_periods_and_reports_the_rest(tree: MetricTree) -> None:
    trigger = tree_trigger(tree)
    assert trigger is not None
    plan = due_runs(tree, trigger, utc("2025-01-01T07:00"), utc("2026-11-15T00:00"), max_periods=3)
    assert labels(tree, [run.period for run in plan.runs]) == ["2026-08", "2026-09", "2026-10"]
    skipped = labels(tree, list(plan.skipped_periods))
    assert (skipped[0], skipped[-1], len(skipped)) == ("2025-01", "2026-07", 19)


def test_the_fire_being_executed_is_on_time_and_a_never_run_tree_starts_there(tree: MetricTree) -> None:
    trigger = tree_trigger(tree)
    assert trigger is not None
    assert due_runs(tree, trigger, None, utc("2026-11-15T00:00")).runs == ()  # start-up: no backfill
    fire = utc("2026-11-01T07:00")
    (run,) = due_runs(tree, trigger, None, fire + timedelta(seconds=2), on_time=fire).runs
    assert (run.trigger, run.notify, labels(tree, [run.period])) == ("schedule", True, ["2026-10"])
    assert due_runs(tree, trigger, fire, fire + timedelta(seconds=2), on_time=fire).runs == ()  # taken up already


def test_an_unfinished_run_is_retried_and_notifies_only_if_it_is_the_latest(tree: MetricTree) -> None:
    trigger = tree_trigger(tree)
    assert trigger is not None
    killed = Unfinished(utc("2026-10-01T07:00"), "2026-09")
    alone = due_runs(tree, trigger, utc("2026-10-01T07:00"), utc("2026-10-02T00:00"), unfinished=[killed]).runs
    assert [(r.trigger, r.notify) for r in alone] == [("retry", True)]
    later = due_runs(tree, trigger, utc("2026-10-01T07:00"), utc("2026-11-02T00:00"), unfinished=[killed]).runs
    assert [(r.trigger, r.notify) for r in later] == [("retry", False), ("catch-up", True)]


def test_stopped_for_three_periods_then_restarted(trees_dir: Path, tmp_path: Path) -> None:
    """Each missed month is computed once, and only the latest one's alerts go out."""
    warehouse_url = write_touches(
        tmp_path / "w.duckdb",
        # July is quiet; from August touches are too few, and calls drop in August and October.
        {**QUIET, "2026-08": (8, 10), "2026-09": (8, 10), "2026-10": (3, 10)},
    )
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    out = tmp_path / "out"
    with freeze_time("2026-07-31T00:00:00Z") as clock:
        serve_until(clock, utc("2026-08-01T12:00"), store, trees_dir, warehouse_url, out)
    (first,) = list_runs(store.engine)
    assert (first.period_label, first.trigger, first.status, first.events) == ("2026-07", "schedule", "succeeded", 0)

    # Down from 1 August noon to 15 November: the fires of 1 September, October and November were missed.
    with freeze_time("2026-11-15T00:00:00Z") as clock:
        serve_until(clock, utc("2026-11-15T00:01"), store, trees_dir, warehouse_url, out)
    runs = sorted(list_runs(store.engine), key=lambda r: r.id or 0)
    assert [(r.period_label, r.trigger, r.notify, r.status) for r in runs[1:]] == [
        ("2026-08", "catch-up", False, "succeeded"),
        ("2026-09", "catch-up", False, "succeeded"),
        ("2026-10", "catch-up", True, "succeeded"),
    ]
    latest_key = runs[-1].run_key
    outbox = list_outbox(store.engine)
    assert outbox
    assert {row.run_key for row in outbox} == {latest_key}
    assert {row.status for row in outbox} == {"sent"}
    recorded = events(store.engine, "alerting")
    older = [e for e in recorded if e.run_key != latest_key]
    assert older  # August's alerts were recorded, held back by the catch-up
    assert {e.suppressed_by for e in older if e.kind == "firing"} == {CATCH_UP_HOLD}
    told = sorted((e.rule_id, e.kind) for e in recorded if e.run_key == latest_key and e.suppressed_by is None)
    assert told == [("call_drop", "firing"), ("too_few", "firing")]
    # The files delivered are the latest run's, one per message.
    assert len(list((out / "outbox").iterdir())) == len({row.message_key for row in outbox})
    for run in runs:
        assert (out / "reports" / "alerting" / f"{run.period_label}.html").is_file()


def test_a_restart_never_runs_a_fire_twice_nor_duplicates_jobs(trees_dir: Path, tmp_path: Path) -> None:
    warehouse_url = write_touches(tmp_path / "w.duckdb", {**QUIET, "2026-08": (8, 10)})
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    for start, until in (("2026-08-31T00:00", "2026-09-01T08:00"), ("2026-09-01T08:00", "2026-09-20T00:00")):
        with freeze_time(f"{start}Z") as clock:
            serve_until(clock, utc(until), store, trees_dir, warehouse_url, tmp_path / "out")
    (run,) = list_runs(store.engine)
    assert (run.period_label, run.status, run.attempt) == ("2026-08", "succeeded", 1)
    jobs = [job.job_id for job in scheduler_status(store.engine, utc("2026-09-20T00:00")).jobs]
    assert jobs == ["kpitree:deliver", "tree:alerting"]
    sent = list_outbox(store.engine)
    assert sent
    assert len({row.idempotency_key for row in sent}) == len(sent)


def test_a_fire_during_the_catch_up_of_a_first_start_is_run_not_skipped(
    trees_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Started a second before a never-run tree's fire, with a catch-up that takes two seconds (a
    slow warehouse, other trees): the fire passes before APScheduler starts, and is still run."""
    from kpitree.schedule.service import SchedulerService

    warehouse_url = write_touches(tmp_path / "w.duckdb", {**QUIET, "2026-08": (8, 10)})
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    with freeze_time("2026-09-01T06:59:59Z") as clock:
        catch_up = SchedulerService._catch_up

        def slow_catch_up(service: SchedulerService) -> None:
            catch_up(service)
            clock.tick(timedelta(seconds=2))

        monkeypatch.setattr(SchedulerService, "_catch_up", slow_catch_up)
        serve_until(clock, utc("2026-09-01T08:00"), store, trees_dir, warehouse_url, tmp_path / "out")
    (run,) = list_runs(store.engine)
    assert (run.period_label, run.trigger, run.status) == ("2026-08", "schedule", "succeeded")
    assert run.scheduled_for == utc("2026-09-01T07:00")


def test_a_removed_tree_loses_its_job_and_a_changed_cron_replaces_it(trees_dir: Path, tmp_path: Path) -> None:
    warehouse_url = write_touches(tmp_path / "w.duckdb", QUIET)
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    with freeze_time("2026-08-10T00:00:00Z") as clock:
        service = serve_until(clock, utc("2026-08-10T00:01"), store, trees_dir, warehouse_url, tmp_path / "out")
    assert service.trees["alerting"].job_name == "alerting: cron '0 7 1 * *' in UTC"
    (job,) = [j for j in scheduler_status(store.engine, utc("2026-08-10T00:01")).jobs if j.job_id == "tree:alerting"]
    assert job.next_fire == utc("2026-09-01T07:00")

    tree_file = trees_dir / "alerting.yaml"
    tree_file.write_text(tree_file.read_text(encoding="utf-8").replace("0 7 1 * *", "0 9 15 * *"), encoding="utf-8")
    with freeze_time("2026-08-10T00:02:00Z") as clock:
        serve_until(clock, utc("2026-08-10T00:03"), store, trees_dir, warehouse_url, tmp_path / "out")
    (job,) = [j for j in scheduler_status(store.engine, utc("2026-08-10T00:03")).jobs if j.job_id == "tree:alerting"]
    assert job.next_fire == utc("2026-08-15T09:00")

    tree_file.unlink()
    with freeze_time("2026-08-10T00:04:00Z") as clock:
        serve_until(clock, utc("2026-08-10T00:05"), store, trees_dir, warehouse_url, tmp_path / "out")
    assert [j.job_id for j in scheduler_status(store.engine, utc("2026-08-10T00:05")).jobs] == ["kpitree:deliver"]


def test_a_tree_broken_on_reload_is_logged_with_file_and_line_and_keeps_its_last_version(
    trees_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from kpitree.schedule.runner import RunnerSettings
    from kpitree.schedule.service import SchedulerService, ServiceOptions

    store = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    service = SchedulerService(store, ServiceOptions(trees_dir), RunnerSettings(None, None), {})
    service.reload_trees()
    kept = service.trees["alerting"]
    tree_file = trees_dir / "alerting.yaml"
    text = tree_file.read_text(encoding="utf-8")
    tree_file.write_text(text.replace("agg: count", "agg: counts"), encoding="utf-8")
    line = text[: text.index("agg: count")].count("\n") + 1
    with caplog.at_level("INFO", logger="kpitree.schedule"):
        service.reload_trees()
    assert service.trees["alerting"] is kept  # alerts keep flowing while the file is being fixed
    invalid = [r for r in caplog.records if getattr(r, "event", "") == "tree.invalid"]
    assert invalid
    fields = invalid[0].fields  # type: ignore[attr-defined]
    assert (fields["file"], fields["line"]) == (str(tree_file), line)
    assert fields["hint"]
    assert any(getattr(r, "event", "") == "tree.kept" for r in caplog.records)
