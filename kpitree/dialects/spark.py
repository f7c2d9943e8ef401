"""Spark SQL, through its Thrift server (HiveServer2) and PyHive's ``hive://`` dialect.

Three things Spark does its own way that would otherwise change numbers silently:

- PyHive writes parameters into the statement's text, and a bare ``1.0`` there is a DECIMAL(2,1)
  to Spark: an average of ``CASE WHEN ... THEN 1.0 ELSE 0.0 END`` came back rounded to 5 decimals.
  Every float parameter is written ``CAST(... AS DOUBLE)`` on this dialect
  (:func:`~kpitree.dialects.base.cast_float_parameters`).
- PyHive writes a datetime without its zone, which Spark reads in the session's time zone: with the
  server's zone at Asia/Tokyo the period bounds moved by nine hours. Each connection sets the
  session's zone to UTC before kpitree uses it.
- With ANSI mode off a text that does not parse as a time is NULL, a row that silently falls out
  of every period; each connection turns ANSI mode on, so it is the engine's error instead.
"""

from __future__ import annotations

import re
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import ColumnElement

from kpitree.dialects.base import SqlDialect, cast_float_parameters, set_on_connect, strptime_pieces

_JAVA_CLASS: Final = re.compile(r"^(\[[A-Z_.]+\] )?(org\.apache\.[\w.]+Exception: )")
SESSION_SETTINGS: Final = ("SET spark.sql.session.timeZone=UTC", "SET spark.sql.ansi.enabled=true")

# Spark's datetime pattern letters for each strptime code kpitree accepts (kpitree.spec.time_format).
# One letter where strptime takes one or two digits (8/24/2025 is %m/%d/%Y): Spark's 'MM' wants two.
PATTERN_CODES: Final = {
    "%Y": "yyyy",
    "%y": "yy",
    "%m": "M",
    "%d": "d",
    "%H": "H",
    "%I": "h",
    "%M": "m",
    "%S": "s",
    "%f": "SSSSSS",
    "%p": "a",
    "%b": "MMM",
    "%B": "MMMM",
    "%z": "[XXX][XX]",  # +05:30 or +0530, as strptime reads either
    "%%": "%",
}

# Fixed widths for a code directly followed by another (%y%m%d: 260101), where one letter would
# not know where the field ends.
PACKED_CODES: Final = {"%m": "MM", "%d": "dd", "%H": "HH", "%I": "hh", "%M": "mm", "%S": "ss"}


class SparkSql(SqlDialect):
    title = "Spark SQL"
    lands_parquet = True
    # Spark pays about a second of planning and scheduling per statement, and a cluster spills
    # what does not fit: a source's periods in one scan (a 12-month activity report was four
    # scans of three months).
    periods_per_scan = 12
    # A Spark 4 server without hive-llap-common can leave every later CloseSession waiting
    # forever (SPARK-51041, docs/scaling.md): a command must still end.
    close_may_hang = True

    def prepare_engine(self, engine: Engine) -> None:
        set_on_connect(engine, *SESSION_SETTINGS)

    def declared_types(self, connection: Connection, schema: str, name: str) -> dict[str, str]:
        # Spark has no information_schema; DESCRIBE gives Spark's own type names (double,
        # timestamp, timestamp_ntz, decimal(10,2)), which PyHive's inspector folds into fewer.
        quote = connection.dialect.identifier_preparer.quote
        table = ".".join(quote(part) for part in (schema, name) if part)
        try:
            rows = connection.exec_driver_sql(f"DESCRIBE {table}").all()
        except sa.exc.DBAPIError:
            return {}
        types: dict[str, str] = {}
        for column, declared, *_ in rows:
            if not column or str(column).startswith("#"):
                break  # the partition and detail sections that follow the columns
            types[str(column).strip()] = str(declared).strip().upper()
        return types

    def error_message(self, error: BaseException) -> str:
        # PyHive's exception holds the Thrift response; its status has Spark's message, which starts
        # with the error class, then repeats it after the exception's Java class name.
        response = error.args[0] if error.args else None
        message = getattr(getattr(response, "status", None), "errorMessage", None)
        if not message:
            return super().error_message(error)
        message = str(message).removeprefix("Error running query: ")
        message = _JAVA_CLASS.sub("", message, count=1)
        return super().error_message(Exception(message))

    def epoch_seconds(self, value: ColumnElement[Any]) -> ColumnElement[Any]:
        # Spark has no EXTRACT(epoch ...); unix_micros keeps the microseconds unix_timestamp drops.
        micros = sa.func.unix_micros(sa.cast(value, sa.DateTime()))
        return sa.cast(micros, sa.Double()) / sa.literal_column("1000000.0D", sa.Double())

    def date_part(self, part: str, value: ColumnElement[Any]) -> ColumnElement[Any]:
        if part == "dow":  # Spark's EXTRACT(DOW ...) counts Sunday as 1; kpitree's dow as 0
            return sa.cast(sa.func.dayofweek(value) - 1, sa.Double())
        return super().date_part(part, value)

    def parse_time(self, column: ColumnElement[Any], fmt: str, date_only: bool) -> ColumnElement[Any] | None:
        pattern = strptime_pieces(fmt, PATTERN_CODES, _quoted_pattern_text, PACKED_CODES)
        return sa.func.to_date(column, pattern) if date_only else sa.func.to_timestamp(column, pattern)


def _quoted_pattern_text(text: str) -> str:
    """Literal text in a Spark datetime pattern: letters are pattern letters unless quoted."""
    if not any(ch.isalpha() or ch == "'" for ch in text):
        return text
    return "'" + text.replace("'", "''") + "'"


cast_float_parameters("hive")
