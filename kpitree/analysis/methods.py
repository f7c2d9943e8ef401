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
  denominator): segment-level Shapley, each split into a rate and a mix effect.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
    total: float  # the segment's Shapley value: rate + mix
    rate: float  # from the segment's own ratio changing, at its average share of the denominator
    mix: float  # from the segment's share of the denominator changing


def segment_ratio(
    numerators_before: Sequence[float],
    denominators_before: Sequence[float],
    numerators_after: Sequence[float],
    denominators_after: Sequence[float],
) -> list[SegmentEffect]:
    """R = sum(X_s) / sum(D_s). Each segment (its X_s and D_s together) is a Shapley player; its
    value is split into rate = w̄_s x (r_s1 - r_s0), with w_s = D_s / sum(D) and w̄ the mean of
    the two periods' shares, and mix = the rest. A segment empty in one period has no rate: all
    of its effect is mix.
    """
    n = len(numerators_before)
    for seq in (denominators_before, numerators_after, denominators_after):
        if len(seq) != n:
            raise AttributionError("every segment needs a numerator and a denominator in both periods")
    pairs_before = [*numerators_before, *denominators_before]
    pairs_after = [*numerators_after, *denominators_after]

    def overall(mask_values: Sequence[float]) -> float | None:
        denominator = math.fsum(mask_values[n:])
        return None if denominator == 0 else math.fsum(mask_values[:n]) / denominator

    totals = _grouped_shapley(overall, pairs_before, pairs_after, n)
    d0, d1 = math.fsum(denominators_before), math.fsum(denominators_after)
    if d0 == 0 or d1 == 0:
        raise AttributionError("the denominator is zero in one period")
    effects = []
    for s in range(n):
        db, da = denominators_before[s], denominators_after[s]
        if db == 0 or da == 0:
            effects.append(SegmentEffect(total=totals[s], rate=0.0, mix=totals[s]))
            continue
        rate_change = numerators_after[s] / da - numerators_before[s] / db
        rate = (db / d0 + da / d1) / 2 * rate_change
        effects.append(SegmentEffect(total=totals[s], rate=rate, mix=totals[s] - rate))
    return effects


def _grouped_shapley(
    value_of: Callable[[Sequence[float]], float | None], before: Sequence[float], after: Sequence[float], groups: int
) -> list[float]:
    """Shapley over ``groups`` players where player s moves inputs s and s + groups together."""

    def grouped(switched: Sequence[float]) -> float | None:
        mixed = list(before)
        for s in range(groups):
            if switched[s]:
                mixed[s], mixed[s + groups] = after[s], after[s + groups]
        return value_of(mixed)

    unchanged = [before[s] == after[s] and before[s + groups] == after[s + groups] for s in range(groups)]
    return shapley(grouped, [0.0] * groups, [0.0 if same else 1.0 for same in unchanged])


def _same_length(before: Sequence[float], after: Sequence[float]) -> None:
    if len(before) != len(after):
        raise AttributionError(f"{len(before)} values before and {len(after)} after")
