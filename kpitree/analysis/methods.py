"""Exact decompositions of one node's movement over its children (the maths, no tree).

Every function takes the children's values in the comparison period (``before``) and the current
period (``after``) and returns one contribution per child, in the parent's units, that sum to the
parent's movement. docs/attribution.md gives each formula, its reference and a worked example.

* :func:`additive`: sums and dimension splits; a child's contribution is its own delta.
* :func:`lmdi`: products of positive factors, by the log-mean Divisia index (LMDI-I, Ang 2004);
  a factor that is zero in one period takes the analytic limit and gets the whole change.
* :func:`shapley`: any other formula, by exact Shapley values over the children (Shapley 1953);
  2^n evaluations, so at most :data:`MAX_SHAPLEY_CHILDREN` children.
* :func:`shared_denominator`: a sum divided by a shared denominator (touches per contact split by
  channel): one effect per part plus the denominator's effect.
* :func:`segment_ratio`: a ratio of two sums over the same segments (each segment with its own
  denominator): the numerator/denominator Shapley split shared over the segments, each segment's
  part split into a rate and a mix effect (linear in the segments, so any number of them).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Final

from kpitree.errors import KpitreeError

MAX_SHAPLEY_CHILDREN: Final = 12


class AttributionError(KpitreeError, ValueError):
    """A movement that a method cannot decompose exactly (the message says why): the attribution
    catches it and shows the reason on the node; neither the user's mistake nor a bug."""


def additive(before: Sequence[float], after: Sequence[float]) -> list[float]:
    _same_length(before, after)
    return [a - b for b, a in zip(before, after, strict=True)]


def log_mean(a: float, b: float) -> float:
    """L(a, b) = (a - b) / (ln a - ln b), and L(a, a) = a: the weight LMDI-I gives every factor."""
    if a == b:
        return a
    # ln(a/b) (log1p of the relative change when it is small), not ln a - ln b: for a and b a
    # few ulps apart the two logs round to the same float and their difference is 0 (a division
    # by zero that hypothesis found).
    relative = (a - b) / b
    log_ratio = math.log1p(relative) if abs(relative) < 0.5 else math.log(a / b)
    return (a + b) / 2 if log_ratio == 0 else (a - b) / log_ratio


def lmdi(before: Sequence[float], after: Sequence[float], constant: float = 1.0) -> list[float]:
    """LMDI-I for V = constant x prod(factors): c_i = L(V1, V0) ln(x_i1 / x_i0).

    Factors must be positive, except that exactly one factor may be zero in one period: as that
    factor tends to zero its contribution tends to the whole change and the others' to zero (the
    analytic limit). Anything else (negative values, several zeros) raises: use :func:`shapley`.
    """
    _same_length(before, after)
    if any(x < 0 for x in (*before, *after)) or constant <= 0:
        raise AttributionError("LMDI needs positive factors")
    v0 = constant * math.prod(before)
    v1 = constant * math.prod(after)
    zeros = [i for i, (b, a) in enumerate(zip(before, after, strict=True)) if b == 0 or a == 0]
    if zeros:
        if len(zeros) > 1 or (before[zeros[0]] == 0 and after[zeros[0]] == 0):
            raise AttributionError("LMDI's zero-value limit covers one factor that is zero in one period only")
        result = [0.0] * len(before)
        result[zeros[0]] = v1 - v0
        return result
    weight = log_mean(v1, v0)
    return [weight * math.log(a / b) if a != b else 0.0 for b, a in zip(before, after, strict=True)]


