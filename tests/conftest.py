from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from hypothesis import settings
from sqlalchemy.engine import Engine

from kpitree.cli.main import cli, collect_as_the_program_does
from kpitree.sample.generate import TABLES, SampleSpec, generate
from kpitree.state.migrations import upgrade
from kpitree.state.store import StateStore
from kpitree.templating.sandbox import BoundedSandbox
from tests.engines import shared_spark_database, state_url
from tests.long_first import arrange
from tests.reference import fetch

ROOT = Path(__file__).resolve().parent.parent
TREES = ROOT / "trees"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SEED_TREES = sorted(TREES.glob("*.yaml"))

# No per-example deadline: speed is measured by the benchmarks, not by timed tests, and on two
# cores shared by four workers, Spark and PostgreSQL, a 10 ms example was seen to take 266 ms
# (DeadlineExceeded, then FlakyFailure) though nothing in it was slow.
settings.register_profile("kpitree", deadline=None)
settings.load_profile("kpitree")

# The collector as the kpitree program sets it (kpitree.cli.main.main), for the commands the tests
# run in-process: with CPython's default the workers spent 1.5 s of 21.5 s of CPU collecting, in
# four in-process test files (2,293 collections, 12 full); with this 0.36 s (19, none full).
collect_as_the_program_does()


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    """A state database: a SQLite file, or a fresh database on the PostgreSQL test server."""
    with state_url(str(request.param), tmp_path) as url:
        opened = StateStore.open(url)
        yield opened
        opened.engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated state database's engine (for the outbox and worker tests), on both engines."""
    with state_url(str(request.param), tmp_path) as url:
        engine = sa.create_engine(url)
        upgrade(engine)
        yield engine
        engine.dispose()


@pytest.fixture(params=["duckdb", "sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> str:
    """The warehouse engine a test runs on: every compute test runs on all three."""
    return str(request.param)


# A small generated sample that the compute and score tests check against tests/reference.py.
SAMPLE = SampleSpec(seed=11, activities=3000, end="2026-10")


@pytest.fixture(scope="module")
def sample() -> Iterator[duckdb.DuckDBPyConnection]:
    """The generated sample in an in-memory DuckDB, to land in each engine's warehouse."""
    connection = duckdb.connect()
    generate(connection, SAMPLE)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def rows(sample: duckdb.DuckDBPyConnection) -> dict[str, list[dict[str, object]]]:
    """The sample's rows in Python, for the independent reference computation."""
    return {table: fetch(sample, table) for table in TABLES}


@pytest.fixture(scope="session")
def sample_csvs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """:data:`SAMPLE`'s tables as CSV files, as a CRM or warehouse export would hand them over."""
    folder = tmp_path_factory.mktemp("sample_csv")
    connection = duckdb.connect()
    generate(connection, SAMPLE)
    for table in TABLES:
        connection.execute(f"COPY {table} TO '{folder / table}.csv' (HEADER)")
    connection.close()
    return folder


def load_csvs(url: str, folder: Path) -> None:
    """Every table of :data:`SAMPLE` loaded from ``folder``'s CSVs with ``kpitree load``."""
    runner = CliRunner()
    for table in TABLES:
        result = runner.invoke(cli, ["load", str(folder / f"{table}.csv"), "--table", table, "--warehouse", url])
        assert result.exit_code == 0, result.output
        assert f"into {table}" in result.output


@pytest.fixture(scope="session")
def spark_sample(tmp_path_factory: pytest.TempPathFactory, testrun_uid: str, sample_csvs: Path) -> Iterator[str]:
    """A Spark database holding :data:`SAMPLE`, loaded from its CSVs with ``kpitree load`` once
    for every worker of this run (:func:`tests.engines.shared_spark_database`)."""
    ledger = tmp_path_factory.getbasetemp().parent / f"spark-sample-{testrun_uid}.json"
    with shared_spark_database(ledger, lambda url: load_csvs(url, sample_csvs)) as url:
        yield url


@pytest.fixture
def template_parses(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The names of the templates parsed (compiled from source) while the test runs: the real
    sandbox's parse, counted on the way through."""
    parsed: list[str | None] = []
    parse = BoundedSandbox._parse

    def counting(self: BoundedSandbox, source: str, name: str | None, filename: str | None) -> Any:
        parsed.append(name)
        return parse(self, source, name, filename)

    monkeypatch.setattr(BoundedSandbox, "_parse", counting)
    return parsed


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On xdist workers, each worker's share of the collection starts with long tests (tests/long_first.py)."""
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    items[:] = arrange(items, workers)
