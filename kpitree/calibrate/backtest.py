"""Back-testing an engagement score against outcomes, and what the data suggests instead.

1. **Freeze** every entity's decayed signal counts as of ``as_of``, from signals before it only.
2. **Join** the outcomes decided in the ``horizon`` after it (each entity's first).
3. **Report** the current score's AUC and the good-outcome rate per band (monotone from the lowest
   band to the highest?); the cut-off between at-risk and healthy by Youden's J and by cost.
4. **Suggest** weights: a logistic regression of the outcome on the decayed counts, for each
   half-life of the grid; the half-life with the best likelihood wins, and its coefficients,
   rescaled so the population's mean points stay where they were (the normalisation keeps its
   meaning), become weights. Negative coefficients become 0: a score only adds engagement.
5. **Validate** on the next period: as of ``as_of + horizon``, with the outcomes decided in the
   horizon after that, the current and the suggested score are compared on data neither saw.

Contact-level outcomes are scored per contact; account-level ones per account, the account's
score being the roll-up (mean, max or median) of its contacts' and its features their mean.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from kpitree.calibrate.features import DecayedCounts, decayed_counts, scores_of, weighted_signals
from kpitree.calibrate.outcomes import OutcomeSet
from kpitree.calibrate.stats import (
    RocPoint,
    auc,
    cost_cutoff,
    fit_logistic,
    group_combine,
    group_mean,
    roc_curve,
    youden_cutoff,
)
from kpitree.errors import InternalError, UsageError
from kpitree.spec.models import BandSpec, ScoreSpec
from kpitree.tree import MetricTree, Node
from kpitree.warehouse import Warehouse

DEFAULT_HALF_LIVES = (7.0, 14.0, 21.0, 30.0, 45.0, 60.0, 90.0)
MIN_EACH = 10  # good and bad outcomes each, for a back-test to say anything


@dataclass(frozen=True, eq=False)
class Sample:
    """The entities with an outcome in one window, and their contacts' decayed counts."""

    as_of: datetime
    until: datetime
    ids: tuple[str, ...]
    good: NDArray[np.bool_]
    half_lives: tuple[float, ...]
    counts: NDArray[np.float64]  # contacts x half-lives x signals, for the contacts of these entities
    member_of: NDArray[np.int64]  # per contact: the index in ``ids`` of its entity

    @property
    def good_count(self) -> int:
        return int(self.good.sum())

    @property
    def bad_count(self) -> int:
        return len(self.ids) - self.good_count

    def features(self, half_life: float) -> NDArray[np.float64]:
        """Per entity: the mean over its contacts of each signal's decayed count (0 with none)."""
        return group_mean(self._at(half_life), self.member_of, len(self.ids))

    def scores(
        self, weights: NDArray[np.float64], half_life: float, spec: ScoreSpec, roll_up: str
    ) -> NDArray[np.float64]:
        """Per entity: its contacts' scores rolled up (0 with none)."""
        per_contact = scores_of(self._at(half_life), weights, spec)
        return group_combine(per_contact, self.member_of, len(self.ids), roll_up)

    def _at(self, half_life: float) -> NDArray[np.float64]:
        return self.counts[:, self.half_lives.index(half_life), :]


@dataclass(frozen=True)
class BandRate:
    band: str
    low: float | None
    entities: int
    good: int

    @property
    def rate(self) -> float | None:
        return self.good / self.entities if self.entities else None


@dataclass(frozen=True)
class HalfLifeFit:
    half_life: float
    auc: float | None  # of the fitted model, on the training window
    log_likelihood: float


@dataclass(frozen=True)
class Assessment:
    """One score on one sample."""

    auc: float | None
    bands: tuple[BandRate, ...]  # lowest band first
    roc: tuple[RocPoint, ...]

    @property
    def monotone(self) -> bool:
        """Whether the good-outcome rate rises (or holds) from each band to the next one up."""
        rates = [b.rate for b in self.bands if b.rate is not None]
        return all(later >= earlier for earlier, later in itertools.pairwise(rates))


@dataclass(frozen=True)
class Calibration:
    tree_id: str
    node_id: str
    level: str
    train: Sample
    signals: tuple[str, ...]  # signal node ids, in the tree's order
    current: Assessment
    current_weights: Mapping[str, float]
    current_half_life: float
    youden: float | None  # on the current score
    cost: float | None
    miss_cost: float
    grid: tuple[HalfLifeFit, ...]
    best_half_life: float
    suggested_weights: Mapping[str, float]
    # 95% intervals of the suggested weights (the coefficients' Wald intervals, rescaled like them);
    # None per signal when there is none (perfect separation, or a signal that never varied).
    weight_intervals: Mapping[str, tuple[float, float] | None]
    # The current weights rescaled to the suggestion's half-life and points, to compare with it.
    comparable_weights: Mapping[str, float]
    interval_note: str  # why there are no intervals, when there are none
    dropped_signals: tuple[str, ...]  # a negative coefficient: they do not predict a good outcome
    suggested: Assessment  # on the training window, with the suggested bands
    suggested_cutoff: float | None  # Youden's J on the suggested score, rounded
    suggested_cost_cutoff: float | None
    healthy_band: str
    bands: tuple[BandSpec, ...]  # the current bands
    suggested_bands: tuple[BandSpec, ...]
    validation: Validation | None
    not_validated: str  # why, when there is no validation


