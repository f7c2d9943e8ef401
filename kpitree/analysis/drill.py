"""Which segment moved a node: each segment's exact contribution, and a few that explain most of it.

From a drill's cells (:mod:`kpitree.compute.drill`: every segment's terms in both periods) each
segment gets its contribution to the node's movement:

* an additive node (a measure, a sum of measures): the segment's own delta;
* a ratio (and an average, its sum over its count): :func:`kpitree.analysis.methods.segment_effect`,
  split into the segment's **rate** effect (its own ratio changed) and **mix** effect (its share of
  the denominator changed).

Both are linear in the segment's own changes, so a segment's contribution is the sum of its
sub-segments' ("EMEA" = "EMEA, SMB" + "EMEA, Mid-market" + ...), whatever the other dimensions.

**The cover.** Segments from different dimensions overlap ("EMEA" and "SMB" share "EMEA, SMB"), so
their contributions cannot be added. :func:`cover` picks a few that do not overlap (two segments are
disjoint when they pin one dimension to different values) and together explain most of the
movement, greedily, the largest contribution in the direction of the movement first:

1. a segment is replaced by its largest sub-segment while that carries at least :data:`FOCUS` of
   it (so "EMEA" whose fall is all SMB reads "EMEA, SMB"), unless the sub-segment holds all of
   its rows in both periods: that is the same population under a longer name, and a segment
   is always named by its shortest such name;
2. the largest remaining segment that overlaps none already picked is added, until the picked ones
   explain :data:`ENOUGH` of the movement, :data:`MAX_COVER` are picked, or the next explains less
   than :data:`NOTABLE` of it.

The picked segments' contributions add up exactly to their union's, so ``explained`` plus
``residual`` is the movement. Segments with fewer than ``min_rows`` source rows in both periods
are summed into one ``(other)`` segment per set of dimensions: still counted, never named.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from kpitree.analysis.methods import RatioTotals, segment_effect
from kpitree.compute.drill import Cell, CellValues, DrillCells, DrillForm, Term
from kpitree.tree import Direction

FOCUS: Final = 0.8
ENOUGH: Final = 0.9
NOTABLE: Final = 0.05
MAX_COVER: Final = 5
MIN_ROWS: Final = 10
OTHER: Final = "(other)"


@dataclass(frozen=True)
class SegmentChange:
    """One segment: its value in both periods and its part of the node's movement."""

    where: Cell
    before: float | None  # the segment's own value: its sum, or its own ratio
    after: float | None
    contribution: float
    rate: float | None  # ratios only: rate + mix = contribution
    mix: float | None
    rows_before: int
    rows_after: int

    @property
    def dimensions(self) -> tuple[str, ...]:
        return tuple(d for d, _ in self.where)

    @property
    def label(self) -> str:
        """``segment=SMB, region=EMEA``."""
        return ", ".join(f"{dim}={value}" for dim, value in self.where)

    @property
    def grouped(self) -> bool:
        """The ``(other)`` segment of a set: small segments summed, never named in a cover."""
        return any(v == OTHER for _, v in self.where)

    def overlaps(self, other: SegmentChange) -> bool:
        mine = dict(self.where)
        return all(mine[d] == v for d, v in other.where if d in mine)

    def contains(self, other: SegmentChange) -> bool:
        """``other`` is a sub-segment of this one (it pins every dimension this one pins, alike)."""
        theirs = dict(other.where)
        return len(other.where) > len(self.where) and all(theirs.get(d) == v for d, v in self.where)


@dataclass(frozen=True)
class Drill:
    """A node's movement cut by segment: every segment, and the non-overlapping few that explain it."""

    node: str
    direction: Direction
    is_ratio: bool
    dimensions: tuple[str, ...]
    before: float | None
    after: float | None
    segments: tuple[SegmentChange, ...]  # every segment but the whole population, largest first
    cover: tuple[SegmentChange, ...]
    reason: str | None = None  # why there are no contributions (no movement, a zero denominator)
    notes: tuple[str, ...] = ()  # what keeps the contributions from adding up (a distinct count)

    @property
    def delta(self) -> float | None:
        return None if self.before is None or self.after is None else self.after - self.before

    @property
    def explained(self) -> float:
        return math.fsum(s.contribution for s in self.cover)

    @property
    def residual(self) -> float:
        return (self.delta or 0.0) - self.explained

    def share(self, segment: SegmentChange) -> float | None:
        delta = self.delta
        return segment.contribution / delta if delta else None

    @property
    def top(self) -> SegmentChange | None:
        """The cover's first segment when it alone explains most of the movement (for a headline)."""
        if not self.cover:
            return None
        share = self.share(self.cover[0])
        return self.cover[0] if share is not None and share >= 0.5 else None


