"""Computed columns, roll-ups, OR filters, untimed sources and the order statistics (issue 18), on
DuckDB, SQLite and PostgreSQL, each number against plain Python over the same rows."""

from __future__ import annotations

import json
import random
import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from kpitree.cli.main import cli
from kpitree.expressions import ExpressionError, parse_expression
from kpitree.warehouse import open_warehouse
from tests.engines import engine_url, land

OCTOBER = (datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))
SOURCES = ("Web", "Partner", "Event", None)


def _data(seed: int = 23) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    rng = random.Random(seed)
    leads: list[dict[str, object]] = []
    tasks: list[dict[str, object]] = []
    for i in range(300):
        created = datetime(2026, 9, 20, tzinfo=UTC) + timedelta(minutes=rng.randrange(0, 60_000))
        leads.append(
            {
                "Id": f"L{i:04d}",
                "CreatedDate": created,
                "LeadSource": rng.choice(SOURCES),
                "Score": rng.randrange(0, 100),
            }
        )
        for k in range(rng.choice([0, 0, 1, 2, 3])):
            touched = created + timedelta(minutes=rng.randrange(1, 6000))
            tasks.append(
                {
                    "Id": f"T{i:04d}{k}",
                    "WhoId": f"L{i:04d}",
                    "CreatedDate": touched,
                    "Status": rng.choice(["Completed", "Open"]),
                }
            )
    return leads, tasks  # fmt: skip


LEADS, TASKS = _data()


def _staging() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute("CREATE TABLE leads (Id VARCHAR, CreatedDate TIMESTAMPTZ, LeadSource VARCHAR, Score DOUBLE)")
    connection.executemany("INSERT INTO leads VALUES (?, ?, ?, ?)", [list(r.values()) for r in LEADS])
    connection.execute("CREATE TABLE tasks (Id VARCHAR, WhoId VARCHAR, CreatedDate TIMESTAMPTZ, Status VARCHAR)")
    connection.executemany("INSERT INTO tasks VALUES (?, ?, ?, ?)", [list(r.values()) for r in TASKS])
    connection.execute("CREATE TABLE plans (Plan VARCHAR, Seats DOUBLE)")
    connection.executemany("INSERT INTO plans VALUES (?, ?)", [["Starter", 5], ["Pro", 20], ["Enterprise", 100]])
    return connection


@contextmanager
def warehouse(engine: str, folder: Path) -> Iterator[str]:
    with engine_url(engine, folder) as url:
        opened = open_warehouse(url, writable=True)
        land(_staging(), opened, "leads", "tasks", "plans")
        opened.dispose()
        yield url


TREE = """tree: leads
title: Lead response
grain: month
timezone: UTC
people:
  - {id: ana, name: Ana, email: ana@example.com}
sources:
  leads:
    table: leads
    time_column: CreatedDate
    columns:
      Id: null
      CreatedDate: null
      LeadSource: null
      Score: null
      first_touch_at:
        rollup: {source: tasks, on: {WhoId: Id}, agg: min, column: TouchedAt, where: {Status: Completed}}
      touches: {rollup: {source: tasks, on: {WhoId: Id}, agg: count}}
      response_hours: {expr: "hours_between(CreatedDate, first_touch_at)"}
      channel: {expr: "map(LeadSource, {'Web': 'Inbound', 'Event': 'Inbound'}, 'Outbound')"}
      grade: {expr: "case(Score >= 80, 'A', Score >= 50, 'B', 'C')"}
      hot: {expr: "Score >= 70 and touches > 0"}
  tasks:
    table: tasks
    time_column: TouchedAt
    columns: {WhoId: null, TouchedAt: CreatedDate, Status: null}
  plans:
    table: plans
    time_column: null
    columns: {Plan: null, Seats: null}
nodes:
  - id: leads_total
    title: Leads
    direction: higher_is_better
    owners: {accountable: ana}
    formula: inbound + outbound
  - id: inbound
    measure: {source: leads, agg: count, where: {channel: Inbound}}
  - id: outbound
    measure: {source: leads, agg: count, where: {channel: Outbound}}
  - id: grade_a_or_touched_twice
    measure: {source: leads, agg: count, where: {any: [{grade: A}, {touches: {gte: 2}}]}}
  - id: hot_leads
    measure: {source: leads, agg: count, where: {hot: true}}
  - id: mean_response
    measure: {source: leads, agg: avg, column: response_hours}
  - id: fastest
    measure: {source: leads, agg: min, column: response_hours}
  - id: slowest
    measure: {source: leads, agg: max, column: response_hours}
  - id: seats
    measure: {source: plans, agg: sum, column: Seats}
"""
ORDER_STATS = """  - id: median_response
    measure: {source: leads, agg: median, column: response_hours}
  - id: p90_response
    measure: {source: leads, agg: percentile, p: 0.9, column: response_hours}
"""


def _october() -> list[dict[str, object]]:
    return [lead for lead in LEADS if OCTOBER[0] <= lead["CreatedDate"] < OCTOBER[1]]  # type: ignore[operator]


