"""Drilling nodes for a period against its comparison: the warehouse's cells, then the analysis."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kpitree.analysis.drill import MIN_ROWS, Drill, analyse_drill
from kpitree.analysis.segments import SegmentView, drill_view
from kpitree.compute.batch import SegmentFilter, windows
from kpitree.compute.drill import drill_nodes, drillable_dimensions
from kpitree.compute.engine import render_sql
from kpitree.errors import UsageError, UserError
from kpitree.periods import Comparison, Period
from kpitree.tree import MetricTree, tree_calendar
from kpitree.warehouse import Warehouse

DEFAULT_DEPTH = 2


@dataclass(frozen=True)
class DrillRun:
    tree: MetricTree
    period: Period
    compare: Period
    comparison: Comparison
    drills: Mapping[str, Drill]  # node id -> its drill
    statements: tuple[str, ...]  # the SQL that ran, as the warehouse's dialect writes it


def drill_periods(
    tree: MetricTree,
    requests: Mapping[str, Sequence[str]],
    period: Period,
    comparison: Comparison,
    warehouse: Warehouse,
    depth: int = DEFAULT_DEPTH,
    min_rows: int = MIN_ROWS,
    segment: SegmentFilter | None = None,
) -> DrillRun:
    """Drill each requested node (node id -> dimensions) from ``comparison`` to ``period``."""
    calendar = tree_calendar(tree)
    compare = calendar.compare_period(period, comparison)
    if compare is None:
        raise UsageError(
            "a drill compares two periods: a target has no segments",
            hint="use --compare previous or --compare yoy",
        )
    current_window, compare_window = windows(calendar, [period, compare])
    found = drill_nodes(tree, requests, current_window, compare_window, depth, warehouse, segment)
    drills = {
        node_id: analyse_drill(cells, tree.nodes[node_id].direction, min_rows) for node_id, cells in found.items()
    }
    statements = next(iter(found.values())).statements if found else ()
    return DrillRun(tree, period, compare, comparison, drills, tuple(render_sql(s, warehouse) for s in statements))


def path_drills(
    tree: MetricTree,
    path: Sequence[str],
    period: Period,
    comparison: Comparison,
    warehouse: Warehouse,
    segment: SegmentFilter | None = None,
) -> tuple[Mapping[str, Drill], tuple[str, ...]]:
    """The drills a report shows under "where it moved": every node on the largest-gap path that
    can be cut by segment, by the tree's ``drill`` columns its sources have. One statement per
    source for all of them. A drill the warehouse refuses is a note, not a failed run: the report
    and its alerts matter more than the segments beside them."""
    requests = {}
    for node_id in path:
        dims = drillable_dimensions(tree, tree.nodes[node_id], tree.drill)
        if dims:
            requests[node_id] = dims
    if not requests or comparison is Comparison.TARGET:
        return {}, ()
    try:
        run = drill_periods(tree, requests, period, comparison, warehouse, segment=segment)
    except UserError as exc:
        return {}, (f"where it moved: not computed: {exc}",)
    return run.drills, ()


def segment_by_views(
    tree: MetricTree,
    movements: Mapping[str, float | None],
    period: Period,
    comparison: Comparison,
    warehouse: Warehouse,
    segment: SegmentFilter | None = None,
) -> dict[str, SegmentView]:
    """The mix-and-rate views of the nodes declared with ``segment_by``, cut in the warehouse: each
    a drill by its one column, all in one statement per source, before the attribution (whose
    largest-gap path goes through them). ``movements``: node id -> its movement, for the residual.
    A node that cannot be cut (its terms are not sums of measures, a source lacks the column) or a
    drill the warehouse refuses gets a view that says why, so the report shows it, not nothing."""
    if comparison is Comparison.TARGET:  # a target has no segments
        return {}
    views: dict[str, SegmentView] = {}
    requests: dict[str, tuple[str, ...]] = {}
    for node in tree.nodes.values():
        if node.segment_by is None:
            continue
        dims = drillable_dimensions(tree, node, (node.segment_by,))
        if dims is None:
            views[node.id] = SegmentView(node.segment_by, (), 0.0, "not a ratio of sums of measures: not cut")
        elif not dims:
            reason = f"a source of its measures has no column {node.segment_by!r}: not cut"
            views[node.id] = SegmentView(node.segment_by, (), 0.0, reason)
        else:
            requests[node.id] = dims
    if not requests:
        return views
    try:
        run = drill_periods(tree, requests, period, comparison, warehouse, depth=1, segment=segment)
    except UserError as exc:
        return views | {n: SegmentView(d[0], (), 0.0, f"not cut: {exc}") for n, d in requests.items()}
    return views | {n: drill_view(drill, movements.get(n)) for n, drill in run.drills.items()}
