"""The warehouses the compute tests run on: DuckDB and SQLite files, and a real PostgreSQL server.

PostgreSQL comes from ``$KPITREE_TEST_POSTGRES`` (``scripts/test`` starts a loopback server and
sets it). Without it the PostgreSQL cases are skipped on a laptop and fail under CI, so a CI run
can never pass without having talked to the server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from kpitree.ingest import land_table
from kpitree.warehouse import Warehouse, open_warehouse

ENGINES = ("duckdb", "sqlite", "postgresql")
POSTGRES_ENV = "KPITREE_TEST_POSTGRES"


def postgres_server_url() -> sa.URL:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"${POSTGRES_ENV} is not set: CI must run the tests against a real PostgreSQL server")
        pytest.skip(f"${POSTGRES_ENV} not set (run 'eval \"$(bash scripts/postgres start)\"')")
    return sa.make_url(url)


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty database on the test server, dropped afterwards."""
    server = postgres_server_url()
    name = f"kt_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@contextmanager
def engine_url(engine: str, directory: Path) -> Iterator[str]:
    if engine == "duckdb":
        yield f"duckdb:///{directory / 'warehouse.duckdb'}"
    elif engine == "sqlite":
        yield f"sqlite:///{directory / 'warehouse.db'}"
    else:
        with fresh_postgres_database() as url:
            yield url


def land(staging: duckdb.DuckDBPyConnection, warehouse: Warehouse, *tables: str) -> None:
    for table in tables:
        land_table(staging, table, warehouse, table)


@contextmanager
def warehouse_with(
    engine: str, directory: Path, staging: duckdb.DuckDBPyConnection, *tables: str
) -> Iterator[Warehouse]:
    """A warehouse on ``engine`` holding ``tables`` copied from the DuckDB ``staging`` connection."""
    with engine_url(engine, directory) as url:
        warehouse = open_warehouse(url, writable=True)
        land(staging, warehouse, *tables)
        try:
            yield warehouse
        finally:
            warehouse.dispose()


@contextmanager
def state_url(kind: str, directory: Path) -> Iterator[str]:
    """A state database URL: a SQLite file in ``directory``, or a fresh PostgreSQL database."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'state.db'}"
    else:
        with fresh_postgres_database() as url:
            yield url
