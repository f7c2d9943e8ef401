"""Quoting for the few statements kpitree writes as text (DuckDB staging, PRAGMA): everything
else is built with SQLAlchemy Core, which quotes for itself."""

from __future__ import annotations


def quote_identifier(name: str) -> str:
    """``name`` as a double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """``text`` as a single-quoted SQL string literal."""
    return "'" + text.replace("'", "''") + "'"
