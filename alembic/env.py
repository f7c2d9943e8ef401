"""Alembic environment for kpitree's state database.

kpitree runs migrations itself (``kpitree db upgrade``, or on first use) and hands the engine over
in ``config.attributes["engine"]``.
"""

from __future__ import annotations

from sqlmodel import SQLModel

import kpitree.state.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from alembic import context

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        # APScheduler creates and owns its job table; autogenerate must not offer to drop it.
        include_name=lambda name, kind, _parent: not (kind == "table" and name == "apscheduler_jobs"),
    )
    with context.begin_transaction():
        context.run_migrations()
