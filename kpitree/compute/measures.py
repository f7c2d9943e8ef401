"""Measures to SQL: one query per source and period batch.

Every measure node on a source (split branches included) becomes a conditional aggregate in a
single ``SELECT ... GROUP BY period``: ``COUNT(CASE WHEN channel = 'call' THEN 1 END)`` and so on.
The engine scans the source once for the whole batch and returns one row per period; Python
never sees a raw row. Duplicate records (the source's ``dedupe`` keys) are counted once: a window
function keeps the first row of each key, and rows with a NULL key are never treated as duplicates.
The source's ``where`` applies before deduplication, the period bounds too (a scan's periods are
the deduplication scope: duplicate syncs share their record's timestamp, so they fall in one
period, and so in one scan of :func:`kpitree.compute.engine.scan_groups`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from kpitree.compute.batch import PeriodWindow, SegmentFilter, in_any_period, period_index, source_offers
from kpitree.compute.column_types import Kind
from kpitree.compute.conditions import restriction_expr, where_exprs
from kpitree.compute.instants import cohort_label, holds_label, point_in_time_rows
from kpitree.compute.relations import SourceRelation, build_relation, computing, needed_columns
from kpitree.compute.values import NodeValue
from kpitree.dialects import SqlDialect
from kpitree.errors import InternalError, WarehouseError
from kpitree.spec.models.sources import where_columns
from kpitree.tree import MetricTree, Node
from kpitree.warehouse import Warehouse

PERIOD = "_period"
KEEP = "_keep"
ROWS = "r"
NULLS = "z"


@dataclass(frozen=True)
class SourceQuery:
    """The one statement computing every measure on one source for a batch of periods."""

    source_id: str
    statement: Select[Any]
    labels: Mapping[str, str]  # node id -> result column
    timeless: bool  # the source has no time column: one row, the same in every period
    unfiltered_dims: tuple[str, ...]  # --where dimensions this source does not have
    joins: tuple[str, ...] = ()  # the sources joined in


def measure_nodes(tree: MetricTree) -> list[Node]:
    return [node for node in tree.nodes.values() if node.measure is not None]


def plan_source_queries(
    tree: MetricTree, batch: Sequence[PeriodWindow], segment: SegmentFilter, warehouse: Warehouse
) -> list[SourceQuery]:
    by_source: dict[str, list[Node]] = {}
    for node in measure_nodes(tree):
        if node.measure is None:
            raise InternalError("node.measure is missing")
        by_source.setdefault(node.measure.source, []).append(node)
    return [_plan(tree, source_id, nodes, batch, segment, warehouse) for source_id, nodes in by_source.items()]


def plan_one_node(
    tree: MetricTree, node: Node, batch: Sequence[PeriodWindow], segment: SegmentFilter, warehouse: Warehouse
) -> SourceQuery:
    """The statement for one measure alone (what ``kpitree validate --warehouse`` checks node by node)."""
    if node.measure is None:
        raise InternalError("node.measure is missing")
    return _plan(tree, node.measure.source, [node], batch, segment, warehouse)


def _node_columns(node: Node) -> set[str]:
    if node.measure is None:
        raise InternalError("node.measure is missing")
    names = set(where_columns(node.measure.where)) | {r.column for r in node.restrictions}
    if node.measure.cohort is not None:
        names.add(node.measure.cohort.entity)
    if node.measure.column:
        names.add(node.measure.column)
    return names


@dataclass(frozen=True)
class SourceRows:
    """The rows a batch's measures on one source aggregate over: one per kept record and period."""

    rows: Any  # the subquery: the columns the measures read, PERIOD, and KEEP when deduplicated
    relation: SourceRelation
    timeless: bool
    lacking: tuple[str, ...]  # --where dimensions the source does not have
    deduped: bool

    def kept(self) -> list[ColumnElement[bool]]:
        """The condition that keeps one copy of each duplicate record (none without ``dedupe``)."""
        return [self.rows.c[KEEP] == 1] if self.deduped else []


