"""A run reads the history its slide and anomaly rules need from the periods stored earlier for
the same tree file, computes only the rest, and decides exactly as if it had computed them; the
periods it computed are kept, so that only a tree's first run computes its history."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
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


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> str:
    made = f"duckdb:///{tmp_path_factory.mktemp('history') / 'sample.duckdb'}"
    result = CliRunner().invoke(cli, ["sample-data", "--size", "20000", "--warehouse", made])
    assert result.exit_code == 0, result.output
    return made


def test_a_run_with_stored_history_computes_two_periods_and_decides_the_same(url: str, tmp_path: Path) -> None:
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


def test_the_history_a_first_run_computed_is_kept_for_the_next_run(url: str, tmp_path: Path) -> None:
    tree = load_tree_or_raise(TREES / "activity_volume_per_contact.yaml")
    calendar = tree_calendar(tree)
    october, november = calendar.parse("2026-10"), calendar.parse("2026-11")
    needed = history_needed(tree)
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    warehouse = open_warehouse(url)
    try:
        first = run_tree(tree, october, warehouse, store, now=datetime(2026, 11, 2, 8, tzinfo=UTC))
        second = run_tree(tree, november, warehouse, store, now=datetime(2026, 12, 2, 8, tzinfo=UTC))
        alone = run_tree(tree, november, warehouse, StateStore.open(f"sqlite:///{tmp_path / 'alone.db'}"),
                         now=datetime(2026, 12, 2, 8, tzinfo=UTC))  # fmt: skip
    finally:
        warehouse.dispose()
    assert first.report.computation is not None
    assert second.report.computation is not None
    assert len(first.report.computation.periods) == needed
    # November's run computes November and October (its comparison) and reads the rest.
    assert [calendar.label(p.period) for p in second.report.computation.periods] == ["2026-11", "2026-10"]
    assert second.report.trend is not None
    assert alone.report.trend is not None
    assert len(second.report.trend.recorded) == needed - 2
    for node_id, values in alone.report.trend.values.items():
        read = second.report.trend.values[node_id]
        assert [v is None for v in read] == [v is None for v in values], node_id
        assert [v for v in read if v is not None] == pytest.approx([v for v in values if v is not None], rel=1e-12)
    # The same rules hold (what the owners hear differs: the first run told them already).
    assert (second.findings, second.firing) == (alone.findings, alone.firing)
    assert second.firing > 0
