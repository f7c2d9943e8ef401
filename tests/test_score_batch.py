"""A run's score statements: every contact scored once, the same numbers as scoring each time.

``compute_periods`` asked for the aged score and the band crossings too (as a run asks) keeps the
per-contact points in a temporary table and derives the aged score from them; the values, the aged
values and the band moves must equal those of the separate statements (``compute_periods`` alone,
``score_states`` of the aged point, ``band_moves_for_rules``), on every engine, and on a PostgreSQL
session that refuses temporary tables (read-only), which falls back to the separate statements.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from kpitree.compute.batch import SegmentFilter, windows
from kpitree.compute.contact_scores import aged_point
from kpitree.compute.crossings import BandMove, BandWatch, band_moves_for_rules
from kpitree.compute.engine import TreeComputation, compute_periods
from kpitree.compute.score_states import score_states
from kpitree.compute.scores import score_nodes
from kpitree.tree import MetricTree, tree_calendar
from kpitree.warehouse import Warehouse
from tests.engines import warehouse_with
from tests.test_crossings import PERIOD, swinging_signals, tree_with_roll_up


def _watches() -> list[tuple[BandWatch, frozenset[str]]]:
    return [
        (BandWatch("contact", "down", None, ("csm_email",)), frozenset({"con-1", "con-7"})),
        (BandWatch("account", "up", frozenset({"Champion", "Engaged"})), frozenset({"acc-2"})),
    ]


@contextmanager
def counted(warehouse: Warehouse) -> Iterator[list[str]]:
    """The statements the warehouse's engine executes meanwhile."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    sa.event.listen(warehouse.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(warehouse.engine, "before_cursor_execute", record)


def _assert_same_moves(got: list[BandMove], want: list[BandMove]) -> None:
    assert [m.entity for m in got] == [m.entity for m in want]
    for a, b in zip(got, want, strict=True):
        assert (a.band_before, a.band_after, a.owner_values) == (b.band_before, b.band_after, b.owner_values)
        for x, y in ((a.score_before, b.score_before), (a.score_after, b.score_after)):
            assert (x is None) == (y is None)
            assert x == pytest.approx(y, rel=1e-9, abs=1e-9)
        assert a.parts_before == pytest.approx(b.parts_before, rel=1e-9, abs=1e-9)
        assert a.parts_after == pytest.approx(b.parts_after, rel=1e-9, abs=1e-9)


def _check_against_separate_statements(tree: MetricTree, warehouse: Warehouse) -> TreeComputation:
    calendar = tree_calendar(tree)
    current = calendar.parse(PERIOD)
    periods = [current, calendar.shift(current, -1), calendar.shift(current, -3)]  # and one trend period
    node = score_nodes(tree)[0]
    shared = compute_periods(tree, periods, warehouse, aged=True, crossings={node.id: _watches()})
    alone = compute_periods(tree, periods, warehouse)
    for with_shared, separate in zip(shared.periods, alone.periods, strict=True):
        for node_id, value in separate.values.items():
            assert with_shared.values[node_id].value == pytest.approx(value.value, rel=1e-9, abs=1e-9), node_id
        assert with_shared.scores[node.id].band_shares == pytest.approx(separate.scores[node.id].band_shares)
    batch = windows(calendar, periods)
    (aged,) = score_states(tree, node, [aged_point(0, batch[0], batch[1])], warehouse)
    # From the table (crossings asked, as a run asks) and from a CTE in one statement (a report).
    in_one_statement = compute_periods(tree, periods, warehouse, aged=True)
    for got in (shared.aged[node.id], in_one_statement.aged[node.id]):
        assert got[node.id].value == pytest.approx(aged.score, rel=1e-9, abs=1e-9)
        for type_id in node.children:
            assert got[type_id].value == pytest.approx(aged.part(type_id), rel=1e-9, abs=1e-9)
    got = shared.aged[node.id]
    # The sample has signals in the current week: the aged score is not the current one.
    assert got[node.id].value != pytest.approx(shared.periods[0].values[node.id].value, rel=1e-6)
    watches, moves = shared.crossings[node.id]
    assert list(watches) == _watches()
    separate_moves = band_moves_for_rules(tree, node, _watches(), batch[0], batch[1], warehouse, SegmentFilter())
    assert any(moves), "entities crossed: the comparison checks something"
    for got_moves, want_moves in zip(moves, separate_moves, strict=True):
        _assert_same_moves(got_moves, want_moves)
    return shared


@pytest.mark.parametrize("method", ["mean", "max"])
def test_shared_scoring_equals_separate_statements(engine: str, method: str, tmp_path: Path) -> None:
    tree = tree_with_roll_up(tmp_path, method)
    with warehouse_with(engine, tmp_path, swinging_signals(3), "signals", "accounts") as warehouse:
        with counted(warehouse) as seen:
            calendar = tree_calendar(tree)
            current = calendar.parse(PERIOD)
            node = score_nodes(tree)[0]
            compute_periods(
                tree, [current, calendar.shift(current, -1)], warehouse, aged=True, crossings={node.id: _watches()}
            )
        # Signals are weighed and decayed twice: once to fill the table of per-contact points, once
        # for the recent week's points that the aged score leaves out. (Other statements read the
        # table; the crossings' owner columns read the source for the few entities found.)
        scoring = [s for s in seen if "signals" in s and "power(" in s.lower()]
        assert len(scoring) == 2, scoring
        assert scoring[0].lstrip().upper().startswith("CREATE TEMPORARY TABLE")
        assert "kpitree_scores_" in scoring[1], "the recent points are taken off the table's"
        _check_against_separate_statements(tree, warehouse)


def test_a_session_refusing_temporary_tables_gets_the_same_numbers(tmp_path: Path) -> None:
    """A read-only PostgreSQL session (a replica, a read-only role) refuses CREATE TEMPORARY TABLE:
    the computation scores in each statement instead, with the same results."""
    tree = tree_with_roll_up(tmp_path, "mean")
    with warehouse_with("postgresql", tmp_path, swinging_signals(4), "signals", "accounts") as writable:
        engine = sa.create_engine(
            writable.url, connect_args={"options": "-c timezone=UTC -c default_transaction_read_only=on"}
        )
        read_only = Warehouse(writable.url, engine)
        try:
            with counted(read_only) as seen:
                computation = _check_against_separate_statements(tree, read_only)
            assert any(s.lstrip().upper().startswith("CREATE TEMPORARY TABLE") for s in seen), "it was tried"
            assert not any(str(s).startswith("CREATE TEMPORARY") for s in computation.statements)
        finally:
            read_only.dispose()
