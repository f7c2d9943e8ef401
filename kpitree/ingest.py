"""Writing tables into a warehouse: ``kpitree load`` and ``kpitree sample-data`` both stage data in
DuckDB (which reads CSV and Parquet, and checks types) and then land it in the warehouse.

A DuckDB warehouse receives the table in one ``INSERT ... SELECT`` inside DuckDB (the file is
attached). Spark SQL receives a Parquet file that DuckDB writes into the stage directory
(``$KPITREE_STAGE_DIR``, by default ``.kpitree/stage``: on a cluster, a directory the cluster reads
too), which Spark copies into a managed table with one ``CREATE TABLE ... USING parquet AS SELECT``;
row-by-row INSERTs through the Thrift server took minutes for thousands of rows. Any other
warehouse receives batches of rows through SQLAlchemy. Timestamps travel as UTC, which is how every
warehouse session of kpitree reads them.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import duckdb
import sqlalchemy as sa

from kpitree.errors import WarehouseError
from kpitree.sql_text import quote_identifier, quote_literal
from kpitree.warehouse import Warehouse, duckdb_lock_error

BATCH_ROWS = 20_000
STAGE_ENV = "KPITREE_STAGE_DIR"
DEFAULT_STAGE_DIR = Path(".kpitree") / "stage"

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
    if not warehouse.dialect.staging_attaches:
        return None
    return warehouse.dialect.database_file(sa.make_url(warehouse.url))


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
        return _count(staging, relation)
    if warehouse.dialect.lands_parquet:
        return _land_parquet(staging, relation, columns, warehouse, table)
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


def stage_directory() -> Path:
    """Where ``kpitree load`` writes the Parquet files a warehouse that lands Parquet reads."""
    return Path(os.environ.get(STAGE_ENV) or DEFAULT_STAGE_DIR).resolve()


def _land_parquet(
    staging: duckdb.DuckDBPyConnection, relation: str, columns: list[Any], warehouse: Warehouse, table: str
) -> int:
    """Replace ``table`` with the rows of ``relation``, written as Parquet and copied by the warehouse.
    The new table is built under another name first, so a failed copy leaves the old one in place."""
    folder = stage_directory()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{table}-{uuid.uuid4().hex[:12]}.parquet"
    # Naive timestamps are UTC in kpitree: written as instants, Spark reads them as its TIMESTAMP.
    select_list = ", ".join(
        f"CAST({quote_identifier(name)} AS TIMESTAMPTZ) AS {quote_identifier(name)}"
        if str(kind).upper() == "TIMESTAMP"
        else quote_identifier(name)
        for name, kind, *_ in columns
    )
    staging.execute(f"COPY (SELECT {select_list} FROM {relation}) TO {quote_literal(str(path))} (FORMAT parquet)")
    quote = warehouse.engine.dialect.identifier_preparer.quote
    building = quote(f"{table}__kpitree_load")
    source = "parquet.`" + path.as_uri().replace("`", "``") + "`"
    try:
        with warehouse.connect() as connection:
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {building}")
            connection.exec_driver_sql(f"CREATE TABLE {building} USING parquet AS SELECT * FROM {source}")
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {quote(table)}")
            connection.exec_driver_sql(f"ALTER TABLE {building} RENAME TO {quote(table)}")
    except sa.exc.DBAPIError as exc:
        raise WarehouseError(
            f"the warehouse {warehouse.display_url} refused table {table!r}: {warehouse.engine_message(exc)}",
            hint=f"the warehouse reads the staged Parquet file from {folder}: on a cluster, set ${STAGE_ENV} "
            "to a directory it reads too",
        ) from None
    finally:
        path.unlink(missing_ok=True)
    return _count(staging, relation)


def _count(staging: duckdb.DuckDBPyConnection, relation: str) -> int:
    return int(staging.execute(f"SELECT count(*) FROM {relation}").fetchone()[0])  # type: ignore[index]


def _sa_type(duck_type: str) -> Any:
    return _TYPES.get(duck_type.upper(), sa.Text())


def _as_utc(name: str, kind: str) -> str:
    # Fetching TIMESTAMPTZ values into Python would need pytz; naive UTC timestamps travel as is.
    quoted = quote_identifier(name)
    if kind.upper() == "TIMESTAMP WITH TIME ZONE":
        return f"timezone('UTC', {quoted}) AS {quoted}"
    return quoted
