"""Long commands say which stage they are in: a log line per stage when standard error is not a
terminal (here, and in CI), rich's bar when it is; standard output stays the command's result."""

from __future__ import annotations

import io
import re
from pathlib import Path

from click.testing import CliRunner

from kpitree.cli.main import cli
from kpitree.cli.progress import Bar, LogLines, Shown
from kpitree.progress import SILENT
from tests.alerting_world import FIXTURE, QUIET, write_touches


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
    stages = [line.split(": ", 1)[1].split(" (")[0] for line in result.stderr.splitlines()]
    assert stages == [
        "computing and attributing",
        "evaluating alert rules",
        "deciding, recording and queueing messages",
        "delivering",
    ]


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
