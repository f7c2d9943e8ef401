"""SQLite: times are text, numbers loaded without a contract are text, no percentile, no time parsing."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from kpitree.dialects.base import SqlDialect, single_file
from kpitree.sql_text import quote_identifier


class Sqlite(SqlDialect):
    title = "SQLite"
    keeps_times_as_text = True
    adds_numbers_in_text = True
    has_temporary_tables = True
    has_percentile = False

    def database_file(self, url: sa.URL) -> Path | None:
        return single_file(url)

    def declared_types(self, connection: Connection, schema: str, name: str) -> dict[str, str]:
        rows = connection.exec_driver_sql(f"PRAGMA table_info({quote_identifier(name)})").all()
        return {row[1]: str(row[2]).upper() for row in rows}

    def epoch_seconds(self, value: ColumnElement[Any]) -> ColumnElement[Any]:
        # Whole seconds from strftime('%s') plus the milliseconds of '%f' (julianday() would round
        # to about ten microseconds).
        seconds: ColumnElement[Any] = sa.cast(sa.func.strftime("%s", value), sa.Double())
        fraction: ColumnElement[Any] = sa.cast(sa.func.strftime("%f", value), sa.Double()) - sa.cast(
            sa.func.strftime("%S", value), sa.Double()
        )
        return seconds + fraction

    def comparable_time(self, column: ColumnElement[Any], is_date: bool) -> ColumnElement[Any]:
        # date()/datetime() rewrite any ISO form (T separator, offsets) to UTC 'YYYY-MM-DD HH:MM:SS',
        # which then compares correctly as text.
        return sa.func.date(column) if is_date else sa.func.datetime(column)

    def time_bound(self, instant_utc: datetime, day: date, is_date: bool) -> Any:
        return day.isoformat() if is_date else instant_utc.strftime("%Y-%m-%d %H:%M:%S")
