"""Pipeline benchmark: ``kpitree run`` and ``kpitree report --format html`` beside ``kpitree compute``.

For each scale (activities; contacts a tenth, signals twice as many) the sample is generated as
Parquet and a DuckDB warehouse points at it (as bench/compute_bench.py does). For both shipped
trees it then times, each in a fresh process so that peak memory is its own:

* ``kpitree compute`` of the period against the one before (the baseline: what the data costs);
* ``kpitree run`` of the same period, on a state database where earlier runs stored the trend's
  periods (the steady state of a scheduled tree), messages written by the file channel;
* ``kpitree report --format html`` with a 12-period trend on that state database;
* a tree's first steps on a new state database: its first ``run`` (it computes the history its
  alert rules read and keeps it), the first ``report`` after it (it computes the trend periods not
  kept yet, and keeps them) and the next report (it reads them all);
* a report on a state database that holds nothing (every trend period computed now): the one-time
  cost of a trend.

Prints wall time and peak RSS, each command's ratio to compute, and the size of the largest
message the run queued as the file channel wrote it. Run: python bench/pipeline_bench.py
[--scales 1000000,10000000] [--dir /tmp/kpitree-bench] [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compute_bench import KPITREE, median_run, prepare

TREES = (("activity_volume_per_contact", "2026-10"), ("contact_engagement_score", "2026-W43"))
# Earlier periods stored by runs before the measured one, back to the 12-period trend's start.
TREND = 12


def history(tree: str, period: str) -> list[str]:
    """The 11 periods before ``period``: a scheduled tree's earlier runs stored them."""
    from kpitree.tree import tree_calendar
    from kpitree.tree_files import load_tree_or_raise

    loaded = load_tree_or_raise(Path(__file__).resolve().parent.parent / "trees" / f"{tree}.yaml")
    calendar = tree_calendar(loaded)
    chosen = calendar.parse(period)
    return [calendar.label(calendar.shift(chosen, -steps)) for steps in range(TREND - 1, 0, -1)]


def largest_message(outbox: Path) -> tuple[int, str]:
    files = [p for p in outbox.rglob("*") if p.is_file()]
    if not files:
        return 0, "(none)"
    biggest = max(files, key=lambda p: p.stat().st_size)
    return biggest.stat().st_size, biggest.name


def run_args(tree: str, period: str, url: str, state: str, outbox: Path, work: Path) -> list[str]:
    return ["run", tree, "--period", period, "--warehouse", url, "--state-db", state,
            "--files-only", "--outbox-dir", str(outbox), "--reports-dir", str(work / "reports")]  # fmt: skip


def report_args(tree: str, period: str, url: str, state: str, work: Path) -> list[str]:
    return ["report", tree, "--period", period, "--warehouse", url, "--state-db", state,
            "--format", "html", "-o", str(work / "report.html")]  # fmt: skip


def median_of(
    label: str, results: list[tuple[dict[str, float], Path]], tree: str
) -> tuple[str, dict[str, float]]:
    """The median attempt; for a run, the largest message it queued as the file channel wrote it."""
    results = sorted(results, key=lambda r: r[0]["wall"])
    chosen, outbox = results[len(results) // 2]
    if label.startswith("run"):
        size, name = largest_message(outbox)
        print(f"    {tree} {label}: largest message {size / 1024:.0f} KB ({name})", flush=True)
    return label, chosen


def bench(scale: int, base: Path, repeat: int) -> None:
    directory = prepare(scale, base)
    url = f"duckdb:///{directory / 'warehouse.duckdb'}"
    work = base / f"pipeline-{scale}"
    for tree, period in TREES:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        warm = f"sqlite:///{work / 'warm.db'}"
        # The earlier runs of a scheduled tree: they stored each period's values.
        for earlier in history(tree, period):
            median_run(KPITREE.format(args=["compute", tree, "--period", earlier, "--warehouse", url,
                                            "--state-db", warm, "--format", "json"]), 1)  # fmt: skip
        compute = median_run(
            KPITREE.format(
                args=["compute", tree, "--period", period, "--warehouse", url, "--no-save", "--format", "json"]
            ),
            repeat,
        )
        rows = [("compute", compute)]
        # The steady state: earlier runs stored the trend's periods.
        for label in ("run", "report html"):
            results = []
            for attempt in range(repeat):
                outbox = work / f"outbox-warm-{attempt}"
                if label == "run":  # a fresh copy of the warm state each time, so every run has alerts to tell
                    copy = work / f"run-{attempt}.db"
                    shutil.copy(work / "warm.db", copy)
                    args = run_args(tree, period, url, f"sqlite:///{copy}", outbox, work)
                else:
                    args = report_args(tree, period, url, warm, work)
                results.append((median_run(KPITREE.format(args=args), 1), outbox))
            rows.append(median_of(label, results, tree))
        # A tree's first run on a new state database computes the history its rules read and keeps
        # it; the first report after it computes the trend periods not kept yet and keeps them too;
        # the next report reads them all.
        first: dict[str, list[tuple[dict[str, float], Path]]] = {}
        for attempt in range(repeat):
            state = f"sqlite:///{work / f'first-{attempt}.db'}"
            outbox = work / f"outbox-first-{attempt}"
            for label, args in (
                ("run, first", run_args(tree, period, url, state, outbox, work)),
                ("report html, first", report_args(tree, period, url, state, work)),
                ("report html, next", report_args(tree, period, url, state, work)),
            ):
                first.setdefault(label, []).append((median_run(KPITREE.format(args=args), 1), outbox))
        rows += [median_of(label, results, tree) for label, results in first.items()]
        # Nothing stored at all (a state database that no run filled): the whole trend computed.
        empty = work / "empty.db"
        median_run(f"from kpitree.state.store import StateStore\nStateStore.open('sqlite:///{empty}')", 1)
        nothing = median_run(KPITREE.format(args=report_args(tree, period, url, f"sqlite:///{empty}", work)), 1)
        rows.append(("report html, nothing stored", nothing))
        for label, measured in rows:
            print(
                f"{scale:>11,} {tree:<28} {label:<27} {measured['wall']:7.2f} s {measured['peak_mib']:6.0f} MiB"
                f"  x{measured['wall'] / compute['wall']:.2f} of compute",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default="1000000,10000000", help="comma-separated activity counts")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/kpitree-bench"))
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the median is shown")
    options = parser.parse_args()
    for scale in (int(s) for s in options.scales.split(",")):
        bench(scale, options.dir, options.repeat)


if __name__ == "__main__":
    main()
