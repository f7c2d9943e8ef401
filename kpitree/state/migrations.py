"""Alembic, driven from kpitree: ``kpitree db upgrade`` and the automatic upgrade on first use."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from alembic import command
from kpitree.resources import shipped_dir
from kpitree.state.schema import migration_lock


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
    Two processes opening a database at once migrate it once: the second waits for the lock,
    then finds the schema current. (A new database is built at head without Alembic:
    :func:`kpitree.state.schema.create_if_new`.)"""
    config = alembic_config(engine)
    head = ScriptDirectory.from_config(config).get_current_head()
    if current_revision(engine) == head:
        return
    with migration_lock(engine):
        if current_revision(engine) != head:
            command.upgrade(config, "head")
