"""A report's trend shows the values earlier runs of the same tree file stored, says which, and
computes the rest; a changed tree file or --recompute-trend computes them all."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kpitree.cli.main import cli
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


def report_json(runner: CliRunner, url: str, state: str, trees: Path, *args: str) -> dict[str, object]:
    result = runner.invoke(
        cli,
        [*REPORT, "json", "--warehouse", url, "--state-db", state, "--trees-dir", str(trees), *args],
    )
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_the_trend_reads_stored_periods_of_the_same_tree_file(
    runner: CliRunner, sample_url: str, tmp_path: Path
) -> None:
    trees = tmp_path / "trees"
    trees.mkdir()
    shutil.copy(TREES / f"{ACTIVITY}.yaml", trees)
    state = f"sqlite:///{tmp_path / 'state.db'}"
    for period in ("2026-06", "2026-07"):
        computed = runner.invoke(
            cli,
            ["compute", ACTIVITY, "--period", period, "--warehouse", sample_url, *where(state, trees)],
        )
        assert computed.exit_code == 0, computed.output
    fresh = report_json(runner, sample_url, state, trees, "--recompute-trend")
    stored = report_json(runner, sample_url, state, trees)
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
        [*REPORT, "html", "--warehouse", sample_url, *where(state, trees)],
    )
    assert "2 of the 6 trend periods show the values earlier runs of this tree file stored" in html.stdout
    # Another version of the tree file: its stored values are not this file's.
    path = trees / f"{ACTIVITY}.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert report_json(runner, sample_url, state, trees)["trend_recorded"] == []