def analyse_drill(cells: DrillCells, direction: Direction, min_rows: int = MIN_ROWS) -> Drill:
    """Each segment's contribution to the node's movement, and the cover that explains it."""
    form = cells.form
    whole = cells.cells.get(())
    grouped = _group_small(cells.cells, min_rows)
    node = form.numerator[0].node
    if whole is None:
        return Drill(node, direction, form.is_ratio, cells.dimensions, None, None, (), (), "no rows in either period")
    before, after = _value(form, whole.before), _value(form, whole.after)
    totals = None
    if form.is_ratio:
        totals = RatioTotals(
            _sum(form.numerator, whole.before),
            _sum(form.denominator, whole.before),
            _sum(form.numerator, whole.after),
            _sum(form.denominator, whole.after),
        )
        if totals.denominator_before == 0 or totals.denominator_after == 0:
            reason = "the denominator is zero in one period: the ratio has no movement to split"
            return Drill(node, direction, True, cells.dimensions, before, after, (), (), reason)
    changes = []
    for key, values in grouped.items():
        if key:
            changes.append(_change(form, totals, key, values))
    delta = None if before is None or after is None else after - before
    notes = _overlap_notes(form, grouped, cells.sets)
    if not delta:  # its segments may still have moved, each way: shown, largest first
        changes.sort(key=lambda c: (-abs(c.contribution), len(c.where), c.where))
        reason = "the node did not move"
        return Drill(node, direction, form.is_ratio, cells.dimensions, before, after, tuple(changes), (), reason, notes)
    sign = 1.0 if delta > 0 else -1.0
    changes.sort(key=lambda c: (-sign * c.contribution, len(c.where), c.where))
    return Drill(
        node,
        direction,
        form.is_ratio,
        cells.dimensions,
        before,
        after,
        tuple(changes),
        cover(changes, delta),
        notes=notes,
    )


def cover(changes: Sequence[SegmentChange], delta: float) -> tuple[SegmentChange, ...]:
    """Non-overlapping segments explaining most of ``delta`` (the module docstring's greedy rule)."""
    sign = 1.0 if delta > 0 else -1.0
    named = [c for c in changes if not c.grouped and sign * c.contribution > 0]
    family = _Family(named)
    focused = (family.focused(family.shortest(c)) for c in named)
    candidates = {c.where: c for c in focused}
    ranked = sorted(candidates.values(), key=lambda c: (-sign * c.contribution, len(c.where), c.where))
    picked: list[SegmentChange] = []
    for candidate in ranked:
        if len(picked) >= MAX_COVER or math.fsum(sign * p.contribution for p in picked) >= ENOUGH * abs(delta):
            break
        if sign * candidate.contribution < NOTABLE * abs(delta):
            break
        if not any(candidate.overlaps(p) for p in picked):
            picked.append(candidate)
    return tuple(picked)


class _Family:
    """The named segments indexed by their pins, so a segment's one-pin-shorter parents and
    one-pin-longer children are looked up, not searched for: a drill can name many thousands."""

    def __init__(self, named: Sequence[SegmentChange]) -> None:
        self.by_pins: dict[frozenset[tuple[str, str]], SegmentChange] = {frozenset(c.where): c for c in named}
        self.children: dict[frozenset[tuple[str, str]], list[SegmentChange]] = {}
        for change in named:
            pins = frozenset(change.where)
            for pin in pins:
                self.children.setdefault(pins - {pin}, []).append(change)

    def shortest(self, change: SegmentChange) -> SegmentChange:
        """The shortest name of ``change``'s population: a segment one pin shorter with the same
        rows is the same population ("segment=SMB, team=SMB" is "segment=SMB")."""
        current = change
        while True:
            pins = frozenset(current.where)
            parents = (self.by_pins.get(pins - {pin}) for pin in pins)
            same = sorted((p for p in parents if p is not None and _same_rows(current, p)), key=lambda c: c.where)
            if not same:
                return current
            current = same[0]

    def focused(self, change: SegmentChange) -> SegmentChange:
        """Its largest sub-segment, while that carries :data:`FOCUS` of it (and is not the same population)."""
        current = change
        while True:
            inside = [c for c in self.children.get(frozenset(current.where), ()) if not _same_rows(c, current)]
            best = max(inside, key=lambda c: abs(c.contribution), default=None)
            if best is None or abs(best.contribution) < FOCUS * abs(current.contribution):
                return current
            current = best


