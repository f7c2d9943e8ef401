"""BigQuery: compiled and checked with sqlglot in the tests, not yet run against the engine.

BigQuery has no EXTRACT(epoch ...), counts Sunday as day 1, writes a timestamp bound as a civil
DATETIME unless told it is a TIMESTAMP, and has PERCENTILE_CONT only as a window function: a
median or percentile measure is refused there before any SQL runs."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from kpitree.dialects.base import SqlDialect


class BigQuery(SqlDialect):
    title = "BigQuery"
    has_percentile = False

    def time_bound(self, instant_utc: datetime, day: date, is_date: bool) -> Any:
        # A TIMESTAMP literal: typed as the column (DATETIME, BigQuery's civil time) it would be
        # DATETIME '2026-10-01 00:00:00+00:00', which BigQuery refuses, offset and all.
        return day if is_date else sa.literal(instant_utc, sa.TIMESTAMP(timezone=True))

    def epoch_seconds(self, value: ColumnElement[Any]) -> ColumnElement[Any]:
        micros = sa.func.unix_micros(sa.cast(value, sa.TIMESTAMP()))
        return sa.cast(micros, sa.Double()) / sa.cast(sa.literal_column("1000000"), sa.Double())

    def date_part(self, part: str, value: ColumnElement[Any]) -> ColumnElement[Any]:
        if part == "dow":  # BigQuery's DAYOFWEEK counts Sunday as 1; kpitree's dow as 0
            return sa.cast(sa.extract("dayofweek", value) - 1, sa.Double())
        return super().date_part(part, value)
