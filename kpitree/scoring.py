"""Engagement-score arithmetic: decay, normalisation, bands, composition.

This is the definition of a score. The warehouse computes scores in SQL (compute stage) and tests
cross-check that SQL against these functions; they also serve small, explained examples.

For one contact as of an instant ``as_of``::

    age_days      = (as_of - occurred_at) in days (fractional); signals after as_of do not count,
                    nor do signals older than lookback_days
    decay         = step:        0.5 ** floor(age_days / half_life_days)     (the default, the seed's)
                    exponential: 0.5 ** (age_days / half_life_days)
    points        = sum over signals of weight x decay (x quantity for use_quantity signals)
    score         = normalise(points), 0-100
    composition   = each engagement type's share of the points, scaled to the score: sums to the score

The seed's worked example (logins 5, opens 1, meetings 10, halving every 14 days): four recent
logins, six recent opens and a meeting 14 days ago give 20 + 6 + 5 = 31; with the meeting 7 days
ago, 36. With the default ``clip`` normalisation at 100 points those are the scores.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from kpitree.spec.models import BandSpec, ScoreSpec
from kpitree.spec.models.nodes import DecaySpec, NormalisationSpec

DAY = timedelta(days=1)


def decay_factor(age_days: float, decay: DecaySpec) -> float:
    """How much of a signal's weight is left after ``age_days``; 0 for a signal in the future."""
    if age_days < 0:
        return 0.0
    halvings = age_days / decay.half_life_days
    return 0.5 ** (math.floor(halvings) if decay.mode == "step" else halvings)


def normalise(points: float, spec: NormalisationSpec) -> float:
    """Raw points -> 0-100."""
    points = max(points, 0.0)
    if spec.method == "clip":
        return min(points, spec.max_points) * 100.0 / spec.max_points
    return min(100.0 * math.log1p(points) / math.log1p(spec.max_points), 100.0)


def band_for(score: float, bands: Iterable[BandSpec]) -> BandSpec | None:
    """The band a score falls in: the one with the highest ``low`` not above the score.

    Bands are written with whole-number edges (Engaged 50-74, Champion 75-100); a score of 74.6 is
    still Engaged, because it has not reached Champion's 75.
    """
    candidates = [b for b in bands if (b.low if b.low is not None else -math.inf) <= score]
    return max(candidates, key=lambda b: b.low if b.low is not None else -math.inf, default=None)


@dataclass(frozen=True)
class SignalEvent:
    signal_type: str
    occurred_at: datetime
    quantity: float | None = None


@dataclass(frozen=True)
class Score:
    points: float  # before normalisation
    score: float  # 0-100
    band: str | None
    points_by_type: Mapping[str, float]  # engagement type id -> points
    composition: Mapping[str, float]  # engagement type id -> share of the score; sums to the score


def score_signals(events: Iterable[SignalEvent], spec: ScoreSpec, as_of: datetime) -> Score:
    """One contact's score as of ``as_of`` from its signal events."""
    weights = {s.signal: (etype.id, s.weight, s.use_quantity) for etype in spec.types for s in etype.signals}
    by_type = {etype.id: 0.0 for etype in spec.types}
    for event in events:
        if event.signal_type not in weights:
            continue  # a signal type the score does not weigh
        age = (as_of - event.occurred_at) / DAY
        if age > spec.lookback_days:
            continue
        type_id, weight, use_quantity = weights[event.signal_type]
        amount = (event.quantity if event.quantity is not None else 1.0) if use_quantity else 1.0
        by_type[type_id] += weight * amount * decay_factor(age, spec.decay)
    points = sum(by_type.values())
    score = normalise(points, spec.normalisation)
    band = band_for(score, spec.bands)
    composition = {t: (p / points * score if points > 0 else 0.0) for t, p in by_type.items()}
    return Score(points, score, band.name if band else None, by_type, composition)
