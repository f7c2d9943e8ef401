"""The ANSI defaults every engine starts from; an engine's module overrides what it does otherwise."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter, ColumnElement

# strptime codes, split out of a format with the text between them (see strptime_pieces).
_CODE = re.compile(r"(%.)")


class SqlDialect:
    """How kpitree writes SQL for one engine. Capabilities are class attributes; the SQL an engine
    writes its own way is a method. ``name`` is SQLAlchemy's dialect name."""

    title: ClassVar[str] = ""  # the engine's name in messages ("" -> the dialect name)
    # SQLite keeps times as text: they compare after datetime()/date(), bounds are text too.
    keeps_times_as_text: ClassVar[bool] = False
    # SQLite adds up numbers kept as text (a load without a contract); others refuse text in a sum.
    adds_numbers_in_text: ClassVar[bool] = False
    # CREATE TEMPORARY TABLE ... AS SELECT, to read a costly statement several times.
    has_temporary_tables: ClassVar[bool] = False
    # DuckDB reads a CSV or Parquet file in place (a source's ``file:``).
    reads_files_in_place: ClassVar[bool] = False
    # DuckDB hands a result's columns over as numpy arrays.
    fetches_numpy: ClassVar[bool] = False
    # kpitree's staging DuckDB writes the file itself (ATTACH), instead of inserting through the driver.
    staging_attaches: ClassVar[bool] = False
    # The warehouse copies a Parquet file kpitree stages (Spark), instead of taking INSERTs of rows.
    lands_parquet: ClassVar[bool] = False
    # A continuous percentile aggregate (median, p90); SQLite has none.
    has_percentile: ClassVar[bool] = True
    # DuckDB opens its file read-only unless asked to write, so any number of commands read it at once.
    opens_files_read_only: ClassVar[bool] = False
    # GROUP BY GROUPING SETS (a drill's segments over several dimensions in one scan); SQLite has
    # none, so a drill there reads one UNION ALL branch per set (the same statement, more scans).
    has_grouping_sets: ClassVar[bool] = True
    # A trend's score points scored per statement (kpitree.compute.score_trend): the statement
    # keeps a column per point for every contact, so its memory grows with the points (ten at
    # once over 19.7M signals and 674k contacts: 10.1 s and a 492 MiB peak on DuckDB, measured).
    trend_points_per_statement: ClassVar[int] = 12
    # Periods one scan of a source computes at most. The engine holds every kept row of a scan's
    # periods while it deduplicates and counts distinct values: twelve months of 11.6M activities
    # took DuckDB to 1.4 GB in one scan. A scan reads only its periods' rows (and Parquet row
    # groups), so on one machine more scans of fewer periods cost little time: a trend of twelve
    # is four scans.
    periods_per_scan: ClassVar[int] = 3
    # A server that may never answer a session's close (Spark 4's Thrift server: docs/scaling.md).
    # The warehouse then closes in a thread of its own and stops waiting after a while.
    close_may_hang: ClassVar[bool] = False

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def display_name(self) -> str:
        return self.title or self.name

    def database_file(self, url: sa.URL) -> Path | None:
        """The file an engine that keeps a database in one file keeps it in (None for a server)."""
        return None

    # -- the session ---------------------------------------------------------------------------

    def connect_args(self) -> dict[str, Any]:
        """Arguments for the driver's connect(), given when the engine is created."""
        return {}

    def prepare_engine(self, engine: Engine) -> None:
        """Set-up on every new connection (the session's time zone is UTC on every engine, so a
        timestamp without a zone means UTC and period bounds compare the same way everywhere)."""

    # -- the catalogue -------------------------------------------------------------------------

    def declared_types(self, connection: Connection, schema: str, name: str) -> dict[str, str]:
        """Column name -> the type the engine declares (upper case); {} when it cannot say."""
        query = sa.text(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = :name"
            + (" AND table_schema = :schema" if schema else "")
        )
        try:
            rows = connection.execute(query, {"name": name, "schema": schema}).all()
        except sa.exc.DBAPIError:  # an engine without information_schema: ask its SQLAlchemy dialect
            connection.rollback()
            return self._inspected_types(connection, schema, name)
        return {row[0]: str(row[1]).upper() for row in rows}

    def _inspected_types(self, connection: Connection, schema: str, name: str) -> dict[str, str]:
        """The types SQLAlchemy's inspector reads, as the engine would write them; {} when it cannot."""
        try:
            columns = sa.inspect(connection).get_columns(name, schema=schema or None)
        except (sa.exc.SQLAlchemyError, NotImplementedError):
            return {}
        types = {}
        for column in columns:
            declared = column["type"]
            try:
                types[column["name"]] = declared.compile(dialect=connection.dialect).upper()
            except sa.exc.CompileError:
                types[column["name"]] = ""
        return types

    def error_message(self, error: BaseException) -> str:
        """The engine's own message in a driver's exception, its first line (an engine's error
        can run to pages of plan)."""
        text = str(error).strip()
        return text.splitlines()[0] if text else type(error).__name__

    # -- expressions ---------------------------------------------------------------------------

    def epoch_seconds(self, value: ColumnElement[Any]) -> ColumnElement[Any]:
        """Seconds since 1970 (UTC) of a timestamp, fractional, as a DOUBLE."""
        # DOUBLE, never FLOAT: a 32-bit float holds epoch seconds only to about two minutes.
        return sa.cast(sa.extract("epoch", value), sa.Double())

    def date_part(self, part: str, value: ColumnElement[Any]) -> ColumnElement[Any]:
        """year, month, day, hour or dow (0 = Sunday) of a time, as a DOUBLE."""
        return sa.cast(sa.extract(part, value), sa.Double())

    def as_text(self, value: ColumnElement[Any]) -> ColumnElement[Any]:
        """A column's values as text: a drill names segments by text on every engine."""
        return sa.cast(value, sa.String)

    def percentile(self, value: ColumnElement[Any], p: float) -> ColumnElement[Any]:
        """The continuous (interpolated) percentile ``p`` of ``value``, NULLs left out (only where
        :attr:`has_percentile`)."""
        # Inlined, not bound: some engines take only a constant fraction; p is a validated float in (0, 1).
        fraction: ColumnElement[Any] = sa.literal_column(repr(float(p)), sa.Double())
        return sa.func.percentile_cont(fraction).within_group(sa.cast(value, sa.Double()))

    def parse_time(self, column: ColumnElement[Any], fmt: str, date_only: bool) -> ColumnElement[Any] | None:
        """Text ``column`` read with strptime format ``fmt``: a DATE when ``date_only``, else a
        timestamp (UTC); a value that does not match must be the engine's error, never a NULL.
        None where the engine cannot parse times."""
        return None

    def comparable_time(self, column: ColumnElement[Any], is_date: bool) -> ColumnElement[Any]:
        """A time column as it compares with :meth:`time_bound` (as it is, on most engines)."""
        return column

    def time_bound(self, instant_utc: datetime, day: date, is_date: bool) -> Any:
        """A period bound as a value for :meth:`comparable_time`: the local day for a DATE column,
        else the instant in UTC."""
        return day if is_date else instant_utc


