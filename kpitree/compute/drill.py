"""A node's value cut by segment across many dimensions in one scan: the warehouse side of a drill.

``kpitree drill`` asks which segment moved a node. A node can be cut by segment when its value is
made of measures that add up over segments (:class:`DrillForm`): a measure, a sum or difference of
measures, a ratio of two such sums, or an average (its sum over its count). For each source the
node reads, one statement aggregates those measures in both periods (pivoted into columns, so a
segment is one result row) over ``GROUP BY GROUPING SETS``: every dimension alone, every pair up
to ``depth``, and the empty set (the whole population). SQLite has no grouping sets: the same
statement is written as one ``UNION ALL`` branch per set.

Dimension values are compared as text (NULL becomes :data:`NO_VALUE`), so a NULL in a grouped
column means "not grouped by it" on every engine, with no ``GROUPING()`` function, which engines
spell differently. Only the aggregates leave the warehouse: one row per segment, bounded by
:data:`MAX_SEGMENTS` (a column with a value per record is not a dimension, and the error says so).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import sqlalchemy as sa
from sqlalchemy.sql import Select

from kpitree.compute.batch import PeriodWindow, SegmentFilter, source_offers
from kpitree.compute.measures import PERIOD, aggregate, source_rows
from kpitree.compute.relations import computing
from kpitree.errors import UsageError, WarehouseError
from kpitree.formula import BinOp, Expr, Neg, Number, Ref
from kpitree.tree import MetricTree, Node, NodeKind
from kpitree.warehouse import Warehouse

NO_VALUE: Final = "(none)"  # a NULL in a dimension, as a drill names it
MAX_SEGMENTS: Final = 200_000  # result rows a drill reads before it stops: a dimension too fine
MAX_DEPTH: Final = 3

Part = Literal["value", "sum", "count"]
Cell = tuple[tuple[str, str], ...]  # (dimension, value) pairs sorted by dimension; () is everyone


@dataclass(frozen=True)
class Term:
    """``coefficient x`` one piece of a measure node (its value, or an average's sum or count)."""

    coefficient: float
    node: str
    part: Part = "value"

    @property
    def label(self) -> str:
        return f"{self.node}__{self.part}"


@dataclass(frozen=True)
class DrillForm:
    """How a node's value is made of measures that add up over segments: ``sum(numerator)``, or
    ``sum(numerator) / sum(denominator)`` for a ratio (and for an average: its sum over its count)."""

    numerator: tuple[Term, ...]
    denominator: tuple[Term, ...] = ()

    @property
    def is_ratio(self) -> bool:
        return bool(self.denominator)

    @property
    def terms(self) -> tuple[Term, ...]:
        return (*self.numerator, *self.denominator)


class NotDrillable(UsageError):
    """A node whose value does not add up over segments (a median, a product, a score)."""


def drill_form(tree: MetricTree, node: Node) -> DrillForm:
    """The node as measures that add up over segments, or :class:`NotDrillable` saying why not."""
    if node.kind is NodeKind.MEASURE and node.measure is not None and node.measure.agg == "avg":
        return DrillForm((Term(1.0, node.id, "sum"),), (Term(1.0, node.id, "count"),))
    expr = node.formula
    if isinstance(expr, BinOp) and expr.op == "/":
        numerator, denominator = _linear(tree, expr.left, 1.0), _linear(tree, expr.right, 1.0)
        if numerator is not None and denominator is not None:
            return DrillForm(tuple(numerator), tuple(denominator))
    terms = _linear(tree, Ref(node.id, 0) if expr is None else expr, 1.0)
    if terms is None:
        raise NotDrillable(
            f"node {node.id!r} cannot be cut by segment: its value is not a measure, a sum of measures, "
            "a ratio of two sums, or an average",
            hint="drill one of its inputs (a count, a sum, or a ratio of them); a median, a product, "
            "a min/max or an engagement score does not add up over segments",
        )
    return DrillForm(tuple(terms))


def _linear(tree: MetricTree, expr: Expr, scale: float) -> list[Term] | None:
    """``expr`` as a weighted sum of additive measures, or None."""
    if isinstance(expr, Ref):
        node = tree.nodes.get(expr.name)
        if node is None:
            return None
        if node.kind is NodeKind.MEASURE and node.measure is not None:
            additive = node.measure.agg in ("count", "count_distinct", "sum")
            return [Term(scale, node.id)] if additive else None
        if node.kind is NodeKind.FORMULA and node.formula is not None:
            return _linear(tree, node.formula, scale)
        return None
    if isinstance(expr, Neg):
        return _linear(tree, expr.operand, -scale)
    if isinstance(expr, BinOp):
        if expr.op in ("+", "-"):
            left = _linear(tree, expr.left, scale)
            right = _linear(tree, expr.right, scale if expr.op == "+" else -scale)
            return None if left is None or right is None else left + right
        if expr.op == "*" and isinstance(expr.left, Number):
            return _linear(tree, expr.right, scale * expr.left.value)
        if expr.op in ("*", "/") and isinstance(expr.right, Number) and expr.right.value != 0:
            factor = expr.right.value if expr.op == "*" else 1 / expr.right.value
            return _linear(tree, expr.left, scale * factor)
    return None


@dataclass(frozen=True)
class CellValues:
    """One segment's terms in the two periods, and the source rows it holds in each."""

    before: Mapping[str, float]  # Term.label -> value
    after: Mapping[str, float]
    rows_before: int
    rows_after: int


@dataclass(frozen=True)
class DrillCells:
    form: DrillForm
    dimensions: tuple[str, ...]
    sets: tuple[tuple[str, ...], ...]  # the grouping sets, () first
    cells: Mapping[Cell, CellValues]
    statements: tuple[Select[Any], ...]


def grouping_sets(dimensions: Sequence[str], depth: int) -> tuple[tuple[str, ...], ...]:
    """(), then every dimension alone, then every combination of up to ``depth`` of them."""
    return tuple(
        combo for size in range(min(depth, len(dimensions)) + 1) for combo in itertools.combinations(dimensions, size)
    )


def drill_cells(
    tree: MetricTree,
    node: Node,
    current: PeriodWindow,
    compare: PeriodWindow,
    dimensions: Sequence[str],
    depth: int,
    warehouse: Warehouse,
) -> DrillCells:
    """Every segment's terms of ``node`` in both periods: one statement per source it reads."""
    return drill_nodes(tree, {node.id: dimensions}, current, compare, depth, warehouse)[node.id]


def drill_nodes(
    tree: MetricTree,
    requests: Mapping[str, Sequence[str]],
    current: PeriodWindow,
    compare: PeriodWindow,
    depth: int,
    warehouse: Warehouse,
    segment: SegmentFilter | None = None,
) -> dict[str, DrillCells]:
    """Several nodes drilled at once (node id -> its dimensions): still one statement per source,
    whatever the number of nodes (a run drills every node on its largest-gap path). ``segment``
    (``--where``) narrows the rows first, as it does the run's."""
    if not 1 <= depth <= MAX_DEPTH:
        raise UsageError(f"--depth {depth}: a drill combines 1 to {MAX_DEPTH} dimensions")
    forms = {node_id: drill_form(tree, tree.nodes[node_id]) for node_id in requests}
    wanted = {node_id: tuple(dict.fromkeys(dims)) for node_id, dims in requests.items()}
    by_source: dict[str, list[Term]] = {}
    source_sets: dict[str, dict[tuple[str, ...], None]] = {}
    for node_id, form in forms.items():
        sources = _sources(tree, form)
        _check_dimensions(tree, tree.nodes[node_id], sources, wanted[node_id])
        for source_id in sources:
            terms = by_source.setdefault(source_id, [])
            terms += [t for t in form.terms if _source(tree, t) == source_id and t not in terms]
            source_sets.setdefault(source_id, {}).update(dict.fromkeys(grouping_sets(wanted[node_id], depth)))
    batch = (
        PeriodWindow(0, current.period, current.start, current.end),
        PeriodWindow(1, compare.period, compare.start, compare.end),
    )
    statements = []
    cells: dict[Cell, dict[str, Any]] = {}
    for source_id, terms in by_source.items():
        sets = tuple(source_sets[source_id])
        dims = tuple(dict.fromkeys(d for group in sets for d in group))
        statement = _statement(tree, source_id, terms, batch, dims, sets, warehouse, segment or SegmentFilter())
        statements.append(statement)
        nodes = sorted({t.node for t in terms})
        single = nodes[0] if len(nodes) == 1 else None
        with warehouse.reading(computing(tree, source_id, nodes), source=source_id, node=single) as connection:
            result = connection.execution_options(stream_results=True).execute(statement)
            for count, row in enumerate(result.mappings()):
                if count >= MAX_SEGMENTS:
                    raise WarehouseError(
                        f"drilling {', '.join(map(repr, nodes))} by {', '.join(dims)} gives more than "
                        f"{MAX_SEGMENTS:,} segments",
                        hint="a column with a value per record (an id) is not a dimension: drill coarser columns, "
                        "or fewer at a time (--depth 1)",
                        node=single,
                    )
                _collect(cells, row, dims, terms)
    found = {}
    for node_id, form in forms.items():
        sets = grouping_sets(wanted[node_id], depth)
        mine = {key: entry for key, entry in cells.items() if tuple(d for d, _ in key) in sets}
        found[node_id] = DrillCells(
            form=form,
            dimensions=wanted[node_id],
            sets=sets,
            cells={key: _cell_values(entry, form) for key, entry in mine.items()},
            statements=tuple(statements),
        )
    return found


def _source(tree: MetricTree, term: Term) -> str:
    measure = tree.nodes[term.node].measure
    if measure is None:  # drill_form keeps measure nodes only
        raise NotDrillable(f"node {term.node!r} is not a measure")
    return measure.source


def _sources(tree: MetricTree, form: DrillForm) -> list[str]:
    return list(dict.fromkeys(_source(tree, t) for t in form.terms))


def drillable_dimensions(tree: MetricTree, node: Node, dimensions: Sequence[str]) -> tuple[str, ...] | None:
    """The dimensions of ``dimensions`` every source of ``node`` offers; None when it cannot be cut."""
    try:
        form = drill_form(tree, node)
    except NotDrillable:
        return None
    sources = _sources(tree, form)
    return tuple(d for d in dimensions if all(d in source_offers(tree, s) for s in sources))


def _check_dimensions(tree: MetricTree, node: Node, sources: Sequence[str], dims: Sequence[str]) -> None:
    if not dims:
        raise UsageError(
            f"drill {node.id!r}: no dimension to cut by",
            hint=f"give --by DIM[,DIM...], or declare 'drill: [DIM, ...]' in tree {tree.id!r}",
        )
    for source_id in sources:
        offered = source_offers(tree, source_id)
        missing = [d for d in dims if d not in offered]
        if missing:
            known = ", ".join(sorted(offered))
            raise UsageError(
                f"drill {node.id!r}: source {source_id!r} (with its joins) has no column "
                f"{', '.join(map(repr, missing))}",
                hint=f"dimensions of {source_id!r}: {known}; a source's joins bring their columns",
            )


def _statement(
    tree: MetricTree,
    source_id: str,
    terms: Sequence[Term],
    batch: Sequence[PeriodWindow],
    dims: Sequence[str],
    sets: Sequence[Sequence[str]],
    warehouse: Warehouse,
    segment: SegmentFilter,
) -> Select[Any]:
    nodes = [tree.nodes[n] for n in dict.fromkeys(t.node for t in terms)]
    found = source_rows(tree, source_id, nodes, batch, segment, warehouse, extra=dims)
    dialect = warehouse.dialect
    rows = found.rows
    # Dimensions as text, NULL as NO_VALUE: then NULL in the result means "not grouped by it".
    texts = [sa.func.coalesce(dialect.as_text(rows.c[d]), NO_VALUE).label(_dim_label(i)) for i, d in enumerate(dims)]
    labelled = sa.select(*rows.c, *texts).where(*found.kept()).subquery("cells")
    columns = labelled.c
    measures = []
    for term in dict.fromkeys((t.node, t.part) for t in terms):
        node = tree.nodes[term[0]]
        for window in batch:
            in_period = columns[PERIOD] == (0 if found.timeless else window.index)
            part = term[1]
            label = f"{Term(1.0, node.id, part).label}__{window.index}"
            measures.append(aggregate(node, columns, dialect, in_period, part).label(label))
    for window in batch:
        in_period = columns[PERIOD] == (0 if found.timeless else window.index)
        measures.append(sa.func.count(sa.case((in_period, 1))).label(f"_rows__{window.index}"))
    dim_columns = [columns[_dim_label(i)] for i in range(len(dims))]
    if all(_adds_up(tree.nodes[t.node], t.part) for t in terms):
        # Counts and sums add up: aggregate once per finest cell, then roll the few cells up into
        # every set. Eleven sets over ten million rows cost twice one GROUP BY; over the cells, nothing.
        finest = sa.select(*dim_columns, *measures).group_by(*dim_columns).cte("finest")
        dim_columns = [finest.c[_dim_label(i)] for i in range(len(dims))]
        measures = [sa.func.sum(finest.c[m.name]).label(m.name) for m in measures]
    if dialect.has_grouping_sets:
        sets_sql = [sa.tuple_(*(dim_columns[dims.index(d)] for d in group)) for group in sets]
        return sa.select(*dim_columns, *measures).group_by(sa.func.grouping_sets(*sets_sql))
    branches = []
    for group in sets:
        shown = [(dim_columns[i] if d in group else sa.null()).label(_dim_label(i)) for i, d in enumerate(dims)]
        branch = sa.select(*shown, *measures)
        if group:
            branch = branch.group_by(*(dim_columns[dims.index(d)] for d in group))
        branches.append(branch)
    union = sa.union_all(*branches).subquery("sets")
    return sa.select(*union.c)


def _adds_up(node: Node, part: Part) -> bool:
    """Whether the aggregate of a set is the sum of its cells' (not a distinct count)."""
    measure = node.measure
    return measure is not None and (part != "value" or measure.agg in ("count", "sum"))


def _dim_label(index: int) -> str:
    return f"_d{index}"


def _collect(cells: dict[Cell, dict[str, Any]], row: Any, dims: Sequence[str], terms: Sequence[Term]) -> None:
    key = tuple((d, str(row[_dim_label(i)])) for i, d in enumerate(dims) if row[_dim_label(i)] is not None)
    entry = cells.setdefault(key, {"rows": [0, 0]})
    for window in (0, 1):
        entry["rows"][window] = max(entry["rows"][window], int(row[f"_rows__{window}"] or 0))
        for term in terms:
            label = term.label
            raw = row[f"{label}__{window}"]
            entry[f"{label}__{window}"] = float(raw) if raw is not None else 0.0


def _cell_values(entry: Mapping[str, Any], form: DrillForm) -> CellValues:
    labels = {t.label for t in form.terms}
    return CellValues(
        before={label: entry.get(f"{label}__1", 0.0) for label in labels},
        after={label: entry.get(f"{label}__0", 0.0) for label in labels},
        rows_before=entry["rows"][1],
        rows_after=entry["rows"][0],
    )
