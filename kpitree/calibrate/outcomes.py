"""Reading outcomes (renewed / churned, won / lost) from a warehouse table or a CSV/Parquet file.

The ``outcomes`` contract: ``contact_id`` and/or ``account_id``, ``outcome``, ``decided_at``. A row
that cannot be used (no id, an outcome that is neither good nor bad, no decision time) is reported
with its row number, never dropped silently. Outcomes are labels, one per entity: a small table.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray

from kpitree.errors import UsageError
from kpitree.sql_text import quote_identifier, quote_literal
from kpitree.warehouse import Warehouse

GOOD_OUTCOMES = ("renewed", "won", "closed_won", "expanded", "retained")
BAD_OUTCOMES = ("churned", "lost", "closed_lost", "cancelled")
FILE_SUFFIXES = (".csv", ".parquet")
SHOWN_REJECTS = 10
WANTED = ("contact_id", "account_id", "outcome", "decided_at")  # the contract's columns; others are not read


@dataclass(frozen=True)
class Outcome:
    entity: str  # the contact's id, or the account's
    good: bool
    decided_at: datetime


@dataclass(frozen=True, eq=False)
class OutcomeSet:
    """The usable outcomes as columns (one entry per outcome, in the source's order)."""

    level: str  # contact | account
    entities: tuple[str, ...]
    good: NDArray[np.bool_]
    decided: NDArray[np.float64]  # when, in seconds since the epoch
    rejected: int
    reasons: tuple[str, ...]  # the first few rejected rows, by row number
    source: str

    @property
    def outcomes(self) -> list[Outcome]:
        return [
            Outcome(e, bool(g), datetime.fromtimestamp(t, UTC))
            for e, g, t in zip(self.entities, self.good.tolist(), self.decided.tolist(), strict=True)
        ]

    def decided_between(self, after: datetime, until: datetime) -> dict[str, bool]:
        """Each entity's first outcome decided in ``(after, until]``: good or not."""
        order = self._in_time_order
        first, last = np.searchsorted(self.decided[order], [after.timestamp(), until.timestamp()], side="right")
        found: dict[str, bool] = {}
        good = self.good
        for index in order[first:last].tolist():  # earliest first: the first one seen wins
            found.setdefault(self.entities[index], bool(good[index]))
        return found

    @functools.cached_property
    def _in_time_order(self) -> NDArray[np.int64]:
        return np.argsort(self.decided, kind="stable")


def read_outcomes(
    source: str,
    warehouse: Warehouse | None,
    timezone: str,
    good: Sequence[str] = GOOD_OUTCOMES,
    bad: Sequence[str] = BAD_OUTCOMES,
) -> OutcomeSet:
    """Outcomes from ``source``: a CSV or Parquet file, or a table of the warehouse."""
    if source.lower().endswith(FILE_SUFFIXES):
        columns = _file_columns(Path(source), timezone)
        first_row = 2 if source.lower().endswith(".csv") else 1
    elif warehouse is None:
        raise UsageError(f"outcomes {source!r}: a table needs a warehouse", hint="or give a .csv or .parquet file")
    else:
        columns = _table_columns(source, warehouse, timezone)
        first_row = 1
    names = set(columns)
    missing = {"outcome", "decided_at"} - names
    if missing or not names & {"contact_id", "account_id"}:
        raise UsageError(
            f"{source} lacks {', '.join(sorted(missing)) or 'contact_id or account_id'}",
            hint=f"outcomes need contact_id or account_id, outcome and decided_at; it has {', '.join(sorted(names))}",
        )
    if not any(columns.values()):
        raise UsageError(f"{source} has no rows", hint="outcomes: contact_id or account_id, outcome, decided_at")
    level = "contact" if any(v not in (None, "") for v in columns.get("contact_id", ())) else "account"
    key = f"{level}_id"
    good_set, bad_set = {g.lower() for g in good}, {b.lower() for b in bad}
    entities: list[str] = []
    goods: list[bool] = []
    instants: list[float] = []
    reasons: list[str] = []
    rows = zip(columns[key], columns["outcome"], columns["decided_at"], strict=True)
    for number, (entity, raw, when) in enumerate(rows, start=first_row):
        value = str(raw or "").strip().lower()
        if entity in (None, ""):
            reasons.append(f"row {number}: no {key}")
        elif value not in good_set and value not in bad_set:
            reasons.append(
                f"row {number}: outcome {value!r} is neither good ({', '.join(sorted(good_set))}) "
                f"nor bad ({', '.join(sorted(bad_set))}): see --good and --bad"
            )
        elif when is None:
            reasons.append(f"row {number}: decided_at is missing or not a date")
        else:
            entities.append(str(entity))
            goods.append(value in good_set)
            instants.append(when)
    return OutcomeSet(
        level,
        tuple(entities),
        np.array(goods, dtype=np.bool_),
        np.array(instants, dtype=np.float64),
        len(reasons),
        tuple(reasons[:SHOWN_REJECTS]),
        source,
    )


def _file_columns(path: Path, timezone: str) -> dict[str, list[Any]]:
    """The file's columns, decided_at as epoch seconds (None when it is not a date). DuckDB reads
    the file and the instants: a date or a time without an offset is read in the tree's timezone
    (the session's), one with an offset as written."""
    if not path.is_file():
        raise UsageError(f"no outcomes file {path}")
    reader = "read_parquet" if path.suffix.lower() == ".parquet" else "read_csv_auto"
    connection = duckdb.connect()
    try:
        connection.execute(f"SET TimeZone = {quote_literal(timezone)}")
        relation = f"{reader}({quote_literal(str(path))})"
        names = [d[0] for d in connection.execute(f"SELECT * FROM {relation} LIMIT 0").description]
        selected = [
            f"epoch(TRY_CAST({quote_identifier(n)} AS TIMESTAMPTZ)) AS decided_at"
            if n == "decided_at"
            else f"CAST({quote_identifier(n)} AS VARCHAR) AS {quote_identifier(n)}"
            for n in names
            if n in WANTED
        ]
        columns: dict[str, list[Any]] = {name: [] for name in names}  # the others: named, not read
        if selected:
            arrays = connection.execute(f"SELECT {', '.join(selected)} FROM {relation}").fetchnumpy()
            columns.update({name: _values(array) for name, array in arrays.items()})
        return columns
    except duckdb.Error as exc:
        raise UsageError(f"cannot read outcomes from {path}: {exc}") from None
    finally:
        connection.close()


def _values(array: Any) -> list[Any]:
    """A fetched column as Python values, NULL as None (masked or NaN)."""
    if isinstance(array, np.ma.MaskedArray):
        return [
            None if masked else value
            for value, masked in zip(array.data.tolist(), np.ma.getmaskarray(array).tolist(), strict=True)
        ]
    values: list[Any] = array.tolist()
    if array.dtype.kind == "f":
        return [None if v != v else v for v in values]  # NaN: not a date
    return values


def _table_columns(name: str, warehouse: Warehouse, timezone: str) -> dict[str, list[Any]]:
    quoted = ".".join(warehouse.engine.dialect.identifier_preparer.quote(part) for part in name.split("."))
    zone = ZoneInfo(timezone)
    try:
        with warehouse.connect() as connection:
            result = connection.execute(sa.text(f"SELECT * FROM {quoted}"))
            names = list(result.keys())
            rows = result.fetchall()
    except sa.exc.DBAPIError as exc:
        raise UsageError(
            f"cannot read the outcomes table {name} from {warehouse.display_url}: {warehouse.engine_message(exc)}",
            hint="give a table of the warehouse, or a .csv or .parquet file",
        ) from None
    columns = {n: [row[i] for row in rows] for i, n in enumerate(names)}
    if "decided_at" in columns:
        columns["decided_at"] = [_epoch(v, zone) for v in columns["decided_at"]]
    return columns


def _epoch(value: object, zone: ZoneInfo) -> float | None:
    """Seconds since the epoch; a date or a naive time is read in the tree's timezone."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=zone)).timestamp()
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=zone).timestamp()
    return None
