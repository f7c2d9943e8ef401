"""A trend's score points from the narrow two-pass statement equal the per-contact statement's.

``plan_trend_query`` sums each contact's points per point, then each signal's points times its
contact's share; ``plan_score_query`` keeps every contact's points per signal and point. For
every engine, roll-up method, normalisation and decay, the values of every node, the band shares
and the roll-ups must agree over weekly points that cross the end of summer time (25 October in
the tree's Europe/London), on signals in bursts that push contacts past the clip and, with a
negative weight, below zero.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kpitree.compute.batch import SegmentFilter, windows
from kpitree.compute.contact_scores import ScorePoint, score_points
from kpitree.compute.score_trend import plan_trend_query
from kpitree.compute.scores import ScoreSummary, plan_score_query, run_score_query, score_nodes
from kpitree.compute.values import NodeValue
from kpitree.errors import WarehouseError
from kpitree.tree import MetricTree, tree_calendar
from kpitree.tree_files import load_tree_or_raise
from kpitree.warehouse import Warehouse
from tests.engines import warehouse_with
from tests.test_crossings import SCORE_TREE, swinging_signals

# From before the first signal (20 August) to after the clocks go back (25 October, inside W43).
WEEKS = [f"2026-W{week}" for week in range(33, 45)]

VARIANTS = {
    "as shipped": {},
    "max roll-up, a log scale": {
        "{entity: account_id, method: mean}": "{entity: account_id, method: max}",
        "normalisation: {method: clip, max_points: 100}": "normalisation: {method: log, max_points: 60}",
    },
    "exponential decay, a negative weight": {
        "decay: {mode: step, half_life_days: 14}": "decay: {mode: exponential, half_life_days: 9}",
        "signal: reply, weight: 4": "signal: reply, weight: -40",
    },
    "median roll-up": {"{entity: account_id, method: mean}": "{entity: account_id, method: median}"},
}


def variant(tmp_path: Path, name: str) -> MetricTree:
    text = SCORE_TREE.read_text(encoding="utf-8")
    for old, new in VARIANTS[name].items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "score.yaml"
    path.write_text(text, encoding="utf-8")
    return load_tree_or_raise(path)


def assert_same(
    got: tuple[dict[str, NodeValue], ScoreSummary], want: tuple[dict[str, NodeValue], ScoreSummary]
) -> None:
    (values, summary), (expected_values, expected) = got, want
    assert values.keys() == expected_values.keys()
    for node_id, value in expected_values.items():
        assert values[node_id].reason == value.reason, node_id
        if value.value is None:
            assert values[node_id].value is None, node_id
        else:
            assert values[node_id].value == pytest.approx(value.value, rel=1e-9, abs=1e-9), node_id
    assert summary.contacts == expected.contacts
    assert summary.band_shares == pytest.approx(expected.band_shares, rel=1e-12)
    assert [r.entity for r in summary.roll_ups] == [r.entity for r in expected.roll_ups]
    for rolled, rolled_expected in zip(summary.roll_ups, expected.roll_ups, strict=True):
        assert rolled.count == rolled_expected.count
        assert rolled.mean_score == pytest.approx(rolled_expected.mean_score, rel=1e-9, abs=1e-9, nan_ok=False)
        assert rolled.band_shares == pytest.approx(rolled_expected.band_shares, rel=1e-12)


def weekly_points(tree: MetricTree) -> tuple[ScorePoint, ...]:
    calendar = tree_calendar(tree)
    return score_points(windows(calendar, [calendar.parse(week) for week in WEEKS]))


def both(tree: MetricTree, warehouse: Warehouse) -> tuple[list[tuple[dict[str, NodeValue], ScoreSummary]], ...]:
    points = weekly_points(tree)
    (node,) = score_nodes(tree)
    narrow = run_score_query(tree, plan_trend_query(tree, node, points, SegmentFilter(), warehouse), points, warehouse)
    wide = run_score_query(tree, plan_score_query(tree, node, points, SegmentFilter(), warehouse), points, warehouse)
    return narrow, wide


@pytest.mark.parametrize("seed", [3, 11])
def test_the_narrow_statement_equals_the_per_contact_one(engine: str, seed: int, tmp_path: Path) -> None:
    with warehouse_with(engine, tmp_path, swinging_signals(seed), "signals", "accounts") as warehouse:
        for name in VARIANTS:
            tree = variant(tmp_path, name)
            if name == "median roll-up" and not warehouse.dialect.has_percentile:
                # SQLite has no median: both statements refuse the roll-up, with the same words.
                (node,) = score_nodes(tree)
                with pytest.raises(WarehouseError) as narrow_refused:
                    plan_trend_query(tree, node, weekly_points(tree), SegmentFilter(), warehouse)
                with pytest.raises(WarehouseError) as wide_refused:
                    plan_score_query(tree, node, weekly_points(tree), SegmentFilter(), warehouse)
                assert str(narrow_refused.value) == str(wide_refused.value)
                continue
            narrow, wide = both(tree, warehouse)
            assert len(narrow) == len(WEEKS)
            scored = [summary.contacts for _values, summary in wide]
            assert min(scored) == 0, "a week before the first signal: no contact scored"
            assert max(scored) > 50, "weeks with most contacts scored: the comparison checks something"
            for got, want in zip(narrow, wide, strict=True):
                assert_same(got, want)
