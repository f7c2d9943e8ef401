"""The warehouse: where the user's data lives, reached by a SQLAlchemy URL. kpitree only reads it
(``kpitree load`` and ``kpitree sample-data`` are the two commands that write to it, and open it
``writable``). Every other command opens a DuckDB file read-only, so any number of them can read it
at once; one that meets a writer's lock says which process holds it.

The embedded default is a DuckDB file, created on first use. SQLite, PostgreSQL and Spark SQL
(``hive://`` through its Thrift server) are tested; any SQLAlchemy dialect whose SQL fits should
work. What differs between engines is :mod:`kpitree.dialects`. Sessions run in UTC so that a
timestamp column without a time zone means UTC everywhere, and period bounds (local midnights,
converted to UTC) compare the same way on every engine.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import Select
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement, ColumnElement
from sqlalchemy.sql.expression import Executable

from kpitree.dialects import SqlDialect, dialect_for
from kpitree.errors import WarehouseError
from kpitree.sql_text import quote_identifier

WAREHOUSE_ENV = "KPITREE_WAREHOUSE"
# How long closing the warehouse's sessions may take on a server whose close may never be
# answered (SqlDialect.close_may_hang); a healthy Spark server answers in milliseconds.
CLOSE_SECONDS = 10.0
LOGGER = logging.getLogger(__name__)
DEFAULT_WAREHOUSE_FILE = Path(".kpitree") / "warehouse.duckdb"

# Drivers a user may need to install, by dialect: named in the error when the import fails.
_DRIVER_HINTS = {
    "postgresql": "pip install 'kpitree[postgres]' (psycopg 3), and use postgresql+psycopg://user@host/db",
    "hive": "pip install 'kpitree[spark]' (PyHive), and use hive://host:10000/database for Spark's Thrift server",
}


def warehouse_url(option: str | None = None) -> str:
    """The URL given on the command line, else ``$KPITREE_WAREHOUSE``, else the default DuckDB file."""
    return option or os.environ.get(WAREHOUSE_ENV) or f"duckdb:///{DEFAULT_WAREHOUSE_FILE}"


@dataclass
class Warehouse:
    """An open warehouse: an engine plus what kpitree learned about the tables it read."""

    url: str
    engine: Engine
    _columns: dict[str, dict[str, str]] = field(default_factory=dict)
    _text_times: dict[str, tuple[str | None, bool]] = field(default_factory=dict)

    @property
    def dialect(self) -> SqlDialect:
        """What this engine writes its own way (see :mod:`kpitree.dialects`)."""
        return dialect_for(self.engine.dialect.name)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        connection = self._open()
        with connection:
            yield connection

    def engine_message(self, error: sa.exc.DBAPIError) -> str:
        """The engine's own message in an error it raised, in one line."""
        return self.dialect.error_message(error.orig or error)

    @contextmanager
    def reading(self, what: str, *, source: str | None = None, node: str | None = None) -> Iterator[Connection]:
        """A connection for reading, on which an error the engine raises (a type it cannot compare,
        a value it cannot convert, a column gone since the plan) is a :class:`WarehouseError` saying
        ``what`` was being computed and the engine's own message: the user's data or tree, not a bug."""
        with self.connect() as connection:
            try:
                yield connection
            except sa.exc.DBAPIError as exc:
                raise WarehouseError(
                    f"{what}: the warehouse {self.display_url} refused it: {self.engine_message(exc)}",
                    hint="check the source's columns and types against the tree ('kpitree validate --warehouse URL' "
                    "checks them all), or see --show-sql",
                    source=source,
                    node=node,
                ) from None

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection in a transaction, committed when the block ends (for load and sample-data)."""
        connection = self._open()
        with connection, connection.begin():
            yield connection

    def _open(self) -> Connection:
        try:
            return self.engine.connect()
        except sa.exc.SQLAlchemyError as exc:
            locked = duckdb_lock_error(str(exc), self.display_url)
            if locked is not None:
                raise locked from None
            raise WarehouseError(
                f"cannot connect to the warehouse {self.display_url}: {first_line(exc)}",
                hint=f"check --warehouse or ${WAREHOUSE_ENV}",
            ) from None

    @property
    def display_url(self) -> str:
        return sa.make_url(self.url).render_as_string(hide_password=True)

    def columns(self, table: str) -> dict[str, str]:
        """Column name -> declared type (upper case, '' when unknown) of a table or view
        (``schema.table`` allowed); raises when the table is missing."""
        if table not in self._columns:
            self._columns[table] = self._read_columns(table)
        return self._columns[table]

    def text_times(self, column: ColumnElement[Any], table: str) -> tuple[str | None, bool]:
        """SQLite only, for a time column kept as text: a non-empty value SQLite's datetime()
        cannot read (None when every value reads), and whether every value is a date alone
        (YYYY-MM-DD, to be compared by day); asked once per table and column."""
        key = f"{table}.{column.key}"
        if key not in self._text_times:
            written = (column.is_not(None), column != "")
            unreadable = sa.select(column).where(*written, sa.func.datetime(column).is_(None)).limit(1)
            with_time = sa.select(column).where(*written, sa.func.length(column) > len("2026-10-01")).limit(1)
            with self.reading(f"checking the times in {key}") as connection:
                found = connection.execute(unreadable).scalar()
                timed = connection.execute(with_time).scalar()
            self._text_times[key] = (None if found is None else str(found), timed is None)
        return self._text_times[key]

    def _read_columns(self, table: str) -> dict[str, str]:
        schema, _, name = table.rpartition(".")
        relation = sa.table(name, schema=schema or None)
        probe = sa.select(sa.text("*")).select_from(relation).limit(0)
        with self.connect() as connection:
            try:
                names = list(connection.execute(probe).keys())
            except sa.exc.DBAPIError:
                names = []
            if not names:
                raise WarehouseError(
                    f"the warehouse {self.display_url} has no table {table!r}",
                    hint="load it with 'kpitree load FILE --table NAME', or map the source to another table",
                )
            declared = self.dialect.declared_types(connection, schema, name)
        return {column: declared.get(column, "") for column in names}

    def dispose(self) -> None:
        """Close the engine's connections. Where the server may never answer a session's close
        (:attr:`SqlDialect.close_may_hang`), the close runs in a thread of its own for
        ``CLOSE_SECONDS``; past that it is left to that thread, with a warning, so that the
        command ends (its results are written by then)."""
        if not self.dialect.close_may_hang:
            self.engine.dispose()
            return
        closing = threading.Thread(target=self.engine.dispose, name="kpitree-warehouse-close", daemon=True)
        closing.start()
        closing.join(CLOSE_SECONDS)
        if closing.is_alive():
            LOGGER.warning(
                "the warehouse %s did not answer closing its session within %g s; kpitree stopped "
                "waiting (a Spark 4 Thrift server needs hive-llap-common: see docs/scaling.md)",
                self.display_url,
                CLOSE_SECONDS,
            )


def open_warehouse(url: str | None = None, *, writable: bool = False) -> Warehouse:
    """Open the warehouse at ``url`` (see :func:`warehouse_url`). A DuckDB file is opened read-only
    unless ``writable`` (which creates a missing file, as SQLite always does)."""
    url = warehouse_url(url)
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise WarehouseError(
            f"{url!r} is not a SQLAlchemy URL",
            hint="e.g. duckdb:///warehouse.duckdb, sqlite:///warehouse.db, postgresql+psycopg://user@host/db "
            "or hive://host:10000/default (Spark SQL)",
        ) from None
    backend = parsed.get_backend_name()
    dialect = dialect_for(backend)
    connect_args: dict[str, Any] = dialect.connect_args()
    database_file = dialect.database_file(parsed)
    if database_file is not None and dialect.opens_files_read_only and not writable:
        if not database_file.is_file():
            raise WarehouseError(
                f"there is no {dialect.display_name} warehouse at {database_file}",
                hint="fill one with 'kpitree sample-data' or 'kpitree load FILE --table NAME', or check --warehouse",
            )
        connect_args["read_only"] = True
    elif database_file is not None:
        database_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = sa.create_engine(parsed, connect_args=connect_args)
    except (ImportError, sa.exc.NoSuchModuleError) as exc:
        raise WarehouseError(
            f"no driver for {backend!r}: {first_line(exc)}",
            hint=_DRIVER_HINTS.get(backend, "install the SQLAlchemy dialect for your warehouse"),
        ) from None
    dialect.prepare_engine(engine)
    return Warehouse(url, engine)


@contextmanager
def temporary_table(connection: Connection, select: Select[Any], prefix: str) -> Iterator[sa.TableClause | None]:
    """A temporary table on ``connection`` filled from ``select``, to read several times what is
    costly to compute; None where the engine has none or refuses one (a read-only PostgreSQL
    transaction, a hot standby): the caller then runs ``select`` in each statement instead.

    Dropped when the block ends; if a statement failed, the engine's rollback of the connection
    drops it (a temporary table lives in the transaction that made it, and the connection's session).
    """
    if not dialect_for(connection.dialect.name).has_temporary_tables:
        yield None
        return
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        connection.execute(CreateTemporaryTableAs(name, select))
    except sa.exc.DBAPIError:
        connection.rollback()
        yield None
        return
    yield sa.table(name, *(sa.column(c.name, c.type) for c in select.selected_columns))
    connection.execute(sa.text(f"DROP TABLE {quote_identifier(name)}"))


class CreateTemporaryTableAs(Executable, ClauseElement):
    """``CREATE TEMPORARY TABLE name AS select``, the select's parameters bound as in any statement
    (SQLAlchemy's own CreateTableAs renders them as literals: on DuckDB a timestamp became a string
    column and 0.05 a DECIMAL, checked with SQLAlchemy 2.1)."""

    inherit_cache = False

    def __init__(self, name: str, select: Select[Any]) -> None:
        self.name = name
        self.select = select


@compiles(CreateTemporaryTableAs)
def _create_temporary_table_as(element: CreateTemporaryTableAs, compiler: SQLCompiler, **kw: Any) -> str:
    table = compiler.preparer.quote(element.name)
    return f"CREATE TEMPORARY TABLE {table} AS {compiler.process(element.select, **kw)}"


_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>\S+)(?: \(PID (?P<pid>\d+)\))?")


def duckdb_lock_error(message: str, where: str) -> WarehouseError | None:
    """The user error for DuckDB's 'Could not set lock' (one writer, or any number of readers, per
    file), naming the process that holds the file; None for any other message."""
    if "Could not set lock" not in message:
        return None
    holder = _LOCK_HOLDER.search(message)
    who = "another process"
    if holder is not None:
        who = f"process {holder['pid']} ({holder['program']})" if holder["pid"] else holder["program"]
    return WarehouseError(
        f"the DuckDB warehouse {where} is held by {who}",
        hint="DuckDB lets one process write a file, or several read it: wait for that process (a 'kpitree load' "
        "or 'sample-data', or a program writing the file) to finish, or stop it",
    )


def make_file_directory(url: sa.URL) -> None:
    """Create the directory of a database kept in one file (DuckDB, SQLite), so that the engine can create the file."""
    database_file = dialect_for(url.get_backend_name()).database_file(url)
    if database_file is not None:
        database_file.parent.mkdir(parents=True, exist_ok=True)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (an engine's error can run to pages)."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
