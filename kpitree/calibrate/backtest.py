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
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from kpitree.calibrate.features import EntityCounts, decayed_counts, score_of, weighted_signals
from kpitree.calibrate.outcomes import OutcomeSet
from kpitree.calibrate.stats import RocPoint, auc, cost_cutoff, fit_logistic, roc_curve, youden_cutoff
from kpitree.errors import UsageError
from kpitree.scoring import band_for
from kpitree.spec.models import BandSpec, ScoreSpec
from kpitree.tree import MetricTree, Node
from kpitree.warehouse import Warehouse

DEFAULT_HALF_LIVES = (7.0, 14.0, 21.0, 30.0, 45.0, 60.0, 90.0)
MIN_EACH = 10  # good and bad outcomes each, for a back-test to say anything


def _maximum(values: list[float]) -> float:
    return max(values)


_COMBINE: dict[str, Callable[[list[float]], float]] = {
    "mean": statistics.fmean,
    "max": _maximum,
    "median": statistics.median,
}


@dataclass(frozen=True)
class Sample:
    """The entities with an outcome in one window, and their contacts' decayed counts."""

    as_of: datetime
    until: datetime
    ids: tuple[str, ...]
    good: tuple[bool, ...]
    members: tuple[tuple[EntityCounts, ...], ...]  # one contact at contact level; an account's contacts

    def features(self, half_life: float, signals: Sequence[str]) -> list[list[float]]:
        """Per entity: the mean over its contacts of each signal's decayed count (0 with none)."""
        rows = []
        for members in self.members:
            if not members:
                rows.append([0.0] * len(signals))
                continue
            rows.append([statistics.fmean(m.counts[half_life][s] for m in members) for s in signals])
        return rows

    def scores(self, weights: Mapping[str, float], half_life: float, spec: ScoreSpec, roll_up: str) -> list[float]:
        combine = _COMBINE[roll_up]
        return [
            combine([score_of(m.counts[half_life], weights, spec) for m in members]) if members else 0.0
            for members in self.members
        ]


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
    current: Assessment
    current_weights: Mapping[str, float]
    current_half_life: float
    youden: float | None  # on the current score
    cost: float | None
    miss_cost: float
    grid: tuple[HalfLifeFit, ...]
    best_half_life: float
    suggested_weights: Mapping[str, float]
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
    assert spec is not None
    current_weights = {s.node_id: s.weight for s in weighted_signals(tree, node)}
    signals = list(current_weights)
    current_half_life = spec.decay.half_life_days
    half_lives = tuple(sorted({*request.half_lives, current_half_life}))
    roll_up = _roll_up(spec, outcomes.level)
    bands = tuple(sorted(spec.bands, key=lambda b: b.low if b.low is not None else -math.inf))
    healthy = _healthy_band(bands, request.healthy_band)

    def sample_at(as_of: datetime) -> Sample:
        return _sample(tree, node, outcomes, as_of, as_of + request.horizon, half_lives, warehouse)

    train = sample_at(request.as_of)
    _enough(train, "the training window")
    current_scores = train.scores(current_weights, current_half_life, spec, roll_up)
    current = _assess(current_scores, train.good, bands)

    grid = []
    fits = {}
    rows_at = {half_life: train.features(half_life, signals) for half_life in half_lives}
    for half_life, rows in rows_at.items():
        fit = fit_logistic(rows, train.good)
        fits[half_life] = fit
        grid.append(HalfLifeFit(half_life, auc([fit.linear(r) for r in rows], train.good), fit.log_likelihood))
    best = max(grid, key=lambda g: g.log_likelihood).half_life
    raw = dict(zip(signals, fits[best].coefficients, strict=True))
    dropped = tuple(s for s, c in raw.items() if c <= 0)
    suggested_weights = _rescale(
        {s: max(c, 0.0) for s, c in raw.items()}, current_weights, rows_at[best], rows_at[current_half_life], signals
    )
    suggested_scores = train.scores(suggested_weights, best, spec, roll_up)
    youden_new = youden_cutoff(suggested_scores, train.good)
    cost_new = cost_cutoff(suggested_scores, train.good, request.miss_cost)
    suggested_bands = _move_cutoff(bands, healthy, youden_new)
    suggested = _assess(suggested_scores, train.good, suggested_bands)

    validation, why_not = None, ""
    later = sample_at(request.as_of + request.horizon)
    if min(sum(later.good), len(later.good) - sum(later.good)) < MIN_EACH:
        why_not = (
            f"too few outcomes decided between {later.as_of:%Y-%m-%d} and {later.until:%Y-%m-%d} "
            f"({sum(later.good)} good, {len(later.good) - sum(later.good)} bad; {MIN_EACH} of each are needed)"
        )
    else:
        validation = Validation(
            later,
            _assess(later.scores(current_weights, current_half_life, spec, roll_up), later.good, bands),
            _assess(later.scores(suggested_weights, best, spec, roll_up), later.good, suggested_bands),
        )
    return Calibration(
        tree_id=tree.id,
        node_id=node.id,
        level=outcomes.level,
        train=train,
        current=current,
        current_weights=current_weights,
        current_half_life=current_half_life,
        youden=youden_cutoff(current_scores, train.good),
        cost=cost_cutoff(current_scores, train.good, request.miss_cost),
        miss_cost=request.miss_cost,
        grid=tuple(grid),
        best_half_life=best,
        suggested_weights=suggested_weights,
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


def _sample(
    tree: MetricTree,
    node: Node,
    outcomes: OutcomeSet,
    as_of: datetime,
    until: datetime,
    half_lives: Sequence[float],
    warehouse: Warehouse,
) -> Sample:
    decided = outcomes.decided_between(as_of, until)
    spec = node.score
    assert spec is not None
    # Per account: the roll-up's entity column (calibrate has checked there is a roll-up).
    account_column = spec.roll_up[0].entity if outcomes.level == "account" and spec.roll_up else None
    counted = decayed_counts(tree, node, as_of, half_lives, warehouse, account_column)
    members: dict[str, list[EntityCounts]] = {}
    for entity in counted:
        key = entity.contact if outcomes.level == "contact" else entity.account
        if key is not None and key in decided:
            members.setdefault(key, []).append(entity)
    ids = tuple(sorted(decided))
    return Sample(as_of, until, ids, tuple(decided[i] for i in ids), tuple(tuple(members.get(i, ())) for i in ids))


def _enough(sample: Sample, what: str) -> None:
    good = sum(sample.good)
    bad = len(sample.good) - good
    if min(good, bad) < MIN_EACH:
        raise UsageError(
            f"{what} ({sample.as_of:%Y-%m-%d} to {sample.until:%Y-%m-%d}) has {good} good and {bad} bad outcomes; "
            f"a back-test needs {MIN_EACH} of each",
            hint="move --as-of earlier or lengthen --horizon",
        )


def _assess(scores: Sequence[float], good: Sequence[bool], bands: Sequence[BandSpec]) -> Assessment:
    counts = {band.name: [0, 0] for band in bands}
    for score, is_good in zip(scores, good, strict=True):
        band = band_for(score, bands)
        if band is not None:
            counts[band.name][0] += 1
            counts[band.name][1] += is_good
    rates = tuple(BandRate(b.name, b.low, counts[b.name][0], counts[b.name][1]) for b in bands)
    return Assessment(auc(scores, good), rates, tuple(roc_curve(scores, good)))


def _rescale(
    coefficients: Mapping[str, float],
    current: Mapping[str, float],
    new_rows: Sequence[Sequence[float]],
    now_rows: Sequence[Sequence[float]],
    signals: Sequence[str],
) -> dict[str, float]:
    """Coefficients -> weights: scaled so the mean entity's points match the current weights'.
    ``new_rows`` are the features at the suggested half-life, ``now_rows`` at the current one."""
    now_points = statistics.fmean(sum(current[s] * x for s, x in zip(signals, r, strict=True)) for r in now_rows)
    new_points = statistics.fmean(sum(coefficients[s] * x for s, x in zip(signals, r, strict=True)) for r in new_rows)
    scale = now_points / new_points if new_points > 0 else 0.0
    return {s: _round(coefficients[s] * scale) for s in signals}


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