def shapley(
    value_of: Callable[[Sequence[float]], float | None], before: Sequence[float], after: Sequence[float]
) -> list[float]:
    """Exact Shapley values: child i gets the average, over every order of switching the children
    from ``before`` to ``after``, of the change in ``value_of`` when i switches.

    ``value_of`` maps a full vector of child values to the parent's value (None when undefined,
    e.g. a division by zero at a mixed point: then no exact decomposition exists and this raises).
    """
    _same_length(before, after)
    n = len(before)
    if n > MAX_SHAPLEY_CHILDREN:
        raise AttributionError(
            f"Shapley attribution over {n} children needs 2^{n} evaluations; the limit is {MAX_SHAPLEY_CHILDREN}"
        )
    values: list[float] = []
    for mask in range(1 << n):
        mixed = [after[i] if mask >> i & 1 else before[i] for i in range(n)]
        value = value_of(mixed)
        if value is None:
            switched = [i for i in range(n) if mask >> i & 1]
            raise AttributionError(f"the formula has no value when only children {switched} have moved")
        values.append(value)
    weights = [math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n) for k in range(n)]
    result = []
    for i in range(n):
        bit = 1 << i
        if before[i] == after[i]:
            result.append(0.0)  # exactly: every marginal difference is zero
            continue
        total = math.fsum(
            weights[mask.bit_count()] * (values[mask | bit] - values[mask]) for mask in range(1 << n) if not mask & bit
        )
        result.append(total)
    return result


@dataclass(frozen=True)
class SharedDenominatorEffects:
    parts: tuple[float, ...]  # one per part of the numerator
    denominator: float


def shared_denominator(
    parts_before: Sequence[float], parts_after: Sequence[float], denominator_before: float, denominator_after: float
) -> SharedDenominatorEffects:
    """R = sum(parts) / D. Two-player Shapley between the numerator and the denominator, the
    numerator's share split over its parts (it is linear in them):

    part i: dX_i (1/D0 + 1/D1) / 2;   denominator: (X0 + X1) (1/D1 - 1/D0) / 2.
    """
    _same_length(parts_before, parts_after)
    if denominator_before == 0 or denominator_after == 0:
        raise AttributionError("the shared denominator is zero in one period")
    inverse_mean = (1 / denominator_before + 1 / denominator_after) / 2
    numerator_sum = math.fsum(parts_before) + math.fsum(parts_after)
    return SharedDenominatorEffects(
        parts=tuple((a - b) * inverse_mean for b, a in zip(parts_before, parts_after, strict=True)),
        denominator=numerator_sum * (1 / denominator_after - 1 / denominator_before) / 2,
    )


@dataclass(frozen=True)
class SegmentEffect:
    total: float  # the segment's part of the ratio's movement: rate + mix
    rate: float  # from the segment's own ratio changing, at its average share of the denominator
    mix: float  # the rest: from the segment's share of the denominator changing


@dataclass(frozen=True)
class RatioTotals:
    """A ratio's numerator and denominator, summed over every segment, in both periods."""

    numerator_before: float
    denominator_before: float
    numerator_after: float
    denominator_after: float

    @property
    def movement(self) -> float:
        return self.numerator_after / self.denominator_after - self.numerator_before / self.denominator_before


def segment_effect(
    totals: RatioTotals,
    numerator_before: float,
    denominator_before: float,
    numerator_after: float,
    denominator_after: float,
) -> SegmentEffect:
    """One segment's part of the movement of R = X / D, X and D each summed over segments.

    The movement is first split between the numerator and the denominator by two-player Shapley
    (exact for a ratio): ``dX h + X̄ (1/D1 - 1/D0)`` with ``h = (1/D0 + 1/D1) / 2``. Both parts are
    linear in the change of their term, so each is shared over the segments in proportion to that
    segment's own change, which gives

        total_s = h (dX_s - r̄ dD_s),   r̄ = (X0 + X1) / (D0 + D1)

    the segment's numerator growth beyond what its denominator growth carries at the average
    rate. The totals sum exactly to the movement over any partition; a segment that did not move
    gets exactly 0; and a segment's total is the sum of its sub-segments' totals, so a segment
    reads the same however the rest of the population is cut (what a drill across dimensions
    needs). ``rate_s = w̄_s (r_s1 - r_s0)`` (``w_s = D_s / D``, w̄ the two periods' mean) is the
    segment's own ratio changing; ``mix_s = total_s - rate_s``. A segment with no denominator in
    one period has no rate of its own there: all of it is mix.
    """
    return _segment_effect(
        _ExactTotals.of(totals), numerator_before, denominator_before, numerator_after, denominator_after
    )


