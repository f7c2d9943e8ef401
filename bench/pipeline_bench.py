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
message the run queued as the file channel wrote it. The one-time steps compute more periods than
compute's two (a first run the history its rules read, a first report the trend's periods not kept
yet): beside them, the hand-written DuckDB query of those same periods (bench/compute_bench.py's,
over more periods), run once, so their cost can be told from the data's. Run: python bench/pipeline_bench.py
[--scales 1000000,10000000] [--dir /tmp/kpitree-bench] [--repeat 3]
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compute_bench import (
    HAND,
    KPITREE,
    activity_sql,
    bench_options,
    median_run,
    prepare,
    score_sql,
    shipped_tree,
    spans,
)

TREES = (("activity_volume_per_contact", "2026-10"), ("contact_engagement_score", "2026-W43"))
# Earlier periods stored by runs before the measured one, back to the 12-period trend's start.
TREND = 12


def history(tree: str, period: str) -> list[str]:
    """The 11 periods before ``period``: a scheduled tree's earlier runs stored them."""
    from kpitree.tree import tree_calendar

    calendar = tree_calendar(shipped_tree(tree))
    chosen = calendar.parse(period)
    return [calendar.label(calendar.shift(chosen, -steps)) for steps in range(TREND - 1, 0, -1)]


def first_run_periods(tree: str) -> int:
    """The periods a tree's first run computes: the two compared, or as many as its slide and
    anomaly rules read (kpitree.pipeline: the report's trend is at least that long)."""
    from kpitree.alert.evaluate import history_needed

    return max(2, history_needed(shipped_tree(tree)))


def hand_written(directory: Path, tree: str, period: str, count: int, skip: int = 0) -> dict[str, float]:
    """The hand-written query of ``count`` of the tree's periods from ``skip`` before ``period``."""
    chosen = spans(tree, period, count, skip)
    sql = activity_sql(directory, chosen) if tree == "activity_volume_per_contact" else score_sql(directory, chosen)
    return median_run(HAND.format(sql=sql), 1)


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


def median_of(label: str, results: list[tuple[dict[str, float], Path]], tree: str) -> tuple[str, dict[str, float]]:
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
        # What the one-time steps' extra periods cost written by hand: (periods, skipped) per row.
        kept = first_run_periods(tree)
        extra = {
            "run, first": (kept, 0),
            "report html, first": (TREND - kept, kept),
            "report html, nothing stored": (TREND, 0),
        }
        for label, measured in rows:
            count, skip = extra.get(label, (0, 0))
            hand = ""
            if count > 2:
                by_hand = hand_written(directory, tree, period, count, skip)
                hand = f"  x{measured['wall'] / by_hand['wall']:.2f} of the hand-written query of its {count} periods"
                hand += f" ({by_hand['wall']:.2f} s, {by_hand['peak_mib']:.0f} MiB)"
            print(
                f"{scale:>11,} {tree:<28} {label:<27} {measured['wall']:7.2f} s {measured['peak_mib']:6.0f} MiB"
                f"  x{measured['wall'] / compute['wall']:.2f} of compute{hand}",
                flush=True,
            )


def main() -> None:
    options = bench_options(__doc__, "1000000,10000000", 3)
    for scale in options.scales:
        bench(scale, options.dir, options.repeat)


if __name__ == "__main__":
    main()