@dataclass(frozen=True)
class Validation:
    sample: Sample
    current: Assessment
    suggested: Assessment


@dataclass(frozen=True)
class CalibrationRequest:
    as_of: datetime
    horizon: timedelta
    half_lives: tuple[float, ...] = DEFAULT_HALF_LIVES
    miss_cost: float = 5.0
    healthy_band: str | None = None


def calibrate(
    tree: MetricTree, node: Node, outcomes: OutcomeSet, request: CalibrationRequest, warehouse: Warehouse
) -> Calibration:
    spec = node.score
    if spec is None:
        raise InternalError("spec is missing")
    current_weights = {s.node_id: s.weight for s in weighted_signals(tree, node)}
    signals = list(current_weights)
    current_half_life = spec.decay.half_life_days
    half_lives = tuple(sorted({*request.half_lives, current_half_life}))
    roll_up = _roll_up(spec, outcomes.level)
    bands = tuple(sorted(spec.bands, key=lambda b: b.low if b.low is not None else -math.inf))
    healthy = _healthy_band(bands, request.healthy_band)

    # Per account: the roll-up's entity column (checked above: there is a roll-up).
    account_column = spec.roll_up[0].entity if outcomes.level == "account" and spec.roll_up else None
    later_as_of = request.as_of + request.horizon

    def sample_at(as_of: datetime) -> Sample:
        counts = decayed_counts(tree, node, as_of, half_lives, warehouse, account_column)
        return _sample(outcomes, as_of, as_of + request.horizon, counts)

    train = sample_at(request.as_of)
    _enough(train, "the training window")
    current_vector = np.array([current_weights[s] for s in signals])
    current_scores = train.scores(current_vector, current_half_life, spec, roll_up)
    current = _assess(current_scores, train.good, bands)

    grid = []
    fits = {}
    rows_at = {half_life: train.features(half_life) for half_life in half_lives}
    for half_life, rows in rows_at.items():
        fit = fit_logistic(rows, train.good)
        fits[half_life] = fit
        grid.append(HalfLifeFit(half_life, auc(fit.linear(rows), train.good), fit.log_likelihood))
    best = max(grid, key=lambda g: g.log_likelihood).half_life
    raw = dict(zip(signals, fits[best].coefficients, strict=True))
    dropped = tuple(s for s, c in raw.items() if c <= 0)
    scale = _scale({s: max(c, 0.0) for s, c in raw.items()}, current_vector, rows_at[best], rows_at[current_half_life])
    suggested_weights = {s: _round(max(c, 0.0) * scale) for s, c in raw.items()}
    # The current weights in the suggestion's units (the same mean points at the suggested half-life):
    # a suggested weight is compared with this, not with a weight meant for other decayed counts.
    now_scale = _scale(current_weights, current_vector, rows_at[best], rows_at[current_half_life])
    comparable = {s: current_weights[s] * now_scale for s in signals}
    intervals = {
        s: (_round(i[0] * scale), _round(i[1] * scale)) if i is not None else None
        for s, i in zip(signals, fits[best].intervals, strict=True)
    }
    suggested_vector = np.array([suggested_weights[s] for s in signals])
    suggested_scores = train.scores(suggested_vector, best, spec, roll_up)
    youden_new = youden_cutoff(suggested_scores, train.good)
    cost_new = cost_cutoff(suggested_scores, train.good, request.miss_cost)
    suggested_bands = _move_cutoff(bands, healthy, youden_new)
    suggested = _assess(suggested_scores, train.good, suggested_bands)

    validation, why_not = None, ""
    later = sample_at(later_as_of)
    if min(later.good_count, later.bad_count) < MIN_EACH:
        why_not = (
            f"too few outcomes decided between {later.as_of:%Y-%m-%d} and {later.until:%Y-%m-%d} "
            f"({later.good_count} good, {later.bad_count} bad; {MIN_EACH} of each are needed)"
        )
    else:
        validation = Validation(
            later,
            _assess(later.scores(current_vector, current_half_life, spec, roll_up), later.good, bands),
            _assess(later.scores(suggested_vector, best, spec, roll_up), later.good, suggested_bands),
        )
    return Calibration(
        tree_id=tree.id,
        node_id=node.id,
        level=outcomes.level,
        train=train,
        signals=tuple(signals),
        current=current,
        current_weights=current_weights,
        current_half_life=current_half_life,
        youden=youden_cutoff(current_scores, train.good),
        cost=cost_cutoff(current_scores, train.good, request.miss_cost),
        miss_cost=request.miss_cost,
        grid=tuple(grid),
        best_half_life=best,
        suggested_weights=suggested_weights,
        weight_intervals=intervals,
        comparable_weights=comparable,
        interval_note=fits[best].note,
        dropped_signals=dropped,
        suggested=suggested,
        suggested_cutoff=youden_new,
        suggested_cost_cutoff=cost_new,
        healthy_band=healthy,
        bands=bands,
        suggested_bands=suggested_bands,
        validation=validation,
        not_validated=why_not,
    )


