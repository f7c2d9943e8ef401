"""``kpitree silence``: hold alerts back for a while, on the record."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime

import click

from kpitree.cli.options import state_option
from kpitree.cli.plain import echo
from kpitree.errors import UsageError


def parse_until(text: str, now: datetime) -> datetime:
    """``2026-12-01``, ``2026-12-01T09:00+01:00`` (no offset: UTC), or a duration from now: ``2d``,
    ``90min``, ``1mo`` (:mod:`kpitree.durations`)."""
    from kpitree.durations import DurationError, parse_duration

    try:
        return parse_duration(text).after(now)
    except DurationError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--until {text!r} is neither a date, a time nor a duration",
            hint="e.g. --until 2026-12-01, --until 2026-12-01T09:00+01:00 or --until 3d",
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@click.group()
def silence() -> None:
    """Silence alerts (by tree, node, rule or entity) until a time, with a reason."""


@silence.command("add")
@click.option("--tree", "tree_id", default=None, metavar="TREE", help="Only this tree [default: every tree].")
@click.option("--node", "node_id", default=None, metavar="NODE", help="Only this node.")
@click.option("--rule", "rule_id", default=None, metavar="RULE", help="Only this rule.")
@click.option("--entity", default=None, metavar="ID", help="Only this contact or account.")
@click.option(
    "--until",
    "until",
    required=True,
    metavar="WHEN",
    help="A date, an ISO time, or a duration from now (90min, 3d, 2w).",
)
@click.option("--reason", required=True, help="Why: it is shown with every alert it holds back.")
@click.option("--by", "created_by", default=None, help="Who silences [default: your login].")
@state_option
def silence_add(
    tree_id: str | None,
    node_id: str | None,
    rule_id: str | None,
    entity: str | None,
    until: str,
    reason: str,
    created_by: str | None,
    state_db: str | None,
) -> None:
    """Hold back notifications of matching alerts until WHEN. They are still evaluated and recorded."""
    from kpitree.state.alerts import add_silence
    from kpitree.state.models import Silence
    from kpitree.state.store import StateStore

    if not any((tree_id, node_id, rule_id, entity)):
        raise UsageError("a silence needs at least one of --tree, --node, --rule or --entity")
    now = datetime.now(UTC)
    ends_at = parse_until(until, now)
    if ends_at <= now:
        raise UsageError(f"--until {until} is in the past", hint="give a later time or a duration such as 2d")
    row = add_silence(
        StateStore.open(state_db).engine,
        Silence(
            tree_id=tree_id,
            node_id=node_id,
            rule_id=rule_id,
            entity=entity,
            starts_at=now,
            ends_at=ends_at,
            reason=reason,
            created_by=created_by or getpass.getuser(),
            created_at=now,
        ),
    )
    echo(f"silence {row.id} until {ends_at:%Y-%m-%d %H:%M} UTC: {_matches(row)}")


@silence.command("list")
@click.option("--all", "include_ended", is_flag=True, help="Also the expired and ended ones.")
@state_option
def silence_list(include_ended: bool, state_db: str | None) -> None:
    """List the silences in force (or all of them)."""
    from kpitree.state.alerts import list_silences
    from kpitree.state.store import StateStore

    rows = list_silences(StateStore.open(state_db).engine, datetime.now(UTC), include_ended)
    if not rows:
        echo("no silences" + ("" if include_ended else " in force"))
    for row in rows:
        ended = f", expired {row.expired_at:%Y-%m-%d %H:%M}" if row.expired_at else ""
        echo(
            f"{row.id:>4}  until {row.ends_at:%Y-%m-%d %H:%M} UTC{ended}  {_matches(row)}  "
            f"by {row.created_by}: {row.reason}"
        )


@silence.command("expire")
@click.argument("silence_id", metavar="ID", type=int)
@state_option
def silence_expire(silence_id: int, state_db: str | None) -> None:
    """End silence ID now: the next run notifies what it was holding back."""
    from kpitree.state.alerts import expire_silence
    from kpitree.state.store import StateStore

    row = expire_silence(StateStore.open(state_db).engine, silence_id, datetime.now(UTC))
    echo(f"silence {row.id} expired: {_matches(row)}")


def _matches(row: object) -> str:
    parts = [f"{name}={getattr(row, name)}" for name in ("tree_id", "node_id", "rule_id", "entity")]
    return " ".join(p.replace("_id=", "=") for p in parts if not p.endswith("=None"))
