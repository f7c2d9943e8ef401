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
