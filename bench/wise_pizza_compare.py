"""kpitree drill beside wise-pizza's ``explain_changes_in_totals`` on the same sample data.

wise-pizza (github.com/transferwise/wise-pizza) pulls in streamlit, plotly, kaleido and IPython,
so it is not a kpitree dependency: run this with a Python that has it, and kpitree's CLI on PATH
(or --kpitree):

    python3 -m venv /tmp/wp-venv && /tmp/wp-venv/bin/pip install wise-pizza duckdb
    /tmp/wp-venv/bin/python bench/wise_pizza_compare.py --kpitree .venv/bin/kpitree

It generates the shipped sample (default size), then for two nodes of the activity tree it asks
both tools (wise-pizza with its lasso and with its tree solver) which segments of ``segment,
motion, team, region`` (depth 2) explain the change from 2026-09 to 2026-10, and prints each
tool's segments, their contributions and whether they add up to the change. The cells fed to
wise-pizza are read from the same warehouse with plain SQL (one row per combination of the four
columns and month, touches deduplicated as the tree does). Results are in docs/attribution.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import duckdb

DIMS = ["segment", "motion", "team", "region"]
CELLS = """
WITH touches AS (
  SELECT *, row_number() OVER (PARTITION BY source_system, external_id ORDER BY occurred_at) AS keep
  FROM activities WHERE kind = 'touch' {channel}
)
SELECT a.segment, a.motion, r.team, r.region,
       count(*) FILTER (WHERE t.occurred_at < TIMESTAMPTZ '2026-10-01 00:00:00+01') AS before,
       count(*) FILTER (WHERE t.occurred_at >= TIMESTAMPTZ '2026-10-01 00:00:00+01') AS after
FROM touches t LEFT JOIN accounts a USING (account_id) LEFT JOIN reps r USING (rep_id)
WHERE t.keep = 1 AND t.occurred_at >= TIMESTAMPTZ '2026-09-01 00:00:00+01'
  AND t.occurred_at < TIMESTAMPTZ '2026-11-01 00:00:00+00'
GROUP BY ALL
"""
NODES = (("logged_touches", ""), ("call_touches", "AND channel = 'call'"))


def kpitree_drill(kpitree: str, url: str, node: str) -> dict[str, Any]:
    args = [kpitree, "drill", "activity_volume_per_contact", node, "--period", "2026-10", "--by", ",".join(DIMS)]
    out = subprocess.run([*args, "--warehouse", url, "--format", "json"], check=True, capture_output=True, text=True)
    return dict(json.loads(out.stdout))


def wise_pizza(path: str, channel: str, solver: str) -> tuple[list[dict[str, Any]], float]:
    import pandas as pd
    from wise_pizza import explain_changes_in_totals

    with duckdb.connect(path, read_only=True) as db:
        db.execute("SET TimeZone = 'UTC'")
        cells = db.execute(CELLS.format(channel=channel)).df()
    cells[DIMS] = cells[DIMS].fillna("(none)")
    before = cells[[*DIMS, "before"]].rename(columns={"before": "touches"})
    after = cells[[*DIMS, "after"]].rename(columns={"after": "touches"})
    before["size"], after["size"] = before["touches"].clip(lower=1), after["touches"].clip(lower=1)
    found = explain_changes_in_totals(
        pd.DataFrame(before), pd.DataFrame(after), dims=DIMS, total_name="touches", size_name="size",
        max_segments=5, max_depth=2, how="totals", solver=solver,
    )  # fmt: skip
    change = float(after["touches"].sum() - before["touches"].sum())
    return list(found.segments), change


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--kpitree", default="kpitree")
    parser.add_argument("--dir", type=Path, default=None)
    options = parser.parse_args()
    directory = options.dir or Path(tempfile.mkdtemp(prefix="kpitree-wp-"))
    path = str(directory / "sample.duckdb")
    url = f"duckdb:///{path}"
    subprocess.run([options.kpitree, "sample-data", "--warehouse", url], check=True, capture_output=True)
    for node, channel in NODES:
        ours = kpitree_drill(options.kpitree, url, node)
        print(f"\n== {node}: {ours['compare']} -> {ours['period']}, change {ours['delta']:+,.0f}")
        print("kpitree drill (non-overlapping; exact contributions):")
        for s in ours["segments"]:
            where = ", ".join(f"{k}={v}" for k, v in s["where"].items())
            print(f"  {where:<40} {s['contribution']:+10,.1f}  ({s['share']:.0%})")
        added = ours["explained"] + ours["residual"]
        print(f"  explained {ours['explained']:+,.1f} + rest {ours['residual']:+,.1f} = {added:+,.1f}")
        for solver in ("lasso", "tree"):
            segments, change = wise_pizza(path, channel, solver)
            print(f"wise-pizza explain_changes_in_totals ({solver}, max 5 segments, depth 2):")
            for s in segments:
                where = ", ".join(f"{k}={v}" for k, v in s["segment"].items())
                print(f"  {where:<40} {float(s['impact']):+10,.1f}  (naive segment change {float(s['total']):+,.1f})")
            fitted = sum(float(s["impact"]) for s in segments)
            print(f"  impacts add up to {fitted:+,.1f} of {change:+,.1f}")


if __name__ == "__main__":
    main()
