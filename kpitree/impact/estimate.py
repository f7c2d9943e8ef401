"""Difference-in-differences on per-period values, with a bootstrap interval and a placebo.

The treated segment (where the intervention happened) and a control segment of the same split are
read for the same periods before and after the start. With ``gap[t] = treated[t] - control[t]``,
the effect is ``mean(gap after) - mean(gap before)``: what moved in the treated segment beyond what
moved in the control. Shocks common to both (seasonality, a holiday, a data outage) cancel out.

The interval is a studentised bootstrap (bootstrap-t): the before and after gaps are resampled
with replacement, each on its own, ``resamples`` times, and each resample's estimate is divided by
its own standard error. A plain percentile bootstrap runs short on a handful of periods (four
weeks resampled look less variable than four weeks are); the studentised one widens the interval
as much as few periods need. Periods are the units: the interval is honest about how few there
are, and it assumes periods are exchangeable within each side, which a trend breaks.
The **placebo** checks that: the same estimate on the before
periods alone, with a fake start halfway, should find nothing. If it does, the two segments were
already drifting apart and the real estimate cannot be trusted.

Verdicts, for an intervention expected to move the node ``up`` or ``down``:

- **verified**: the interval lies on the expected side of zero, and the placebo finds nothing;
- **not verified**: the interval lies on the wrong side of zero, or it rules out the expected size
  (the whole interval falls short of it);
- **inconclusive**: too few periods, a placebo that finds an effect, or an interval that crosses
  zero without ruling the expected size out.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean

import numpy as np
from numpy.typing import NDArray

MIN_PERIODS = 3  # on each side; fewer cannot say anything about variation
PLACEBO_MIN_PERIODS = 2 * MIN_PERIODS  # the before periods, to be split in two
DEFAULT_RESAMPLES = 2000
DEFAULT_LEVEL = 0.95


class Verdict(enum.StrEnum):
    VERIFIED = "verified"
    NOT_VERIFIED = "not verified"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Segments:
    """Per-period values of the node, oldest first, in the treated and the control segment."""

    treated_before: Sequence[float]
    treated_after: Sequence[float]
    control_before: Sequence[float]
    control_after: Sequence[float]

    def __post_init__(self) -> None:
        if len(self.treated_before) != len(self.control_before) or len(self.treated_after) != len(self.control_after):
            raise ValueError("the treated and control segments must cover the same periods")

    def gaps(self) -> tuple[list[float], list[float]]:
        before = [t - c for t, c in zip(self.treated_before, self.control_before, strict=True)]
        after = [t - c for t, c in zip(self.treated_after, self.control_after, strict=True)]
        return before, after


@dataclass(frozen=True)
class Estimate:
    effect: float  # in the node's unit
    low: float
    high: float
    level: float
    counterfactual: float  # the treated segment's after level had it moved like the control
    periods_before: int
    periods_after: int

    @property
    def relative(self) -> float | None:
        """The effect as a share of the counterfactual (0.2 = +20%); None when that is zero."""
        return self.effect / self.counterfactual if self.counterfactual else None

    def covers(self, value: float) -> bool:
        return self.low <= value <= self.high


def difference_in_differences(segments: Segments) -> float:
    before, after = segments.gaps()
    return fmean(after) - fmean(before)


def estimate(
    segments: Segments, *, resamples: int = DEFAULT_RESAMPLES, level: float = DEFAULT_LEVEL, seed: int = 0
) -> Estimate:
    """The effect and its bootstrap-t interval (``seed`` makes it reproducible). The resamples are
    drawn at once, as index arrays, and their means and errors taken along the rows."""
    before, after = (np.asarray(side, dtype=np.float64) for side in segments.gaps())
    if not before.size or not after.size:
        raise ValueError("an estimate needs at least one period before and one after")
    rng = np.random.default_rng(seed)
    effect = float(after.mean() - before.mean())
    spread = float(_standard_errors(before[None, :], after[None, :])[0])
    a = after[rng.integers(0, after.size, size=(resamples, after.size))]
    b = before[rng.integers(0, before.size, size=(resamples, before.size))]
    errors = _standard_errors(b, a)
    informative = errors > 0  # a resample of identical values says nothing about spread
    pivots = np.sort((a.mean(axis=1) - b.mean(axis=1) - effect)[informative] / errors[informative])
    tail = (1 - level) / 2
    if spread == 0 or not pivots.size:
        low = high = effect  # every period alike: nothing to be uncertain about
    else:
        last = pivots.size - 1
        low = effect - float(pivots[int((1 - tail) * last + 0.5)]) * spread
        high = effect - float(pivots[int(tail * last)]) * spread
    counterfactual = fmean(segments.treated_before) + fmean(segments.control_after) - fmean(segments.control_before)
    return Estimate(effect, low, high, level, counterfactual, before.size, after.size)


def _standard_errors(before: NDArray[np.float64], after: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per row, of the difference of the two means (Welch's: each side its own variance)."""

    def variance_of_mean(values: NDArray[np.float64]) -> NDArray[np.float64]:
        count = values.shape[1]
        if count < 2:
            return np.zeros(values.shape[0])
        return np.asarray(values.var(axis=1) / (count - 1), dtype=np.float64)

    return np.asarray(np.sqrt(variance_of_mean(before) + variance_of_mean(after)), dtype=np.float64)


