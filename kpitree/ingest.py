"""Writing tables into a warehouse: ``kpitree load`` and ``kpitree sample-data`` both stage data in
DuckDB (which reads CSV and Parquet, and checks types) and then land it in the warehouse.

A DuckDB warehouse receives the table in one ``INSERT ... SELECT`` inside DuckDB (the file is
attached); any other warehouse receives batches of rows through SQLAlchemy. Timestamps travel as
UTC, which is how every warehouse session of kpitree reads them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import sqlalchemy as sa

from kpitree.sql_text import quote_identifier, quote_literal
from kpitree.warehouse import Warehouse, duckdb_lock_error

BATCH_ROWS = 20_000

_TYPES: dict[str, Any] = {
    "VARCHAR": sa.Text(),
    "BOOLEAN": sa.Boolean(),
    "DOUBLE": sa.Float(),
    "FLOAT": sa.Float(),
    "BIGINT": sa.BigInteger(),
    "INTEGER": sa.Integer(),
    "DATE": sa.Date(),
    "TIMESTAMP": sa.DateTime(),
    "TIMESTAMP WITH TIME ZONE": sa.DateTime(timezone=True),
}


def duckdb_file(warehouse: Warehouse) -> Path | None:
    """The file of a DuckDB warehouse (None for other engines or an in-memory DuckDB)."""
    if not warehouse.is_duckdb:
        return None
    database = sa.make_url(warehouse.url).database
    return Path(database) if database and database != ":memory:" else None


def land_table(staging: duckdb.DuckDBPyConnection, relation: str, warehouse: Warehouse, table: str) -> int:
    """Replace ``table`` in the warehouse with the rows of ``relation`` (a table or view in ``staging``)."""
    columns = staging.execute(f"DESCRIBE {relation}").fetchall()
    target = duckdb_file(warehouse)
    if target is not None:
        warehouse.dispose()  # DuckDB allows one writer: let go of the engine's connection first
        try:
            staging.execute(f"ATTACH {quote_literal(str(target))} AS target")
        except duckdb.IOException as exc:
            locked = duckdb_lock_error(str(exc), warehouse.display_url)
            if locked is None:
                raise
            raise locked from None
        try:
            staging.execute(f"CREATE OR REPLACE TABLE target.{quote_identifier(table)} AS SELECT * FROM {relation}")
        finally:
            staging.execute("DETACH target")
        return int(staging.execute(f"SELECT count(*) FROM {relation}").fetchone()[0])  # type: ignore[index]
    metadata = sa.MetaData()
    sa_table = sa.Table(table, metadata, *(sa.Column(name, _sa_type(kind)) for name, kind, *_ in columns))
    select_list = ", ".join(_as_utc(name, kind) for name, kind, *_ in columns)
    cursor = staging.execute(f"SELECT {select_list} FROM {relation}")
    names = [name for name, *_ in columns]
    landed = 0
    with warehouse.begin() as connection:
        sa_table.drop(connection, checkfirst=True)
        sa_table.create(connection)
        while batch := cursor.fetchmany(BATCH_ROWS):
            connection.execute(sa_table.insert(), [dict(zip(names, row, strict=True)) for row in batch])
            landed += len(batch)
    return landed


def _sa_type(duck_type: str) -> Any:
    return _TYPES.get(duck_type.upper(), sa.Text())


def _as_utc(name: str, kind: str) -> str:
    # Fetching TIMESTAMPTZ values into Python would need pytz; naive UTC timestamps travel as is.
    quoted = quote_identifier(name)
    if kind.upper() == "TIMESTAMP WITH TIME ZONE":
        return f"timezone('UTC', {quoted}) AS {quoted}"
    return quoted
