"""The warehouses the compute tests run on: DuckDB and SQLite files, a real PostgreSQL server and,
for the tests marked ``spark``, a real Spark SQL Thrift server.

PostgreSQL comes from ``$KPITREE_TEST_POSTGRES`` and Spark from ``$KPITREE_TEST_SPARK``
(``scripts/test`` starts loopback servers and sets both). Without one its cases are skipped on a
laptop and fail under CI, so a CI run can never pass without having talked to the server.
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlalchemy as sa

from kpitree.ingest import land_table
from kpitree.warehouse import Warehouse, open_warehouse

ENGINES = ("duckdb", "sqlite", "postgresql")
# The engines of the cross-check and seed tests: the three above and Spark SQL.
WITH_SPARK = (*ENGINES, pytest.param("spark", marks=pytest.mark.spark))
POSTGRES_ENV = "KPITREE_TEST_POSTGRES"
SPARK_ENV = "KPITREE_TEST_SPARK"


def _server_url(variable: str, what: str, script: str) -> sa.URL:
    url = os.environ.get(variable)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"${variable} is not set: CI must run the tests against a real {what} server")
        pytest.skip(f"${variable} not set (run 'eval \"$(bash scripts/{script} start)\"')")
    return sa.make_url(url)


def postgres_server_url() -> sa.URL:
    return _server_url(POSTGRES_ENV, "PostgreSQL", "postgres")


def spark_server_url() -> sa.URL:
    return _server_url(SPARK_ENV, "Spark SQL", "spark")


@contextmanager
def _fresh_database(server: sa.URL, create: str, drop: str, **options: Any) -> Iterator[str]:
    """A new database on a test server (``create`` and ``drop`` format its name in), dropped afterwards."""
    name = f"kt_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, **options)
    with admin.connect() as connection:
        connection.exec_driver_sql(create.format(name))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(drop.format(name))
        admin.dispose()


def fresh_postgres_database() -> AbstractContextManager[str]:
    """A new, empty database on the PostgreSQL test server, dropped afterwards."""
    return _fresh_database(
        postgres_server_url(),
        'CREATE DATABASE "{}"',
        'DROP DATABASE IF EXISTS "{}" WITH (FORCE)',
        isolation_level="AUTOCOMMIT",
    )


SPARK_CREATE, SPARK_DROP = "CREATE DATABASE {}", "DROP DATABASE IF EXISTS {} CASCADE"


def fresh_spark_database() -> AbstractContextManager[str]:
    """A new, empty database (schema) on the Spark test server, dropped with its tables afterwards."""
    return _fresh_database(spark_server_url(), SPARK_CREATE, SPARK_DROP)


def _on_server(server: sa.URL, statement: str) -> None:
    engine = sa.create_engine(server)
    with engine.connect() as connection:
        connection.exec_driver_sql(statement)
    engine.dispose()


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def shared_spark_database(ledger: Path, fill: Callable[[str], None]) -> Iterator[str]:
    """One Spark database for every pytest worker of a run that asks for it with this ``ledger``
    (a file in a folder the workers share), filled once by ``fill(url)``.

    Loading the sample into Spark costs seconds of its JVMs' CPU, which two cores share with every
    other test: each worker filling its own copy cost more than the tests reading it. The ledger
    counts the workers using the database under a file lock; the last to leave drops it, and a
    worker coming after that fills a new one. The tests that read it add tables of their own
    names at most, never change the sample's.
    """
    lock = ledger.with_suffix(".lock")
    with _locked(lock):
        entry: dict[str, Any] = {"url": None, "users": 0}
        if ledger.exists():
            entry = json.loads(ledger.read_text(encoding="utf-8"))
        if entry["url"] is None:
            admin = spark_server_url()
            name = f"kt_shared_{uuid.uuid4().hex[:12]}"
            _on_server(admin, SPARK_CREATE.format(name))
            url = admin.set(database=name).render_as_string(hide_password=False)
            try:
                fill(url)
            except BaseException:
                _drop_spark_database(url)
                raise
            entry["url"] = url
        entry["users"] += 1
        ledger.write_text(json.dumps(entry), encoding="utf-8")
    try:
        yield str(entry["url"])
    finally:
        with _locked(lock):
            entry = json.loads(ledger.read_text(encoding="utf-8"))
            entry["users"] -= 1
            if entry["users"] == 0:
                _drop_spark_database(entry["url"])
                entry["url"] = None
            ledger.write_text(json.dumps(entry), encoding="utf-8")


def _drop_spark_database(url: str) -> None:
    parsed = sa.make_url(url)
    _on_server(parsed.set(database="default"), SPARK_DROP.format(parsed.database))


@contextmanager
def engine_url(engine: str, directory: Path) -> Iterator[str]:
    if engine == "duckdb":
        yield f"duckdb:///{directory / 'warehouse.duckdb'}"
    elif engine == "sqlite":
        yield f"sqlite:///{directory / 'warehouse.db'}"
    elif engine == "spark":
        with fresh_spark_database() as url:
            yield url
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
