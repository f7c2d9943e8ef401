"""Alembic, driven from kpitree: ``kpitree db upgrade`` and the automatic upgrade on first use."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import kpitree.state.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from alembic import command
from kpitree.resources import shipped_dir


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["engine"] = engine
    return config


def migrations_dir() -> Path:
    return shipped_dir("alembic")


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    with migration_lock(engine):
        command.upgrade(alembic_config(engine), revision)


def ensure_current(engine: Engine) -> None:
    """Bring the state database to the newest schema when it is behind (a no-op when current).
    Two processes opening a new database at once migrate it once: the second waits for the lock,
    then finds the schema current.

    A new, empty database gets the models' tables in one ``create_all`` and is stamped at head,
    as Alembic's cookbook builds an up-to-date database from scratch, instead of replaying every
    migration: 0.40-0.53 s against about 0.1 s per new SQLite file, paid by every test's and
    every first run's state database. tests/test_state.py checks that both ways build the same
    schema; the migrations stay the way to upgrade a database that has data."""
    config = alembic_config(engine)
    script = ScriptDirectory.from_config(config)
    head = script.get_current_head()
    if current_revision(engine) == head:
        return
    with migration_lock(engine):
        if current_revision(engine) == head:
            return
        if _is_empty(engine):
            create_at_head(engine, script)
        else:
            command.upgrade(config, "head")


def create_at_head(engine: Engine, script: ScriptDirectory) -> None:
    """The models' tables and the version row at head, in one transaction where the engine has
    transactional DDL (PostgreSQL): an interrupted creation leaves nothing behind there."""
    with engine.begin() as connection:
        SQLModel.metadata.create_all(connection)
        MigrationContext.configure(connection).stamp(script, "head")


def _is_empty(engine: Engine) -> bool:
    """No kpitree table and no version table (APScheduler's own job table may be there)."""
    with engine.connect() as connection:
        present = set(sa.inspect(connection).get_table_names())
    return not present & {"alembic_version", *SQLModel.metadata.tables}


# Any constant both processes agree on: the advisory lock's key for kpitree's schema migrations.
_PG_MIGRATION_LOCK = 0x6B7074726565  # 'kptree'


@contextmanager
def migration_lock(engine: Engine) -> Iterator[None]:
    """One migrating process at a time: PostgreSQL's advisory lock, or a lock file beside a SQLite
    database (SQLite has no lock that outlives the DDL transactions alembic runs)."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.exec_driver_sql(f"SELECT pg_advisory_lock({_PG_MIGRATION_LOCK})")
            try:
                yield
            finally:
                connection.exec_driver_sql(f"SELECT pg_advisory_unlock({_PG_MIGRATION_LOCK})")
                connection.commit()
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate.lock", "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        yield
