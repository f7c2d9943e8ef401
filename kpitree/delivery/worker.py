"""The delivery worker: claim due outbox rows, send them, record what happened.

Claiming is one conditional UPDATE (``status = 'pending' AND next_attempt_at <= now``) that tags
the rows with a fresh token; only the worker whose UPDATE changed them owns them. It needs no
``SELECT ... FOR UPDATE SKIP LOCKED``, which SQLite does not have (SQLAlchemy drops it silently).

A row claimed by a worker that died stays ``sending`` until its lease runs out, then goes back to
``pending``: a message whose send finished but whose marking did not is sent once more, with the
same Message-ID. That is the "at most one duplicate" the outbox promises.

Failures are retried with exponential backoff and full jitter (a random delay between 0 and
``base x 2^attempts``, capped), never sooner than a ``Retry-After``; a row that waits does not
hold up the others. A permanent failure, or too many attempts, is a dead letter with the reason.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from kpitree.delivery.channels import Channel, DeliveryFailure, Outgoing, Refusal, Sent
from kpitree.state.models import OutboxMessage


@dataclass(frozen=True)
class RetryPolicy:
    base_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(hours=1)
    max_attempts: int = 12
    lease: timedelta = timedelta(minutes=5)  # a 'sending' row older than this was abandoned

    def delay(self, attempts: int, rng: random.Random) -> timedelta:
        ceiling = min(self.max_delay.total_seconds(), self.base_delay.total_seconds() * 2 ** max(attempts - 1, 0))
        return timedelta(seconds=rng.uniform(0, ceiling))


@dataclass
class DeliveryTally:
    sent: int = 0
    retrying: int = 0
    dead: int = 0

    def add(self, other: DeliveryTally) -> None:
        self.sent += other.sent
        self.retrying += other.retrying
        self.dead += other.dead


def deliver_due(
    engine: Engine,
    channels: Mapping[str, Channel],
    now: datetime | None = None,
    policy: RetryPolicy | None = None,
    rng: random.Random | None = None,
) -> DeliveryTally:
    """Send every row due at ``now`` once; rows that fail wait for their next attempt."""
    now = now or datetime.now(UTC)
    policy = policy or RetryPolicy()
    rng = rng or random.Random()
    tally = DeliveryTally()
    _release_abandoned(engine, now - policy.lease)
    for message_key in _due_keys(engine, now):
        token = uuid.uuid4().hex
        rows = _claim(engine, message_key, token, now)
        if rows:
            tally.add(_send(engine, channels, rows, token, now, policy, rng))
    return tally


def _release_abandoned(engine: Engine, claimed_before: datetime) -> None:
    with engine.begin() as connection:
        connection.execute(
            sa.update(OutboxMessage)
            .where(col(OutboxMessage.status) == "sending", col(OutboxMessage.claimed_at) < claimed_before)
            .values(status="pending", claim_token=None)
        )


def _due_keys(engine: Engine, now: datetime) -> list[str]:
    with Session(engine) as session:
        query = (
            select(OutboxMessage.message_key, sa.func.min(OutboxMessage.id))
            .where(col(OutboxMessage.status) == "pending", col(OutboxMessage.next_attempt_at) <= now)
            .group_by(col(OutboxMessage.message_key))
            .order_by(sa.func.min(OutboxMessage.id))
        )
        return [key for key, _first in session.exec(query)]


def _claim(engine: Engine, message_key: str, token: str, now: datetime) -> list[OutboxMessage]:
    with engine.begin() as connection:
        connection.execute(
            sa.update(OutboxMessage)
            .where(
                col(OutboxMessage.message_key) == message_key,
                col(OutboxMessage.status) == "pending",
                col(OutboxMessage.next_attempt_at) <= now,
            )
            .values(status="sending", claim_token=token, claimed_at=now, attempts=OutboxMessage.attempts + 1)
        )
    with Session(engine) as session:
        claimed = select(OutboxMessage).where(col(OutboxMessage.claim_token) == token).order_by(col(OutboxMessage.id))
        return list(session.exec(claimed))


def _send(
    engine: Engine,
    channels: Mapping[str, Channel],
    rows: list[OutboxMessage],
    token: str,
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random,
) -> DeliveryTally:
    first = rows[0]
    try:
        channel = channels[first.channel]
    except KeyError:
        failure = DeliveryFailure(f"no {first.channel} channel configured", recoverable=False)
        return _record(engine, rows, token, now, policy, rng, failure=failure)
    try:
        sent = channel.send(_outgoing(engine, rows))
    except DeliveryFailure as failure:
        return _record(engine, rows, token, now, policy, rng, failure=failure)
    return _record(engine, rows, token, now, policy, rng, sent=sent)


def _outgoing(engine: Engine, rows: list[OutboxMessage]) -> Outgoing:
    """The message for the claimed rows; the headers name every recipient of the message, also
    the ones already served, so a resend to one Cc still shows who else it went to."""
    first = rows[0]
    with Session(engine) as session:
        siblings = list(session.exec(select(OutboxMessage).where(col(OutboxMessage.message_key) == first.message_key)))
    blocks: list[dict[str, Any]] | None = json.loads(first.slack_blocks) if first.slack_blocks else None
    return Outgoing(
        channel=first.channel,
        recipients=tuple(row.recipient for row in rows),
        subject=first.subject,
        text=first.body_text,
        html=first.body_html,
        to=tuple(dict.fromkeys(r.recipient for r in siblings if r.role != "cc")),
        cc=tuple(dict.fromkeys(r.recipient for r in siblings if r.role == "cc")),
        message_id=first.message_id,
        blocks=blocks,
    )


def _record(
    engine: Engine,
    rows: list[OutboxMessage],
    token: str,
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random,
    *,
    sent: Sent | None = None,
    failure: DeliveryFailure | None = None,
) -> DeliveryTally:
    tally = DeliveryTally()
    with engine.begin() as connection:
        for row in rows:
            refusal: Refusal | None = None
            if failure is not None:
                refusal = Refusal(failure.reason, failure.recoverable)
            elif sent is not None:
                refusal = sent.refused.get(row.recipient)
            values: dict[str, Any]
            if refusal is None:
                values = {"status": "sent", "sent_at": now, "last_error": None}
                tally.sent += 1
            elif refusal.recoverable and row.attempts < policy.max_attempts:
                wait = policy.delay(row.attempts, rng)
                if failure is not None and failure.retry_after is not None:
                    wait = max(wait, timedelta(seconds=failure.retry_after))
                values = {"status": "pending", "next_attempt_at": now + wait, "last_error": refusal.reason}
                tally.retrying += 1
            else:
                reason = (
                    refusal.reason
                    if not refusal.recoverable
                    else f"gave up after {row.attempts} attempts: {refusal.reason}"
                )
                values = {"status": "dead", "last_error": reason}
                tally.dead += 1
            connection.execute(
                sa.update(OutboxMessage)
                .where(col(OutboxMessage.id) == row.id, col(OutboxMessage.claim_token) == token)
                .values(claim_token=None, **values)
            )
    return tally
