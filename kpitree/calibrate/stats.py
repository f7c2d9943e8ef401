"""The statistics of a back-test, on numpy arrays, from scikit-learn and statsmodels.

- :func:`auc`: the probability that a random good outcome scored above a random bad one (ties
  count half), scikit-learn's ``roc_auc_score``;
- :func:`roc_arrays` / :func:`roc_curve`: true- and false-positive rates at every cut-off
  (scikit-learn's ``roc_curve``), and a thinned copy for the picture;
- :func:`youden_cutoff` and :func:`cost_cutoff`: the score below which a contact is flagged at risk,
  maximising sensitivity + specificity - 1, or minimising the cost of missed churners and needless
  plays;
- :func:`fit_logistic`: maximum-likelihood logistic regression (statsmodels' ``Logit``, Newton's
  method) on standardised features, returned on the raw scale with 95% Wald intervals. Features
  that never vary (a signal nobody sent) are left out and get 0. When the outcomes are separated
  perfectly there is no maximum; scikit-learn's ridge-penalised fit gives the coefficients then, and
  no interval is claimed.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from kpitree.errors import InternalError

RIDGE = 1e-3  # on standardised features, for the fallback fit only
MAX_ITERATIONS = 100
PICTURE_POINTS = 200  # a ROC curve drawn with more points than pixels only makes the page heavy
LEVEL = 0.95

Floats = NDArray[np.float64]
Flags = NDArray[np.bool_]


def _arrays(scores: ArrayLike, good: ArrayLike) -> tuple[Floats, Flags]:
    return np.asarray(scores, dtype=np.float64), np.asarray(good, dtype=np.bool_)


def auc(scores: ArrayLike, good: ArrayLike) -> float | None:
    """Area under the ROC curve of ``scores`` for telling good outcomes from bad; None without both."""
    from sklearn.metrics import roc_auc_score  # scikit-learn and statsmodels load in seconds: on use

    s, g = _arrays(scores, good)
    if g.all() or not g.any():
        return None
    return float(roc_auc_score(g, s))


@dataclass(frozen=True)
class RocPoint:
    cutoff: float  # a score at or above it is called healthy
    true_positive_rate: float  # good outcomes called healthy
    false_positive_rate: float  # bad outcomes called healthy


@dataclass(frozen=True)
class Roc:
    """Every distinct cut-off from the highest down (the first is +inf: nobody called healthy)."""

    cutoffs: Floats
    true_positive_rates: Floats
    false_positive_rates: Floats


def roc_arrays(scores: ArrayLike, good: ArrayLike) -> Roc | None:
    """The whole curve; None without both outcomes (a rate of nothing is not a rate)."""
    from sklearn.metrics import roc_curve as sklearn_roc_curve

    s, g = _arrays(scores, good)
    if g.all() or not g.any():
        return None
    fpr, tpr, cutoffs = sklearn_roc_curve(g, s, drop_intermediate=False)
    cutoffs = np.asarray(cutoffs, dtype=np.float64)
    cutoffs[0] = math.inf  # scikit-learn's "above the highest score", whatever its version writes there
    return Roc(cutoffs, np.asarray(tpr, dtype=np.float64), np.asarray(fpr, dtype=np.float64))


def roc_curve(scores: ArrayLike, good: ArrayLike, points: int | None = PICTURE_POINTS) -> list[RocPoint]:
    """The curve as points, thinned to about ``points`` for a picture (None: every cut-off).
    Thinning keeps the ends and every point the curve turns at, evenly spaced in between."""
    roc = roc_arrays(scores, good)
    if roc is None:
        return [RocPoint(math.inf, 0.0, 0.0)]
    count = len(roc.cutoffs)
    index = np.arange(count)
    if points is not None and count > points:
        index = np.unique(np.linspace(0, count - 1, points).round().astype(np.int64))
    return [
        RocPoint(float(roc.cutoffs[i]), float(roc.true_positive_rates[i]), float(roc.false_positive_rates[i]))
        for i in index
    ]


def _lowest_best(values: Floats, cutoffs: Floats, *, largest: bool) -> float:
    """The lowest cut-off among those with the best value (ties go to the more cautious cut-off)."""
    best = values.max() if largest else values.min()
    return float(cutoffs[values == best].min())


def youden_cutoff(scores: ArrayLike, good: ArrayLike) -> float | None:
    """The cut-off with the largest sensitivity + specificity - 1."""
    roc = roc_arrays(scores, good)
    if roc is None:
        return None
    finite = np.isfinite(roc.cutoffs)
    j = roc.true_positive_rates[finite] - roc.false_positive_rates[finite]
    return _lowest_best(j, roc.cutoffs[finite], largest=True)


def cost_cutoff(scores: ArrayLike, good: ArrayLike, miss_cost: float, play_cost: float = 1.0) -> float | None:
    """The cut-off with the lowest cost: each churner scored healthy (missed) costs ``miss_cost``,
    each renewer flagged at risk (a needless play) ``play_cost``."""
    s, g = _arrays(scores, good)
    roc = roc_arrays(s, g)
    if roc is None:
        return None
    positives, negatives = int(g.sum()), int((~g).sum())
    finite = np.isfinite(roc.cutoffs)
    missed = roc.false_positive_rates[finite] * negatives  # churners at or above the cut-off
    needless = (1 - roc.true_positive_rates[finite]) * positives  # renewers below it
    cost = miss_cost * missed + play_cost * needless
    return _lowest_best(cost, roc.cutoffs[finite], largest=False)


@dataclass(frozen=True)
class LogisticFit:
    intercept: float
    coefficients: tuple[float, ...]  # per feature, on the raw scale: log-odds per unit
    log_likelihood: float
    # 95% Wald intervals per coefficient on the raw scale; None when the fit cannot give them
    # (perfect separation) or the feature never varied (its coefficient is 0 by construction).
    intervals: tuple[tuple[float, float] | None, ...] = ()
    note: str = ""  # why intervals are missing, for the report

    def linear(self, rows: ArrayLike) -> Floats:
        """The log-odds of each row of ``rows`` (entities x features)."""
        x = np.asarray(rows, dtype=np.float64)
        return np.asarray(self.intercept + x @ np.asarray(self.coefficients, dtype=np.float64), dtype=np.float64)


def fit_logistic(rows: ArrayLike, good: ArrayLike) -> LogisticFit:
    """Maximum-likelihood logistic regression of ``good`` on ``rows`` (entities x features)."""
    x = np.asarray(rows, dtype=np.float64)
    y = np.asarray(good, dtype=np.float64)
    if x.ndim != 2:
        x = x.reshape(len(y), -1)
    width = x.shape[1]
    means = x.mean(axis=0) if len(x) else np.zeros(width)
    scales = x.std(axis=0) if len(x) else np.zeros(width)
    varies = scales > 0
    standard = (x[:, varies] - means[varies]) / scales[varies]
    beta, intervals, note = _fit_standardised(standard, y)
    coefficients = np.zeros(width)
    coefficients[varies] = beta[1:] / scales[varies]
    intercept = float(beta[0] - coefficients @ means)
    raw_intervals: list[tuple[float, float] | None] = [None] * width
    if intervals is not None:
        for position, column in enumerate(np.flatnonzero(varies)):
            low, high = intervals[position + 1] / scales[column]
            raw_intervals[column] = (float(low), float(high))
    z = intercept + x @ coefficients
    # log(sigmoid(z)) = -softplus(-z); logaddexp stays finite for large |z|
    likelihood = float(-(np.logaddexp(0.0, -z) * y + np.logaddexp(0.0, z) * (1 - y)).sum())
    return LogisticFit(intercept, tuple(float(c) for c in coefficients), likelihood, tuple(raw_intervals), note)


def _fit_standardised(x: Floats, y: Floats) -> tuple[Floats, Floats | None, str]:
    """(intercept + coefficients, their intervals or None, why none)."""
    import statsmodels.api as sm
    from sklearn.linear_model import LogisticRegression
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationError, PerfectSeparationWarning

    design = sm.add_constant(x, has_constant="add")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PerfectSeparationWarning)
            warnings.simplefilter("error", ConvergenceWarning)
            result: Any = sm.Logit(y, design).fit(method="newton", maxiter=MAX_ITERATIONS, disp=False)
        params = np.asarray(result.params, dtype=np.float64)
        intervals = np.asarray(result.conf_int(alpha=1 - LEVEL), dtype=np.float64)
        if np.all(np.isfinite(params)) and np.all(np.isfinite(intervals)):
            return params, intervals, ""
    except (PerfectSeparationError, PerfectSeparationWarning, ConvergenceWarning, np.linalg.LinAlgError):
        pass
    # No finite maximum (the outcomes are separated) or a singular information matrix (features
    # that move together exactly): a small ridge gives usable coefficients, but no honest interval.
    model = LogisticRegression(C=1 / RIDGE, max_iter=1000, tol=1e-10)
    model.fit(x if x.shape[1] else np.zeros((len(y), 1)), y.astype(np.int64))
    coefficients = np.asarray(model.coef_[0], dtype=np.float64)[: x.shape[1]]
    params = np.concatenate([[float(model.intercept_[0])], coefficients])
    return params, None, "no confidence intervals: the outcomes are separated perfectly or the signals are collinear"


def group_mean(values: Floats, group: NDArray[np.int64], groups: int) -> Floats:
    """Per group, the mean of its rows of ``values`` (rows x columns); 0 for a group without rows."""
    sums = np.zeros((groups, values.shape[1]))
    np.add.at(sums, group, values)
    counts = np.bincount(group, minlength=groups).astype(np.float64)
    return np.divide(sums, counts[:, None], out=np.zeros_like(sums), where=counts[:, None] > 0)


def group_combine(values: Floats, group: NDArray[np.int64], groups: int, method: str) -> Floats:
    """Per group, the mean, max or median of its ``values``; 0 for a group without any."""
    counts = np.bincount(group, minlength=groups)
    out = np.zeros(groups)
    has = counts > 0
    if method == "mean":
        sums = np.bincount(group, weights=values, minlength=groups)
        out[has] = sums[has] / counts[has]
    elif method == "max":
        top = np.full(groups, -math.inf)
        np.maximum.at(top, group, values)
        out[has] = top[has]
    elif method == "median":
        order = np.lexsort((values, group))
        ordered = values[order]
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        size = counts[has]
        first = starts[has] + (size - 1) // 2
        second = starts[has] + size // 2
        out[has] = (ordered[first] + ordered[second]) / 2
    else:
        raise InternalError(f"unknown roll-up {method!r}")  # the spec allows only the three
    return out
