"""Snowflake: compiled and checked with sqlglot in the tests, not yet run against the engine."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from kpitree.dialects.base import SqlDialect, cast_float_parameters, set_on_connect


class Snowflake(SqlDialect):
    title = "Snowflake"
    has_temporary_tables = True

    def prepare_engine(self, engine: Engine) -> None:
        set_on_connect(engine, "ALTER SESSION SET TIMEZONE = 'UTC'")

    def epoch_seconds(self, value: ColumnElement[Any]) -> ColumnElement[Any]:
        # EPOCH_SECOND is whole seconds; the microseconds keep the fraction.
        micros = sa.extract("epoch_microsecond", value)
        return sa.cast(micros, sa.Double()) / sa.cast(sa.literal_column("1000000"), sa.Double())

    def date_part(self, part: str, value: ColumnElement[Any]) -> ColumnElement[Any]:
        if part == "dow":  # DAYOFWEEK follows the session's WEEK_START; the ISO day does not (Sunday = 7)
            return sa.cast(sa.func.dayofweekiso(value) % 7, sa.Double())
        return super().date_part(part, value)


# Snowflake's connector writes parameters into the statement's text: 1.0 is a NUMBER(2,1) there.
cast_float_parameters("snowflake")
