"""DuckDB, the embedded default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from kpitree.dialects.base import SqlDialect, set_on_connect, single_file


class DuckDb(SqlDialect):
    title = "DuckDB"
    has_temporary_tables = True
    opens_files_read_only = True
    reads_files_in_place = True
    fetches_numpy = True
    staging_attaches = True

    def database_file(self, url: sa.URL) -> Path | None:
        return single_file(url)

    def prepare_engine(self, engine: Engine) -> None:
        set_on_connect(engine, "SET TimeZone = 'UTC'")

    def percentile(self, value: ColumnElement[Any], p: float) -> ColumnElement[Any]:
        # DuckDB takes only a constant fraction, inlined (p is a validated float in (0, 1)).
        fraction: ColumnElement[Any] = sa.literal_column(repr(float(p)), sa.Double())
        return sa.func.quantile_cont(sa.cast(value, sa.Double()), fraction)

    def parse_time(self, column: ColumnElement[Any], fmt: str, date_only: bool) -> ColumnElement[Any] | None:
        # DuckDB's strptime takes Python's codes as they are, and raises on a value that does not match.
        parsed = sa.func.strptime(column, fmt)
        return sa.cast(parsed, sa.Date()) if date_only else parsed
