"""Kept node values: two computations of one period that commit at once (a report keeping its
trend beside a run, two computes) both succeed, the later one's values winning; a node the tree
no longer has is dropped from the period."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlmodel import Session

from kpitree.compute.batch import SegmentFilter, windows
from kpitree.compute.engine import PeriodValues, TreeComputation
from kpitree.compute.values import NodeValue
from kpitree.state.store import StateStore, keep_computed
from kpitree.tree import MetricTree, tree_calendar
from kpitree.tree_files import load_tree_or_raise
from tests.conftest import TREES

TREE = load_tree_or_raise(TREES / "activity_volume_per_contact.yaml")
CALENDAR = tree_calendar(TREE)
OCTOBER = CALENDAR.parse("2026-10")
LATER = datetime(2026, 12, 1, tzinfo=UTC)


def computation(value: float, tree: MetricTree = TREE, nodes: list[str] | None = None) -> TreeComputation:
    """October with every node (or ``nodes``) at ``value``."""
    (window,) = windows(CALENDAR, [OCTOBER])
    values = {node_id: NodeValue(value) for node_id in nodes or tree.nodes}
    return TreeComputation(tree, SegmentFilter(), (PeriodValues(window, values, {}),), (), (), "duckdb://")


@pytest.mark.parametrize("trial", range(3))
def test_two_computations_of_a_period_committing_at_once_both_succeed(store: StateStore, trial: int) -> None:
    failures: list[BaseException] = []
    first = Session(store.engine)
    keep_computed(first, computation(1.0 + trial), LATER)
    first.flush()  # written, not committed: its rows are locked until it commits

    def second() -> None:
        try:
            with Session(store.engine) as session:
                keep_computed(session, computation(10.0 + trial), LATER)  # waits for the first
                session.commit()
        except BaseException as exc:  # handed to the test's thread to fail it
            failures.append(exc)

    waiting = threading.Thread(target=second)
    waiting.start()
    waiting.join(timeout=0.5)
    assert waiting.is_alive(), "the second computation should wait for the first one's commit"
    first.commit()
    first.close()
    waiting.join(timeout=60)
    assert not waiting.is_alive()
    assert failures == []
    kept = store.recorded(TREE, [OCTOBER])[OCTOBER]
    assert set(kept.values()) == {10.0 + trial}
    assert set(kept) == set(TREE.nodes)


def test_a_node_the_tree_no_longer_has_is_dropped_from_the_period(store: StateStore) -> None:
    with Session(store.engine) as session:
        keep_computed(session, computation(1.0), LATER)
        session.commit()
    fewer = list(TREE.nodes)[:3]
    with Session(store.engine) as session:
        keep_computed(session, computation(2.0, nodes=fewer), LATER)
        session.commit()
    assert {(record.node_id, record.value) for record in store.values(TREE.id)} == {(n, 2.0) for n in fewer}
