"""Reading a file for ``kpitree load``: its header and its rows, exactly as written, or a clear refusal.

A CSV file is read as RFC 4180 (comma, double quotes, quotes doubled inside a field) with every
value as text, so nothing is coerced silently. Its header is read first: a repeated or empty
column name is refused (DuckDB would rename the second ``contact_id`` to ``contact_id_1``, and a
contract column would silently come from the wrong one). DuckDB then reads the rows with its
dialect detection off and rejects kept (``store_rejects``): a row with more or fewer fields than the
header, or a quote that is never closed, is refused with its row number, not guessed at.

Rows are numbered from 1 after the header, in file order. Because a quoted field may hold line
breaks, a row's line in the file is found by reading the file with Python's csv module, only when
a row is reported.
"""

from __future__ import annotations

import csv
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import duckdb

from kpitree.errors import DataRejected
from kpitree.sql_text import quote_identifier, quote_literal

PARQUET_SUFFIXES: Final = (".parquet", ".pq")
SHOWN_PROBLEMS: Final = 20
_REJECTS: Final = "kpitree_csv_rejects"
_SCANS: Final = "kpitree_csv_scans"
_STRUCTURE: Final = {
    "TOO MANY COLUMNS": "has more fields than the header",
    "MISSING COLUMNS": "has fewer fields than the header",
    "UNQUOTED VALUE": "opens a quote that is never closed (or has a stray quote inside a field)",
    "LINE SIZE OVER MAXIMUM": "is longer than a row may be",
    "INVALID ENCODING": "is not UTF-8 text",
    "INVALID STATE": "cannot be read as CSV",
}


@dataclass(frozen=True)
class RawFile:
    """The file's rows in a DuckDB table ``raw``: ``_row`` (1-based, file order), then its columns."""

    path: Path
    columns: tuple[str, ...]
    is_csv: bool


def stage_file(staging: duckdb.DuckDBPyConnection, path: Path) -> RawFile:
    """Read ``path`` into table ``raw`` of ``staging``, or raise :class:`DataRejected` saying why not."""
    if path.suffix.lower() in PARQUET_SUFFIXES:
        reader = f"read_parquet({quote_literal(str(path))})"
        staging.execute(f"CREATE TEMP TABLE raw AS SELECT row_number() OVER () AS _row, * FROM {reader}")
        columns = tuple(name for name, *_ in staging.execute("DESCRIBE raw").fetchall() if name != "_row")
        return RawFile(path, columns, is_csv=False)
    header = read_header(path)
    as_text = "{" + ", ".join(f"{quote_literal(name)}: 'VARCHAR'" for name in header) + "}"
    options = (
        f"header = true, auto_detect = false, columns = {as_text}, delim = ',', quote = '\"', escape = '\"', "
        f"strict_mode = true, store_rejects = true, rejects_table = '{_REJECTS}', rejects_scan = '{_SCANS}'"
    )
    staging.execute(
        "CREATE TEMP TABLE raw AS SELECT row_number() OVER () AS _row, * "
        f"FROM read_csv({quote_literal(str(path))}, {options})"
    )
    broken = staging.execute(
        f"SELECT DISTINCT line - 1, error_type FROM {_REJECTS} ORDER BY 1"  # line counts records, header first
    ).fetchall()
    if broken:
        lines = record_lines(path, {int(row) for row, _ in broken[:SHOWN_PROBLEMS]})
        described = [
            f"  row {int(row)}{_at_line(lines, int(row))} {_STRUCTURE.get(str(kind), str(kind).lower())}"
            for row, kind in broken
        ]
        raise DataRejected(
            f"{len(broken)} row(s) of {path} do not fit its header's {len(header)} columns; nothing was loaded:\n"
            + shown(described),
            hint="a field holding a comma, a quote or a line break must be in double quotes, with its quotes doubled",
        )
    return RawFile(path, header, is_csv=True)


# What DuckDB's sniffer may call a column, and the type kpitree gives it (integers stay integers,
# so numeric ids keep their value; naive timestamps are UTC, as everywhere in kpitree).
_INFERRED: Final = {
    "BIGINT": "BIGINT",
    "INTEGER": "BIGINT",
    "SMALLINT": "BIGINT",
    "TINYINT": "BIGINT",
    "DOUBLE": "DOUBLE",
    "FLOAT": "DOUBLE",
    "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMPTZ",
    "TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ",
    "BOOLEAN": "BOOLEAN",
}


def inferred_types(staging: duckdb.DuckDBPyConnection, raw: RawFile) -> dict[str, str]:
    """Each CSV column's type as DuckDB's sniffer reads the whole file (not a sample), as
    ``kpitree load --infer-types`` gives them; text stays VARCHAR. A column of digits with a
    leading zero (an id such as 00123) stays text, so the zeros are kept."""
    options = "header = true, delim = ',', quote = '\"', escape = '\"', sample_size = -1"
    described = staging.execute(
        f"DESCRIBE SELECT * FROM read_csv({quote_literal(str(raw.path))}, {options})"
    ).fetchall()
    sniffed = dict(zip(raw.columns, (_INFERRED.get(str(row[1]).upper(), "VARCHAR") for row in described), strict=False))
    for name, kind in list(sniffed.items()):
        if kind == "BIGINT":
            column = quote_identifier(name)
            padded = staging.execute(
                f"SELECT 1 FROM raw WHERE TRIM({column}) SIMILAR TO '[+-]?0[0-9]+' LIMIT 1"
            ).fetchone()
            if padded is not None:
                sniffed[name] = "VARCHAR"
    return sniffed


def read_header(path: Path) -> tuple[str, ...]:
    """The CSV file's column names, refusing a repeated or empty one."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), [])
    except UnicodeDecodeError:
        raise DataRejected(f"{path} is not UTF-8 text", hint="export it as UTF-8 CSV") from None
    if not header:
        raise DataRejected(f"{path} is empty: it has no header row", hint="a CSV file starts with its column names")
    problems = []
    seen: dict[str, int] = {}
    for index, name in enumerate(header, start=1):
        if not name.strip():
            problems.append(f"column {index} has no name")
        elif name in seen:
            problems.append(f"column {index} repeats the name {name!r} of column {seen[name]}")
        else:
            seen[name] = index
    if problems:
        raise DataRejected(
            f"the header of {path} cannot name its columns: " + "; ".join(problems),
            hint="give every column its own name in the header row",
        )
    return tuple(header)


def record_lines(path: Path, rows: Collection[int]) -> dict[int, int]:
    """The line (1-based, the header is line 1) on which each of ``rows`` starts, reading only as far
    as the last of them. Rows are data rows: row 1 is the first record after the header."""
    wanted = set(rows)
    last = max(wanted, default=0)
    found: dict[int, int] = {}
    if not last:
        return found
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
        reader = csv.reader(handle)
        start = 1
        for index, _ in enumerate(reader):
            if index in wanted:  # index 0 is the header, so data row n is record n
                found[index] = start
            if index >= last:
                break
            start = reader.line_num + 1
    return found


def _at_line(lines: dict[int, int], row: int) -> str:
    return f" (line {lines[row]})" if row in lines else ""


def shown(lines: Sequence[str]) -> str:
    more = len(lines) - SHOWN_PROBLEMS
    return "\n".join([*lines[:SHOWN_PROBLEMS], *([f"  ... and {more} more"] if more > 0 else [])])
