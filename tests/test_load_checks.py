"""``kpitree load`` meets real exports (issue 16): NaN and infinity, blank keys, a repeated header,
a row with extra fields, quoted line breaks, a file with no rows. Each is reported by row (and
line), and nothing is loaded; a warehouse holding NaN or infinity it did not get from kpitree gives
a node a reason, not an internal error."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from kpitree.cli.main import cli
from kpitree.compute.snapshot import take_snapshot
from kpitree.tree import tree_calendar
from kpitree.tree_files import load_tree_or_raise
from tests.conftest import TREES
from tests.engines import WITH_SPARK, engine_url, warehouse_with

HEADER = "rep_id,day,selling_hours,admin_hours\n"


def load(runner: CliRunner, path: Path, url: str, *extra: str) -> tuple[int, str, str]:
    result = runner.invoke(cli, ["load", str(path), "--table", "rep_capacity", "--warehouse", url, *extra])
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout, result.stderr


def rows_in(url: str) -> int | None:
    """Rows of rep_capacity in the warehouse, None when there is no such table."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(sa.text("SELECT count(*) FROM rep_capacity")).scalar_one())
    except sa.exc.DBAPIError:  # no such table (PyHive's has_table misreads Spark's answer)
        return None
    finally:
        engine.dispose()


@pytest.mark.parametrize("engine", WITH_SPARK)
def test_nan_and_infinite_numbers_are_bad_rows(runner: CliRunner, engine: str, tmp_path: Path) -> None:
    data = tmp_path / "capacity.csv"
    values = ["NaN", "inf", "-Infinity", "1e309", "infinity", "5"]
    data.write_text(HEADER + "".join(f"r{i},2026-10-01,{v},1\n" for i, v in enumerate(values)), encoding="utf-8")
    with engine_url(engine, tmp_path) as url:
        code, _, err = load(runner, data, url)
        assert code == 1
        for row, value in enumerate(values[:-1], start=1):
            assert f"row {row} (line {row + 1}): selling_hours = {value!r} is not a finite number" in err
        assert rows_in(url) is None
        code, out, _ = load(runner, data, url, "--skip-bad-rows")
        assert code == 0
        assert "loaded 1 rows" in out
        rejects = list(csv.DictReader((tmp_path / "capacity.csv.rejects.csv").open(encoding="utf-8")))
        assert [r["selling_hours"] for r in rejects] == values[:-1]


def test_a_blank_or_missing_key_is_a_bad_row(runner: CliRunner, tmp_path: Path) -> None:
    data = tmp_path / "capacity.csv"
    data.write_text(HEADER + "   ,2026-10-01,3,1\n,2026-10-02,3,1\nr3,2026-10-03,3,1\n", encoding="utf-8")
    code, _, err = load(runner, data, f"duckdb:///{tmp_path / 'w.duckdb'}")
    assert code == 1
    assert "row 1 (line 2): rep_id = '' is not a value (the column is required)" in err
    assert "row 2 (line 3): rep_id = '' is not a value (the column is required)" in err


def test_a_repeated_or_empty_header_name_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    data = tmp_path / "capacity.csv"
    data.write_text("rep_id,day,selling_hours,rep_id,\nr1,2026-10-01,3,r2,x\n", encoding="utf-8")
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    code, _, err = load(runner, data, url)
    assert code == 1
    assert "column 4 repeats the name 'rep_id' of column 1; column 5 has no name" in err
    assert rows_in(url) is None


def test_rows_that_do_not_fit_the_header_are_named_with_their_lines(runner: CliRunner, tmp_path: Path) -> None:
    data = tmp_path / "capacity.csv"
    data.write_text(
        HEADER + '"r\n1",2026-10-01,3,1\nr2,2026-10-01,3,1,EXTRA\nr3,2026-10-01\n"r4,2026-10-01,3,1\n', encoding="utf-8"
    )
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    code, _, err = load(runner, data, url, "--skip-bad-rows")
    assert code == 1
    assert "3 row(s) of" in err
    assert "row 2 (line 4) has more fields than the header" in err
    assert "row 3 (line 5) has fewer fields than the header" in err
    assert "row 4 (line 6) opens a quote that is never closed" in err
    assert rows_in(url) is None