def _sample(outcomes: OutcomeSet, as_of: datetime, until: datetime, counted: DecayedCounts) -> Sample:
    decided = outcomes.decided_between(as_of, until)
    ids = tuple(sorted(decided))
    position = {entity: index for index, entity in enumerate(ids)}
    keys = counted.contacts if outcomes.level == "contact" else counted.accounts
    member_of = np.array([position.get(k, -1) if k is not None else -1 for k in keys], dtype=np.int64)
    kept = member_of >= 0
    return Sample(
        as_of,
        until,
        ids,
        np.array([decided[i] for i in ids], dtype=np.bool_),
        counted.half_lives,
        counted.values[kept],
        member_of[kept],
    )


def _enough(sample: Sample, what: str) -> None:
    good, bad = sample.good_count, sample.bad_count
    if min(good, bad) < MIN_EACH:
        raise UsageError(
            f"{what} ({sample.as_of:%Y-%m-%d} to {sample.until:%Y-%m-%d}) has {good} good and {bad} bad outcomes; "
            f"a back-test needs {MIN_EACH} of each",
            hint="move --as-of earlier or lengthen --horizon",
        )


def _assess(scores: NDArray[np.float64], good: NDArray[np.bool_], bands: Sequence[BandSpec]) -> Assessment:
    """AUC, ROC and the good-outcome rate per band (``bands`` lowest first, as band_for reads them)."""
    lows = np.array([b.low if b.low is not None else -math.inf for b in bands])
    band = np.searchsorted(lows, scores, side="right") - 1  # the band with the highest low not above
    banded = band >= 0
    entities = np.bincount(band[banded], minlength=len(bands))
    goods = np.bincount(band[banded], weights=good[banded].astype(np.float64), minlength=len(bands))
    rates = tuple(BandRate(b.name, b.low, int(entities[i]), int(goods[i])) for i, b in enumerate(bands))
    return Assessment(auc(scores, good), rates, tuple(roc_curve(scores, good)))


def _scale(
    coefficients: Mapping[str, float],
    current: NDArray[np.float64],
    new_rows: NDArray[np.float64],
    now_rows: NDArray[np.float64],
) -> float:
    """Coefficients -> weights: the factor that makes the mean entity's points match the current
    weights'. ``new_rows`` are the features at the suggested half-life, ``now_rows`` at the current one."""
    now_points = float((now_rows @ current).mean())
    new_points = float((new_rows @ np.array(list(coefficients.values()))).mean())
    return now_points / new_points if new_points > 0 else 0.0


def _round(value: float) -> float:
    """Two significant figures: a weight is a judgement, not a measurement."""
    if value == 0:
        return 0.0
    return float(f"{value:.2g}")


def _healthy_band(bands: Sequence[BandSpec], wanted: str | None) -> str:
    """The lowest band counted healthy: asked for, or the one just above the middle."""
    names = [b.name for b in bands]
    if wanted is not None:
        if wanted not in names:
            raise UsageError(f"--healthy-band {wanted!r} is not a band", hint=f"bands: {', '.join(names)}")
        if wanted == names[0]:
            raise UsageError(f"--healthy-band {wanted!r} is the lowest band: nothing would be at risk")
        return wanted
    if len(names) < 2:
        raise UsageError("calibrating cut-offs needs a score with two bands or more")
    return names[len(names) // 2]


def _move_cutoff(bands: Sequence[BandSpec], healthy: str, cutoff: float | None) -> tuple[BandSpec, ...]:
    """The bands with ``healthy`` starting at ``cutoff`` (rounded), kept between its neighbours."""
    if cutoff is None:
        return tuple(bands)
    index = [b.name for b in bands].index(healthy)
    below, band = bands[index - 1], bands[index]
    floor = (below.low if below.low is not None else -math.inf) + 1
    above = bands[index + 1].low if index + 1 < len(bands) else None
    ceiling = above - 1 if above is not None else math.inf
    low = float(min(max(round(cutoff), floor), ceiling))
    moved = list(bands)
    moved[index] = band.model_copy(update={"low": low})
    if below.high is not None:
        moved[index - 1] = below.model_copy(update={"high": low - 1})
    return tuple(moved)


def _roll_up(spec: ScoreSpec, level: str) -> str:
    if level == "contact":
        return "mean"
    if not spec.roll_up:
        raise UsageError(
            "the outcomes are per account but the score has no roll-up to accounts",
            hint="add 'roll_up: [{entity: account_id, method: mean}]' to the score, or give contact outcomes",
        )
    return spec.roll_up[0].method
