"""The state database: Alembic migrations build exactly the SQLModel tables, on SQLite and on the
real PostgreSQL server, and ``kpitree db`` drives them."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlmodel import SQLModel

from kpitree.cli.main import cli
from kpitree.state.migrations import current_revision, head_revision, upgrade
from kpitree.state.store import HEAD_REVISION, StateStore, schema_is_current
from tests.engines import state_url


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_migrations_build_exactly_the_models(kind: str, tmp_path: Path) -> None:
    with state_url(kind, tmp_path) as url:
        engine = sa.create_engine(url)
        upgrade(engine)
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
        engine.dispose()
    assert differences == [], "add a migration in alembic/versions for these model changes"


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_db_upgrade_command(kind: str, tmp_path: Path, runner: CliRunner) -> None:
    with state_url(kind, tmp_path) as url:
        first = runner.invoke(cli, ["db", "upgrade", "--state-db", url])
        again = runner.invoke(cli, ["db", "upgrade", "--state-db", url])
        current = runner.invoke(cli, ["db", "current", "--state-db", url])
        engine = sa.create_engine(url)
        revision, head = current_revision(engine), head_revision(engine)
        engine.dispose()
    assert first.exit_code == 0
    assert "(was empty)" in first.output
    assert again.exit_code == 0
    assert "(was" not in again.output
    assert revision == head
    assert current.output.strip() == f"current: {head}; newest: {head}"


def test_the_head_revision_kpitree_compares_with_is_alembics(tmp_path: Path) -> None:
    """Opening a current database skips alembic: that is only right while HEAD_REVISION is the head."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'state.db'}")
    assert head_revision(engine) == HEAD_REVISION, "a new migration: set HEAD_REVISION in state/store.py"
    assert not schema_is_current(engine)  # empty: no version table
    upgrade(engine, "0006")
    assert not schema_is_current(engine)
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")  # upgrades what is behind
    assert current_revision(store.engine) == HEAD_REVISION
    assert schema_is_current(store.engine)
    store.engine.dispose()
    engine.dispose()
