"""The state database's schema without Alembic: whether it is current, and a new database built
at the newest schema. Alembic (:mod:`kpitree.state.migrations`) is imported only to upgrade a
database that is behind: importing it and parsing every migration script costs more than a
command that opens a current database does otherwise.

A new, empty database gets the models' tables in one ``create_all`` and the version row of
:data:`HEAD_REVISION`, as Alembic's cookbook builds an up-to-date database from scratch
("create_all, then stamp head"), instead of replaying every migration: 0.40-0.53 s against
0.07 s per new SQLite file, paid by every first run and nearly every test. tests/test_state.py
checks that both ways build the same schema, version table included.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import kpitree.state.models  # noqa: F401  (registers the tables on SQLModel.metadata)

# The newest migration's revision (alembic/versions). Opening a current database reads its
# version row and compares it with this, instead of importing alembic and parsing every
# migration script to find the head: 0.7-1.4 s on every command that opens the state database.
# tests/test_state.py checks that it is alembic's head.
HEAD_REVISION = "0007"

# Alembic's version table, as alembic creates it (``alembic.ddl.impl``): one row, the revision.
VERSION_TABLE = sa.Table(
    "alembic_version",
    sa.MetaData(),
    sa.Column("version_num", sa.String(32), nullable=False),
    sa.PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


def schema_is_current(engine: Engine) -> bool:
    """Whether the state database's schema is :data:`HEAD_REVISION` (False when it has none)."""
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table(VERSION_TABLE.name):
            return False
        versions = connection.execute(sa.select(VERSION_TABLE.c.version_num)).scalars().all()
    return list(versions) == [HEAD_REVISION]


def create_if_new(engine: Engine) -> bool:
    """Build an empty database at :data:`HEAD_REVISION`; False when it holds tables already
    (then it needs Alembic's upgrade). Two processes opening a new database at once build it
    once: the second waits for the lock, then finds it current."""
    with migration_lock(engine):
        if schema_is_current(engine):
            return True
        with engine.connect() as connection:
            present = set(sa.inspect(connection).get_table_names())
        if present & {VERSION_TABLE.name, *SQLModel.metadata.tables}:  # APScheduler's own table may be there
            return False
        # One transaction where the engine has transactional DDL (PostgreSQL): an interrupted
        # creation leaves nothing behind there.
        with engine.begin() as connection:
            SQLModel.metadata.create_all(connection)
            VERSION_TABLE.create(connection)
            connection.execute(VERSION_TABLE.insert().values(version_num=HEAD_REVISION))
        return True


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
