"""Measures to SQL: one query per source and period batch.

Every measure node on a source (split branches included) becomes a conditional aggregate in a
single ``SELECT ... GROUP BY period``: ``COUNT(CASE WHEN channel = 'call' THEN 1 END)`` and so on.
The engine scans the source once for the whole batch and returns one row per period; Python
never sees a raw row. Duplicate records (the source's ``dedupe`` keys) are counted once: a window
function keeps the first row of each key, and rows with a NULL key are never treated as duplicates.
The source's ``where`` applies before deduplication, the period bounds too (the batch is the
deduplication scope: duplicate syncs share their record's timestamp, so they fall in one period).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from kpitree.compute.batch import PeriodWindow, SegmentFilter, in_any_period, period_index, source_offers
from kpitree.compute.conditions import condition_expr, restriction_expr
from kpitree.compute.relations import build_relation, needed_columns
from kpitree.compute.values import NodeValue
from kpitree.tree import MetricTree, Node
from kpitree.warehouse import Warehouse

PERIOD = "_period"
KEEP = "_keep"


@dataclass(frozen=True)
class SourceQuery:
    """The one statement computing every measure on one source for a batch of periods."""

    source_id: str
    statement: Select[Any]
    labels: Mapping[str, str]  # node id -> result column
    timeless: bool  # the source has no time column: one row, the same in every period
    unfiltered_dims: tuple[str, ...]  # --where dimensions this source does not have


def measure_nodes(tree: MetricTree) -> list[Node]:
    return [node for node in tree.nodes.values() if node.measure is not None]


def plan_source_queries(
    tree: MetricTree, batch: Sequence[PeriodWindow], segment: SegmentFilter, warehouse: Warehouse
) -> list[SourceQuery]:
    by_source: dict[str, list[Node]] = {}
    for node in measure_nodes(tree):
        assert node.measure is not None
        by_source.setdefault(node.measure.source, []).append(node)
    return [_plan(tree, source_id, nodes, batch, segment, warehouse) for source_id, nodes in by_source.items()]


def _node_columns(node: Node) -> set[str]:
    assert node.measure is not None
    names = set(node.measure.where) | {r.column for r in node.restrictions}
    if node.measure.column:
        names.add(node.measure.column)
    return names


def _plan(
    tree: MetricTree,
    source_id: str,
    nodes: list[Node],
    batch: Sequence[PeriodWindow],
    segment: SegmentFilter,
    warehouse: Warehouse,
) -> SourceQuery:
    spec = tree.sources[source_id]
    dims = set(segment.values) & source_offers(tree, source_id)
    used = set().union(*(_node_columns(n) for n in nodes))
    relation = build_relation(tree, source_id, needed_columns(spec, used | dims), warehouse)
    segment_conditions, lacking = segment.conditions(relation)
    timeless = relation.time_name is None
    conditions = [*relation.keep_rows(), *segment_conditions]
    if not timeless:
        conditions.append(in_any_period(relation, batch))
    period = sa.literal(0) if timeless else period_index(relation, batch)
    row_columns = [relation.column(name).label(name) for name in sorted(used)]
    rows = sa.select(*row_columns, period.label(PERIOD)).select_from(relation.from_clause).where(*conditions)
    if spec.dedupe:
        keys = [relation.column(k) for k in spec.dedupe]
        # Which copy of a duplicate survives must not depend on the engine: earliest first, then by
        # the columns the measures read, so every engine keeps the same row.
        order = [*([] if timeless else [relation.time]), *(relation.column(n) for n in sorted(used))]
        first = sa.func.row_number().over(partition_by=keys, order_by=order)
        rows = rows.add_columns(sa.case((sa.or_(*(k.is_(None) for k in keys)), 1), else_=first).label(KEEP))
    subquery = rows.subquery("rows")
    labels = {node.id: f"m_{node.id}" for node in nodes}
    aggregates = [_aggregate(node, subquery.c).label(labels[node.id]) for node in nodes]
    statement = sa.select(subquery.c[PERIOD], *aggregates).group_by(subquery.c[PERIOD])
    if spec.dedupe:
        statement = statement.where(subquery.c[KEEP] == 1)
    return SourceQuery(source_id, statement, labels, timeless, tuple(sorted(lacking)))


def _aggregate(node: Node, columns: Any) -> ColumnElement[Any]:
    measure = node.measure
    assert measure is not None
    conditions = [condition_expr(columns[name], cond) for name, cond in measure.where.items()]
    conditions += [restriction_expr(columns[r.column], r) for r in node.restrictions]
    keep = sa.and_(*conditions) if conditions else None
    target: ColumnElement[Any] | None = columns[measure.column] if measure.column else None

    def only_kept(value: ColumnElement[Any]) -> ColumnElement[Any]:
        return sa.case((keep, value)) if keep is not None else value

    match measure.agg:
        case "count":
            if target is None and keep is None:
                return sa.func.count()
            return sa.func.count(only_kept(target if target is not None else sa.literal(1)))
        case "count_distinct":
            return sa.func.count(sa.distinct(only_kept(_required(target, node))))
        case "sum":
            return sa.func.sum(only_kept(_required(target, node)))
        case "avg":
            return sa.func.avg(only_kept(_required(target, node)))
    raise AssertionError(measure.agg)  # pragma: no cover - Aggregation is a closed Literal


def _required(target: ColumnElement[Any] | None, node: Node) -> ColumnElement[Any]:
    if target is None:  # validation requires a column for these aggregations
        raise AssertionError(f"measure {node.id!r} has no column")
    return target


def run_source_queries(
    tree: MetricTree, queries: Sequence[SourceQuery], batch: Sequence[PeriodWindow], warehouse: Warehouse
) -> list[dict[str, NodeValue]]:
    """Execute the statements; values by node id for each window of ``batch``, in its order."""
    per_period: dict[int, dict[str, NodeValue]] = {w.index: {} for w in batch}
    with warehouse.connect() as connection:
        for query in queries:
            rows = {row[PERIOD]: row for row in connection.execute(query.statement).mappings()}
            for window in batch:
                row = rows.get(0 if query.timeless else window.index)
                for node_id, label in query.labels.items():
                    raw = row[label] if row is not None else None
                    per_period[window.index][node_id] = _measure_value(tree.nodes[node_id], raw)
    return [per_period[w.index] for w in batch]


def _measure_value(node: Node, raw: Any) -> NodeValue:
    assert node.measure is not None
    if raw is None:
        if node.measure.agg == "avg":
            return NodeValue(None, "no rows in the period to average")
        return NodeValue(0.0)  # a count or sum over no rows is zero, not unknown
    column = f"({node.measure.column})" if node.measure.column else ""
    return NodeValue.from_warehouse(raw, f"{node.measure.agg}{column} over {node.measure.source}")
