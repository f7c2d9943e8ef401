"""The ``kpitree`` program's entry (:func:`kpitree.cli.main.main`): what the console script and
``python -m kpitree`` run, and what it does that an in-process :func:`cli` call does not."""

from __future__ import annotations

import gc
import subprocess
import sys
import tomllib
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from kpitree import __version__
from kpitree.cli.main import YOUNG_GENERATION_THRESHOLD, cli, main
from tests.conftest import ROOT


@pytest.fixture
def collector_settings() -> Iterator[tuple[int, int, int]]:
    """The test process's collector thresholds, put back afterwards."""
    before = gc.get_threshold()
    yield before
    gc.set_threshold(*before)


def test_the_console_script_is_the_program_entry() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert scripts["kpitree"] == "kpitree.cli.main:main"
    assert "main()" in (ROOT / "kpitree" / "__main__.py").read_text(encoding="utf-8")


@pytest.mark.usefixtures("collector_settings")
def test_the_program_collects_young_objects_less_often_and_keeps_the_older_generations() -> None:
    gc.set_threshold(700, 10, 10)  # CPython's default, whatever this test process was given
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert gc.get_threshold() == (YOUNG_GENERATION_THRESHOLD, 10, 10)


def test_an_in_process_call_leaves_the_callers_collector_alone(collector_settings: tuple[int, int, int]) -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0, result.output
    assert gc.get_threshold() == collector_settings


def test_python_dash_m_runs_the_program() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "kpitree", "--version"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == f"kpitree, version {__version__}"
