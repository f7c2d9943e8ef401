"""A team's own tree over its own CRM exports (issue 17): Salesforce-shaped Opportunity and Account
CSVs, a tree in America/New_York, dates, blank amounts, text datetimes, a filtered join. Every
number is compared with plain Python over the same CSV, on DuckDB, SQLite and PostgreSQL; what
cannot be computed as documented is a clear user error, never a plausible wrong value."""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest
from click.testing import CliRunner

from kpitree.cli.main import cli
from kpitree.warehouse import open_warehouse
from tests.engines import engine_url, land

ZONE = ZoneInfo("America/New_York")
OCTOBER = (datetime(2026, 10, 1, tzinfo=ZONE), datetime(2026, 11, 1, tzinfo=ZONE))
SALESFORCE_TIME = "%m/%d/%Y %I:%M %p"
SEGMENTS = ("SMB", "Mid-market", "Enterprise")


def _opportunities(seed: int = 17) -> list[dict[str, str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(600):
        # Deals cluster on the month edges, where a date compared as a New York timestamp goes wrong.
        close = date(2026, 9, 28) + timedelta(days=rng.choice([0, 1, 2, 3, 4, 10, 20, 33, 34, 35]))
        created = datetime(2026, 9, 1, 8, 30) + timedelta(minutes=rng.randrange(0, 80_000))
        rows.append(
            {
                "Id": f"006{i:05d}",
                "AccountId": f"001{rng.randrange(40):03d}",
                "StageName": rng.choice(["Closed Won", "Closed Won", "Closed Lost", "Negotiation"]),
                "Amount": "" if rng.random() < 0.08 else f"{rng.randrange(500, 90_000)}.{rng.randrange(100):02d}",
                "CloseDate": close.isoformat(),
                "CreatedDate": created.strftime(SALESFORCE_TIME),
            }
        )
    return rows


OPPORTUNITIES = _opportunities()
ACCOUNTS = [{"Id": f"001{a:03d}", "Segment__c": SEGMENTS[a % 3]} for a in range(40)]


def _write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _in_october(day: date) -> bool:
    return OCTOBER[0].date() <= day < OCTOBER[1].date()


def _won(row: dict[str, str]) -> bool:
    return row["StageName"] == "Closed Won"


# -- the independent computation -------------------------------------------------------------------


def expected_closed() -> int:
    return sum(1 for r in OPPORTUNITIES if _in_october(date.fromisoformat(r["CloseDate"])))


def expected_won(segment: str | None = None) -> list[dict[str, str]]:
    segments = {a["Id"]: a["Segment__c"] for a in ACCOUNTS}
    return [
        r
        for r in OPPORTUNITIES
        if _won(r)
        and _in_october(date.fromisoformat(r["CloseDate"]))
        and (segment is None or segments[r["AccountId"]] == segment)
    ]


def expected_created() -> int:
    return sum(
        1
        for r in OPPORTUNITIES
        if OCTOBER[0] <= datetime.strptime(r["CreatedDate"], SALESFORCE_TIME).replace(tzinfo=UTC) < OCTOBER[1]
    )


# -- the warehouse and the trees -------------------------------------------------------------------


def _staging(typed_created: bool = False) -> duckdb.DuckDBPyConnection:
    """The exports as typed tables (CloseDate a DATE, Amount a DOUBLE with NULLs), CreatedDate as text."""
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute(
        "CREATE TABLE opportunities (Id VARCHAR, AccountId VARCHAR, StageName VARCHAR, Amount DOUBLE, "
        f"CloseDate DATE, CreatedDate {'TIMESTAMP' if typed_created else 'VARCHAR'})"
    )
    for r in OPPORTUNITIES:
        created: object = r["CreatedDate"]
        if typed_created:
            created = datetime.strptime(r["CreatedDate"], SALESFORCE_TIME)
        amount = float(r["Amount"]) if r["Amount"] else None
        connection.execute(
            "INSERT INTO opportunities VALUES (?, ?, ?, ?, ?, ?)",
            [r["Id"], r["AccountId"], r["StageName"], amount, r["CloseDate"], created],
        )
    connection.execute("CREATE TABLE accounts (Id VARCHAR, Segment__c VARCHAR)")
    connection.executemany("INSERT INTO accounts VALUES (?, ?)", [[a["Id"], a["Segment__c"]] for a in ACCOUNTS])
    return connection


OPP_COLUMNS = "{Id: null, AccountId: null, StageName: null, Amount: null, CloseDate: null, CreatedDate: null}"


def _tree(folder: Path, location: str, *, time: str = "CloseDate", extra_source: str = "", nodes: str = "") -> Path:
    path = folder / "deals.yaml"
    path.write_text(
        f"""tree: deals
title: Deals
grain: month
timezone: America/New_York
people:
  - {{id: ana, name: Ana, email: ana@example.com}}
sources:
  opportunities:
    {location}
    time_column: {time}
    columns: {OPP_COLUMNS}
{extra_source}nodes:
  - id: closed
    title: Closed deals
    direction: higher_is_better
    owners: {{accountable: ana}}
    measure: {{source: opportunities, agg: count}}
{nodes}""",
        encoding="utf-8",
    )
    return path


def _with_time_format(tree: Path, fmt: str) -> None:
    text = tree.read_text(encoding="utf-8")
    tree.write_text(
        text.replace("time_column: CreatedDate", f"time_column: CreatedDate\n    time_format: '{fmt}'"),
        encoding="utf-8",
    )


def compute(
    runner: CliRunner, tree: Path, url: str, *extra: str
) -> tuple[int, dict[str, float | None], list[str], str]:
    result = runner.invoke(
        cli, ["compute", str(tree), "--period", "2026-10", "--format", "json", "--no-save", "--warehouse", url, *extra]
    )
    if result.exit_code != 0:
        return result.exit_code, {}, [], result.stderr
    data = json.loads(result.stdout)
    return 0, {n["id"]: n["value"] for n in data["nodes"]}, data["warnings"], result.stderr


# -- 1. a DATE column compares as a date, for every kind of source ---------------------------------


def test_a_date_column_of_a_file_source_counts_the_days_of_the_month(runner: CliRunner, tmp_path: Path) -> None:
    _write_csv(tmp_path / "Opportunity.csv", OPPORTUNITIES)
    duckdb.connect(str(tmp_path / "w.duckdb")).close()
    code, values, _, err = compute(
        runner, _tree(tmp_path, "file: Opportunity.csv"), f"duckdb:///{tmp_path / 'w.duckdb'}"
    )
    assert code == 0, err
    assert values["closed"] == expected_closed()


@contextmanager
def warehouse(engine: str, folder: Path, staging: duckdb.DuckDBPyConnection) -> Iterator[str]:
    """The exports landed in a warehouse on ``engine``; its URL (the connection let go of)."""
    with engine_url(engine, folder) as url:
        opened = open_warehouse(url, writable=True)
        land(staging, opened, "opportunities", "accounts")
        opened.dispose()
        yield url


def test_a_date_column_of_a_table_counts_the_days_of_the_month(runner: CliRunner, engine: str, tmp_path: Path) -> None:
    with warehouse(engine, tmp_path, _staging()) as url:
        code, values, _, err = compute(runner, _tree(tmp_path, "table: opportunities"), url)
    assert code == 0, err
    assert values["closed"] == expected_closed()


# -- 2. a joined source's where restricts the joining rows ----------------------------------------

ACCOUNTS_SOURCE = """  accounts:
    table: accounts
    columns: {AccountId: Id, Segment__c: null}
    where: {Segment__c: Enterprise}
"""
WON = """  - id: won
    measure: {source: opportunities, agg: count, where: {StageName: Closed Won}}
"""


def test_a_joined_sources_filter_keeps_only_the_rows_it_matches(runner: CliRunner, engine: str, tmp_path: Path) -> None:
    location = "table: opportunities\n    joins: [{source: accounts, on: AccountId}]"
    tree = _tree(tmp_path, location, extra_source=ACCOUNTS_SOURCE, nodes=WON)
    with warehouse(engine, tmp_path, _staging()) as url:
        code, values, warnings, err = compute(runner, tree, url)
        assert code == 0, err
        assert values["won"] == len(expected_won("Enterprise"))
        assert warnings == []
        code, smb, _, err = compute(runner, tree, url, "--where", "Segment__c=SMB")
    assert code == 0, err
    assert smb["won"] == 0  # SMB deals are not Enterprise deals: the join's filter still holds


# -- 3. NULLs in measure columns are counted, and a product over different rows is flagged ---------

REVENUE = """  - id: revenue
    formula: won * avg_deal_size
  - id: won
    measure: {source: opportunities, agg: count, where: {StageName: Closed Won}}
  - id: avg_deal_size
    measure: {source: opportunities, agg: avg, column: Amount, where: {StageName: Closed Won}}
  - id: booked
    measure: {source: opportunities, agg: sum, column: Amount, where: {StageName: Closed Won}}
"""


def test_nulls_in_a_measure_column_are_reported_and_the_product_is_flagged(
    runner: CliRunner, engine: str, tmp_path: Path
) -> None:
    tree = _tree(tmp_path, "table: opportunities", nodes=REVENUE)
    tree.write_text(
        tree.read_text(encoding="utf-8").replace(
            "measure: {source: opportunities, agg: count}\n", "formula: revenue\n", 1
        ),
        encoding="utf-8",
    )
    won = expected_won()
    amounts = [float(r["Amount"]) for r in won if r["Amount"]]
    blanks = len(won) - len(amounts)
    assert blanks > 0
    with warehouse(engine, tmp_path, _staging()) as url:
        code, values, warnings, err = compute(runner, tree, url)
        assert code == 0, err
        assert values["booked"] == pytest.approx(sum(amounts), rel=1e-9)
        assert values["avg_deal_size"] == pytest.approx(sum(amounts) / len(amounts), rel=1e-9)
        assert values["revenue"] == pytest.approx(len(won) * sum(amounts) / len(amounts), rel=1e-9)
        note = f"{blanks} of the {len(won)} rows it keeps in 2026-10 have no Amount (NULL)"
        assert f"avg_deal_size: {note}; avg leaves them out" in warnings
        assert f"booked: {note}; sum leaves them out" in warnings
        checked = runner.invoke(cli, ["check", str(tree), "--period", "2026-10", "--warehouse", url])
    assert checked.exit_code == 1
    row = next(line for line in checked.stdout.splitlines() if "won * avg_deal_size: both over the same rows" in line)
    assert row.split("│")[3].strip() == str(len(won))
    assert row.split("│")[4].strip() == str(len(amounts))
    assert "FAILS" in row


# -- 4, 5. types that cannot serve: a clear error with the column, its type and the fix -------------

SUM_OF_DATES = """  - id: total_of_dates
    measure: {source: opportunities, agg: sum, column: CloseDate}
"""


def test_a_sum_over_a_date_column_is_a_user_error(runner: CliRunner, engine: str, tmp_path: Path) -> None:
    tree = _tree(tmp_path, "table: opportunities", nodes=SUM_OF_DATES)
    with warehouse(engine, tmp_path, _staging()) as url:
        code, _, _, err = compute(runner, tree, url)
    assert code == 1
    assert "node 'total_of_dates': sum(CloseDate) over source 'opportunities', but 'CloseDate' is a date column" in err
    assert "Traceback" not in err


def test_a_text_time_column_needs_a_time_format(runner: CliRunner, engine: str, tmp_path: Path) -> None:
    tree = _tree(tmp_path, "table: opportunities", time="CreatedDate")
    with warehouse(engine, tmp_path, _staging()) as url:
        code, values, _, err = compute(runner, tree, url)
        assert code == 1
        if engine == "sqlite":  # SQLite reads text times, but only ISO ones: this one it cannot read
            assert "holds '" in err
            assert "which SQLite cannot read as a time" in err
        else:
            assert "the time column 'CreatedDate' of source 'opportunities' (table opportunities) is text" in err
            assert "time_format" in err
        _with_time_format(tree, SALESFORCE_TIME)
        code, values, _, err = compute(runner, tree, url)
    assert "Traceback" not in err
    if engine == "sqlite":
        assert code == 1
        assert "which SQLite cannot apply" in err
    else:
        assert code == 0, err
        assert values["closed"] == expected_created()


def test_a_text_time_column_of_a_file_reads_with_its_format(runner: CliRunner, tmp_path: Path) -> None:
    _write_csv(tmp_path / "Opportunity.csv", OPPORTUNITIES)
    duckdb.connect(str(tmp_path / "w.duckdb")).close()
    tree = _tree(tmp_path, "file: Opportunity.csv", time="CreatedDate")
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    assert compute(runner, tree, url)[0] == 1
    _with_time_format(tree, SALESFORCE_TIME)
    code, values, _, err = compute(runner, tree, url)
    assert code == 0, err
    assert values["closed"] == expected_created()


# -- 6. an engine's refusal names the tree, node and source; validate --warehouse finds it first ---


def test_a_value_the_engine_cannot_parse_is_a_user_error_naming_the_node(runner: CliRunner, tmp_path: Path) -> None:
    _write_csv(tmp_path / "Opportunity.csv", OPPORTUNITIES)
    duckdb.connect(str(tmp_path / "w.duckdb")).close()
    tree = _tree(tmp_path, "file: Opportunity.csv", time="CreatedDate")
    _with_time_format(tree, "%Y-%m-%d")
    code, _, _, err = compute(runner, tree, f"duckdb:///{tmp_path / 'w.duckdb'}")
    assert code == 1
    assert "computing tree 'deals', source 'opportunities', node 'closed'" in err
    assert "Could not parse string" in err  # the engine's own message
    assert "internal error" not in err


CREATED_SOURCE = """  created:
    table: opportunities
    time_column: CreatedDate
    columns: {CreatedDate: null}
  missing:
    table: no_such_table
    time_column: CloseDate
    columns: {CloseDate: null}
"""
PROBLEM_NODES = (
    SUM_OF_DATES
    + """  - id: created_deals
    measure: {source: created, agg: count}
  - id: nowhere
    measure: {source: missing, agg: count}
"""
)


def test_validate_with_a_warehouse_reports_each_problem_at_its_line(
    runner: CliRunner, engine: str, tmp_path: Path
) -> None:
    tree = _tree(tmp_path, "table: opportunities", extra_source=CREATED_SOURCE, nodes=PROBLEM_NODES)
    lines = tree.read_text(encoding="utf-8").splitlines()

    def line_of(text: str) -> int:
        return next(number for number, line in enumerate(lines, 1) if text in line)

    with warehouse(engine, tmp_path, _staging()) as url:
        plain = runner.invoke(cli, ["validate", str(tree)])
        result = runner.invoke(cli, ["validate", "--format", "json", str(tree), "--warehouse", url])
    assert plain.exit_code == 0, plain.output  # the file itself is fine: only the warehouse can tell
    assert result.exit_code == 1
    found = {(i["line"], i["message"]) for i in json.loads(result.stdout)["issues"] if i["code"] == "warehouse"}
    assert len(found) == 3, found
    assert any(line == line_of("column: CloseDate}") and "'CloseDate' is a date column" in m for line, m in found)
    assert any(line == line_of("table: no_such_table") and "no table 'no_such_table'" in m for line, m in found)
    assert any(line == line_of("time_column: CreatedDate") and "'CreatedDate'" in m for line, m in found)


def test_an_untyped_load_is_summed_only_once_typed(runner: CliRunner, engine: str, tmp_path: Path) -> None:
    """A CSV loaded as it is (every column text) cannot be summed on DuckDB or PostgreSQL: the
    error says how to load it typed; loaded with --infer-types, the sums are the CSV's own."""
    _write_csv(tmp_path / "Opportunity.csv", OPPORTUNITIES)
    tree = _tree(tmp_path, "table: opportunities", nodes=REVENUE)
    won = expected_won()
    amounts = [float(r["Amount"]) for r in won if r["Amount"]]
    with engine_url(engine, tmp_path) as url:
        load = [
            "load",
            str(tmp_path / "Opportunity.csv"),
            "--table",
            "opportunities",
            "--no-contract",
            "--warehouse",
            url,
        ]
        assert runner.invoke(cli, load).exit_code == 0
        code, values, _, err = compute(runner, tree, url)
        if engine == "sqlite":
            assert code == 0, err  # SQLite adds up numbers kept as text
            assert values["booked"] == pytest.approx(sum(amounts), rel=1e-9)
        else:  # the first thing it meets: CloseDate is text too
            assert code == 1
            assert "the time column 'CloseDate' of source 'opportunities' (table opportunities) is text" in err
            assert "--infer-types" in err
        assert runner.invoke(cli, [*load, "--infer-types"]).exit_code == 0
        code, values, _, err = compute(runner, tree, url)
    assert code == 0, err
    assert values["booked"] == pytest.approx(sum(amounts), rel=1e-9)
    assert values["won"] == len(won)