def _segment_effect(exact: _ExactTotals, x0: float, d0: float, x1: float, d1: float) -> SegmentEffect:
    if x0 == x1 and d0 == d1:
        return SegmentEffect(total=0.0, rate=0.0, mix=0.0)  # exactly: rounding must not invent a part
    total = exact.segment_total(x0, d0, x1, d1)
    if d0 == 0 or d1 == 0:
        return SegmentEffect(total=total, rate=0.0, mix=total)
    # The rate part is a product of well-conditioned factors: floats keep it within a few roundings.
    shares = (d0 / float(exact.denominator_before) + d1 / float(exact.denominator_after)) / 2
    rate = shares * (x1 / d1 - x0 / d0)
    return SegmentEffect(total=total, rate=rate, mix=total - rate)


@dataclass(frozen=True)
class _ExactTotals:
    """A :class:`RatioTotals` as exact rationals, for :func:`segment_effect`'s one formula.

    ``total_s = ((dX_s)(D0 + D1) - (X0 + X1)(dD_s)) / (2 D0 D1)`` is badly conditioned in floats
    when one period's denominator is tiny beside the other's: a segment's terms are then of the
    size of ``X0 / D1`` and cancel to a part of the size of the ratio (a numerator of 6e5 falling
    to 0.25 over a denominator of 4e5 falling to 0.06 left the parts 1e-9 off their sum; another
    float arrangement lost nine digits with a numerator of 1e5 over a denominator of 1e-3). Every
    float is an exact rational, so the numerator is computed without rounding and the part is
    rounded once: each part is the float nearest its exact value, and the parts sum to the
    movement within a rounding of each part, whatever the magnitudes.
    """

    numerator_before: Fraction
    denominator_before: Fraction
    numerator_after: Fraction
    denominator_after: Fraction

    def __post_init__(self) -> None:
        # Both ways in (one total, or the segments summed) need a ratio in each period.
        if self.denominator_before == 0 or self.denominator_after == 0:
            raise AttributionError("the denominator is zero in one period")

    @classmethod
    def of(cls, totals: RatioTotals) -> _ExactTotals:
        return cls(
            Fraction(totals.numerator_before),
            Fraction(totals.denominator_before),
            Fraction(totals.numerator_after),
            Fraction(totals.denominator_after),
        )

    @classmethod
    def summed(cls, *columns: Sequence[float]) -> _ExactTotals:
        # Summed exactly too: a total rounded once already moves the parts' sum by X0 / D1 * eps.
        before_x, before_d, after_x, after_d = (sum(map(Fraction, c), Fraction(0)) for c in columns)
        return cls(before_x, before_d, after_x, after_d)

    def segment_total(self, x0: float, d0: float, x1: float, d1: float) -> float:
        big_d0, big_d1 = self.denominator_before, self.denominator_after
        numerator_change = Fraction(x1) - Fraction(x0)
        denominator_change = Fraction(d1) - Fraction(d0)
        weighted = (
            numerator_change * (big_d0 + big_d1) - (self.numerator_before + self.numerator_after) * denominator_change
        )
        return float(weighted / (2 * big_d0 * big_d1))


def segment_ratio(
    numerators_before: Sequence[float],
    denominators_before: Sequence[float],
    numerators_after: Sequence[float],
    denominators_after: Sequence[float],
) -> list[SegmentEffect]:
    """R = sum(X_s) / sum(D_s): each segment's :func:`segment_effect`; they sum to R's movement."""
    n = len(numerators_before)
    for seq in (denominators_before, numerators_after, denominators_after):
        if len(seq) != n:
            raise AttributionError("every segment needs a numerator and a denominator in both periods")
    exact = _ExactTotals.summed(numerators_before, denominators_before, numerators_after, denominators_after)
    return [
        _segment_effect(exact, *values)
        for values in zip(numerators_before, denominators_before, numerators_after, denominators_after, strict=True)
    ]


def _same_length(before: Sequence[float], after: Sequence[float]) -> None:
    if len(before) != len(after):
        raise AttributionError(f"{len(before)} values before and {len(after)} after")
