"""Spark SQL benchmark: ``kpitree compute`` of both shipped trees on Spark beside DuckDB, same data.

The sample at each scale (activities; contacts a tenth, signals twice as many) is generated as
Parquet (as bench/compute_bench.py does); DuckDB reads it through views, and Spark gets it the
way ``kpitree load`` lands a table there (DuckDB writes Parquet, Spark copies it into a managed
table), timed once. Then each tree's period against the one before is computed on both, each
run in a fresh process. Wall time and the kpitree process's peak RSS are printed; Spark's own
memory is its JVMs' (scripts/spark: 1 GiB driver, 1 GiB executor, master and worker).

Needs a Spark Thrift server: ``eval "$(bash scripts/spark start)"``. Run:
python bench/spark_bench.py [--scales 1000000] [--dir /tmp/kpitree-bench] [--repeat 3]
[--spark hive://127.0.0.1:10000/default?auth=NOSASL]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compute_bench import KPITREE, measure, median_run, prepare

TREES = (("activity_volume_per_contact", "2026-10"), ("contact_engagement_score", "2026-W43"))
TABLES = ("accounts", "activities", "rep_capacity", "signals")


LAND = """
import time
import duckdb
from kpitree.ingest import land_table
from kpitree.warehouse import open_warehouse
staging = duckdb.connect()
staging.execute("SET TimeZone = 'UTC'")
warehouse = open_warehouse({url!r})
for table in {tables!r}:
    staging.execute(f"CREATE VIEW {{table}} AS SELECT * FROM read_parquet('{directory}/{{table}}.parquet')")
    land_table(staging, table, warehouse, table)
warehouse.dispose()
"""


def spark_database(server: str, scale: int, directory: Path) -> str:
    """A Spark database holding the sample's tables at ``scale``, landed as ``kpitree load`` does
    (in a child process, like every measured step: Linux keeps a parent's peak RSS in its children)."""
    import sqlalchemy as sa

    name = f"kpitree_bench_{scale}"
    url = sa.make_url(server).set(database=name).render_as_string(hide_password=False)
    admin = sa.create_engine(server)
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE IF NOT EXISTS {name}")
        present = {row[1] for row in connection.exec_driver_sql(f"SHOW TABLES IN {name}")}
    admin.dispose()
    missing = [t for t in TABLES if t not in present]
    if missing:
        landed = measure(LAND.format(url=url, tables=missing, directory=directory))
        print(f"landed {', '.join(missing)} in Spark in {landed['wall']:.1f} s", flush=True)
    return url


def bench(scale: int, base: Path, server: str, repeat: int) -> None:
    directory = prepare(scale, base)
    engines = {
        "duckdb": f"duckdb:///{directory / 'warehouse.duckdb'}",
        "spark": spark_database(server, scale, directory),
    }
    for tree, period in TREES:
        timings = {}
        for engine, url in engines.items():
            args = ["compute", tree, "--period", period, "--compare", "previous", "--no-save", "--format", "json"]
            timings[engine] = median_run(KPITREE.format(args=[*args, "--warehouse", url]), repeat)
        duck, spark = timings["duckdb"], timings["spark"]
        print(
            f"{scale:>11,} {tree:<28} DuckDB {duck['wall']:6.2f} s {duck['peak_mib']:5.0f} MiB | "
            f"Spark {spark['wall']:6.2f} s {spark['peak_mib']:5.0f} MiB | ratio {spark['wall'] / duck['wall']:.2f}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="1000000")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/kpitree-bench"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--spark", default=os.environ.get("KPITREE_TEST_SPARK"))
    options = parser.parse_args()
    if not options.spark:
        parser.error('give --spark URL or set $KPITREE_TEST_SPARK (eval "$(bash scripts/spark start)")')
    print(f"{'activities':>11} {'tree':<28} kpitree compute --compare previous, median of {options.repeat}")
    for scale in (int(s) for s in options.scales.split(",")):
        bench(scale, options.dir, options.spark, options.repeat)


if __name__ == "__main__":
    main()
