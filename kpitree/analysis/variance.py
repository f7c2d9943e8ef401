"""The attributed variance report as data: a snapshot, its attribution and each node's trend.

Every output format (Markdown, HTML, JSON, CSV, ``kpitree explain``) renders a
:class:`VarianceReport`; :func:`report_json` is the canonical form (documented in
docs/report-json.md) and extends the compute JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from kpitree.analysis.attribution import TreeAttribution, attribute_tree
from kpitree.analysis.drill import Drill
from kpitree.analysis.drill_run import path_drills, segment_by_views
from kpitree.analysis.score_change import ScoreChange, score_change
from kpitree.analysis.segments import SegmentView
from kpitree.compute.batch import SegmentFilter
from kpitree.compute.engine import TreeComputation, compute_periods
from kpitree.compute.score_batch import Watches
from kpitree.compute.score_states import state_of
from kpitree.compute.scores import score_nodes
from kpitree.compute.snapshot import Snapshot, snapshot_of
from kpitree.periods import Comparison, Period
from kpitree.progress import SILENT, Progress
from kpitree.tree import MetricTree, tree_calendar
from kpitree.warehouse import Warehouse

TREND_PERIODS = 12


@dataclass(frozen=True)
class Trend:
    """Each node's value over the last periods, oldest first, ending with the report's period."""

    labels: tuple[str, ...]
    values: Mapping[str, tuple[float | None, ...]]
    recorded: tuple[str, ...] = ()  # the labels whose values earlier runs stored (not computed now)


@dataclass(frozen=True)
class VarianceReport:
    snapshot: Snapshot
    attribution: TreeAttribution
    trend: Trend | None
    computation: TreeComputation | None = None  # every period computed for it (the trend included)
    # Score node id -> its population's change split into new activity and ageing (period comparisons only).
    score_changes: Mapping[str, ScoreChange] = field(default_factory=dict)
    # Node id -> its drill by the tree's ``drill`` columns: the nodes on the largest-gap path that
    # can be cut by segment ("where it moved"), and why none could be computed, if so.
    drills: Mapping[str, Drill] = field(default_factory=dict)
    drill_notes: tuple[str, ...] = ()

    @property
    def tree(self) -> MetricTree:
        return self.snapshot.tree

    def score_parts(self, node_id: str) -> tuple[float, float] | None:
        """(ageing, new activity) of a score node or of one of its engagement types."""
        if node_id in self.score_changes:
            change = self.score_changes[node_id]
            return change.ageing, change.new_activity
        parent = self.tree.node(node_id).parent
        if parent is not None and parent in self.score_changes:
            part = next(t for t in self.score_changes[parent].types if t.type_id == node_id)
            return part.ageing, part.new_activity
        return None

    def node_order(self) -> list[str]:
        """The largest-gap path first, then every other node in tree order."""
        path = list(self.attribution.largest_gap_path)
        return path + [node_id for node_id in self.tree.nodes if node_id not in path]


def build_report(
    tree: MetricTree,
    period: Period,
    warehouse: Warehouse,
    comparison: Comparison,
    segment: SegmentFilter | None = None,
    trend_periods: int = TREND_PERIODS,
    also: Sequence[Period] = (),
    recorded: Mapping[Period, Mapping[str, float | None]] | None = None,
    crossings: Mapping[str, Watches] | None = None,
    progress: Progress = SILENT,
) -> VarianceReport:
    """``also``: more periods to compute in the same statements (alert rules comparing a year
    back); their values are in the report's ``computation``. ``recorded``: node values earlier
    runs stored for past periods (:meth:`kpitree.state.store.StateStore.recorded`); the trend
    shows them instead of computing those periods, and says which they are. ``crossings``: the
    band watches of the alerts to come (score node id -> watches); their entities are found with
    the computation, from the same per-contact scores, in its ``crossings``. ``progress`` hears of
    its two stages: computing (how many periods, and how many the trend read instead) and
    attributing (with the segment, drill and score-change statements it runs)."""
    calendar = tree_calendar(tree)
    compare_period = calendar.compare_period(period, comparison)
    compared = [period] if compare_period is None else [period, compare_period]
    past = [calendar.shift(period, -steps) for steps in range(trend_periods - 1, -1, -1)] if trend_periods > 1 else []
    stored = {p: v for p, v in (recorded or {}).items() if p in past and p not in compared and p not in also}
    # One computation for the report and its trend: the periods they share are computed once.
    wanted = list(dict.fromkeys([*compared, *(p for p in past if p not in stored), *also]))
    progress.stage(_computing_stage(len(wanted), len(stored)))
    computation = compute_periods(
        tree, wanted, warehouse, segment, aged=compare_period is not None, crossings=crossings
    )
    by_period = {values.window.period: values for values in computation.periods}
    snapshot = snapshot_of(replace(computation, periods=computation.periods[: len(compared)]), comparison)
    trend = None
    if past:

        def value(p: Period, node_id: str) -> float | None:
            return stored[p].get(node_id) if p in stored else by_period[p].values[node_id].value

        trend = Trend(
            labels=tuple(calendar.label(p) for p in past),
            values={node_id: tuple(value(p, node_id) for p in past) for node_id in tree.nodes},
            recorded=tuple(calendar.label(p) for p in past if p in stored),
        )
    progress.stage("attributing")
    found = segment_by_views(tree, _movements(snapshot), period, comparison, warehouse, snapshot.segment)
    report = report_of(snapshot, trend, computation, found)
    drills, notes = path_drills(
        tree, report.attribution.largest_gap_path, period, comparison, warehouse, snapshot.segment
    )
    return replace(report, score_changes=_score_changes(report, warehouse), drills=drills, drill_notes=notes)


def _computing_stage(computed: int, stored: int) -> str:
    """The computing stage's name: a first run or report may compute a dozen periods where the
    next computes two, and whoever waits should see why."""
    name = f"computing {computed} period{'' if computed == 1 else 's'}"
    return f"{name} ({stored} more read from the state database)" if stored else name


def report_of(
    snapshot: Snapshot,
    trend: Trend | None,
    computation: TreeComputation | None = None,
    found_segments: Mapping[str, SegmentView] | None = None,
) -> VarianceReport:
    """Attribute a snapshot's movement: each node's comparison value against its current one.
    ``found_segments``: the ``segment_by`` nodes' views (:func:`segment_by_views`)."""
    after = {r.node.id: r.current.value for r in snapshot.results}
    before = {r.node.id: r.compare.value if r.compare else None for r in snapshot.results}
    attribution = attribute_tree(snapshot.tree, before, after, found_segments)
    return VarianceReport(snapshot, attribution, trend, computation)


