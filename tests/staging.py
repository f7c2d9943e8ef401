"""Contract tables in an in-memory DuckDB, filled by tests with plain SQL before landing them in a
warehouse (see tests/engines.py)."""

from __future__ import annotations

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
