"""Compute benchmark: kpitree against a hand-written DuckDB query on the same Parquet data.

For each scale (activities; contacts are a tenth, signals twice as many), generates the sample
data as Parquet, points a DuckDB warehouse at the files (views: DuckDB reads them in place), then
times, each in a fresh process so that peak memory is its own:

* ``kpitree compute`` of the activity tree for 2026-10 against 2026-09 (two months in one batch);
* ``kpitree compute`` of the score tree for 2026-W43 against 2026-W42;
* the hand-written DuckDB SQL doing the same aggregations (dedupe by window function, counts per
  channel and automation, distinct contacts, capacity sums; decayed, normalised, banded scores per
  contact with the account roll-up).

Prints wall time and peak RSS side by side, the kpitree/hand-written ratio, the same ratio once
each side's imports are done (what a long-lived process such as the scheduler pays), and the
growth of kpitree's time from the smallest to the largest scale. Run: python bench/compute_bench.py
[--scales 1000000,10000000] [--dir /tmp/kpitree-bench] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# Runs a piece of Python in a fresh interpreter and reports its wall time and peak RSS.
MEASURE = textwrap.dedent(
    """
    import json, resource, sys, time
    started = time.perf_counter()
    scope = {"ready": None}
    exec(compile(sys.argv[1], "<bench>", "exec"), scope)
    ended = time.perf_counter()
    ready = scope["ready"] or started  # set by the code once its imports are done
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"wall": ended - started, "work": ended - ready, "peak_mib": peak}), file=sys.stderr)
    """
)

KPITREE = textwrap.dedent(
    """
    import time
    from kpitree.cli.main import main
    from kpitree.cli import compute_commands
    import duckdb_engine
    ready = time.perf_counter()
    try:
        main({args!r})  # the program's entry, as the kpitree command runs it
    except SystemExit as exc:
        assert not exc.code, exc.code
    """
)


@dataclass(frozen=True)
class Span:
    """One period as a tree's calendar bounds it: the instants that open and close it, and its
    local first day and the day after its last (for date columns)."""

    start: datetime
    end: datetime
    first_day: date
    day_after: date


def shipped_tree(tree: str) -> Any:
    """A tree of the repository's trees/ folder, loaded (kpitree is imported here, not at the top:
    the benches time it in fresh processes)."""
    from kpitree.tree_files import load_tree_or_raise

    return load_tree_or_raise(ROOT / "trees" / f"{tree}.yaml")


def spans(tree: str, period: str, count: int, skip: int = 0) -> list[Span]:
    """``count`` periods of ``tree``, newest first, from ``skip`` periods before ``period``,
    bounded by the tree's own calendar (so at the instants kpitree computes them at)."""
    from kpitree.tree import tree_calendar

    calendar = tree_calendar(shipped_tree(tree))
    chosen = calendar.parse(period)
    shifted = [calendar.shift(chosen, -steps) for steps in range(skip, skip + count)]
    return [Span(*calendar.bounds(p), p.start, p.end) for p in shifted]


# How activity_sql keeps one row per (source_system, external_id): "window" numbers each key's
# rows (the form compute_bench times); "repeated" numbers only the rows of keys that repeat and
# keeps the rest by an anti-join; "none" keeps every row (not the tree's numbers: what the same
# counts cost without deduplication, bench/dedup_bench.py).
DEDUPE_FORMS = ("window", "repeated", "none")