def _movements(snapshot: Snapshot) -> dict[str, float | None]:
    return {
        r.node.id: None
        if r.compare is None or r.compare.value is None or r.current.value is None
        else r.current.value - r.compare.value
        for r in snapshot.results
    }


def _score_changes(report: VarianceReport, warehouse: Warehouse) -> dict[str, ScoreChange]:
    """Each score node's change split into new activity and ageing: only the aged score is new."""
    snapshot = report.snapshot
    if snapshot.compare_window is None:  # against a target: there is no earlier instant to age from
        return {}
    changes = {}
    attribution = report.attribution.nodes
    for node in score_nodes(report.tree):
        before = state_of(node, {n: attribution[n].before for n in (node.id, *node.children)})
        after = state_of(node, {n: attribution[n].after for n in (node.id, *node.children)})
        aged = report.computation.aged.get(node.id) if report.computation else None
        changes[node.id] = score_change(
            report.tree,
            node,
            snapshot.window,
            snapshot.compare_window,
            warehouse,
            snapshot.segment,
            known=(before, after),
            aged=state_of(node, {n: v.value for n, v in aged.items()}) if aged is not None else None,
        )
    return changes


def owner_name(tree: MetricTree, owner: str) -> str:
    """A person's or team's name; an owner resolved per entity says from which column."""
    if owner.startswith("entity:"):
        return f"each entity's {owner.removeprefix('entity:')}"
    if owner in tree.people:
        return tree.people[owner].name
    if owner in tree.teams:
        return tree.teams[owner].name
    return owner