def set_on_connect(engine: Engine, *statements: str) -> None:
    """Run ``statements`` on every new connection of ``engine``, before kpitree uses it."""

    def _run(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            for statement in statements:
                cursor.execute(statement)
        finally:
            cursor.close()

    sa.event.listen(engine, "connect", _run)


def cast_float_parameters(sqlalchemy_dialect: str) -> None:
    """Write every float parameter as ``CAST(... AS DOUBLE PRECISION)`` on ``sqlalchemy_dialect``.

    For drivers that write parameters into the statement's text (PyHive, Snowflake's connector,
    psycopg2 for Redshift): there a bare ``1.0`` is a DECIMAL(2,1), and an average of
    ``CASE WHEN ... THEN 1.0 ELSE 0.0 END`` keeps the decimal's few digits (Spark's band shares came
    back rounded to 5 decimals; Redshift keeps the argument's scale, one digit).
    """

    @compiles(BindParameter, sqlalchemy_dialect)
    def _as_double(element: BindParameter[Any], compiler: SQLCompiler, **kw: Any) -> str:
        text: str = compiler.visit_bindparam(element, **kw)  # type: ignore[no-untyped-call]
        if isinstance(element.type, sa.Float) or isinstance(element.value, float):
            return f"CAST({text} AS {compiler.dialect.type_compiler_instance.process(sa.Double())})"
        return text


def single_file(url: sa.URL) -> Path | None:
    """The database file of an engine that keeps a database in one file (None in memory)."""
    return Path(url.database) if url.database and url.database != ":memory:" else None


def strptime_pieces(
    fmt: str,
    codes: Mapping[str, str],
    literal: Callable[[str], str],
    packed: Mapping[str, str] | None = None,
) -> str:
    """``fmt`` with each strptime code replaced by the engine's (``codes``; ``packed`` for a code
    directly followed by another, as in ``%y%m%d``, where a field of one or two digits cannot be
    told from the next), the text between codes passed through ``literal`` (the engine's quoting
    of literal text in a pattern)."""
    pieces = [piece for piece in _CODE.split(fmt) if piece]
    out = []
    for index, piece in enumerate(pieces):
        if piece in codes:
            followed = index + 1 < len(pieces) and pieces[index + 1] in codes
            out.append((packed or {}).get(piece, codes[piece]) if followed else codes[piece])
        else:
            out.append(literal(piece))
    return "".join(out)
