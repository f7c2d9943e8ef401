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


def _quoted_template_text(text: str) -> str:
    """Literal text in a to_timestamp template: letters in double quotes, or 'DDTHH24' reads as
    the day with an ordinal suffix (TH) and drops the hour (2025-08-04T12:00 came back midnight)."""
    if not any(ch.isalpha() for ch in text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class PostgreSql(SqlDialect):
    title = "PostgreSQL"
    has_temporary_tables = True

    def connect_args(self) -> dict[str, Any]:
        return {"options": "-c timezone=UTC"}

    def parse_time(self, column: ColumnElement[Any], fmt: str, date_only: bool) -> ColumnElement[Any] | None:
        template = strptime_pieces(fmt, TEMPLATE_CODES, _quoted_template_text)
        return sa.func.to_date(column, template) if date_only else sa.func.to_timestamp(column, template)
