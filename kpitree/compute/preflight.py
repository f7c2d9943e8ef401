"""Check a tree against a live warehouse without computing it: ``kpitree validate --warehouse``.

Each measure and score is planned on its own for one period (so one bad node does not hide the
next), which finds a missing table or column and a column of the wrong type (a sum over a
timestamp, a text time column without ``time_format``); then each statement is bound by the engine
with ``LIMIT 0``, which finds what only the engine knows (a comparison of text with a timestamp,
a function it lacks) without reading a row. Joins whose key repeats on the joined side are warned
about, as compute warns. What is found is returned with where in the tree it belongs; the caller
turns that into issues at the tree file's lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import Select

from kpitree.compute.batch import SegmentFilter, windows
from kpitree.compute.contact_scores import score_points
from kpitree.compute.measures import measure_nodes, plan_one_node
from kpitree.compute.relations import repeated_join_keys
from kpitree.compute.scores import plan_score_query, score_nodes
from kpitree.errors import InternalError, WarehouseError
from kpitree.periods import Grain
from kpitree.tree import MetricTree, Node, tree_calendar
from kpitree.warehouse import Warehouse


@dataclass(frozen=True)
class Finding:
    """One problem of a tree against a warehouse, and where in the tree it belongs."""

    message: str
    hint: str
    source: str | None
    node: str | None
    key: str | None
    is_error: bool = True


def preflight(tree: MetricTree, warehouse: Warehouse, now: datetime | None = None) -> list[Finding]:
    """Every problem the warehouse has with ``tree``, found without reading its rows."""
    calendar = tree_calendar(tree)
    period = calendar.previous(calendar.period_at(now or datetime.now(UTC), Grain(tree.grain)))
    batch = windows(calendar, [period])
    points = score_points(batch)
    segment = SegmentFilter()
    found: list[Finding] = []
    for node in measure_nodes(tree):
        if node.measure is None:
            raise InternalError("node.measure is missing")

        def measure(node: Node = node) -> Select[Any]:
            return plan_one_node(tree, node, batch, segment, warehouse).statement

        found += _bound(measure, warehouse, node.measure.source, node.id)
    for node in score_nodes(tree):
        if node.score is None:
            raise InternalError("node.score is missing")

        def score(node: Node = node) -> Select[Any]:
            return plan_score_query(tree, node, points, segment, warehouse).statement

        found += _bound(score, warehouse, node.score.source, node.id)
    found += list(_join_warnings(tree, warehouse))
    return list(dict.fromkeys(found))


def _bound(plan: Callable[[], Select[Any]], warehouse: Warehouse, source: str, node: str) -> list[Finding]:
    """Plan the node's statement and have the engine bind it (``LIMIT 0``: no row is read)."""
    try:
        probe: Select[Any] = sa.select(sa.literal_column("*")).select_from(plan().subquery("probe")).limit(0)
        with warehouse.reading(f"checking node {node!r} (source {source!r})", source=source, node=node) as connection:
            connection.execute(probe).all()
    except WarehouseError as exc:
        return [Finding(str(exc), exc.hint or "", exc.source or source, exc.node or node, exc.key)]
    return []


def _join_warnings(tree: MetricTree, warehouse: Warehouse) -> Iterator[Finding]:
    used = {node.measure.source for node in measure_nodes(tree) if node.measure is not None}
    for source_id in sorted(used):
        for join in tree.sources[source_id].joins:
            try:
                repeated = repeated_join_keys(tree, source_id, join.source, warehouse)
            except WarehouseError as exc:
                yield Finding(str(exc), exc.hint or "", join.source, None, None)
                continue
            if repeated:
                yield Finding(
                    f"{join.source} has {repeated:,} {join.on} value(s) on more than one row: each {source_id} row "
                    f"joined to one of them counts once per matching row",
                    f"dedupe {join.source}, or filter it to one row per {join.on}",
                    source_id,
                    None,
                    "joins",
                    is_error=False,
                )
