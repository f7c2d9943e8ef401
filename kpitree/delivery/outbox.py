"""The outbox table: writing messages in the run's transaction, listing them, re-queuing one.

Writes are idempotent: every message has a key derived from what it tells and to whom, and a
second write of the same key (a re-run of the same period) is ignored by the database itself
(``INSERT ... ON CONFLICT DO NOTHING``, on SQLite and PostgreSQL alike).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, col, select

from kpitree.alert.queue import NewMessage
from kpitree.errors import UsageError
from kpitree.state.models import OutboxMessage, table_of, upsert_into


def enqueue(connection: Connection, messages: Sequence[NewMessage], now: datetime) -> int:
    """Insert the messages not already in the outbox; how many were new."""
    if not messages:
        return 0
    rows = [_row(message, now) for message in messages]
    insert = upsert_into(connection.dialect, OutboxMessage)
    statement = insert.on_conflict_do_nothing(index_elements=["idempotency_key"])
    # Counting RETURNING rows, not rowcount: psycopg reports -1 for a batched insert.
    return len(connection.execute(statement.returning(table_of(OutboxMessage).c.id), rows).all())


def _row(message: NewMessage, now: datetime) -> dict[str, Any]:
    # A shallow copy: dataclasses.asdict copies every nested value again (0.12 s for a run's
    # messages at 10M, measured), and the nested ones are written as JSON here anyway.
    data = {field.name: getattr(message, field.name) for field in fields(message)}
    data["event_ids"] = json.dumps(list(message.event_ids))
    data["slack_blocks"] = json.dumps(list(message.slack_blocks)) if message.slack_blocks is not None else None
    due = data.pop("not_before") or now
    return {**data, "status": "pending", "attempts": 0, "next_attempt_at": due, "created_at": now}


def list_outbox(engine: Engine, status: str | None = None, tree_id: str | None = None) -> list[OutboxMessage]:
    with Session(engine) as session:
        query = select(OutboxMessage).order_by(col(OutboxMessage.id))
        if status:
            query = query.where(col(OutboxMessage.status) == status)
        if tree_id:
            query = query.where(col(OutboxMessage.tree_id) == tree_id)
        return list(session.exec(query))


def requeue(engine: Engine, row_id: int, now: datetime) -> OutboxMessage:
    """Put a dead (or stuck) row back in the queue, due now. Sent rows stay sent."""
    with Session(engine) as session:
        row = session.get(OutboxMessage, row_id)
        if row is None:
            raise UsageError(f"no outbox row {row_id}", hint="see: kpitree alerts outbox")
        if row.status == "sent":
            raise UsageError(f"outbox row {row_id} was sent at {row.sent_at:%Y-%m-%d %H:%M} UTC; not sending it again")
        session.execute(
            sa.update(OutboxMessage)
            .where(col(OutboxMessage.id) == row_id)
            .values(status="pending", next_attempt_at=now, claim_token=None, claimed_at=None, attempts=0)
        )
        session.commit()
        session.refresh(row)
        return row
