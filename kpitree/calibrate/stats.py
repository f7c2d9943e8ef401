"""The statistics of a back-test, in plain Python (a few thousand entities, a dozen features).

- :func:`auc`: the probability that a random good outcome scored above a random bad one (ties
  count half): the Mann-Whitney statistic, computed from ranks;
- :func:`roc_curve`: true- and false-positive rates at every cut-off, for the picture;
- :func:`youden_cutoff` and :func:`cost_cutoff`: the score below which a contact is flagged at risk,
  maximising sensitivity + specificity - 1, or minimising the cost of missed churners and needless
  plays;
- :func:`fit_logistic`: logistic regression by Newton's method with a small ridge penalty, on
  standardised features (so the penalty treats every signal alike), returned on the raw scale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

RIDGE = 1e-3  # on standardised features: keeps a signal nobody sent from breaking the solve
MAX_ITERATIONS = 50


def auc(scores: Sequence[float], good: Sequence[bool]) -> float | None:
    """Area under the ROC curve of ``scores`` for telling good outcomes from bad; None without both."""
    positives = sum(good)
    negatives = len(good) - positives
    if not positives or not negatives:
        return None
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):  # average ranks over ties
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    rank_sum = sum(rank for rank, is_good in zip(ranks, good, strict=True) if is_good)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


@dataclass(frozen=True)
class RocPoint:
    cutoff: float  # a score at or above it is called healthy
    true_positive_rate: float  # good outcomes called healthy
    false_positive_rate: float  # bad outcomes called healthy


def roc_curve(scores: Sequence[float], good: Sequence[bool]) -> list[RocPoint]:
    """One point per distinct score, from the highest cut-off down (a sweep: n log n)."""
    positives = sum(good) or 1
    negatives = (len(good) - sum(good)) or 1
    points = [RocPoint(math.inf, 0.0, 0.0)]
    tp = fp = 0
    ordered = sorted(zip(scores, good, strict=True), key=lambda pair: -pair[0])
    for index, (score, is_good) in enumerate(ordered):
        tp += is_good
        fp += not is_good
        if index + 1 == len(ordered) or ordered[index + 1][0] != score:
            points.append(RocPoint(score, tp / positives, fp / negatives))
    return points


def youden_cutoff(scores: Sequence[float], good: Sequence[bool]) -> float | None:
    """The cut-off with the largest sensitivity + specificity - 1."""
    if not scores or all(good) or not any(good):
        return None
    curve = [p for p in roc_curve(scores, good) if math.isfinite(p.cutoff)]
    return max(curve, key=lambda p: (p.true_positive_rate - p.false_positive_rate, -p.cutoff)).cutoff


def cost_cutoff(
    scores: Sequence[float], good: Sequence[bool], miss_cost: float, play_cost: float = 1.0
) -> float | None:
    """The cut-off with the lowest cost: each churner scored healthy (missed) costs ``miss_cost``,
    each renewer flagged at risk (a needless play) ``play_cost``."""
    if not scores or all(good) or not any(good):
        return None
    positives, negatives = sum(good), len(good) - sum(good)
    best: tuple[float, float] | None = None
    for point in roc_curve(scores, good):
        if not math.isfinite(point.cutoff):
            continue
        missed = point.false_positive_rate * negatives  # churners at or above the cut-off
        needless = (1 - point.true_positive_rate) * positives  # renewers below it
        cost = miss_cost * missed + play_cost * needless
        if best is None or cost < best[0] or (cost == best[0] and point.cutoff < best[1]):
            best = (cost, point.cutoff)
    assert best is not None
    return best[1]


@dataclass(frozen=True)
class LogisticFit:
    intercept: float
    coefficients: tuple[float, ...]  # per feature, on the raw scale: log-odds per unit
    log_likelihood: float

    def linear(self, row: Sequence[float]) -> float:
        return self.intercept + sum(c * x for c, x in zip(self.coefficients, row, strict=True))


def fit_logistic(rows: Sequence[Sequence[float]], good: Sequence[bool], ridge: float = RIDGE) -> LogisticFit:
    """Maximum-likelihood logistic regression (with a ridge on the standardised coefficients)."""
    width = len(rows[0]) if rows else 0
    means = [sum(r[j] for r in rows) / len(rows) for j in range(width)]
    scales = [math.sqrt(sum((r[j] - means[j]) ** 2 for r in rows) / len(rows)) or 1.0 for j in range(width)]
    x = [[1.0, *((r[j] - means[j]) / scales[j] for j in range(width))] for r in rows]
    y = [1.0 if g else 0.0 for g in good]
    beta = [0.0] * (width + 1)
    for _ in range(MAX_ITERATIONS):
        p = [_sigmoid(sum(b * v for b, v in zip(beta, xi, strict=True))) for xi in x]
        gradient = [
            sum((y[i] - p[i]) * x[i][j] for i in range(len(x))) - ridge * beta[j] * (j > 0) for j in range(width + 1)
        ]
        hessian = [
            [
                sum(p[i] * (1 - p[i]) * x[i][j] * x[i][k] for i in range(len(x))) + (ridge if j == k and j > 0 else 0.0)
                for k in range(width + 1)
            ]
            for j in range(width + 1)
        ]
        step = _solve(hessian, gradient)
        beta = [b + s for b, s in zip(beta, step, strict=True)]
        if max(abs(s) for s in step) < 1e-8:
            break
    coefficients = tuple(beta[j + 1] / scales[j] for j in range(width))
    intercept = beta[0] - sum(c * m for c, m in zip(coefficients, means, strict=True))
    fit = LogisticFit(intercept, coefficients, 0.0)
    likelihood = sum(_log_likelihood(fit.linear(r), g) for r, g in zip(rows, good, strict=True))
    return LogisticFit(intercept, coefficients, likelihood)


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1 / (1 + math.exp(-z))
    e = math.exp(z)
    return e / (1 + e)


def _log_likelihood(z: float, good: bool) -> float:
    # log(sigmoid(z)) = -log(1 + e^-z), written to stay finite for large |z|
    softplus = max(-z, 0.0) + math.log1p(math.exp(-abs(z)))
    return -softplus if good else -(softplus + z)


def _solve(matrix: list[list[float]], vector: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (the Hessian is small and positive definite)."""
    n = len(vector)
    a = [[*row, vector[i]] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(a[r][col]))
        a[col], a[pivot] = a[pivot], a[col]
        if abs(a[col][col]) < 1e-12:
            continue
        for r in range(col + 1, n):
            factor = a[r][col] / a[col][col]
            for c in range(col, n + 1):
                a[r][c] -= factor * a[col][c]
    solution = [0.0] * n
    for r in reversed(range(n)):
        if abs(a[r][r]) < 1e-12:
            continue
        solution[r] = (a[r][n] - sum(a[r][c] * solution[c] for c in range(r + 1, n))) / a[r][r]
    return solution
