"""A report's trend shows the values stored earlier for the same tree file, says which, and
computes the rest; a changed tree file or --recompute-trend computes them all. The periods a
report or a run computed are kept, once ended, so that the next one reads them."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from kpitree.cli.main import cli
from kpitree.compute.engine import compute_periods
from kpitree.state.store import StateStore
from kpitree.tree import tree_calendar
from kpitree.tree_files import load_tree_or_raise
from kpitree.warehouse import open_warehouse
from tests.conftest import TREES

ACTIVITY = "activity_volume_per_contact"
REPORT = ["report", ACTIVITY, "--period", "2026-10", "--trend", "6", "--format"]


def where(state: str, trees: Path) -> list[str]:
    return ["--state-db", state, "--trees-dir", str(trees)]


@pytest.fixture(scope="module")
def sample_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"duckdb:///{tmp_path_factory.mktemp('trend') / 'sample.duckdb'}"
    result = CliRunner().invoke(cli, ["sample-data", "--size", "20000", "--warehouse", url])
    assert result.exit_code == 0, result.output
    return url


@pytest.fixture
def trees(tmp_path: Path) -> Path:
    """A trees directory of its own: a test may edit the tree file."""
    folder = tmp_path / "trees"
    folder.mkdir()
    shutil.copy(TREES / f"{ACTIVITY}.yaml", folder)
    return folder


def compute(runner: CliRunner, url: str, state: str, trees: Path, period: str) -> None:
    """``kpitree compute`` of ``period``: it stores the period's values."""
    result = runner.invoke(cli, ["compute", ACTIVITY, "--period", period, "--warehouse", url, *where(state, trees)])
    assert result.exit_code == 0, result.output


def report_json(runner: CliRunner, url: str, state: str, trees: Path, *args: str) -> dict[str, object]:
    result = runner.invoke(
        cli,
        [*REPORT, "json", "--warehouse", url, "--state-db", state, "--trees-dir", str(trees), *args],
    )
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_the_trend_reads_stored_periods_of_the_same_tree_file(
    runner: CliRunner, sample_url: str, tmp_path: Path, trees: Path
) -> None:
    state = f"sqlite:///{tmp_path / 'state.db'}"
    for period in ("2026-06", "2026-07"):
        compute(runner, sample_url, state, trees, period)
    fresh = report_json(runner, sample_url, state, trees, "--recompute-trend", "--no-save")
    stored = report_json(runner, sample_url, state, trees, "--no-save")
    assert fresh["trend_recorded"] == []
    assert stored["trend_recorded"] == ["2026-06", "2026-07"]
    assert stored["trend_periods"] == fresh["trend_periods"] == [f"2026-{m:02d}" for m in range(5, 11)]
    # The data did not change, so the stored values are the computed ones.
    fresh_nodes = {n["id"]: n["trend"] for n in fresh["nodes"]}  # type: ignore[attr-defined]
    for node in stored["nodes"]:  # type: ignore[attr-defined]
        assert node["trend"] == pytest.approx(fresh_nodes[node["id"]], rel=1e-12), node["id"]
    # The HTML says how many periods were read rather than computed.
    html = runner.invoke(
        cli,
        [*REPORT, "html", "--warehouse", sample_url, *where(state, trees), "--no-save"],
    )
    assert "2 of the 6 trend periods show the values stored earlier for this tree file" in html.stdout
    # Another version of the tree file: its stored values are not this file's.
    path = trees / f"{ACTIVITY}.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert report_json(runner, sample_url, state, trees)["trend_recorded"] == []


def test_a_report_keeps_the_periods_it_computed_and_the_next_report_reads_them(
    runner: CliRunner, sample_url: str, tmp_path: Path, trees: Path
) -> None:
    state = f"sqlite:///{tmp_path / 'state.db'}"
    compute(runner, sample_url, state, trees, "2026-06")
    # With --no-save the report leaves the database as it was.
    runs_before = len(StateStore.open(state).runs(ACTIVITY))
    assert report_json(runner, sample_url, state, trees, "--no-save")["trend_recorded"] == ["2026-06"]
    assert len(StateStore.open(state).runs(ACTIVITY)) == runs_before
    first = report_json(runner, sample_url, state, trees)
    assert first["trend_recorded"] == ["2026-06"]
    # Every other period it computed is kept; the compared ones are computed again all the same.
    second = report_json(runner, sample_url, state, trees)
    assert second["trend_recorded"] == ["2026-05", "2026-06", "2026-07", "2026-08"]
    first_nodes = {n["id"]: n["trend"] for n in first["nodes"]}  # type: ignore[attr-defined]
    for node in second["nodes"]:  # type: ignore[attr-defined]
        assert node["trend"] == pytest.approx(first_nodes[node["id"]], rel=1e-12), node["id"]
        assert node["value"] == next(n for n in first["nodes"] if n["id"] == node["id"])["value"]  # type: ignore[attr-defined]


def test_a_report_never_creates_the_state_database(
    runner: CliRunner, sample_url: str, tmp_path: Path, trees: Path
) -> None:
    path = tmp_path / "state.db"
    assert report_json(runner, sample_url, f"sqlite:///{path}", trees)["trend_recorded"] == []
    assert not path.exists()


def test_only_the_periods_that_have_ended_are_kept(sample_url: str, tmp_path: Path) -> None:
    tree = load_tree_or_raise(TREES / f"{ACTIVITY}.yaml")
    calendar = tree_calendar(tree)
    periods = [calendar.parse(label) for label in ("2026-11", "2026-10", "2026-09")]
    warehouse = open_warehouse(sample_url)
    try:
        computation = compute_periods(tree, periods, warehouse)
    finally:
        warehouse.dispose()
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    # Mid-November in London: November is still open, so its values are not final.
    assert store.keep(computation, datetime(2026, 11, 15, 12, tzinfo=UTC)) == 2
    kept = store.recorded(tree, periods)
    assert sorted(calendar.label(p) for p in kept) == ["2026-09", "2026-10"]
    for computed in computation.periods[1:]:
        assert kept[computed.period] == {node: value.value for node, value in computed.values.items()}
    # The instant November ends (midnight in the tree's timezone), it is kept too.
    end = computation.periods[0].window.end
    assert store.keep(computation, end) == 3
    assert len(store.recorded(tree, periods)) == 3
