"""The state database: Alembic migrations build exactly the SQLModel tables, on SQLite and on the
real PostgreSQL server, and ``kpitree db`` drives them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from kpitree.cli.main import cli
from kpitree.state.migrations import current_revision, head_revision, upgrade
from kpitree.state.schema import HEAD_REVISION, schema_is_current
from kpitree.state.store import StateStore
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


@contextmanager
def counted_migrations() -> Iterator[list[str]]:
    """The migration steps any engine records while the block runs: each step alembic replays
    moves the version row on (an UPDATE); a stamp inserts it once."""
    steps: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("UPDATE ALEMBIC_VERSION"):
            steps.append(statement)

    sa.event.listen(Engine, "before_cursor_execute", seen)
    try:
        yield steps
    finally:
        sa.event.remove(Engine, "before_cursor_execute", seen)


def _schema(url: str) -> dict[str, dict[str, object]]:
    """Every table's columns, keys, indexes and constraints, with their names, as the engine
    reports them (the version row too)."""
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        inspector = sa.inspect(connection)
        schema: dict[str, dict[str, object]] = {
            table: {
                # In name order: a migration adds a column at the end, the model may declare it
                # mid-table, and nothing kpitree writes depends on the order.
                "columns": sorted(
                    (c["name"], str(c["type"]), c["nullable"], c.get("default")) for c in inspector.get_columns(table)
                ),
                "primary_key": inspector.get_pk_constraint(table),
                "indexes": sorted(
                    (i["name"], tuple(i["column_names"]), i["unique"]) for i in inspector.get_indexes(table)
                ),
                "unique": sorted(
                    (u["name"], tuple(u["column_names"])) for u in inspector.get_unique_constraints(table)
                ),
                "foreign_keys": sorted(
                    (str(f["name"]), tuple(f["constrained_columns"]), f["referred_table"])
                    for f in inspector.get_foreign_keys(table)
                ),
            }
            for table in inspector.get_table_names()
        }
        schema["alembic_version"]["rows"] = connection.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    engine.dispose()
    return schema


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_new_database_is_created_at_head_with_the_schema_the_migrations_build(kind: str, tmp_path: Path) -> None:
    """A new state database gets the models' tables and a stamp instead of every migration: the
    same tables, columns, keys, indexes, constraint names and version, or a later migration
    written against one would fail on the other."""
    (tmp_path / "migrated").mkdir()
    (tmp_path / "created").mkdir()
    with state_url(kind, tmp_path / "migrated") as migrated, state_url(kind, tmp_path / "created") as created:
        engine = sa.create_engine(migrated)
        upgrade(engine)  # every migration, as `kpitree db upgrade` runs them
        engine.dispose()
        with counted_migrations() as replayed:
            StateStore.open(created).engine.dispose()  # first use of a new database
        assert replayed == [], "a new database is not migrated step by step"
        by_migrations, by_creation = _schema(migrated), _schema(created)
    assert set(by_creation) == set(SQLModel.metadata.tables) | {"alembic_version"}
    assert by_creation == by_migrations


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
    assert head_revision(engine) == HEAD_REVISION, "a new migration: set HEAD_REVISION in state/schema.py"
    assert not schema_is_current(engine)  # empty: no version table
    upgrade(engine, "0006")
    assert not schema_is_current(engine)
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")  # upgrades what is behind
    assert current_revision(store.engine) == HEAD_REVISION
    assert schema_is_current(store.engine)
    store.engine.dispose()
    engine.dispose()
