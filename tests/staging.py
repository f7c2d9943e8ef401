"""Contract tables in an in-memory DuckDB, filled by tests with plain SQL before landing them in a
warehouse (see tests/engines.py)."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

DDL = {
    "accounts": "account_id VARCHAR, name VARCHAR, segment VARCHAR, motion VARCHAR, csm_email VARCHAR",
    "activities": "activity_id VARCHAR, contact_id VARCHAR, account_id VARCHAR, rep_id VARCHAR, channel VARCHAR, "
    "kind VARCHAR, is_automated BOOLEAN, source_system VARCHAR, external_id VARCHAR, occurred_at TIMESTAMPTZ",
    "rep_capacity": "rep_id VARCHAR, day DATE, selling_hours DOUBLE, admin_hours DOUBLE",
    "signals": "signal_id VARCHAR, contact_id VARCHAR, account_id VARCHAR, signal_type VARCHAR, "
    "occurred_at TIMESTAMPTZ, quantity DOUBLE",
}


def staging(*tables: str) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    for table in tables:
        connection.execute(f"CREATE TABLE {table} ({DDL[table]})")
    return connection


def insert_rows(connection: duckdb.DuckDBPyConnection, table: str, rows: Sequence[Sequence[object]]) -> None:
    """``rows`` into ``table`` in one statement: DuckDB's executemany runs one statement per row,
    which took 0.65 s of CPU for 1,500 rows against 0.08 s for one multi-row VALUES."""
    if not rows:
        return
    row = "(" + ", ".join("?" * len(rows[0])) + ")"
    connection.execute(f"INSERT INTO {table} VALUES " + ", ".join([row] * len(rows)), [v for r in rows for v in r])
