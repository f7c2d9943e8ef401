"""Reading outcomes (renewed / churned, won / lost) from a warehouse table or a CSV/Parquet file.

The ``outcomes`` contract: ``contact_id`` and/or ``account_id``, ``outcome``, ``decided_at``. A row
that cannot be used (no id, an outcome that is neither good nor bad, no decision time) is reported
with its row number, never dropped silently. Outcomes are labels, one per entity: a small table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import sqlalchemy as sa

from kpitree.errors import UsageError
from kpitree.sql_text import quote_literal
from kpitree.warehouse import Warehouse

GOOD_OUTCOMES = ("renewed", "won", "closed_won", "expanded", "retained")
BAD_OUTCOMES = ("churned", "lost", "closed_lost", "cancelled")
FILE_SUFFIXES = (".csv", ".parquet")
SHOWN_REJECTS = 10


@dataclass(frozen=True)
class Outcome:
    entity: str  # the contact's id, or the account's
    good: bool
    decided_at: datetime


@dataclass(frozen=True)
class OutcomeSet:
    level: str  # contact | account
    outcomes: tuple[Outcome, ...]
    rejected: int
    reasons: tuple[str, ...]  # the first few rejected rows, by row number
    source: str

    def decided_between(self, after: datetime, until: datetime) -> dict[str, bool]:
        """Each entity's first outcome decided in ``(after, until]``: good or not."""
        found: dict[str, tuple[datetime, bool]] = {}
        for outcome in self.outcomes:
            if after < outcome.decided_at <= until:
                earlier = found.get(outcome.entity)
                if earlier is None or outcome.decided_at < earlier[0]:
                    found[outcome.entity] = (outcome.decided_at, outcome.good)
        return {entity: good for entity, (_when, good) in found.items()}


def read_outcomes(
    source: str,
    warehouse: Warehouse | None,
    timezone: str,
    good: Sequence[str] = GOOD_OUTCOMES,
    bad: Sequence[str] = BAD_OUTCOMES,
) -> OutcomeSet:
    """Outcomes from ``source``: a CSV or Parquet file, or a table of the warehouse."""
    if source.lower().endswith(FILE_SUFFIXES):
        rows = _file_rows(Path(source))
    elif warehouse is None:
        raise UsageError(f"outcomes {source!r}: a table needs a warehouse", hint="or give a .csv or .parquet file")
    else:
        rows = _table_rows(source, warehouse)
    if not rows:
        raise UsageError(f"{source} has no rows", hint="outcomes: contact_id or account_id, outcome, decided_at")
    columns = set(rows[0])
    missing = {"outcome", "decided_at"} - columns
    if missing or not columns & {"contact_id", "account_id"}:
        raise UsageError(
            f"{source} lacks {', '.join(sorted(missing)) or 'contact_id or account_id'}",
            hint=f"outcomes need contact_id or account_id, outcome and decided_at; it has {', '.join(sorted(columns))}",
        )
    level = "contact" if any(row.get("contact_id") not in (None, "") for row in rows) else "account"
    key = f"{level}_id"
    zone = ZoneInfo(timezone)
    good_set, bad_set = {g.lower() for g in good}, {b.lower() for b in bad}
    kept: list[Outcome] = []
    reasons: list[str] = []
    for number, row in enumerate(rows, start=2 if source.lower().endswith(".csv") else 1):
        entity = row.get(key)
        value = str(row.get("outcome") or "").strip().lower()
        when = _instant(row.get("decided_at"), zone)
        problem = None
        if entity in (None, ""):
            problem = f"no {key}"
        elif value not in good_set | bad_set:
            problem = (
                f"outcome {value!r} is neither good ({', '.join(sorted(good_set))}) "
                f"nor bad ({', '.join(sorted(bad_set))}): see --good and --bad"
            )
        elif when is None:
            problem = "decided_at is missing or not a date"
        if problem:
            reasons.append(f"row {number}: {problem}")
            continue
        assert when is not None
        kept.append(Outcome(str(entity), value in good_set, when))
    return OutcomeSet(level, tuple(kept), len(reasons), tuple(reasons[:SHOWN_REJECTS]), source)


def _file_rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise UsageError(f"no outcomes file {path}")
    reader = "read_parquet" if path.suffix.lower() == ".parquet" else "read_csv_auto"
    connection = duckdb.connect()
    try:
        result = connection.execute(f"SELECT * FROM {reader}({quote_literal(str(path))})")
        names = [d[0] for d in result.description]
        return [dict(zip(names, values, strict=True)) for values in result.fetchall()]
    except duckdb.Error as exc:
        raise UsageError(f"cannot read outcomes from {path}: {exc}") from None
    finally:
        connection.close()


def _table_rows(name: str, warehouse: Warehouse) -> list[dict[str, Any]]:
    quoted = ".".join(warehouse.engine.dialect.identifier_preparer.quote(part) for part in name.split("."))
    try:
        with warehouse.connect() as connection:
            return [dict(row) for row in connection.execute(sa.text(f"SELECT * FROM {quoted}")).mappings()]
    except sa.exc.DBAPIError as exc:
        raise UsageError(
            f"cannot read the outcomes table {name} from {warehouse.display_url}: {str(exc.orig).splitlines()[0]}",
            hint="give a table of the warehouse, or a .csv or .parquet file",
        ) from None


def _instant(value: object, zone: ZoneInfo) -> datetime | None:
    """An aware instant; a date or a naive time is read in the tree's timezone."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=zone)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=zone)
    return None
