"""What each engine writes its own way (kpitree/dialects), run on the engine against Python over the
same values: epoch seconds and day of week of timestamps landed as every source's are, and text
read with every kind of time_format (a Salesforce ``8/24/2025 5:30 PM``, month names, offsets,
microseconds, two-digit years), on DuckDB, SQLite, PostgreSQL and Spark SQL."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlalchemy as sa

from kpitree.compute.column_types import Kind, kind_of
from kpitree.dialects import dialect_for
from kpitree.dialects.postgresql import TEMPLATE_CODES
from kpitree.dialects.spark import PATTERN_CODES
from kpitree.spec.time_format import STRPTIME_CODES, is_date_only
from tests.engines import WITH_SPARK, warehouse_with

# Time formats as exports write them; each value is written by Python's strftime (the offset one as
# ISO writes it) and must read back as the same instant.
FORMATS = (
    "%m/%d/%Y %I:%M %p",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%d.%m.%Y %H:%M",
    "%b %d %Y %H:%M:%S",
    "%d %B %Y",
    "%y%m%d",
    "%Y-%m-%d %H:%M:%S%z",
)
# Midnight, noon, one-digit months, days and hours, a leap day, the turn of a year, microseconds.
FIXED = (
    datetime(2026, 1, 1, 0, 0, 0),
    datetime(2025, 8, 4, 12, 0, 0),
    datetime(2024, 2, 29, 5, 7, 9, 250000),
    datetime(2025, 12, 31, 23, 59, 59, 999999),
    datetime(2026, 10, 25, 1, 30, 0, 1),
)
SAMPLED = tuple(
    datetime(2020, 1, 1) + timedelta(seconds=random.Random(20).uniform(0, 8 * 365 * 86400)) for _ in range(15)
)
TIMES = FIXED + tuple(t.replace(microsecond=t.microsecond // 1000 * 1000) for t in SAMPLED)
INDIA = timezone(timedelta(hours=5, minutes=30))


def _written(moment: datetime, fmt: str) -> str:
    if fmt.endswith("%z"):
        return moment.replace(tzinfo=UTC).astimezone(INDIA).isoformat(sep=" ", timespec="seconds")
    return moment.strftime(fmt)


def _expected_epoch(moment: datetime, fmt: str) -> float:
    """The instant Python's strptime reads from what the export wrote: its fields, in UTC."""
    parsed = datetime.strptime(_written(moment, fmt), fmt)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _to_milliseconds(moment: datetime) -> datetime:
    return datetime(moment.year, moment.month, moment.day) + timedelta(
        milliseconds=round((moment - datetime(moment.year, moment.month, moment.day)) / timedelta(milliseconds=1))
    )


def _staging() -> duckdb.DuckDBPyConnection:
    """One row per time: the timestamp, and the text of it in each format."""
    connection = duckdb.connect()
    columns = ", ".join(f"f{i} VARCHAR" for i in range(len(FORMATS)))
    connection.execute(f"CREATE TABLE times (id INTEGER, t TIMESTAMP, {columns})")
    for row, moment in enumerate(TIMES):
        texts = [_written(moment, fmt) for fmt in FORMATS]
        connection.execute(f"INSERT INTO times VALUES (?, ?, {', '.join('?' * len(texts))})", [row, moment, *texts])
    return connection


def test_every_parsing_dialect_translates_every_strptime_code() -> None:
    assert set(TEMPLATE_CODES) == set(STRPTIME_CODES)
    assert set(PATTERN_CODES) == set(STRPTIME_CODES)


@pytest.mark.parametrize("engine", WITH_SPARK)
def test_epoch_seconds_dow_and_time_formats_agree_with_python(engine: str, tmp_path: Path) -> None:
    with warehouse_with(engine, tmp_path, _staging(), "times") as warehouse:
        dialect = warehouse.dialect
        table = sa.table("times", *(sa.column(c) for c in ("id", "t", *(f"f{i}" for i in range(len(FORMATS))))))
        time = table.c.t
        selected: list[Any] = [table.c.id, dialect.epoch_seconds(time), dialect.date_part("dow", time)]
        parsing = dialect.parse_time(table.c.f0, FORMATS[0], False) is not None
        if parsing:
            for i, fmt in enumerate(FORMATS):
                parsed = dialect.parse_time(table.c[f"f{i}"], fmt, is_date_only(fmt))
                assert parsed is not None
                selected.append(dialect.epoch_seconds(parsed))
        with warehouse.reading("the dialect checks") as connection:
            rows = connection.execute(sa.select(*selected).order_by(table.c.id)).all()
    assert len(rows) == len(TIMES)
    assert parsing is (engine != "sqlite")  # SQLite has no time parsing, and says so (test_crm_exports)
    for row, moment in zip(rows, TIMES, strict=True):
        # SQLite reads a time to the millisecond, rounded: 23:59:59.999999 is the next midnight there.
        kept = _to_milliseconds(moment) if engine == "sqlite" else moment
        assert row[1] == pytest.approx(kept.replace(tzinfo=UTC).timestamp(), abs=1e-6), moment
        assert row[2] == (kept.weekday() + 1) % 7, moment  # 0 = Sunday on every engine
        for fmt, value in zip(FORMATS if parsing else (), row[3:], strict=True):
            assert value == pytest.approx(_expected_epoch(moment, fmt), abs=1e-6), (fmt, moment)


def test_an_engine_kpitree_has_no_module_for_gets_the_ansi_defaults() -> None:
    dialect = dialect_for("oracle")
    assert dialect.display_name == "oracle"
    assert dialect.parse_time(sa.column("t"), "%Y-%m-%d", True) is None
    sql = str(dialect.epoch_seconds(sa.column("t")).compile(compile_kwargs={"literal_binds": True}))
    assert "EXTRACT(epoch FROM t)" in sql


def test_an_engine_without_information_schema_has_its_types_read_by_the_inspector(tmp_path: Path) -> None:
    # SQLite has no information_schema: the ANSI defaults fall back to SQLAlchemy's inspector.
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (n DOUBLE PRECISION, day DATE, at TIMESTAMP, name VARCHAR(20))")
    with engine.connect() as connection:
        declared = dialect_for("an-engine-without-a-module").declared_types(connection, "", "t")
    engine.dispose()
    assert {column: kind_of(text) for column, text in declared.items()} == {
        "n": Kind.NUMBER,
        "day": Kind.DATE,
        "at": Kind.TIMESTAMP,
        "name": Kind.TEXT,
    }
