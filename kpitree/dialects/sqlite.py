"""SQLite: times are text, numbers loaded without a contract are text, no percentile, no time parsing."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from kpitree.dialects.base import SqlDialect, single_file
from kpitree.sql_text import quote_identifier

_MS_PER_DAY: Final = 86_400_000
_UNIX_EPOCH_MS: Final = 210_866_760_000_000  # 1970-01-01 00:00 UTC is Julian day 2,440,587.5


class Sqlite(SqlDialect):
    title = "SQLite"
    keeps_times_as_text = True
    adds_numbers_in_text = True
    has_temporary_tables = True
    has_percentile = False
    has_grouping_sets = False

    def database_file(self, url: sa.URL) -> Path | None:
        return single_file(url)

    def declared_types(self, connection: Connection, schema: str, name: str) -> dict[str, str]:
        rows = connection.exec_driver_sql(f"PRAGMA table_info({quote_identifier(name)})").all()
        return {row[1]: str(row[2]).upper() for row in rows}

    def epoch_seconds(self, value: ColumnElement[Any]) -> ColumnElement[Any]:
        # SQLite keeps a time as whole milliseconds of the Julian day; julianday() is that count over
        # 86,400,000, so multiplying back and rounding gives it exactly. (strftime('%s') plus the
        # fraction of '%f' was a second off for 23:59:59.999999, whose milliseconds round up.)
        milliseconds = sa.func.round(sa.func.julianday(value) * _MS_PER_DAY) - _UNIX_EPOCH_MS
        return sa.cast(milliseconds, sa.Double()) / 1000.0

    def comparable_time(self, column: ColumnElement[Any], is_date: bool) -> ColumnElement[Any]:
        # date()/datetime() rewrite any ISO form (T separator, offsets) to UTC 'YYYY-MM-DD HH:MM:SS',
        # which then compares correctly as text.
        return sa.func.date(column) if is_date else sa.func.datetime(column)

    def time_bound(self, instant_utc: datetime, day: date, is_date: bool) -> Any:
        return day.isoformat() if is_date else instant_utc.strftime("%Y-%m-%d %H:%M:%S")
