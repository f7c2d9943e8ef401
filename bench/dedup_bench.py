"""Deduplication benchmark: what the activity tree's one-time steps pay for.

A first run of the activity tree computes the 13 months its anomaly rule reads, where ``kpitree
compute`` computes two, and it takes about four times compute's wall time (bench/pipeline_bench.py).
This bench shows where that time goes. For each scale (activities; contacts a tenth, signals twice
as many) it generates the sample as Parquet (as bench/compute_bench.py does) and times the
hand-written DuckDB query of the activity tree's numbers (compute_bench's ``activity_sql``) over
compute's two months and over the first run's months, each in a fresh process, in three forms:

* ``window``: every row numbered within its (source_system, external_id), the first kept (the
  form compute_bench and pipeline_bench time, and the one kpitree compiles);
* ``repeated``: only the rows of keys that repeat numbered, the rest kept by an anti-join (the
  fastest exact form found; checked to give the window form's numbers before it is timed);
* ``none``: every row kept (not the tree's numbers: the same counts with no deduplication).

Prints each one's time once its imports are done (the query alone) and its peak RSS, the share of
the ``window`` form's time that deduplication takes (``window`` minus ``none``), and how many times
compute's months the first run's cost.
Run: python bench/dedup_bench.py [--scales 10000000] [--dir /tmp/kpitree-bench] [--repeat 3]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compute_bench import DEDUPE_FORMS, HAND, Span, activity_sql, bench_options, median_run, prepare, spans
from pipeline_bench import first_run_periods

TREE, PERIOD = "activity_volume_per_contact", "2026-10"


def touch_counts(directory: Path, months: list[Span], form: str) -> list[tuple[Any, ...]]:
    """The rows of the form's touch statement (its first), to check that two forms agree."""
    import duckdb

    db = duckdb.connect()
    db.execute("SET TimeZone = 'UTC'")
    return sorted(db.execute(activity_sql(directory, months, form).split(";")[0]).fetchall())


def bench(scale: int, base: Path, repeat: int) -> None:
    directory = prepare(scale, base)
    sizes = {"compute": 2, "first run": first_run_periods(TREE)}
    walls: dict[tuple[str, str], float] = {}
    for step, count in sizes.items():
        months = spans(TREE, PERIOD, count)
        if touch_counts(directory, months, "repeated") != touch_counts(directory, months, "window"):
            raise SystemExit(f"the repeated form's numbers differ from the window form's over {count} months")
        for form in DEDUPE_FORMS:
            timed = median_run(HAND.format(sql=activity_sql(directory, months, form)), repeat)
            walls[step, form] = timed["work"]
            print(
                f"{scale:>11,} {step:<9} {count:>2} months  dedupe {form:<8} "
                f"{timed['work']:6.2f} s after imports {timed['peak_mib']:6.0f} MiB",
                flush=True,
            )
        share = (walls[step, "window"] - walls[step, "none"]) / walls[step, "window"]
        print(f"{scale:>11,} {step:<9} deduplication is {share:.0%} of the window form's time", flush=True)
    for form in DEDUPE_FORMS:
        ratio = walls["first run", form] / walls["compute", form]
        print(f"{scale:>11,} dedupe {form:<8} the first run's months cost {ratio:.1f}x compute's", flush=True)


def main() -> None:
    options = bench_options(__doc__, "10000000", 3)
    for scale in options.scales:
        bench(scale, options.dir, options.repeat)


if __name__ == "__main__":
    main()
