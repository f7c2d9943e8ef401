from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
TREES = ROOT / "trees"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SEED_TREES = sorted(TREES.glob("*.yaml"))


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(params=["duckdb", "sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> str:
    """The warehouse engine a test runs on: every compute test runs on all three."""
    return str(request.param)