def source_rows(
    tree: MetricTree,
    source_id: str,
    nodes: Sequence[Node],
    batch: Sequence[PeriodWindow],
    segment: SegmentFilter,
    warehouse: Warehouse,
    extra: Sequence[str] = (),
) -> SourceRows:
    """The source's rows in the batch's periods, with the columns ``nodes`` read and ``extra``
    ones (a drill's dimensions): the source's ``where``, the ``--where`` segment and the period
    bounds applied, duplicates marked."""
    spec = tree.sources[source_id]
    dims = set(segment.values) & source_offers(tree, source_id)
    measured = set().union(*(_node_columns(n) for n in nodes))
    used = measured | set(extra)
    relation = build_relation(tree, source_id, needed_columns(spec, used | dims), warehouse)
    for node in nodes:
        _check_aggregated_column(node, relation)
    segment_conditions, lacking = segment.conditions(relation)
    conditions = [*relation.keep_rows(), *segment_conditions]
    if spec.is_point_in_time:
        instants = point_in_time_rows(tree, source_id, list(nodes), used | dims, batch, segment, warehouse)
        return SourceRows(instants.subquery("rows"), relation, False, tuple(sorted(lacking)), False)
    timeless = relation.time_name is None
    if not timeless:
        conditions.append(in_any_period(relation, batch))
    period = sa.literal(0) if timeless else period_index(relation, batch)
    row_columns = [relation.column(name).label(name) for name in sorted(used)]
    rows = sa.select(*row_columns, period.label(PERIOD)).select_from(relation.from_clause).where(*conditions)
    if spec.dedupe:
        keys = [relation.column(k) for k in spec.dedupe]
        # Which copy of a duplicate survives must not depend on the engine: earliest first, then by
        # the columns the measures read, so every engine keeps the same row.
        # (A drill's extra columns are left out: it keeps the copy the computation keeps.)
        order = [*([] if timeless else [relation.time]), *(relation.column(n) for n in sorted(measured))]
        first = sa.func.row_number().over(partition_by=keys, order_by=order)
        rows = rows.add_columns(sa.case((sa.or_(*(k.is_(None) for k in keys)), 1), else_=first).label(KEEP))
    return SourceRows(rows.subquery("rows"), relation, timeless, tuple(sorted(lacking)), bool(spec.dedupe))


def _plan(
    tree: MetricTree,
    source_id: str,
    nodes: list[Node],
    batch: Sequence[PeriodWindow],
    segment: SegmentFilter,
    warehouse: Warehouse,
) -> SourceQuery:
    found = source_rows(tree, source_id, nodes, batch, segment, warehouse)
    return _aggregated(source_id, nodes, found, warehouse)


def _aggregated(source_id: str, nodes: list[Node], found: SourceRows, warehouse: Warehouse) -> SourceQuery:
    """The one statement over the source's rows (one row per period and row in them): every
    measure's aggregate, grouped by period."""
    subquery = found.rows
    labels = {node.id: f"m_{node.id}" for node in nodes}
    aggregates = [aggregate(node, subquery.c, warehouse.dialect).label(labels[node.id]) for node in nodes]
    # Beside each measure over a column: its rows, and those with NULL in the column (for the warning
    # that an average skipped them, and for 'kpitree check' of products and ratios built on it).
    aggregates += [
        expression.label(f"{prefix}_{node.id}")
        for node in nodes
        if node.measure is not None and node.measure.column
        for prefix, expression in zip((ROWS, NULLS), _row_counts(node, subquery.c), strict=True)
    ]
    statement = sa.select(subquery.c[PERIOD], *aggregates).group_by(subquery.c[PERIOD]).where(*found.kept())
    return SourceQuery(source_id, statement, labels, found.timeless, found.lacking, found.relation.joins)


_ADDABLE = (Kind.NUMBER, Kind.UNKNOWN)


def _check_aggregated_column(node: Node, relation: SourceRelation) -> None:
    """A sum or average needs numbers: say so, with the column and its type, before the engine
    refuses the statement (or, on SQLite, adds up text)."""
    measure = node.measure
    if measure is None:
        raise InternalError("measure is missing")
    if measure.agg in ("count", "count_distinct") or measure.column is None:
        return
    if measure.agg in ("median", "percentile") and not relation.dialect.has_percentile:
        raise WarehouseError(
            f"node {node.id!r}: a {measure.agg} needs a percentile function, which "
            f"{relation.dialect.display_name} lacks",
            hint="compute this tree on DuckDB (the default), PostgreSQL or Spark SQL",
            source=measure.source,
            node=node.id,
            key="agg",
        )
    kind = relation.kind(measure.column)
    if kind in _ADDABLE or (kind is Kind.TEXT and relation.dialect.adds_numbers_in_text):
        return  # SQLite keeps numbers loaded without a contract as text, and adds them as numbers
    raise WarehouseError(
        f"node {node.id!r}: {measure.agg}({measure.column}) over source {measure.source!r}, "
        f"but {measure.column!r} is a {kind.value} column, not a number column",
        hint="aggregate a number column (count or count_distinct count any column); a text column of numbers "
        "needs a typed load ('kpitree load FILE --table T --no-contract --infer-types', or a contract)",
        source=measure.source,
        node=node.id,
        key="column",
    )