def _response_hours() -> list[float]:
    first: dict[str, datetime] = {}
    for task in TASKS:
        if task["Status"] == "Completed":
            who, at = str(task["WhoId"]), task["CreatedDate"]
            assert isinstance(at, datetime)
            first[who] = min(first.get(who, at), at)
    hours = []
    for lead in _october():
        created = lead["CreatedDate"]
        assert isinstance(created, datetime)
        if lead["Id"] in first:
            hours.append((first[str(lead["Id"])] - created).total_seconds() / 3600)
    return hours


def _touches(lead_id: object) -> int:
    return sum(1 for task in TASKS if task["WhoId"] == lead_id)


def compute(runner: CliRunner, folder: Path, text: str, url: str) -> tuple[int, dict[str, float | None], str]:
    tree = folder / "leads.yaml"
    tree.write_text(text, encoding="utf-8")
    args = ["compute", str(tree), "--period", "2026-10", "--format", "json", "--no-save", "--warehouse", url]
    result = runner.invoke(cli, args)
    if result.exit_code != 0:
        return result.exit_code, {}, result.stderr
    return 0, {n["id"]: n["value"] for n in json.loads(result.stdout)["nodes"]}, result.stderr


def test_derived_columns_filters_and_aggregates_match_python(runner: CliRunner, engine: str, tmp_path: Path) -> None:
    october = _october()
    hours = _response_hours()
    with warehouse(engine, tmp_path) as url:
        code, values, err = compute(runner, tmp_path, TREE, url)
    assert code == 0, err
    inbound = sum(1 for lead in october if lead["LeadSource"] in ("Web", "Event"))
    assert values["inbound"] == inbound
    assert values["outbound"] == len(october) - inbound  # NULL LeadSource maps to the default
    grade_a = {lead["Id"] for lead in october if float(str(lead["Score"])) >= 80}
    twice = {lead["Id"] for lead in october if _touches(lead["Id"]) >= 2}
    assert values["grade_a_or_touched_twice"] == len(grade_a | twice)
    hot = [lead for lead in october if float(str(lead["Score"])) >= 70 and _touches(lead["Id"]) > 0]
    assert values["hot_leads"] == len(hot)
    assert values["mean_response"] == pytest.approx(statistics.fmean(hours), rel=1e-9)
    assert values["fastest"] == pytest.approx(min(hours), rel=1e-9)
    assert values["slowest"] == pytest.approx(max(hours), rel=1e-9)
    assert values["seats"] == 125  # an untimed source counts every row in every period


def test_median_and_percentile_are_continuous_and_sqlite_refuses_them(
    runner: CliRunner, engine: str, tmp_path: Path
) -> None:
    hours = sorted(_response_hours())
    with warehouse(engine, tmp_path) as url:
        code, values, err = compute(runner, tmp_path, TREE + ORDER_STATS, url)
    if engine == "sqlite":
        assert code == 1
        assert "a median needs a percentile function, which SQLite lacks" in err
        return
    assert code == 0, err
    assert values["median_response"] == pytest.approx(statistics.median(hours), rel=1e-9)
    rank = 0.9 * (len(hours) - 1)  # linear interpolation between the closest ranks
    low = int(rank)
    expected = hours[low] + (hours[min(low + 1, len(hours) - 1)] - hours[low]) * (rank - low)
    assert values["p90_response"] == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Score.real", "attribute is not allowed"),
        ("__import__('os')", "only coalesce, hours_between"),
        ("Score ** 2", "binop is not allowed"),
        ("date_part('week', CreatedDate)", "date_part's first argument"),
        ("map(LeadSource, 'Web')", "map takes a column, a mapping"),
        ("case(Score > 1, 'a')", "case takes pairs"),
        ("1 < Score < 5", "one comparison at a time"),
        ("", "empty expression"),
    ],
)
def test_an_expression_outside_the_language_is_refused(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        parse_expression(text)


def test_a_bad_expression_is_an_issue_at_its_column(runner: CliRunner, tmp_path: Path) -> None:
    tree = tmp_path / "leads.yaml"
    tree.write_text(
        TREE.replace('"hours_between(CreatedDate, first_touch_at)"', '"hours_between(CreatedDate, first_tuoch_at)"')
        .replace("grade: {expr: \"case(", "grade: {expr: \"cases(")
        .replace("      touches: {rollup: {source: tasks,", "      touches: {rollup: {source: taskz,"),
        encoding="utf-8",
    )  # fmt: skip
    result = runner.invoke(cli, ["validate", "--format", "json", str(tree)])
    assert result.exit_code == 1
    issues = {(i["code"], i["message"]) for i in json.loads(result.stdout)["issues"]}
    assert (
        "unknown_column",
        "column 'response_hours' reads 'first_tuoch_at', which source 'leads' does not have",
    ) in issues
    assert any(
        (code == "column_expression" and "cases" not in message) or "only case" in message for code, message in issues
    )
    assert ("unknown_source", "roll-up 'touches' reads unknown source 'taskz'") in issues


@given(st.text(alphabet="abcdefghij_()+-*/<>=!,.' 0123456789{}:[]", max_size=60))
def test_any_text_parses_or_is_refused_cleanly(text: str) -> None:
    """Whatever a tree writes, the parser answers an expression or an ExpressionError with an
    offset inside the text: never another exception."""
    offset = 0
    try:
        parse_expression(text)
    except ExpressionError as exc:
        offset = exc.offset
    assert 0 <= offset <= max(len(text), 1)
