"""PostgreSQL."""

from __future__ import annotations

from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from kpitree.dialects.base import SqlDialect, strptime_pieces

# to_timestamp's template for each strptime code kpitree accepts (kpitree.spec.time_format).
TEMPLATE_CODES: Final = {
    "%Y": "YYYY",
    "%y": "YY",
    "%m": "MM",
    "%d": "DD",
    "%H": "HH24",
    "%I": "HH12",
    "%M": "MI",
    "%S": "SS",
    "%f": "US",
    "%p": "AM",
    "%b": "Mon",
    "%B": "Month",
    "%z": "TZH:TZM",
    "%%": "%",
}


class PostgreSql(SqlDialect):
    title = "PostgreSQL"
    has_temporary_tables = True

    def connect_args(self) -> dict[str, Any]:
        return {"options": "-c timezone=UTC"}

    def parse_time(self, column: ColumnElement[Any], fmt: str, date_only: bool) -> ColumnElement[Any] | None:
        template = strptime_pieces(fmt, TEMPLATE_CODES)
        return sa.func.to_date(column, template) if date_only else sa.func.to_timestamp(column, template)
