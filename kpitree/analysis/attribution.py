"""A whole tree's movement, decomposed node by node and pushed down to the leaves.

Each node's movement is decomposed over its children (:mod:`kpitree.analysis.node`). A child's
contribution to the KPI is its parent's contribution scaled by the child's part of the parent's
movement, summed over every parent it has (a tree is a DAG): so the leaves' contributions add up
to the KPI's movement, whatever the methods on the way.

The largest-gap path starts at the KPI and follows, at each node, the child whose contribution
moved the KPI most in its bad direction; it ends at the branch whose owners hear about it.
Children that moved the KPI the other way on that path are kept in ``offsetting``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kpitree.analysis.node import Method, decompose
from kpitree.analysis.segments import PerView, SegmentMix, SegmentView, per_view, segment_view
from kpitree.tree import Direction, MetricTree, Node, Owners

# A parent whose movement is under this fraction of its children's gross movement "barely moved":
# shares of it would be ratios of ~0 (say +2000% and -1900%), so only absolute values are shown.
BARELY_MOVED = 0.1


@dataclass(frozen=True)
class ChildContribution:
    child: str
    value: float  # to the parent's movement, in the parent's units
    share: float | None  # value / the parent's movement; None when the parent barely moved
    to_root: float  # through this parent, in the KPI's units


@dataclass(frozen=True)
class NodeAttribution:
    node: Node
    before: float | None  # the comparison value (previous period, last year, or target)
    after: float | None
    method: Method | None
    contributions: tuple[ChildContribution, ...]
    residual: float  # movement the children do not explain (see NodeDecomposition)
    reason: str | None  # why the children's contributions are missing
    to_root: float | None  # this node's contribution to the KPI's movement, over every path
    barely_moved: bool
    segments: SegmentView | None = None  # a ratio of two measures split alike: mix and rate per segment
    per: PerView | None = None  # a split node declared per another: each part's effect on the ratio

    @property
    def delta(self) -> float | None:
        if self.before is None or self.after is None:
            return None
        return self.after - self.before

    @property
    def moved_badly(self) -> bool | None:
        """Moved in its own bad direction (down for higher-is-better); None without a movement."""
        delta = self.delta
        if delta is None or delta == 0:
            return None
        return is_bad(delta, self.node.direction)


@dataclass(frozen=True)
class Offset:
    parent: str
    child: str
    to_root: float  # the child's whole contribution to the KPI's movement


@dataclass(frozen=True)
class SegmentStep:
    """The path's last step when it ends in a segment of a ratio (LATAM's own win rate), not a branch."""

    ratio: str  # the ratio node whose segments were compared
    split_by: str
    segment: SegmentMix
    to_root: float  # the segment's effect on the KPI's movement

    @property
    def found_value(self) -> str | None:
        """The ``segment_by`` value the path ended in (it has no branch); None for a declared segment."""
        return self.segment.pair.label if self.segment.pair.numerator is None else None


@dataclass(frozen=True)
class TreeAttribution:
    tree: MetricTree
    nodes: Mapping[str, NodeAttribution]  # in tree order
    largest_gap_path: tuple[str, ...]
    offsetting: tuple[Offset, ...]  # on the path: children that, all told, moved the KPI the good way
    # When the path went through a ratio's segments: which segment, and its effect. The path then
    # ends at that segment's numerator branch, whose owners (the region's RVP) hear about it.
    gap_segment: SegmentStep | None = None

    @property
    def root(self) -> NodeAttribution:
        return self.nodes[self.tree.root]

    def to_parent(self, node_id: str) -> ChildContribution | None:
        """The node's part of its first parent's movement (None for the KPI or an unattributed parent)."""
        parent = self.tree.node(node_id).parent
        if parent is None:
            return None
        return next((c for c in self.nodes[parent].contributions if c.child == node_id), None)

    @property
    def gap_owners(self) -> Owners:
        """The owners of where the path ends: its last branch, or the ``segment_by`` value's own."""
        last = self.tree.node(self.largest_gap_path[-1])
        step = self.gap_segment
        return last.owners_for(step.found_value) if step is not None else last.owners


def is_bad(kpi_change: float, direction: Direction) -> bool:
    return kpi_change < 0 if direction is Direction.HIGHER_IS_BETTER else kpi_change > 0


