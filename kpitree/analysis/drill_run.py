"""Drilling nodes for a period against its comparison: the warehouse's cells, then the analysis."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kpitree.analysis.drill import MIN_ROWS, Drill, analyse_drill
from kpitree.compute.batch import windows
from kpitree.compute.drill import drill_nodes
from kpitree.compute.engine import render_sql
from kpitree.errors import UsageError
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
    found = drill_nodes(tree, requests, current_window, compare_window, depth, warehouse)
    drills = {
        node_id: analyse_drill(cells, tree.nodes[node_id].direction, min_rows) for node_id, cells in found.items()
    }
    statements = next(iter(found.values())).statements if found else ()
    return DrillRun(tree, period, compare, comparison, drills, tuple(render_sql(s, warehouse) for s in statements))
