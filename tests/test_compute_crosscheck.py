"""Every measure and score, computed in SQL on each engine, against an independent Python
computation over the same generated rows (tests/reference.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from kpitree.compute import compute_periods
from kpitree.compute.batch import SegmentFilter
from kpitree.sample.generate import TABLES
from kpitree.tree import tree_calendar
from kpitree.tree_files import load_tree_or_raise
from kpitree.warehouse import Warehouse, open_warehouse
from tests.conftest import TREES
from tests.engines import WITH_SPARK, warehouse_with
from tests.reference import measure_values, score_summary

# Months, a quarter, a custom range, and the weeks and months holding London's DST changes.
ACTIVITY_PERIODS = ("2026-10", "2026-09", "2026-03", "2026-W13", "2026-W44", "2026-Q3", "2025-12-15..2026-01-14")
SCORE_PERIODS = ("2026-W43", "2026-W40", "2026-W13")


@contextmanager
def _sample_in(
    engine: str, tmp_path: Path, sample: duckdb.DuckDBPyConnection, request: pytest.FixtureRequest
) -> Iterator[Warehouse]:
    """The sample in ``engine``'s warehouse: on Spark the run's shared copy, loaded from its CSVs."""
    if engine != "spark":
        with warehouse_with(engine, tmp_path, sample, *TABLES) as warehouse:
            yield warehouse
        return
    warehouse = open_warehouse(request.getfixturevalue("spark_sample"))
    try:
        yield warehouse
    finally:
        warehouse.dispose()


@pytest.mark.parametrize("engine", WITH_SPARK)
def test_every_activity_measure_matches_the_reference(
    engine: str,
    tmp_path: Path,
    sample: duckdb.DuckDBPyConnection,
    rows: dict[str, list[dict[str, object]]],
    request: pytest.FixtureRequest,
) -> None:
    tree = load_tree_or_raise(TREES / "activity_volume_per_contact.yaml")
    calendar = tree_calendar(tree)
    periods = [calendar.parse(p) for p in ACTIVITY_PERIODS]
    smb = SegmentFilter.parse(["segment=SMB"], tree)
    with _sample_in(engine, tmp_path, sample, request) as warehouse:
        computed = compute_periods(tree, periods, warehouse)
        segment = compute_periods(tree, periods[:1], warehouse, smb)
    checked = 0
    for values in computed.periods:
        expected = measure_values(tree, values.period, rows)
        assert expected["logged_touches"] > 0, f"the sample should have touches in {values.period}"
        for node_id, value in expected.items():
            assert values.value(node_id) == pytest.approx(value), (node_id, values.period)
            checked += 1
    expected_smb = measure_values(tree, periods[0], rows, where={"segment": "SMB"})
    for node_id, value in expected_smb.items():
        assert segment.periods[0].value(node_id) == pytest.approx(value), node_id
    assert expected_smb["logged_touches"] < measure_values(tree, periods[0], rows)["logged_touches"]
    assert checked == len(periods) * 10  # ten measure nodes per period


@pytest.mark.parametrize("engine", WITH_SPARK)
def test_scores_match_the_reference(
    engine: str,
    tmp_path: Path,
    sample: duckdb.DuckDBPyConnection,
    rows: dict[str, list[dict[str, object]]],
    request: pytest.FixtureRequest,
) -> None:
    tree = load_tree_or_raise(TREES / "contact_engagement_score.yaml")
    calendar = tree_calendar(tree)
    periods = [calendar.parse(p) for p in SCORE_PERIODS]
    root = tree.nodes[tree.root]
    with _sample_in(engine, tmp_path, sample, request) as warehouse:
        computed = compute_periods(tree, periods, warehouse)
    for values in computed.periods:
        as_of = calendar.bounds(values.period)[1]
        expected = score_summary(tree, root, as_of, rows)
        summary = values.scores[root.id]
        assert expected["n"] > 50
        assert summary.contacts == expected["n"]
        assert values.value(root.id) == pytest.approx(expected["mean"])
        for type_id, contribution in expected["types"].items():
            assert values.value(type_id) == pytest.approx(contribution), type_id
        assert dict(summary.band_shares) == pytest.approx(expected["bands"])
        (accounts,) = summary.roll_ups
        assert accounts.count == expected["accounts"]
        assert dict(accounts.band_shares) == pytest.approx(expected["account_bands"])
