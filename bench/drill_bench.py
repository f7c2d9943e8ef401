"""Drill benchmark: ``kpitree drill`` over 4 dimensions at depth 2 beside the node's own computation.

For each scale (activities; contacts a tenth) the sample is generated as Parquet and a DuckDB
warehouse of views points at it (as bench/compute_bench.py does). Then, each in a fresh process so
that peak memory is its own:

* the node alone, hand-written: ``logged_touches`` for 2026-10 and 2026-09 (the source's filter,
  its deduplication, one count per period): what the node costs the warehouse;
* ``kpitree compute`` of the whole activity tree for the same two months (every node);
* the drill below written by hand (touches joined to accounts and reps, the same 11 grouping
  sets, both months counted in one pass): what cutting the node by segment costs the warehouse;
* ``kpitree drill activity_volume_per_contact logged_touches --by segment,motion,team,region
  --depth 2``: 11 grouping sets (the whole, 4 columns, 6 pairs) over the touches joined to
  accounts and reps, both months in one statement;
* the same drill of ``touches_per_selling_hour`` (a ratio over two sources: touches and selling
  hours, by team and region).

Prints wall time and peak RSS, and each row's ratio to the node's hand-written query, to kpitree
compute and to the hand-written drill. Run: python bench/drill_bench.py [--scales 1000000,10000000]
[--dir /tmp/kpitree-bench] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compute_bench import HAND, KPITREE, median_run, prepare

HAND_NODE = """
WITH rows AS (
  SELECT CASE WHEN occurred_at >= TIMESTAMPTZ '2026-10-01 00:00:00+01' THEN 0 ELSE 1 END AS p,
         row_number() OVER (PARTITION BY source_system, external_id ORDER BY occurred_at) AS rn
  FROM read_parquet('{dir}/activities.parquet')
  WHERE kind = 'touch'
    AND occurred_at >= TIMESTAMPTZ '2026-09-01 00:00:00+01' AND occurred_at < TIMESTAMPTZ '2026-11-01 00:00:00+00'
)
SELECT p, count(*) AS touches FROM rows WHERE rn = 1 GROUP BY p;
"""
# The drill written by hand: the node's touches joined to the columns it is cut by, both months
# counted per grouping set in one pass. What the drill statement should cost the warehouse.
HAND_DRILL = """
WITH touches AS (
  SELECT account_id, rep_id, occurred_at,
         row_number() OVER (PARTITION BY source_system, external_id ORDER BY occurred_at) AS rn
  FROM read_parquet('{dir}/activities.parquet')
  WHERE kind = 'touch'
    AND occurred_at >= TIMESTAMPTZ '2026-09-01 00:00:00+01' AND occurred_at < TIMESTAMPTZ '2026-11-01 00:00:00+00'
)
SELECT a.segment, a.motion, r.team, r.region,
       count(*) FILTER (WHERE t.occurred_at >= TIMESTAMPTZ '2026-10-01 00:00:00+01') AS current,
       count(*) FILTER (WHERE t.occurred_at < TIMESTAMPTZ '2026-10-01 00:00:00+01') AS compare
FROM touches t
LEFT JOIN read_parquet('{dir}/accounts.parquet') a USING (account_id)
LEFT JOIN read_parquet('{dir}/reps.parquet') r USING (rep_id)
WHERE t.rn = 1
GROUP BY GROUPING SETS ((), (segment), (motion), (team), (region), (segment, motion), (segment, team),
                        (segment, region), (motion, team), (motion, region), (team, region));
"""

DIMENSIONS = "segment,motion,team,region"


def bench(scale: int, base: Path, repeat: int) -> None:
    directory = prepare(scale, base)
    url = f"duckdb:///{directory / 'warehouse.duckdb'}"
    tree, period = "activity_volume_per_contact", "2026-10"
    node = median_run(HAND.format(sql=HAND_NODE.format(dir=directory)), repeat)
    compute = median_run(
        KPITREE.format(args=["compute", tree, "--period", period, "--warehouse", url, "--no-save", "--format", "json"]),
        repeat,
    )
    hand_drill = median_run(HAND.format(sql=HAND_DRILL.format(dir=directory)), repeat)
    rows = [
        ("logged_touches, hand-written", node),
        ("kpitree compute (whole tree)", compute),
        (f"drill logged_touches by {DIMENSIONS}, hand-written", hand_drill),
    ]
    for target, by in (("logged_touches", DIMENSIONS), ("touches_per_selling_hour", "team,region")):
        args = ["drill", tree, target, "--period", period, "--by", by, "--depth", "2", "--warehouse", url]
        rows.append((f"drill {target} by {by}", median_run(KPITREE.format(args=[*args, "--format", "json"]), repeat)))
    for label, result in rows:
        print(
            f"{scale:>11,} {label:<66} {result['wall']:6.2f} s {result['peak_mib']:6.0f} MiB | "
            f"x node {result['wall'] / node['wall']:5.2f} | x compute {result['wall'] / compute['wall']:5.2f} | "
            f"x hand drill {result['wall'] / hand_drill['wall']:5.2f}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scales", default="1000000,10000000")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/kpitree-bench"))
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    for scale in (int(s) for s in options.scales.split(",")):
        bench(scale, options.dir, options.repeat)


if __name__ == "__main__":
    main()