def _same_rows(inner: SegmentChange, outer: SegmentChange) -> bool:
    """A sub-segment with every row of its segment in both periods is the same population under a
    longer name ("segment=SMB, team=SMB" when only the SMB team sells to SMB accounts): naming it
    adds a pin that says nothing, so the shorter name is kept."""
    return (inner.rows_before, inner.rows_after) == (outer.rows_before, outer.rows_after)


def _change(form: DrillForm, totals: RatioTotals | None, key: Cell, values: CellValues) -> SegmentChange:
    before, after = _value(form, values.before), _value(form, values.after)
    if totals is None:
        contribution = (after or 0.0) - (before or 0.0)
        return SegmentChange(key, before, after, contribution, None, None, values.rows_before, values.rows_after)
    effect = segment_effect(
        totals,
        _sum(form.numerator, values.before),
        _sum(form.denominator, values.before),
        _sum(form.numerator, values.after),
        _sum(form.denominator, values.after),
    )
    return SegmentChange(
        key, before, after, effect.total, effect.rate, effect.mix, values.rows_before, values.rows_after
    )


def _value(form: DrillForm, values: Mapping[str, float]) -> float | None:
    numerator = _sum(form.numerator, values)
    if not form.is_ratio:
        return numerator
    denominator = _sum(form.denominator, values)
    return numerator / denominator if denominator else None


def _sum(terms: Sequence[Term], values: Mapping[str, float]) -> float:
    return math.fsum(t.coefficient * values.get(t.label, 0.0) for t in terms)


def _group_small(cells: Mapping[Cell, CellValues], min_rows: int) -> dict[Cell, CellValues]:
    """Segments with fewer than ``min_rows`` rows in both periods, summed into one per set."""
    kept: dict[Cell, CellValues] = {}
    others: dict[tuple[str, ...], list[CellValues]] = {}
    for key, values in cells.items():
        if key and max(values.rows_before, values.rows_after) < min_rows:
            others.setdefault(tuple(d for d, _ in key), []).append(values)
        else:
            kept[key] = values
    for dims, small in others.items():
        kept[tuple((d, OTHER) for d in dims)] = _added(small)
    return kept


def _added(values: Sequence[CellValues]) -> CellValues:
    labels = set().union(*(v.before for v in values))
    return CellValues(
        before={label: math.fsum(v.before.get(label, 0.0) for v in values) for label in labels},
        after={label: math.fsum(v.after.get(label, 0.0) for v in values) for label in labels},
        rows_before=sum(v.rows_before for v in values),
        rows_after=sum(v.rows_after for v in values),
    )


def _overlap_notes(form: DrillForm, cells: Mapping[Cell, CellValues], sets: Sequence[Sequence[str]]) -> tuple[str, ...]:
    """A set of dimensions whose segments do not add up to the whole (a distinct count: an entity in
    two segments counts once in the whole) gets a note, so nobody adds its contributions up."""
    if () not in cells:
        return ()
    whole = cells[()]
    notes = []
    for dims in sets:
        if len(dims) != 1:
            continue
        members = [v for k, v in cells.items() if tuple(d for d, _ in k) == tuple(dims)]
        for label in {t.label for t in form.terms}:
            added = math.fsum(v.after.get(label, 0.0) for v in members)
            if not math.isclose(added, whole.after.get(label, 0.0), rel_tol=1e-9, abs_tol=1e-9):
                notes.append(
                    f"the {dims[0]} segments of {label.removesuffix('__value')} add up to {added:,.6g}, not "
                    f"{whole.after.get(label, 0.0):,.6g}: some entities are in several of them (a distinct "
                    "count), so their contributions overlap and the residual holds the difference"
                )
                break
    return tuple(notes)
