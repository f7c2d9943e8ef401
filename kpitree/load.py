"""``kpitree load``: a CSV or Parquet file into a warehouse table, with the data contract's types
checked row by row.

DuckDB reads the file (:mod:`kpitree.load_source`: CSV as text, so that nothing is coerced
silently; a file whose header or rows do not line up is refused), each contract column is cast
with ``TRY_CAST``, and a row where a non-blank value does not cast, or a number is NaN or infinite,
or a required column is blank, is *rejected*: reported with its row number, its line in a CSV file,
the column, the value and the type expected. By default a file with any rejected row loads nothing;
``skip_bad_rows`` loads the good rows and writes the rejected ones, with the reason, to a CSV beside
the file, so nothing is lost. A file with no rows to load leaves the table as it was unless
``allow_empty``. Timestamps without an offset are read as UTC; blank values (empty, or only
spaces) are NULL.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import duckdb

from kpitree.data_contract import CONTRACT, ColumnType, contract_types
from kpitree.errors import DataRejected, UsageError
from kpitree.ingest import land_table
from kpitree.load_source import RawFile, inferred_types, record_lines, shown, stage_file
from kpitree.sql_text import quote_identifier, quote_literal
from kpitree.warehouse import Warehouse

DUCK_TYPES = {
    ColumnType.ID: "VARCHAR",
    ColumnType.TEXT: "VARCHAR",
    ColumnType.BOOLEAN: "BOOLEAN",
    ColumnType.NUMBER: "DOUBLE",
    ColumnType.DATE: "DATE",
    ColumnType.TIMESTAMP: "TIMESTAMPTZ",
}
# Contract columns a file may leave out (they load as NULL): the rest are required.
OPTIONAL_COLUMNS = {
    "signals": {"quantity", "signal_id", "account_id"},
    "rep_capacity": {"admin_hours"},
    "accounts": {"name", "motion", "csm_email"},
    "activities": {"activity_id", "account_id", "rep_id", "is_automated", "source_system", "external_id"},
    "outcomes": {"account_id", "contact_id"},
}


@dataclass(frozen=True)
class RejectedRow:
    row: int  # 1-based data row, in file order
    column: str
    value: str
    expected: str
    line: int | None = None  # where the row starts in a CSV file (a quoted field may hold line breaks)


@dataclass(frozen=True)
class LoadReport:
    table: str
    loaded: int
    rejected: tuple[RejectedRow, ...]
    rejects_file: Path | None


def load_file(
    path: Path,
    table: str,
    warehouse: Warehouse,
    contract: str | None = None,
    use_contract: bool = True,
    skip_bad_rows: bool = False,
    rejects_file: Path | None = None,
    allow_empty: bool = False,
    infer_types: bool = False,
) -> LoadReport:
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    if not use_contract:
        contract = None
    elif contract is None:
        contract = table if table in CONTRACT else None
    if contract is not None and contract not in CONTRACT:
        raise UsageError(f"--contract {contract}: not a contract table", hint=f"one of {', '.join(CONTRACT)}")
    staging = duckdb.connect()
    try:
        staging.execute("SET threads = 1")  # keeps row_number() in file order, for row numbers that mean something
        staging.execute("SET TimeZone = 'UTC'")
        raw = stage_file(staging, path)
        present = list(raw.columns)
        contracted = dict(contract_types(contract))
        types = {name: DUCK_TYPES[kind] for name, kind in contracted.items()}
        if infer_types and raw.is_csv:
            inferred = inferred_types(staging, raw)
            types.update({name: kind for name, kind in inferred.items() if name not in types})
        missing = sorted(set(contracted) - set(present) - OPTIONAL_COLUMNS.get(contract or "", set()))
        if missing:
            raise DataRejected(
                f"{path} lacks the {contract} contract's column(s) {', '.join(missing)}",
                hint="rename the columns in the file, or load it with --no-contract and map them in the tree",
            )
        required = [c for c in contracted if c in present and c not in OPTIONAL_COLUMNS.get(contract or "", set())]
        rejected = _rejected_rows(staging, raw, types, required)
        if rejected and not skip_bad_rows:
            fit = f"the {contract} contract" if contract else "their columns' types"
            raise DataRejected(
                f"{len(rejected)} value(s) in {path} do not fit {fit}; nothing was loaded:\n" + _describe(rejected),
                hint="fix the rows, or pass --skip-bad-rows to load the others and keep these in a rejects file",
            )
        bad_rows = sorted({r.row for r in rejected})
        staging.execute("CREATE TEMP TABLE bad (_row BIGINT)")
        if bad_rows:
            staging.executemany("INSERT INTO bad VALUES (?)", [(r,) for r in bad_rows])
        absent = [
            f"CAST(NULL AS {kind}) AS {quote_identifier(name)}" for name, kind in types.items() if name not in present
        ]
        select = ", ".join([*(_typed(name, types.get(name)) for name in present), *absent])
        staging.execute(f"CREATE VIEW typed AS SELECT {select} FROM raw WHERE _row NOT IN (SELECT _row FROM bad)")
        if not allow_empty and _count(staging, "typed") == 0:
            skipped = " once its bad rows are skipped" if bad_rows else ""
            raise DataRejected(
                f"{path} has no rows to load{skipped}; {table} was left as it was",
                hint="pass --allow-empty to replace the table with an empty one on purpose",
            )
        loaded = land_table(staging, "typed", warehouse, table)
        written = None
        if rejected:
            written = rejects_file or path.with_name(path.name + ".rejects.csv")
            _write_rejects(staging, written, rejected, present)
        return LoadReport(table, loaded, tuple(rejected), written)
    except duckdb.Error as exc:  # the file, as DuckDB reads it (the warehouse's own errors are WarehouseErrors)
        raise DataRejected(f"cannot read {path}: {str(exc).splitlines()[0]}") from None
    finally:
        staging.close()


def _count(staging: duckdb.DuckDBPyConnection, relation: str) -> int:
    return int(staging.execute(f"SELECT count(*) FROM {relation}").fetchone()[0])  # type: ignore[index]


def _typed(name: str, duck_type: str | None) -> str:
    column = quote_identifier(name)
    if duck_type is None:
        return column
    if duck_type == "VARCHAR":
        return f"CASE WHEN {_blank(column)} THEN NULL ELSE CAST({column} AS VARCHAR) END AS {column}"
    return f"TRY_CAST(NULLIF(TRIM(CAST({column} AS VARCHAR)), '') AS {duck_type}) AS {column}"


def _blank(column: str) -> str:
    """SQL: the value is missing, empty, or only spaces (a blank cell of a spreadsheet export)."""
    return f"NULLIF(TRIM(CAST({column} AS VARCHAR)), '') IS NULL"


def _rejected_rows(
    staging: duckdb.DuckDBPyConnection, raw: RawFile, types: dict[str, str], required: list[str]
) -> list[RejectedRow]:
    present = set(raw.columns)
    empty = [
        f"SELECT _row, {quote_literal(name)} AS col, '' AS value, 'REQUIRED' AS expected "
        f"FROM raw WHERE {_blank(quote_identifier(name))}"
        for name in required
    ]
    checks = empty + [
        f"SELECT _row, {quote_literal(name)} AS col, CAST({quote_identifier(name)} AS VARCHAR) AS value, "
        f"'{expected}' AS expected FROM raw WHERE NOT {_blank(quote_identifier(name))} AND {misfit}"
        for name, kind in types.items()
        if name in present and kind != "VARCHAR"
        for expected, misfit in _misfits(name, kind)
    ]
    if not checks:
        return []
    rows = staging.execute(" UNION ALL ".join(checks) + " ORDER BY 1, 2").fetchall()
    lines = record_lines(raw.path, {int(r[0]) for r in rows}) if raw.is_csv else {}
    return [RejectedRow(int(r[0]), str(r[1]), str(r[2]), _expected(str(r[3])), lines.get(int(r[0]))) for r in rows]


def _misfits(name: str, duck_type: str) -> list[tuple[str, str]]:
    """(what was expected, SQL condition) for each way a non-blank value can fail to be of the
    type: not that type at all, and for numbers also NaN or infinite ('NaN', 'inf', '1e309')."""
    cast = f"TRY_CAST(TRIM(CAST({quote_identifier(name)} AS VARCHAR)) AS {duck_type})"
    misfits = [(duck_type, f"{cast} IS NULL")]
    if duck_type == "DOUBLE":
        misfits.append(("FINITE", f"NOT isfinite({cast})"))
    return misfits


def _expected(duck_type: str) -> str:
    return {
        "BOOLEAN": "true or false",
        "DOUBLE": "a number",
        "BIGINT": "a whole number",
        "FINITE": "a finite number (NaN and infinity cannot be added up)",
        "DATE": "a date (YYYY-MM-DD)",
        "TIMESTAMPTZ": "a timestamp (YYYY-MM-DD HH:MM:SS, optional +HH:MM offset)",
        "REQUIRED": "a value (the column is required)",
    }.get(duck_type, duck_type)


def _describe(rejected: list[RejectedRow]) -> str:
    return shown(
        [
            f"  row {r.row}{f' (line {r.line})' if r.line else ''}: {r.column} = {r.value!r} is not {r.expected}"
            for r in rejected
        ]
    )


def describe_rejects(report: LoadReport) -> str:
    return _describe(list(report.rejected))


def _write_rejects(
    staging: duckdb.DuckDBPyConnection, path: Path, rejected: list[RejectedRow], present: list[str]
) -> None:
    """The rejected rows as they were in the file, each with what was wrong with it."""
    problems: dict[int, list[str]] = {}
    for r in rejected:
        problems.setdefault(r.row, []).append(f"{r.column} = {r.value!r} is not {r.expected}")
    columns = ", ".join(f"CAST({quote_identifier(name)} AS VARCHAR)" for name in present)
    rows = staging.execute(f"SELECT _row, {columns} FROM raw WHERE _row IN (SELECT _row FROM bad) ORDER BY _row")
    lines = {r.row: r.line for r in rejected}
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["_row", "_line", "_problems", *present])
        for row in rows.fetchall():
            writer.writerow([row[0], lines.get(int(row[0])) or "", "; ".join(problems[int(row[0])]), *row[1:]])