def attribute_tree(
    tree: MetricTree,
    before: Mapping[str, float | None],
    after: Mapping[str, float | None],
    found_segments: Mapping[str, SegmentView] | None = None,
) -> TreeAttribution:
    """Decompose every node's movement from ``before`` to ``after`` and push it down to the leaves.

    ``found_segments``: the mix-and-rate views of ``segment_by`` nodes, cut in the warehouse
    (:func:`kpitree.analysis.drill_run.segment_by_views`); declared segments are found here."""
    found = found_segments or {}
    decompositions = {node_id: decompose(node, before, after) for node_id, node in tree.nodes.items()}
    root_before, root_after = before.get(tree.root), after.get(tree.root)
    to_root: dict[str, float] = {}
    if root_before is not None and root_after is not None:
        to_root[tree.root] = root_after - root_before
    via: dict[str, dict[str, float]] = {}
    for node_id in reversed(tree.bottom_up):  # parents before children
        decomposition = decompositions[node_id]
        movement = _delta(before, after, node_id)
        if node_id not in to_root or movement is None or movement == 0:
            continue
        scale = to_root[node_id] / movement
        via[node_id] = {child: value * scale for child, value in decomposition.contributions.items()}
        for child, value in via[node_id].items():
            to_root[child] = to_root.get(child, 0.0) + value
    nodes = {}
    for node_id, node in tree.nodes.items():
        decomposition = decompositions[node_id]
        movement = _delta(before, after, node_id)
        barely = _barely_moved(movement, decomposition.contributions.values())
        contributions = tuple(
            ChildContribution(
                child=child,
                value=value,
                share=None if barely or not movement else value / movement,
                to_root=via.get(node_id, {}).get(child, 0.0),
            )
            for child, value in decomposition.contributions.items()
        )
        nodes[node_id] = NodeAttribution(
            node=node,
            before=before.get(node_id),
            after=after.get(node_id),
            method=decomposition.method,
            contributions=contributions,
            residual=decomposition.residual,
            reason=decomposition.reason,
            to_root=to_root.get(node_id),
            barely_moved=barely,
            segments=found[node_id] if node_id in found else segment_view(tree, node, before, after),
            per=per_view(node, before, after),
        )
    path, offsetting, step = _largest_gap_path(tree, nodes)
    return TreeAttribution(tree=tree, nodes=nodes, largest_gap_path=path, offsetting=offsetting, gap_segment=step)


def worst_segment(attribution: NodeAttribution, direction: Direction) -> SegmentMix | None:
    """The segment of a ratio's mix-and-rate view that moved it most in ``direction``'s bad way.

    For a ratio whose two terms are cut into the same segments this, not the numerator or the
    denominator branch, is where the movement came from: a region whose own win rate fell, rather
    than "deals closed" (which only says the denominator moved)."""
    view = attribution.segments
    if view is None or view.reason or not view.segments:
        return None
    bad = [s for s in view.segments if s.effect.total and is_bad(s.effect.total, direction)]
    return max(bad, key=lambda s: abs(s.effect.total), default=None)


def _largest_gap_path(
    tree: MetricTree, nodes: Mapping[str, NodeAttribution]
) -> tuple[tuple[str, ...], tuple[Offset, ...], SegmentStep | None]:
    """Children are compared by their whole contribution to the KPI (``to_root``), not only the
    part through the current parent: in a DAG a node can hurt the KPI through one parent and help
    it through another (fewer selling hours lower hours per rep but raise touches per hour), and
    the path must not name a branch that, all told, moved the KPI the good way.

    At a ratio with a mix-and-rate view the path compares its segments instead (:func:`worst_segment`)
    and ends at the worst one's numerator branch (or at the ratio, for ``segment_by`` segments)."""
    direction = tree.node(tree.root).direction
    path = [tree.root]
    offsetting: list[Offset] = []
    while True:
        current = nodes[path[-1]]
        step = _segment_step(current, direction)
        if step is not None:
            if step.segment.pair.numerator is not None:  # found segments have no branch: the ratio is the end
                path.append(step.segment.pair.numerator)
            return tuple(path), tuple(offsetting), step
        totals = {c.child: nodes[c.child].to_root or 0.0 for c in current.contributions}
        bad = [c for c in current.contributions if totals[c.child] and is_bad(totals[c.child], direction)]
        offsetting.extend(
            Offset(current.node.id, c.child, totals[c.child])
            for c in current.contributions
            if totals[c.child] and not is_bad(totals[c.child], direction)
        )
        if not bad:
            break
        worst = max(bad, key=lambda c: abs(totals[c.child]))
        if worst.child in path:  # a DAG never loops, but a shared node must not be walked twice
            break
        path.append(worst.child)
    return tuple(path), tuple(offsetting), None


def _segment_step(current: NodeAttribution, kpi_direction: Direction) -> SegmentStep | None:
    """The worst segment of ``current``'s mix-and-rate view, weighed by its effect on the KPI."""
    view, delta, to_root = current.segments, current.delta, current.to_root
    if view is None or view.reason or not view.segments or not delta or to_root is None:
        return None
    scale = to_root / delta
    bad = [s for s in view.segments if s.effect.total and is_bad(s.effect.total * scale, kpi_direction)]
    if not bad:
        return None
    worst = max(bad, key=lambda s: abs(s.effect.total))
    return SegmentStep(current.node.id, view.split_by, worst, worst.effect.total * scale)


def _delta(before: Mapping[str, float | None], after: Mapping[str, float | None], node_id: str) -> float | None:
    b, a = before.get(node_id), after.get(node_id)
    return None if b is None or a is None else a - b


def _barely_moved(movement: float | None, contributions: Iterable[float]) -> bool:
    if movement is None:
        return False
    gross = math.fsum(abs(v) for v in contributions)
    return movement == 0 or (gross > 0 and abs(movement) < BARELY_MOVED * gross)