def activity_sql(directory: Path, months: Sequence[Span], dedupe: str = "window") -> str:
    """The activity tree's numbers for ``months`` (newest first; ``p`` is a month's position) as
    one would write them by hand: dedupe (by window function unless ``dedupe`` names another of
    ``DEDUPE_FORMS``), counts per channel and automation, distinct contacts, capacity sums."""
    touch_month = " ".join(f"WHEN occurred_at >= TIMESTAMPTZ '{m.start}' THEN {i}" for i, m in enumerate(months))
    day_month = " ".join(f"WHEN day >= DATE '{m.first_day}' THEN {i}" for i, m in enumerate(months))
    numbered = "row_number() OVER (PARTITION BY source_system, external_id ORDER BY occurred_at)"
    kept = {
        "window": f"SELECT channel, is_automated, contact_id, p, {numbered} AS rn FROM touches",
        "repeated": f"""SELECT channel, is_automated, contact_id, p, 1 AS rn
  FROM touches ANTI JOIN repeated USING (source_system, external_id)
  UNION ALL
  SELECT channel, is_automated, contact_id, p, {numbered} AS rn
  FROM touches SEMI JOIN repeated USING (source_system, external_id)""",
        "none": "SELECT channel, is_automated, contact_id, p, 1 AS rn FROM touches",
    }[dedupe]
    repeated = (
        "repeated AS (SELECT source_system, external_id FROM touches GROUP BY ALL HAVING count(*) > 1),\n"
        if dedupe == "repeated"
        else ""
    )
    return f"""
WITH touches AS (
  SELECT channel, is_automated, contact_id, occurred_at, source_system, external_id, CASE {touch_month} END AS p
  FROM read_parquet('{directory}/activities.parquet')
  WHERE kind = 'touch'
    AND occurred_at >= TIMESTAMPTZ '{months[-1].start}' AND occurred_at < TIMESTAMPTZ '{months[0].end}'
),
{repeated}rows AS ({kept})
SELECT p, count(*) AS touches,
       count(*) FILTER (WHERE channel = 'email') AS email,
       count(*) FILTER (WHERE channel = 'email' AND NOT is_automated) AS manual_email,
       count(*) FILTER (WHERE channel = 'email' AND is_automated) AS automated_email,
       count(*) FILTER (WHERE channel = 'call') AS calls,
       count(*) FILTER (WHERE channel = 'meeting') AS meetings,
       count(*) FILTER (WHERE channel NOT IN ('email', 'call', 'meeting') OR channel IS NULL) AS other,
       count(DISTINCT contact_id) AS contacts
FROM rows WHERE rn = 1 GROUP BY p;
SELECT CASE {day_month} END AS p,
       count(DISTINCT rep_id) FILTER (WHERE selling_hours > 0) AS reps, sum(selling_hours) AS hours
FROM read_parquet('{directory}/rep_capacity.parquet')
WHERE day >= DATE '{months[-1].first_day}' AND day < DATE '{months[0].day_after}' GROUP BY p;
"""


SIGNALS = ("login", "feature_used", "app_minutes", "email_open", "email_click", "content_download",
           "meeting_attended", "reply", "support_contact", "pricing_page_view", "intent_surge")  # fmt: skip
LOOKBACK_DAYS = 365


def score_sql(directory: Path, weeks: Sequence[Span]) -> str:
    """The score tree's numbers as of each of ``weeks``' ends (newest first), as one would write
    them by hand: the mean score, its composition per signal (each signal's share of every
    contact's capped score), the share of contacts per band, and the same bands for accounts."""
    as_of = ", ".join(f"({i}, epoch(TIMESTAMPTZ '{w.end}'))" for i, w in enumerate(weeks))
    sums = ", ".join(
        f"coalesce(sum(w.weight * {'coalesce(s.quantity, 1)' if name == 'app_minutes' else '1'}"
        " * pow(0.5, floor((a.t - epoch(s.occurred_at)) / 86400 / 14)))"
        f" FILTER (WHERE s.signal_type = '{name}'), 0) AS p_{name}"
        for name in SIGNALS
    )
    earliest = weeks[-1].end - timedelta(days=LOOKBACK_DAYS + 1)
    return f"""
WITH as_of AS (SELECT * FROM (VALUES {as_of}) t(idx, t)),
weights AS (SELECT * FROM (VALUES ('login', 5.0), ('feature_used', 3.0), ('app_minutes', 0.05),
    ('email_open', 1.0), ('email_click', 2.0), ('content_download', 3.0),
    ('meeting_attended', 10.0), ('reply', 4.0), ('support_contact', 2.0),
    ('pricing_page_view', 4.0), ('intent_surge', 6.0)) w(signal_type, weight)),
points AS (
  SELECT a.idx, s.contact_id, max(s.account_id) AS account_id, {sums}
  FROM read_parquet('{directory}/signals.parquet') s JOIN weights w USING (signal_type)
  JOIN as_of a ON epoch(s.occurred_at) <= a.t AND epoch(s.occurred_at) >= a.t - {LOOKBACK_DAYS} * 86400
  WHERE s.occurred_at >= TIMESTAMPTZ '{earliest}' AND s.occurred_at <= TIMESTAMPTZ '{weeks[0].end}'
    AND s.contact_id IS NOT NULL
  GROUP BY a.idx, s.contact_id
),
totals AS (SELECT *, {" + ".join(f"p_{name}" for name in SIGNALS)} AS pts FROM points),
scored AS (SELECT *, least(pts, 100.0) AS score, CASE WHEN pts > 0 THEN least(pts, 100.0) / pts ELSE 0 END AS scale
           FROM totals),
bands AS (SELECT *, CASE WHEN score >= 75 THEN 'Champion' WHEN score >= 50 THEN 'Engaged'
                         WHEN score >= 25 THEN 'At risk' ELSE 'Dormant' END AS band FROM scored)
SELECT idx, count(*), avg(score), {", ".join(f"avg(p_{name} * scale)" for name in SIGNALS)},
       avg((band = 'Champion')::INT), avg((band = 'Engaged')::INT),
       avg((band = 'At risk')::INT), avg((band = 'Dormant')::INT),
       (SELECT count(*) FROM (SELECT idx i, account_id, avg(score) FROM scored WHERE account_id IS NOT NULL
                              GROUP BY ALL) x WHERE x.i = bands.idx)
FROM bands GROUP BY idx;
"""


