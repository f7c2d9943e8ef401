"""Long commands say which stage they are in: a log line per stage when standard error is not a
terminal (here, and in CI), rich's bar when it is; standard output stays the command's result."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from click.testing import CliRunner

from kpitree.alert.evaluate import history_needed
from kpitree.cli.main import cli
from kpitree.cli.progress import Bar, LogLines, Shown
from kpitree.progress import SILENT
from kpitree.state.store import StateStore
from tests.alerting_world import FIXTURE, QUIET, alerting_tree, write_touches


def test_sample_data_logs_each_stage_to_stderr_only(runner: CliRunner, tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    result = runner.invoke(cli, ["sample-data", "--size", "2000", "--warehouse", url, "--parquet", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert [re.sub(r"\(.*\)", "()", line) for line in lines] == [
        "kpitree sample-data: generating the sample tables ()",
        "kpitree sample-data: writing Parquet files ()",
        "kpitree sample-data: loading the warehouse ()",
    ]
    assert lines[1].endswith(", 7/7)")
    assert "kpitree sample-data:" not in result.stdout
    assert result.stdout.startswith("sample data (seed 7")


def test_run_logs_its_stages(runner: CliRunner, tmp_path: Path) -> None:
    warehouse = f"duckdb:///{tmp_path / 'w.duckdb'}"
    write_touches(tmp_path / "w.duckdb", QUIET)
    result = runner.invoke(
        cli,
        ["run", str(FIXTURE), "--period", "2026-08", "--warehouse", warehouse, "--state-db",
         f"sqlite:///{tmp_path / 's.db'}", "--files-only", "--outbox-dir", str(tmp_path / "out")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    stages = [_stage(line) for line in result.stderr.splitlines()]
    # The compared pair: no slide or anomaly rule of this tree reads further back.
    assert history_needed(alerting_tree()) <= 2
    assert stages == [
        "computing 2 periods",
        "attributing",
        "evaluating alert rules",
        "deciding, recording and queueing messages",
        "delivering",
    ]


def test_report_says_how_many_periods_it_computes_and_json_stays_clean(runner: CliRunner, tmp_path: Path) -> None:
    warehouse = f"duckdb:///{tmp_path / 'w.duckdb'}"
    write_touches(tmp_path / "w.duckdb", QUIET)
    state = f"sqlite:///{tmp_path / 's.db'}"
    StateStore.open(state)
    common = [str(FIXTURE), "--period", "2026-07", "--warehouse", warehouse, "--state-db", state]
    first = runner.invoke(cli, ["report", *common, "--trend", "6", "-o", str(tmp_path / "r.md")])
    assert first.exit_code == 0, first.output
    assert [_stage(line) for line in first.stderr.splitlines()[:-1]] == [
        "computing 6 periods",
        "attributing",
        "keeping the computed periods",
        "writing md",
    ]
    assert first.stderr.splitlines()[-1] == f"wrote {tmp_path / 'r.md'}"
    # The next report reads the four trend periods the first one kept: it computes the two compared.
    again = runner.invoke(cli, ["report", *common, "--trend", "6", "--format", "md"])
    assert again.exit_code == 0, again.output
    assert _stage(again.stderr.splitlines()[0]) == "computing 2 periods (4 more read from the state database)"
    assert "kpitree report:" not in again.stdout
    assert again.stdout.startswith("# ")
    as_json = runner.invoke(cli, ["report", *common, "--trend", "6", "--format", "json"])
    assert as_json.exit_code == 0, as_json.output
    assert as_json.stderr == ""
    assert json.loads(as_json.stdout)["period"]["label"] == "2026-07"


def _stage(line: str) -> str:
    """``kpitree <command>: <stage> (<seconds> s)`` -> the stage."""
    return re.sub(r" \([0-9.]+ s(, [0-9]+/[0-9]+)?\)$", "", line.split(": ", 1)[1])


def test_json_output_shows_nothing_and_a_terminal_gets_the_bar() -> None:
    with Shown("kpitree x", json=True, stream=io.StringIO()) as progress:
        assert progress is SILENT

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    with Shown("kpitree x", stream=terminal) as progress:
        assert isinstance(progress, Bar)
        progress.stage("counting", total=3)
        progress.advance(3)
    assert "counting" in terminal.getvalue()
    assert "3/3" in terminal.getvalue()
    piped = io.StringIO()
    with Shown("kpitree x", stream=piped) as progress:
        assert isinstance(progress, LogLines)
        progress.stage("counting")
    assert piped.getvalue().startswith("kpitree x: counting (")
