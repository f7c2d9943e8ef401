"""Ratio views told beside a node's decomposition: per segment, and per part over a shared denominator.

**Mix and rate**: a ratio whose numerator and denominator are split into the same segments.

For ``rate = numerator / denominator`` where both are measures split by the same column into
matching branches (touches and active contacts, each by segment), the ratio is
``sum(X_s) / sum(D_s)``. Its movement is then also told per segment, each segment's numerator
and denominator moving together as one Shapley player, and each segment's part split into a
*rate* effect (the segment's own ratio changed) and a *mix* effect (its share of the denominator
changed): see :func:`kpitree.analysis.methods.segment_ratio` and docs/attribution.md.

**Shared denominator**: a node split into parts (channels) and declared ``per`` another node
(active contacts) reads as ``sum(parts) / D``, the seed's "3 emails + 1 call + 1 meeting per
contact". Its per-D movement is told per part plus the denominator's effect
(:func:`kpitree.analysis.methods.shared_denominator`).

Both views sit beside the node's ordinary decomposition over its children, which is what is
pushed down the tree; they do not replace it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kpitree.analysis.drill import Drill
from kpitree.analysis.methods import AttributionError, SegmentEffect, segment_ratio, shared_denominator
from kpitree.formula import BinOp, Expr, Ref
from kpitree.spec.models.base import Scalar
from kpitree.tree import MetricTree, Node


@dataclass(frozen=True)
class SegmentPair:
    """One segment: the numerator's branch and the denominator's branch for the same values.

    A node's ``segment_by`` segments are found in the warehouse, not declared: they have no
    branches (None), and the ratio node itself is where the largest-gap path ends."""

    label: str  # the split column's values ("SMB"), or "other"
    numerator: str | None
    denominator: str | None


@dataclass(frozen=True)
class SegmentMix:
    pair: SegmentPair
    effect: SegmentEffect


@dataclass(frozen=True)
class SegmentView:
    """The ratio's movement per segment. ``residual`` is what the segments do not explain: non-zero
    only when the branches do not add up to their measure (a contact counted in two segments)."""

    split_by: str
    segments: tuple[SegmentMix, ...]
    residual: float
    reason: str | None = None  # why there are no segments (a zero denominator, a missing value)


@dataclass(frozen=True)
class PerView:
    """The movement of ``node / denominator``: each child's effect and the denominator's, summing to it."""

    denominator: str
    before: float | None
    after: float | None
    parts: Mapping[str, float]  # child id -> effect, in the node's units per denominator unit
    denominator_effect: float
    reason: str | None = None


def per_view(node: Node, before: Mapping[str, float | None], after: Mapping[str, float | None]) -> PerView | None:
    """For a split (additive) node with ``per``: its per-denominator movement over its parts."""
    if node.per is None or not node.split_by or not node.children:
        return None
    ids = [node.id, node.per, *node.children]
    if any(before.get(i) is None or after.get(i) is None for i in ids):
        return PerView(node.per, None, None, {}, 0.0, "a part or the denominator has no value in one of the periods")
    d0, d1 = float(before[node.per] or 0.0), float(after[node.per] or 0.0)
    ratio_before = float(before[node.id] or 0.0) / d0 if d0 else None
    ratio_after = float(after[node.id] or 0.0) / d1 if d1 else None
    try:
        effects = shared_denominator(
            [float(before[c] or 0.0) for c in node.children], [float(after[c] or 0.0) for c in node.children], d0, d1
        )
    except AttributionError as exc:
        return PerView(node.per, ratio_before, ratio_after, {}, 0.0, str(exc))
    parts = dict(zip(node.children, effects.parts, strict=True))
    return PerView(node.per, ratio_before, ratio_after, parts, effects.denominator)


def segment_pairs(tree: MetricTree, node: Node) -> tuple[str, tuple[SegmentPair, ...]] | None:
    """The segment column and the matched segments, when ``node`` is ``A / B`` and A and B are each
    cut into the same segments of one column; None otherwise. A node is cut into segments when it
    is split into branches, or when it is a sum of measures that each filter that one column
    (a distinct count cannot be split, so ``contacts: smb_contacts + mm_contacts`` is the way)."""
    expr = node.formula
    if not (isinstance(expr, BinOp) and expr.op == "/" and isinstance(expr.left, Ref) and isinstance(expr.right, Ref)):
        return None
    if expr.left.name not in tree.nodes or expr.right.name not in tree.nodes:
        return None
    top, bottom = _segments(tree, tree.nodes[expr.left.name]), _segments(tree, tree.nodes[expr.right.name])
    if top is None or bottom is None or top[0] != bottom[0] or set(top[1]) != set(bottom[1]):
        return None
    return top[0], tuple(SegmentPair(label, top[1][label], bottom[1][label]) for label in top[1])


def segment_view(
    tree: MetricTree, node: Node, before: Mapping[str, float | None], after: Mapping[str, float | None]
) -> SegmentView | None:
    found = segment_pairs(tree, node)
    if found is None:
        return None
    split_by, pairs = found
    ids = [i for i in [p.numerator for p in pairs] + [p.denominator for p in pairs] if i is not None]
    if any(before.get(i) is None or after.get(i) is None for i in [node.id, *ids]):
        return SegmentView(split_by, (), 0.0, "a segment has no value in one of the periods")
    b = [float(before[i] or 0.0) for i in ids]
    a = [float(after[i] or 0.0) for i in ids]
    n = len(pairs)
    try:
        effects = segment_ratio(b[:n], b[n:], a[:n], a[n:])
    except AttributionError as exc:
        return SegmentView(split_by, (), 0.0, str(exc))
    movement = float(after[node.id] or 0.0) - float(before[node.id] or 0.0)
    residual = movement - math.fsum(e.total for e in effects)
    return SegmentView(split_by, tuple(SegmentMix(p, e) for p, e in zip(pairs, effects, strict=True)), residual)


def drill_view(drill: Drill, movement: float | None) -> SegmentView:
    """A ``segment_by`` node's view from its one-dimension drill: each value of the column is a
    segment, with the drill's rate and mix effects (the same Shapley split as declared segments,
    :func:`kpitree.analysis.methods.segment_effect`). Values with few rows are summed into one
    ``(other)`` segment, as every drill does. The residual is the node's movement the segments do
    not explain: non-zero only when an entity sits in two segments (a distinct count)."""
    (column,) = drill.dimensions
    if drill.reason and not drill.segments:
        return SegmentView(column, (), 0.0, drill.reason)
    mixes = tuple(
        SegmentMix(SegmentPair(s.where[0][1], None, None), SegmentEffect(s.contribution, s.rate or 0.0, s.mix or 0.0))
        for s in drill.segments
    )
    residual = (movement or 0.0) - math.fsum(m.effect.total for m in mixes)
    return SegmentView(column, mixes, residual)


def _segments(tree: MetricTree, node: Node) -> tuple[str, dict[str, str]] | None:
    """(column, segment label -> node id) for a node cut into segments of one column."""
    if node.split_by:
        labels = {}
        for child_id in node.children:
            restriction = tree.nodes[child_id].restrictions[-1]
            labels["other" if restriction.is_other else _label(restriction.values)] = child_id
        return node.split_by, labels
    if node.formula is None:
        return None
    terms = _sum_terms(node.formula)
    if terms is None:
        return None
    cuts = [_filtered_on(tree.nodes[t]) if t in tree.nodes else None for t in terms]
    columns = {cut[0] for cut in cuts if cut is not None}
    if None in cuts or len(columns) != 1:
        return None
    labels = {cut[1]: term for cut, term in zip(cuts, terms, strict=True) if cut is not None}
    return (columns.pop(), labels) if len(labels) == len(terms) else None


def _sum_terms(expr: Expr) -> list[str] | None:
    if isinstance(expr, Ref):
        return [expr.name]
    if isinstance(expr, BinOp) and expr.op == "+":
        left, right = _sum_terms(expr.left), _sum_terms(expr.right)
        return None if left is None or right is None else left + right
    return None


def _filtered_on(node: Node) -> tuple[str, str] | None:
    """(column, label) when a measure keeps rows by one column's value(s): ``where: {segment: SMB}``."""
    if node.measure is None or len(node.measure.where) != 1:
        return None
    ((column, condition),) = node.measure.where.items()
    if condition.op not in ("eq", "in"):
        return None
    values = condition.value if isinstance(condition.value, list) else [condition.value]
    return column, _label(v for v in values if not isinstance(v, dict))


def _label(values: Iterable[Scalar | None]) -> str:
    return ", ".join(sorted(str(v) for v in values))