HAND = textwrap.dedent(
    """
    import time
    import duckdb
    ready = time.perf_counter()
    db = duckdb.connect()
    db.execute("SET TimeZone = 'UTC'")
    for statement in {sql!r}.split(";"):
        if statement.strip():
            db.execute(statement).fetchall()
    """
)


def measure(code: str) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", MEASURE, code], cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"benchmark step failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stderr.strip().splitlines()[-1])  # type: ignore[no-any-return]


def prepare(scale: int, base: Path, contacts: int | None = None) -> Path:
    """The sample at ``scale`` activities as Parquet, and a DuckDB warehouse of views over it.
    Contacts: a tenth of the activities unless given (None in ``contacts`` is that default)."""
    contacts = contacts if contacts is not None else scale // 10
    directory = base / (f"{scale}" if contacts == scale // 10 else f"{scale}-{contacts}")
    if not (directory / "signals.parquet").exists() or not (directory / "reps.parquet").exists():
        code = (
            "from pathlib import Path\nfrom kpitree.sample import SampleSpec, write_sample\n"
            f"write_sample(SampleSpec(activities={scale}, contact_count={contacts}), "
            f"parquet_dir=Path({str(directory)!r}))"
        )
        generated = measure(code)
        print(f"generated {scale:,} activities in {generated['wall']:.1f} s", flush=True)
    warehouse = directory / "warehouse.duckdb"
    views = "; ".join(
        f"CREATE OR REPLACE VIEW {t} AS SELECT * FROM read_parquet('{directory / t}.parquet')"
        for t in ("accounts", "reps", "activities", "rep_capacity", "signals")
    )
    measure(f"import duckdb\nduckdb.connect({str(warehouse)!r}).execute({views!r})")
    return directory


def median_run(code: str, repeat: int) -> dict[str, float]:
    """The run with the median wall time: this machine's timings vary by a fifth from run to run."""
    runs = sorted((measure(code) for _ in range(repeat)), key=lambda r: r["wall"])
    return runs[len(runs) // 2]


def run(scale: int, base: Path, repeat: int) -> list[dict[str, object]]:
    directory = prepare(scale, base)
    url = f"duckdb:///{directory / 'warehouse.duckdb'}"
    common = ["--warehouse", url, "--no-save", "--format", "json"]
    months = activity_sql(directory, spans("activity_volume_per_contact", "2026-10", 2))
    weeks = score_sql(directory, spans("contact_engagement_score", "2026-W43", 2))
    tasks = [
        ("activity tree, 2 months", ["compute", "activity_volume_per_contact", "--period", "2026-10", *common], months),
        ("score tree, 2 weeks", ["compute", "contact_engagement_score", "--period", "2026-W43", *common], weeks),
    ]  # fmt: skip
    results = []
    for name, args, sql in tasks:
        ours = median_run(KPITREE.format(args=args), repeat)
        hand = median_run(HAND.format(sql=sql), repeat)
        results.append({"scale": scale, "task": name, "kpitree": ours, "hand": hand})
        print(
            f"{scale:>11,} {name:<24} kpitree {ours['wall']:6.2f} s {ours['peak_mib']:5.0f} MiB | "
            f"hand-written {hand['wall']:6.2f} s {hand['peak_mib']:5.0f} MiB | ratio {ours['wall'] / hand['wall']:.2f}"
            f" | after imports {ours['work']:5.2f} s vs {hand['work']:5.2f} s, ratio {ours['work'] / hand['work']:.2f}",
            flush=True,
        )
    return results


def bench_options(doc: str | None, scales: str, repeat: int) -> argparse.Namespace:
    """The options the benches share: ``--scales`` (a list of ints), ``--dir`` and ``--repeat``."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default=scales, help="comma-separated activity counts")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/kpitree-bench"))
    parser.add_argument("--repeat", type=int, default=repeat, help="runs per measurement; the median is shown")
    options = parser.parse_args()
    options.scales = [int(s) for s in options.scales.split(",")]
    return options


def main() -> None:
    options = bench_options(__doc__, "1000000,10000000", 5)
    scales: list[int] = options.scales
    results = [r for scale in scales for r in run(scale, options.dir, options.repeat)]
    if len(scales) > 1:
        for task in dict.fromkeys(str(r["task"]) for r in results):
            times = [r["kpitree"]["wall"] for r in results if r["task"] == task]  # type: ignore[index]
            print(f"{task}: {scales[-1] / scales[0]:.0f}x the rows took {times[-1] / times[0]:.1f}x the time")


if __name__ == "__main__":
    main()