def test_line_numbers_count_the_line_breaks_inside_quotes(runner: CliRunner, tmp_path: Path) -> None:
    data = tmp_path / "capacity.csv"
    data.write_text(HEADER + '"r\n\n1",2026-10-01,3,1\nr2,2026-10-32,3,1\n"r3\n",2026-10-01,x,1\n', encoding="utf-8")
    code, _, err = load(runner, data, f"duckdb:///{tmp_path / 'w.duckdb'}")
    assert code == 1
    assert "row 2 (line 5): day = '2026-10-32' is not a date" in err
    assert "row 3 (line 6): selling_hours = 'x' is not a number" in err


@pytest.mark.parametrize("engine", WITH_SPARK)
def test_a_file_without_rows_leaves_the_table_unless_asked(runner: CliRunner, engine: str, tmp_path: Path) -> None:
    full, empty = tmp_path / "full.csv", tmp_path / "empty.csv"
    full.write_text(HEADER + "r1,2026-10-01,3,1\n", encoding="utf-8")
    empty.write_text(HEADER, encoding="utf-8")
    with engine_url(engine, tmp_path) as url:
        assert load(runner, full, url)[0] == 0
        code, _, err = load(runner, empty, url)
        assert code == 1
        assert "has no rows to load; rep_capacity was left as it was" in err
        assert rows_in(url) == 1
        assert load(runner, empty, url, "--allow-empty")[0] == 0
        assert rows_in(url) == 0


def test_non_finite_values_in_a_warehouse_give_a_reason(
    engine: str, tmp_path: Path, sample: duckdb.DuckDBPyConnection
) -> None:
    tree = load_tree_or_raise(TREES / "activity_volume_per_contact.yaml")
    with warehouse_with(engine, tmp_path, sample, "activities", "accounts", "rep_capacity") as warehouse:
        with warehouse.engine.begin() as connection:
            first_rep = "(SELECT min(rep_id) FROM rep_capacity)"
            update = f"UPDATE rep_capacity SET selling_hours = :v WHERE rep_id = {first_rep}"
            connection.execute(sa.text(update), {"v": float("inf")})
        snapshot = take_snapshot(tree, tree_calendar(tree).parse("2026-10"), warehouse)
    hours = snapshot.result("selling_hours").current
    assert hours.value is None
    assert (
        hours.reason
        == "the warehouse's sum(selling_hours) over rep_capacity is inf: the table holds NaN or infinite values"
    )
    assert snapshot.result("activity_volume_per_contact").current.value is None
    assert snapshot.result("logged_touches").current.value is not None


def test_infer_types_types_an_export_and_keeps_zero_padded_ids(runner: CliRunner, engine: str, tmp_path: Path) -> None:
    data = tmp_path / "deals.csv"
    data.write_text(
        "Id,HubSpotId,Amount,CloseDate,IsWon\n"
        "a1,00123,100.5,2026-10-01,true\n"
        "a2,00200,,2026-10-02,false\n"
        "a3,31000,42,2026-10-03,true\n",
        encoding="utf-8",
    )
    with engine_url(engine, tmp_path) as url:
        args = ["load", str(data), "--table", "deals", "--no-contract", "--warehouse", url]
        assert runner.invoke(cli, [*args, "--infer-types"]).exit_code == 0
        engine_ = sa.create_engine(url)
        with engine_.connect() as connection:
            rows = connection.execute(
                sa.text('SELECT "HubSpotId", "Amount", "CloseDate", "IsWon" FROM deals ORDER BY "Id"')
            ).all()
            total = connection.execute(sa.text('SELECT sum("Amount") FROM deals')).scalar_one()
        engine_.dispose()
    assert [row[0] for row in rows] == ["00123", "00200", "31000"]  # ids with leading zeros stay text
    assert total == pytest.approx(142.5, rel=1e-12)
    assert str(rows[0][2]).startswith("2026-10-01")
    assert rows[1][1] is None  # blank is NULL, not 0
