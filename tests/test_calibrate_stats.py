"""The back-test's array statistics against plain-Python definitions: roll-ups per group, the score's
normalisation, the cut-offs by brute force, and the logistic fit's intervals."""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpitree.calibrate.features import normalise_points
from kpitree.calibrate.stats import (
    auc,
    cost_cutoff,
    fit_logistic,
    group_combine,
    group_mean,
    roc_curve,
    youden_cutoff,
)
from kpitree.scoring import normalise
from kpitree.spec.models.nodes import NormalisationSpec

finite = st.floats(-1e6, 1e6, allow_nan=False)


@settings(max_examples=150)
@given(
    rows=st.lists(st.tuples(st.integers(0, 5), finite), min_size=1, max_size=40),
    method=st.sampled_from(["mean", "max", "median"]),
)
def test_group_combine_is_the_roll_up_of_each_group(rows: list[tuple[int, float]], method: str) -> None:
    groups = 7  # two of them (6, and any unused) have no rows: 0, like an entity without contacts
    group = np.array([g for g, _ in rows], dtype=np.int64)
    values = np.array([v for _, v in rows])
    combined = group_combine(values, group, groups, method)
    reference: dict[str, Callable[[list[float]], float]] = {
        "mean": statistics.fmean,
        "max": max,
        "median": statistics.median,
    }
    for g in range(groups):
        members = [v for gg, v in rows if gg == g]
        expected = reference[method](members) if members else 0.0
        assert combined[g] == pytest.approx(expected, rel=1e-9, abs=1e-6)


@given(rows=st.lists(st.tuples(st.integers(0, 3), finite, finite), min_size=1, max_size=30))
def test_group_mean_averages_each_column_per_group(rows: list[tuple[int, float, float]]) -> None:
    group = np.array([g for g, _, _ in rows], dtype=np.int64)
    values = np.array([[a, b] for _, a, b in rows])
    means = group_mean(values, group, 5)
    for g in range(5):
        members = [(a, b) for gg, a, b in rows if gg == g]
        for column in (0, 1):
            expected = statistics.fmean(m[column] for m in members) if members else 0.0
            assert means[g, column] == pytest.approx(expected, rel=1e-9, abs=1e-6)


@given(
    points=st.lists(st.floats(-50, 1e5, allow_nan=False), min_size=1, max_size=30),
    method=st.sampled_from(["clip", "log"]),
    max_points=st.floats(1, 1e4),
)
def test_normalise_points_is_normalise_on_each_value(points: list[float], method: str, max_points: float) -> None:
    spec = NormalisationSpec(method=method, max_points=max_points)
    got = normalise_points(np.array(points), spec)
    assert got.tolist() == pytest.approx([normalise(p, spec) for p in points], rel=1e-12, abs=1e-12)


scored = st.lists(st.tuples(st.integers(0, 12).map(float), st.booleans()), min_size=2, max_size=40).filter(
    lambda rows: any(g for _, g in rows) and not all(g for _, g in rows)
)


@settings(max_examples=150, deadline=None)  # the first example loads scikit-learn
@given(rows=scored, miss_cost=st.floats(0.5, 10))
def test_cut_offs_are_the_best_of_every_candidate(rows: list[tuple[float, bool]], miss_cost: float) -> None:
    scores = [s for s, _ in rows]
    good = [g for _, g in rows]
    positives, negatives = sum(good), len(good) - sum(good)

    def rates(cut: float) -> tuple[float, float]:
        tp = sum(1 for s, g in rows if g and s >= cut)
        fp = sum(1 for s, g in rows if not g and s >= cut)
        return tp / positives, fp / negatives

    candidates = sorted(set(scores))
    j = {c: rates(c)[0] - rates(c)[1] for c in candidates}
    best_j = max(j.values())
    assert youden_cutoff(scores, good) == min(c for c in candidates if j[c] == best_j)
    cost = {c: miss_cost * rates(c)[1] * negatives + (1 - rates(c)[0]) * positives for c in candidates}
    best_cost = min(cost.values())
    found = cost_cutoff(scores, good, miss_cost)
    assert found is not None
    assert cost[found] == pytest.approx(best_cost)


def test_auc_and_the_curve_need_both_outcomes() -> None:
    assert auc([1.0, 2.0], [True, True]) is None
    assert youden_cutoff([1.0, 2.0], [False, False]) is None
    assert roc_curve([1.0, 2.0], [True, True]) == roc_curve([], [])  # only the starting point


def test_a_long_curve_is_thinned_for_the_picture_keeping_its_ends() -> None:
    rng = random.Random(3)
    scores = [rng.random() for _ in range(5000)]
    good = [rng.random() < s for s in scores]
    points = roc_curve(scores, good)
    assert len(points) <= 200
    assert (points[0].true_positive_rate, points[0].false_positive_rate) == (0.0, 0.0)
    assert (points[-1].true_positive_rate, points[-1].false_positive_rate) == (1.0, 1.0)
    assert len(roc_curve(scores, good, points=None)) == len(set(scores)) + 1


def _logistic_world(seed: int, rows: int) -> tuple[list[list[float]], list[bool]]:
    rng = random.Random(seed)
    x = [[rng.uniform(0, 4), rng.uniform(0, 4), 0.0] for _ in range(rows)]
    good = [rng.random() < 1 / (1 + math.exp(-(-1.0 + 0.8 * a - 0.4 * b))) for a, b, _ in x]
    return x, good


def test_logistic_intervals_cover_the_true_coefficients_about_as_often_as_they_say() -> None:
    covered = 0
    for seed in range(60):
        fit = fit_logistic(*_logistic_world(seed, 600))
        first, second, _never = fit.intervals
        assert first is not None
        assert second is not None
        covered += first[0] <= 0.8 <= first[1]
        covered += second[0] <= -0.4 <= second[1]
    assert 0.88 <= covered / 120 <= 1.0  # 95% nominal, on 120 intervals


def test_a_signal_nobody_sent_gets_zero_and_no_interval() -> None:
    fit = fit_logistic(*_logistic_world(11, 3000))
    first, _second, never = fit.intervals
    assert first is not None
    assert first[1] - first[0] < 0.3  # 3000 rows pin it down
    assert (fit.coefficients[2], never) == (0.0, None)
    assert fit.note == ""


def test_separated_outcomes_get_coefficients_but_no_interval() -> None:
    rows = [[float(x)] for x in range(40)]
    good = [x >= 20 for x in range(40)]
    fit = fit_logistic(rows, good)
    assert fit.coefficients[0] > 0
    assert fit.intervals == (None,)
    assert "separated" in fit.note
