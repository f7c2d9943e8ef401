"""What kind of values a warehouse column holds, from the type the engine declares for it, and
the text-to-time parse a source's ``time_format`` asks for, per engine (the format's grammar is
:mod:`kpitree.spec.time_format`).

Types come from the engine (information_schema, SQLite's table_info, DuckDB's DESCRIBE of a file),
so a file's DATE column compares as a date just as a table's does. An unknown type ('') is left to
the engine; a known one that cannot serve (a sum over a timestamp, a text time column) is a
:class:`~kpitree.errors.WarehouseError` naming the column, its type and the fix, before any SQL runs.
"""

from __future__ import annotations

import enum
import re
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from kpitree.dialects import SqlDialect
from kpitree.errors import WarehouseError
from kpitree.spec.time_format import is_date_only


class Kind(enum.StrEnum):
    NUMBER = "number"
    TEXT = "text"
    DATE = "date"
    TIMESTAMP = "timestamp"
    BOOLEAN = "boolean"
    UNKNOWN = "unknown"


_NUMBER: Final = re.compile(
    r"^(U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?\d*|U?HUGEINT|DOUBLE( PRECISION)?|FLOAT\d*|REAL|DECIMAL.*|NUMERIC.*)$"
)
_TEXT: Final = re.compile(r"^(VARCHAR.*|TEXT|STRING|CHAR.*|CHARACTER.*|BPCHAR|NAME|UUID)$")


def kind_of(declared: str) -> Kind:
    """The kind of a declared SQL type (upper case, as the warehouse reports it)."""
    declared = declared.strip().upper()
    if not declared:
        return Kind.UNKNOWN
    if declared == "DATE":
        return Kind.DATE
    if declared.startswith(("TIMESTAMP", "DATETIME")):
        return Kind.TIMESTAMP
    if declared in ("BOOLEAN", "BOOL"):
        return Kind.BOOLEAN
    if _NUMBER.match(declared):
        return Kind.NUMBER
    if _TEXT.match(declared):
        return Kind.TEXT
    return Kind.UNKNOWN


def sql_type(declared: str) -> sa.types.TypeEngine[Any]:
    """Enough of a declared type to tell a date from a timestamp (the rest is left to the engine)."""
    kind = kind_of(declared)
    if kind is Kind.DATE:
        return sa.Date()
    if kind is Kind.TIMESTAMP:
        return sa.DateTime()
    return sa.types.NullType()


def parse_time(column: ColumnElement[Any], fmt: str, dialect: SqlDialect, source_id: str) -> ColumnElement[Any]:
    """``column`` (text) read with ``fmt``: a DATE when the format has no time of day, else a
    timestamp (without an offset: UTC, as every naive time in kpitree). A value that does not match
    is an error of the engine's, never a silently dropped row."""
    parsed = dialect.parse_time(column, fmt, is_date_only(fmt))
    if parsed is None:
        raise WarehouseError(
            f"source {source_id!r} has a time_format, which {dialect.display_name} cannot apply (it has no date "
            "parsing)",
            hint="load the file with 'kpitree load' into a table with a typed time column, or use DuckDB, "
            "PostgreSQL or Spark SQL",
        )
    return parsed