def _kept(node: Node, columns: Any, also: ColumnElement[bool] | None = None) -> ColumnElement[bool] | None:
    """The node's own filter over the source's rows (its measure's where and its branch), if any,
    and ``also`` (a drill's period)."""
    measure = node.measure
    if measure is None:
        raise InternalError("measure is missing")
    conditions = [] if also is None else [also]
    conditions += where_exprs(columns, measure.where)
    conditions += [restriction_expr(columns[r.column], r) for r in node.restrictions]
    if measure.at is not None:  # a point-in-time source: the rows that hold at the instant asked for
        conditions.append(columns[holds_label(measure.at)] == 1)
        if measure.cohort is not None:
            conditions.append(columns[cohort_label(measure.cohort.entity, measure.cohort.at)] == 1)
    return sa.and_(*conditions) if conditions else None


def _row_counts(node: Node, columns: Any) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """COUNT of the rows the node keeps, and of those with NULL in its column."""
    if node.measure is None:
        raise InternalError("node.measure is missing")
    keep = _kept(node, columns)
    column = columns[node.measure.column]
    rows = sa.func.count(sa.case((keep, 1))) if keep is not None else sa.func.count()
    null = column.is_(None) if keep is None else sa.and_(keep, column.is_(None))
    return rows, sa.func.count(sa.case((null, 1)))


def aggregate(
    node: Node, columns: Any, dialect: SqlDialect, also: ColumnElement[bool] | None = None, part: str = "value"
) -> ColumnElement[Any]:
    """The measure's aggregate over the rows it keeps (and that meet ``also``). ``part`` asks for a
    piece of an average instead of its value: ``sum`` or ``count`` of its column (what a drill adds
    up per segment, since averages do not add)."""
    measure = node.measure
    if measure is None:
        raise InternalError("measure is missing")
    keep = _kept(node, columns, also)
    target: ColumnElement[Any] | None = columns[measure.column] if measure.column else None

    def only_kept(value: ColumnElement[Any]) -> ColumnElement[Any]:
        return sa.case((keep, value)) if keep is not None else value

    match part if part != "value" else measure.agg:
        case "count" if part == "count":
            return sa.func.count(only_kept(_required(target, node)))
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
        case "min":
            return sa.func.min(only_kept(_required(target, node)))
        case "max":
            return sa.func.max(only_kept(_required(target, node)))
        case "median" | "percentile":
            p = 0.5 if measure.agg == "median" else measure.p
            if p is None:
                raise InternalError("p is missing (validation requires p for a percentile)")
            return dialect.percentile(only_kept(_required(target, node)), p)
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
    for query in queries:
        nodes = list(query.labels)
        single = nodes[0] if len(nodes) == 1 else None
        with warehouse.reading(
            computing(tree, query.source_id, nodes), source=query.source_id, node=single
        ) as connection:
            rows = {row[PERIOD]: row for row in connection.execute(query.statement).mappings()}
            for window in batch:
                row = rows.get(0 if query.timeless else window.index)
                for node_id, label in query.labels.items():
                    raw = row[label] if row is not None else None
                    rows_kept, nulls = _counts(row, node_id)
                    per_period[window.index][node_id] = _measure_value(tree.nodes[node_id], raw, rows_kept, nulls)
    return [per_period[w.index] for w in batch]


def _counts(row: Any, node_id: str) -> tuple[int | None, int]:
    """The node's kept rows and NULLs in a result row (None, 0 for a measure without a column)."""
    if row is None or f"{ROWS}_{node_id}" not in row:
        return None, 0
    return int(row[f"{ROWS}_{node_id}"] or 0), int(row[f"{NULLS}_{node_id}"] or 0)


def _measure_value(node: Node, raw: Any, rows: int | None, nulls: int) -> NodeValue:
    if node.measure is None:
        raise InternalError("node.measure is missing")
    if raw is None:
        if node.measure.agg == "avg":
            reason = f"no rows in the period to average ({nulls} with no {node.measure.column})" if nulls else None
            return NodeValue(None, reason or "no rows in the period to average", rows, nulls)
        return NodeValue(0.0, None, rows, nulls)  # a count or sum over no rows is zero, not unknown
    column = f"({node.measure.column})" if node.measure.column else ""
    return NodeValue.from_warehouse(raw, f"{node.measure.agg}{column} over {node.measure.source}", rows, nulls)
