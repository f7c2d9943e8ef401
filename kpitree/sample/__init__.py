"""Sample data: ``kpitree sample-data`` and the warehouse ``kpitree demo`` computes on."""

from __future__ import annotations

from pathlib import Path

import duckdb

from kpitree.ingest import land_table
from kpitree.progress import SILENT, Progress
from kpitree.sample.generate import TABLES, SampleSpec, generate
from kpitree.sql_text import quote_literal
from kpitree.warehouse import Warehouse

__all__ = ["SampleSpec", "write_sample"]


def write_sample(
    spec: SampleSpec,
    warehouse: Warehouse | None = None,
    parquet_dir: Path | None = None,
    progress: Progress = SILENT,
) -> dict[str, int]:
    """Generate the sample tables and land them in ``warehouse`` and/or as Parquet files."""
    staging = duckdb.connect()
    try:
        counts = generate(staging, spec, progress)
        if parquet_dir is not None:
            parquet_dir.mkdir(parents=True, exist_ok=True)
            progress.stage("writing Parquet files", total=len(TABLES))
            for table in TABLES:
                path = quote_literal(str(parquet_dir / f"{table}.parquet"))
                staging.execute(f"COPY {table} TO {path} (FORMAT parquet)")
                progress.advance()
        if warehouse is not None:
            progress.stage("loading the warehouse", total=len(TABLES))
            for table in TABLES:
                land_table(staging, table, warehouse, table)
                progress.advance()
    finally:
        staging.close()
    return counts
