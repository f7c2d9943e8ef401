"""Alembic, driven from kpitree: ``kpitree db upgrade`` and the automatic upgrade on first use."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

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
    then finds the schema current."""
    head = head_revision(engine)
    if current_revision(engine) == head:
        return
    with migration_lock(engine):
        if current_revision(engine) != head:
            command.upgrade(alembic_config(engine), "head")


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
