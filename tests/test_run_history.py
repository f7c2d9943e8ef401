"""A run reads the history its slide and anomaly rules need from the periods earlier runs of the
same tree file stored, computes only the rest, and decides exactly as if it had computed them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from kpitree.alert.evaluate import history_needed
from kpitree.cli.main import cli
from kpitree.compute.snapshot import take_snapshot
from kpitree.pipeline import run_tree
from kpitree.state.store import StateStore
from kpitree.tree import tree_calendar
from kpitree.tree_files import load_tree_or_raise
from kpitree.warehouse import open_warehouse
from tests.conftest import TREES


def test_a_run_with_stored_history_computes_two_periods_and_decides_the_same(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'sample.duckdb'}"
    made = CliRunner().invoke(cli, ["sample-data", "--size", "20000", "--warehouse", url])
    assert made.exit_code == 0, made.output
    tree = load_tree_or_raise(TREES / "activity_volume_per_contact.yaml")
    calendar = tree_calendar(tree)
    period = calendar.parse("2026-10")
    needed = history_needed(tree)
    assert needed == 13  # the productivity anomaly reads twelve trailing months
    now = datetime(2026, 11, 2, 8, tzinfo=UTC)
    warehouse = open_warehouse(url)
    try:
        cold = run_tree(tree, period, warehouse, StateStore.open(f"sqlite:///{tmp_path / 'cold.db'}"), now=now)
        warm_store = StateStore.open(f"sqlite:///{tmp_path / 'warm.db'}")
        for steps in range(2, needed):
            warm_store.record_snapshot(take_snapshot(tree, calendar.shift(period, -steps), warehouse))
        warm = run_tree(tree, period, warehouse, warm_store, now=now)
    finally:
        warehouse.dispose()
    assert cold.report.computation is not None
    assert warm.report.computation is not None
    assert len(cold.report.computation.periods) == needed
    assert len(warm.report.computation.periods) == 2  # the period and the one it is compared with
    assert warm.report.trend is not None
    assert len(warm.report.trend.recorded) == needed - 2
    decided = {(e.node_id, e.rule_id, e.entity, e.kind, e.summary) for e in cold.events}
    assert decided, "the sample fires rules: the comparison checks something"
    assert {(e.node_id, e.rule_id, e.entity, e.kind, e.summary) for e in warm.events} == decided
    assert cold.findings == warm.findings
    assert cold.firing == warm.firing
