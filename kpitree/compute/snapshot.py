"""One period of a tree beside its comparison: what ``kpitree compute`` prints and stores.

The comparison is the previous period, the same period a year earlier, or the node's target. For
a target *band* the comparison value is the nearest edge of the band (the value itself when it is
inside), so the delta is the gap to get back inside the band; a point target is compared as is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kpitree.compute.batch import PeriodWindow, SegmentFilter
from kpitree.compute.engine import PeriodValues, TreeComputation, compute_periods
from kpitree.compute.scores import ScoreSummary
from kpitree.compute.values import NodeValue
from kpitree.periods import Comparison, Period
from kpitree.scoring import band_for
from kpitree.spec.models import BandSpec, TargetSpec
from kpitree.tree import MetricTree, Node, NodeKind, tree_calendar
from kpitree.warehouse import Warehouse


@dataclass(frozen=True)
class BandStatus:
    """Where a value sits against a range: ``below``, ``within`` or ``above``."""

    name: str
    status: str


@dataclass(frozen=True)
class NodeResult:
    node: Node
    current: NodeValue
    compare: NodeValue | None  # None when no comparison was asked for
    per: NodeValue | None  # the value divided by the node's ``per`` node, when it has one
    target: BandStatus | None
    benchmark: BandStatus | None  # the benchmark band that applies to the segment computed
    score_band: str | None  # score nodes: the band the mean score falls in

    @property
    def delta(self) -> float | None:
        if self.compare is None or self.current.value is None or self.compare.value is None:
            return None
        return self.current.value - self.compare.value


@dataclass(frozen=True)
class Snapshot:
    tree: MetricTree
    window: PeriodWindow
    comparison: Comparison | None
    compare_window: PeriodWindow | None
    segment: SegmentFilter
    results: tuple[NodeResult, ...]  # in tree order
    scores: Mapping[str, ScoreSummary]
    compare_scores: Mapping[str, ScoreSummary]
    statements: tuple[str, ...]
    warnings: tuple[str, ...]
    warehouse: str

    @property
    def period(self) -> Period:
        return self.window.period

    def result(self, node_id: str) -> NodeResult:
        return next(r for r in self.results if r.node.id == node_id)


def take_snapshot(
    tree: MetricTree,
    period: Period,
    warehouse: Warehouse,
    comparison: Comparison | None = None,
    segment: SegmentFilter | None = None,
) -> Snapshot:
    """Compute ``period`` (and its comparison period, in the same statements) and pair the values."""
    calendar = tree_calendar(tree)
    compare_period = calendar.compare_period(period, comparison) if comparison else None
    periods = [period] if compare_period is None else [period, compare_period]
    computation = compute_periods(tree, periods, warehouse, segment)
    return snapshot_of(computation, comparison)


def snapshot_of(computation: TreeComputation, comparison: Comparison | None) -> Snapshot:
    current = computation.periods[0]
    previous = computation.periods[1] if len(computation.periods) > 1 else None
    tree, segment = computation.tree, computation.segment
    results = tuple(_node_result(node, current, previous, comparison, segment) for node in tree.nodes.values())
    return Snapshot(
        tree=tree,
        window=current.window,
        comparison=comparison,
        compare_window=previous.window if previous else None,
        segment=segment,
        results=results,
        scores=current.scores,
        compare_scores=previous.scores if previous else {},
        statements=computation.statements,
        warnings=computation.warnings,
        warehouse=computation.warehouse,
    )


def _node_result(
    node: Node,
    current: PeriodValues,
    previous: PeriodValues | None,
    comparison: Comparison | None,
    segment: SegmentFilter,
) -> NodeResult:
    value = current.values[node.id]
    compare: NodeValue | None = None
    if comparison is Comparison.TARGET:
        compare = target_value(node.target, value.value)
    elif previous is not None:
        compare = previous.values[node.id]
    per = None
    if node.per and node.per in current.values:
        per = ratio(value, current.values[node.per], node.per)
    score_band = None
    if node.kind is NodeKind.SCORE and node.score is not None and value.value is not None:
        band = band_for(value.value, node.score.bands)
        score_band = band.name if band else None
    return NodeResult(
        node=node,
        current=value,
        compare=compare,
        per=per,
        target=_target_status(node.target, value.value),
        benchmark=_benchmark_status(node.benchmarks, value.value, segment),
        score_band=score_band,
    )


def ratio(numerator: NodeValue, denominator: NodeValue, denominator_id: str) -> NodeValue:
    if numerator.value is None:
        return NodeValue(None, numerator.reason)
    if denominator.value is None:
        return NodeValue(None, f"{denominator_id} has no value")
    if denominator.value == 0:
        return NodeValue(None, f"division by zero: {denominator_id} is 0")
    return NodeValue(numerator.value / denominator.value)


def target_value(target: TargetSpec | None, value: float | None) -> NodeValue:
    """The value a node is compared with under ``--compare target`` (see the module docstring)."""
    if target is None:
        return NodeValue(None, "the node has no target")
    if target.value is not None:
        return NodeValue(target.value)
    if value is None:
        return NodeValue(None, "no value to place against the target band")
    if target.low is not None and value < target.low:
        return NodeValue(target.low)
    if target.high is not None and value > target.high:
        return NodeValue(target.high)
    return NodeValue(value)


def band_status(low: float | None, high: float | None, value: float) -> str:
    if low is not None and value < low:
        return "below"
    if high is not None and value > high:
        return "above"
    return "within"


def _target_status(target: TargetSpec | None, value: float | None) -> BandStatus | None:
    if target is None or value is None:
        return None
    if target.value is not None:
        return BandStatus("target", band_status(target.value, target.value, value))
    return BandStatus("target", band_status(target.low, target.high, value))


def _benchmark_status(bands: Sequence[BandSpec], value: float | None, segment: SegmentFilter) -> BandStatus | None:
    if value is None:
        return None
    for band in bands:
        if segment.matches(band.where):
            return BandStatus(band.name, band_status(band.low, band.high, value))
    return None
