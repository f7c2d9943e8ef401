"""``kpitree db``: the state database's schema."""

from __future__ import annotations

import click

from kpitree.cli.options import state_option
from kpitree.cli.plain import echo
from kpitree.state.migrations import current_revision, head_revision, upgrade
from kpitree.state.store import StateStore


@click.group()
def db() -> None:
    """Manage the state database (runs, node values; SQLite by default, PostgreSQL by URL)."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Alembic revision to upgrade to.")
@state_option
def db_upgrade(revision: str, state_db: str | None) -> None:
    """Create the state database or bring its schema up to date."""
    store = StateStore.open(state_db, migrate=False)
    before = current_revision(store.engine)
    upgrade(store.engine, revision)
    after = current_revision(store.engine)
    echo(f"state database at revision {after}" + ("" if before == after else f" (was {before or 'empty'})"))


@db.command("current")
@state_option
def db_current(state_db: str | None) -> None:
    """Show the state database's schema revision and the newest one kpitree knows."""
    store = StateStore.open(state_db, migrate=False)
    echo(f"current: {current_revision(store.engine) or 'empty'}; newest: {head_revision(store.engine)}")
