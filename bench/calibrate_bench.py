"""Calibration benchmark: ``kpitree calibrate`` beside ``kpitree compute`` of the same score.

For each scale the sample is generated as Parquet (as bench/compute_bench.py does) with as many
contacts as ``kpitree sample-data --size`` makes (one per 40 activities: 250,000 at 10,000,000),
or ``--contacts-per`` activities each, and the shipped engagement score is back-tested against the sample's
outcomes as of 2026-05-01, 90-day horizon, validated on the next 90 days: the demo's settings. Each
command runs in a fresh process, so peak memory is its own.

Then, in this process, the back-test's AUCs (current score, suggested score, training and
validation windows) are recomputed with the plain-Python Mann-Whitney count that calibration used
before it moved to scikit-learn, and the largest difference printed: the numbers must not move.

Run: python bench/calibrate_bench.py [--scales 1000000,10000000] [--dir /tmp/kpitree-bench] [--contacts-per 40]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compute_bench import KPITREE, measure, prepare

TREE = "contact_engagement_score"
AS_OF = "2026-05-01"


def reference_auc(scores: Sequence[float], good: Sequence[bool]) -> float | None:
    """The Mann-Whitney statistic from average ranks, as kpitree computed it by hand before."""
    positives = sum(good)
    negatives = len(good) - positives
    if not positives or not negatives:
        return None
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    rank_sum = sum(rank for rank, is_good in zip(ranks, good, strict=True) if is_good)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def auc_drift(directory: Path, url: str) -> tuple[int, float]:
    """(entities in the training window, the largest |AUC - reference AUC| of the four AUCs)."""
    import numpy as np

    from kpitree.calibrate.backtest import CalibrationRequest, calibrate
    from kpitree.calibrate.outcomes import read_outcomes
    from kpitree.tree_files import load_tree_or_raise
    from kpitree.warehouse import open_warehouse

    tree = load_tree_or_raise(Path(__file__).resolve().parent.parent / "trees" / f"{TREE}.yaml")
    node = tree.nodes[TREE]
    spec = node.score
    assert spec is not None
    warehouse = open_warehouse(url)
    as_of = datetime.fromisoformat(AS_OF).replace(tzinfo=ZoneInfo(tree.timezone))
    outcomes = read_outcomes(str(directory / "outcomes.parquet"), warehouse, tree.timezone)
    result = calibrate(tree, node, outcomes, CalibrationRequest(as_of, timedelta(days=90)), warehouse)
    drift = 0.0
    samples = [(result.train, result.current.auc, result.suggested.auc)]
    if result.validation is not None:
        samples.append((result.validation.sample, result.validation.current.auc, result.validation.suggested.auc))
    current = np.array([result.current_weights[s] for s in result.signals])
    suggested = np.array([result.suggested_weights[s] for s in result.signals])
    for sample, now_auc, new_auc in samples:
        good = sample.good.tolist()
        for weights, half_life, found in (
            (current, result.current_half_life, now_auc),
            (suggested, result.best_half_life, new_auc),
        ):
            scores = sample.scores(weights, half_life, spec, "mean").tolist()
            expected = reference_auc(scores, good)
            assert found is not None
            assert expected is not None
            drift = max(drift, abs(found - expected))
    return len(result.train.ids), drift


def bench(scale: int, base: Path, per_contact: int) -> None:
    directory = prepare(scale, base, scale // per_contact)
    url = f"duckdb:///{directory / 'warehouse.duckdb'}"
    compute = measure(KPITREE.format(args=["compute", TREE, "--period", "2026-W43", "--warehouse", url, "--no-save"]))
    outcomes = str(directory / "outcomes.parquet")
    args = ["calibrate", TREE, "--outcomes", outcomes, "--as-of", AS_OF, "--warehouse", url,
            "--format", "md", "-o", str(base / f"calibration-{scale}.md")]  # fmt: skip
    calibrated = measure(KPITREE.format(args=args))
    entities, drift = auc_drift(directory, url)
    print(f"{scale:>10,} activities, {entities:,} contacts with an outcome")
    for name, result in (("compute (baseline)", compute), ("calibrate", calibrated)):
        ratio = result["wall"] / compute["wall"]
        print(f"  {name:<20} {result['wall']:7.1f} s {result['peak_mib']:8.0f} MiB  {ratio:5.2f}x compute")
    print(f"  largest AUC difference from the hand-written Mann-Whitney: {drift:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="1000000,10000000")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/kpitree-bench"))
    parser.add_argument("--contacts-per", type=int, default=40, help="activities per contact")
    options = parser.parse_args()
    for scale in (int(s) for s in options.scales.split(",")):
        bench(scale, options.dir, options.contacts_per)


if __name__ == "__main__":
    main()
