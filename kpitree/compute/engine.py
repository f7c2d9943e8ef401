"""Computing a whole tree for a batch of periods: SQL for measures and scores, then formulas."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.sql.elements import ClauseElement

from kpitree.compute.batch import PeriodWindow, SegmentFilter, windows
from kpitree.compute.contact_scores import aged_point, score_points
from kpitree.compute.crossings import BandMove
from kpitree.compute.measures import plan_source_queries, run_source_queries
from kpitree.compute.relations import repeated_join_keys
from kpitree.compute.score_batch import Watches, answer_score
from kpitree.compute.scores import ScoreSummary, score_nodes
from kpitree.compute.values import NodeValue
from kpitree.formula import evaluate, referenced_ids
from kpitree.periods import Period
from kpitree.tree import MetricTree, NodeKind, tree_calendar
from kpitree.warehouse import Warehouse


@dataclass(frozen=True)
class PeriodValues:
    window: PeriodWindow
    values: Mapping[str, NodeValue]  # every node of the tree
    scores: Mapping[str, ScoreSummary]  # score node id -> band summary

    @property
    def period(self) -> Period:
        return self.window.period

    def value(self, node_id: str) -> float | None:
        return self.values[node_id].value


@dataclass(frozen=True)
class TreeComputation:
    tree: MetricTree
    segment: SegmentFilter
    periods: tuple[PeriodValues, ...]  # in the order asked for
    statements: tuple[str, ...]  # the SQL that ran, as the warehouse's dialect writes it
    warnings: tuple[str, ...]
    warehouse: str  # its URL, password hidden
    # Score node id -> its values at the aged point (``aged=True``: the first period's end, from the
    # signals up to the second's), for the new-activity / ageing split.
    aged: Mapping[str, Mapping[str, NodeValue]] = field(default_factory=dict)
    # Score node id -> (the watches asked, each one's band moves from the second period to the first).
    crossings: Mapping[str, tuple[Watches, list[list[BandMove]]]] = field(default_factory=dict)


def compute_periods(
    tree: MetricTree,
    periods: Sequence[Period],
    warehouse: Warehouse,
    segment: SegmentFilter | None = None,
    *,
    aged: bool = False,
    crossings: Mapping[str, Watches] | None = None,
) -> TreeComputation:
    """Every node's value in each of ``periods``: one statement per source and per score node.

    With ``aged`` (and two periods or more), each score node's aged score of the first period
    against the second too; with ``crossings`` (score node id -> watches), the entities whose band
    moved from the second period to the first. Both read the same per-contact scores as the
    periods' own values (:mod:`kpitree.compute.score_batch`): a run scores every contact once.
    """
    segment = segment or SegmentFilter()
    batch = windows(tree_calendar(tree), periods)
    measured: list[dict[str, NodeValue]] = [{} for _ in batch]
    summaries: list[dict[str, ScoreSummary]] = [{} for _ in batch]
    statements: list[ClauseElement] = []
    warnings: list[str] = []

    joins_checked: set[tuple[str, str]] = set()
    for group in scan_groups(batch, warehouse.dialect.periods_per_scan):
        queries = plan_source_queries(tree, group, segment, warehouse)
        for query in queries:
            statements.append(query.statement)
            warnings += _unfiltered(query.source_id, query.unfiltered_dims, list(query.labels))
            for joined in query.joins:
                if (query.source_id, joined) not in joins_checked:
                    joins_checked.add((query.source_id, joined))
                    warnings += _fan_out(tree, query.source_id, joined, warehouse)
        for window, values in zip(group, run_source_queries(tree, queries, group, warehouse), strict=True):
            measured[window.index].update(values)

    points = list(score_points(batch))
    compared = (0, 1) if len(batch) >= 2 else None
    aged_index = len(batch) if aged and compared is not None else None
    if aged_index is not None:
        points.append(aged_point(aged_index, batch[0], batch[1]))
    aged_values: dict[str, Mapping[str, NodeValue]] = {}
    moved: dict[str, tuple[Watches, list[list[BandMove]]]] = {}
    for node in score_nodes(tree):
        watches = (crossings or {}).get(node.id, ()) if compared is not None else ()
        answer = answer_score(
            tree,
            node,
            points,
            segment,
            warehouse,
            shared={*(compared or ()), *([] if aged_index is None else [aged_index])},
            compared=compared,
            watches=watches,
        )
        statements += answer.statements
        warnings += _unfiltered(node.id, answer.unfiltered_dims, [node.id])
        for window in batch:
            values, summary = answer.results[window.index]
            measured[window.index].update(values)
            summaries[window.index][node.id] = summary
        if aged_index is not None:
            aged_values[node.id] = answer.results[aged_index][0]
        if answer.moves is not None:
            moved[node.id] = (watches, answer.moves)

    calendar = tree_calendar(tree)
    for window in batch:
        warnings += null_warnings(tree, measured[window.index], calendar.label(window.period))
    results = tuple(
        PeriodValues(window, evaluate_formulas(tree, measured[window.index]), summaries[window.index])
        for window in batch
    )
    sql = tuple(render_sql(statement, warehouse) for statement in statements)
    return TreeComputation(
        tree, segment, results, sql, tuple(dict.fromkeys(warnings)), warehouse.display_url, aged_values, moved
    )


def scan_groups(batch: Sequence[PeriodWindow], per_scan: int) -> list[list[PeriodWindow]]:
    """The batch's scans: :func:`disjoint_groups`, each cut into runs of at most ``per_scan``
    periods (the dialect's ``periods_per_scan``; deduplication stays exact: duplicates share their
    record's timestamp, so they fall in one period, and so in one scan)."""
    return [
        group[start : start + per_scan] for group in disjoint_groups(batch) for start in range(0, len(group), per_scan)
    ]


def disjoint_groups(batch: Sequence[PeriodWindow]) -> list[list[PeriodWindow]]:
    """Split a batch into groups of non-overlapping periods: one scan places a row in one period
    only, so a month and a week inside it need two scans. A period and its comparison never overlap."""
    groups: list[list[PeriodWindow]] = []
    for window in batch:
        for group in groups:
            if all(window.period.end <= w.period.start or w.period.end <= window.period.start for w in group):
                group.append(window)
                break
        else:
            groups.append([window])
    return groups


def evaluate_formulas(tree: MetricTree, measured: Mapping[str, NodeValue]) -> dict[str, NodeValue]:
    """Formula nodes from their inputs, children first; measures and scores as measured."""
    values = dict(measured)
    for node_id in tree.bottom_up:
        node = tree.nodes[node_id]
        if node.kind is not NodeKind.FORMULA or node.formula is None:
            continue
        inputs = {ref: values[ref].value if ref in values else None for ref in referenced_ids(node.formula)}
        result = evaluate(node.formula, inputs)
        values[node_id] = NodeValue(result.value, result.reason)
    missing = set(tree.nodes) - set(values)
    for node_id in missing:  # not reachable by any computation: say so rather than drop the node
        values[node_id] = NodeValue(None, "nothing computes this node")
    return values


def null_warnings(tree: MetricTree, measured: Mapping[str, NodeValue], label: str) -> list[str]:
    """A measure over a column that met NULLs in it: how many, in which period, and what its
    aggregate did with them (sum, avg, count and count_distinct of a column all leave them out)."""
    found = []
    for node_id, value in measured.items():
        measure = tree.nodes[node_id].measure
        if measure is None or not value.nulls or value.rows is None:
            continue
        found.append(
            f"{node_id}: {value.nulls:,} of the {value.rows:,} rows it keeps in {label} have no {measure.column} "
            f"(NULL); {measure.agg} leaves them out"
        )
    return found


def _fan_out(tree: MetricTree, source_id: str, joined: str, warehouse: Warehouse) -> list[str]:
    repeated = repeated_join_keys(tree, source_id, joined, warehouse)
    if not repeated:
        return []
    on = next(j.on for j in tree.sources[source_id].joins if j.source == joined)
    return [
        f"{joined} has {repeated:,} {on} value(s) on more than one row: the {source_id} rows joined to them "
        f"count once per matching row, so their measures are too high "
        f"(dedupe {joined}, or filter it to one row per {on})"
    ]


def _unfiltered(source: str, dims: Sequence[str], nodes: list[str]) -> list[str]:
    if not dims:
        return []
    return [f"{source} has no column {', '.join(dims)}: {', '.join(nodes)} use every row, not only the segment's"]


def render_sql(statement: ClauseElement, warehouse: Warehouse) -> str:
    """The statement as the warehouse's dialect writes it, values inlined where the dialect can."""
    try:
        compiled = statement.compile(dialect=warehouse.engine.dialect, compile_kwargs={"literal_binds": True})
    except (sa.exc.CompileError, NotImplementedError, TypeError):
        compiled = statement.compile(dialect=warehouse.engine.dialect)
    return str(compiled)