def placebo(
    segments: Segments, *, resamples: int = DEFAULT_RESAMPLES, level: float = DEFAULT_LEVEL, seed: int = 0
) -> Estimate | None:
    """The estimate on the before periods alone, with a fake start halfway; None with too few."""
    count = len(segments.treated_before)
    if count < PLACEBO_MIN_PERIODS:
        return None
    half = count // 2
    fake = Segments(
        segments.treated_before[:half],
        segments.treated_before[half:],
        segments.control_before[:half],
        segments.control_before[half:],
    )
    return estimate(fake, resamples=resamples, level=level, seed=seed)


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    reason: str
    estimate: Estimate | None
    placebo: Estimate | None


def judge(
    segments: Segments,
    expect: str,
    expected_size: float | None = None,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> Judgement:
    """The verdict for an intervention expected to move the node ``expect`` ('up' or 'down'),
    optionally by ``expected_size`` (relative: 0.2 = 20%)."""
    if expect not in ("up", "down"):
        raise ValueError("expect is 'up' or 'down'")
    before, after = segments.gaps()
    if len(before) < MIN_PERIODS or len(after) < MIN_PERIODS:
        return Judgement(
            Verdict.INCONCLUSIVE,
            f"too little data: {len(before)} periods before and {len(after)} after; {MIN_PERIODS} each are needed",
            None,
            None,
        )
    found = estimate(segments, resamples=resamples, level=level, seed=seed)
    fake = placebo(segments, resamples=resamples, level=level, seed=seed)
    sign = 1 if expect == "up" else -1
    low, high = sorted((sign * found.low, sign * found.high))  # on the expected side when positive
    interval = f"{found.effect:+.4g} [{found.low:+.4g}, {found.high:+.4g}] at {found.level:.0%}"
    if fake is not None and not fake.covers(0):
        return Judgement(
            Verdict.INCONCLUSIVE,
            f"effect {interval}, but the placebo (a fake start halfway through the before periods) finds "
            f"{fake.effect:+.4g} [{fake.low:+.4g}, {fake.high:+.4g}]: the segments were already drifting apart",
            found,
            fake,
        )
    if low > 0:
        return Judgement(Verdict.VERIFIED, f"effect {interval}: {expect} as expected", found, fake)
    if high < 0:
        return Judgement(Verdict.NOT_VERIFIED, f"effect {interval}: the node moved the other way", found, fake)
    if expected_size is not None and found.counterfactual:
        expected = expected_size * abs(found.counterfactual)
        if high < expected:
            return Judgement(
                Verdict.NOT_VERIFIED,
                f"effect {interval}: the interval rules out the expected {expected_size:+.0%} ({sign * expected:+.4g})",
                found,
                fake,
            )
    return Judgement(Verdict.INCONCLUSIVE, f"effect {interval}: the interval crosses zero", found, fake)
