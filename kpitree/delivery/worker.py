"""The delivery worker: claim due outbox rows, send them, record what happened.

Claiming is one conditional UPDATE (``status = 'pending' AND next_attempt_at <= now``) that tags
the rows with a fresh token; only the worker whose UPDATE changed them owns them. It needs no
``SELECT ... FOR UPDATE SKIP LOCKED``, which SQLite does not have (SQLAlchemy drops it silently).

Each message is claimed just before it is sent, and its claim is stamped with the time of that
claim (not the start of the pass), so a long pass never lets another worker take a row still being
sent. A row claimed by a worker that died stays ``sending`` until its lease runs out, then goes
back to ``pending``: a message whose send finished but whose marking did not is sent once more,
with the same Message-ID. That is the "at most one duplicate" the outbox promises. A row abandoned
that way ``max_attempts`` times is a dead letter, so a message that kills its worker cannot loop.

Failures are retried with exponential backoff and full jitter (a random delay between 0 and
``base x 2^attempts``, capped), never sooner than a ``Retry-After``; a row that waits does not
hold up the others, and the rows of one message wait together, so its To and Cc recipients still
get one email. A permanent failure, or too many attempts, is a dead letter with the reason. Any
exception while sending one message is classified and recorded (:func:`unexpected_failure`); it
never stops the pass. A pass stops taking new messages at its deadline: what is left waits for the
next pass, so a Slack that hangs 30 s per post cannot hold the scheduler for minutes.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from kpitree.delivery.channels import Channel, DeliveryFailure, Outgoing, Refusal, Sent, redact, unexpected_failure
from kpitree.state.models import OutboxMessage


@dataclass(frozen=True)
class RetryPolicy:
    base_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(hours=1)
    max_attempts: int = 12
    lease: timedelta = timedelta(minutes=5)  # a 'sending' row claimed longer ago than this was abandoned
    pass_deadline: timedelta = timedelta(minutes=2)  # no message is started later than this into a pass

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
    start = now or datetime.now(UTC)
    policy = policy or RetryPolicy()
    rng = rng or random.Random()
    tally = DeliveryTally()
    began = time.monotonic()

    def clock() -> datetime:  # ``now`` moved on by the time spent: right under a frozen or a fake clock
        return start + timedelta(seconds=time.monotonic() - began)

    tally.dead += _release_abandoned(engine, start - policy.lease, policy.max_attempts)
    for message_key in _due_keys(engine, start):
        if clock() - start > policy.pass_deadline:
            break  # the rest is due still: the next pass takes it
        token = uuid.uuid4().hex
        rows = _claim(engine, message_key, token, start, clock())
        if rows:
            tally.add(_send(engine, channels, rows, token, start, policy, rng))
    return tally


def _release_abandoned(engine: Engine, claimed_before: datetime, max_attempts: int) -> int:
    """Rows whose worker died while sending: pending again, or dead once that happened too often.
    How many went dead."""
    abandoned = (col(OutboxMessage.status) == "sending", col(OutboxMessage.claimed_at) < claimed_before)
    with engine.begin() as connection:
        dead = connection.execute(
            sa.update(OutboxMessage)
            .where(*abandoned, col(OutboxMessage.attempts) >= max_attempts)
            .values(
                status="dead",
                claim_token=None,
                last_error=f"gave up after {max_attempts} attempts: the worker stopped while sending it each time",
            )
            .returning(col(OutboxMessage.id))
        ).all()
        connection.execute(sa.update(OutboxMessage).where(*abandoned).values(status="pending", claim_token=None))
    return len(dead)


def _due_keys(engine: Engine, now: datetime) -> list[str]:
    with Session(engine) as session:
        query = (
            select(OutboxMessage.message_key, sa.func.min(OutboxMessage.id))
            .where(col(OutboxMessage.status) == "pending", col(OutboxMessage.next_attempt_at) <= now)
            .group_by(col(OutboxMessage.message_key))
            .order_by(sa.func.min(OutboxMessage.id))
        )
        return [key for key, _first in session.exec(query)]


def _claim(engine: Engine, message_key: str, token: str, due: datetime, now: datetime) -> list[OutboxMessage]:
    """Claim the message's rows due by ``due``, stamped ``now`` (the moment of the claim)."""
    with engine.begin() as connection:
        connection.execute(
            sa.update(OutboxMessage)
            .where(
                col(OutboxMessage.message_key) == message_key,
                col(OutboxMessage.status) == "pending",
                col(OutboxMessage.next_attempt_at) <= due,
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
    start: datetime,
    policy: RetryPolicy,
    rng: random.Random,
) -> DeliveryTally:
    """Send the claimed rows of one message; outcomes are stamped with the pass's ``start``."""
    first = rows[0]
    channel = channels.get(first.channel)
    if channel is None:
        failure = DeliveryFailure(f"no {first.channel} channel configured", recoverable=False)
        return _record(engine, rows, token, start, policy, rng, failure=failure)
    try:
        sent = channel.send(_outgoing(engine, rows))
    except DeliveryFailure as failure:
        return _record(engine, rows, token, start, policy, rng, failure=_redacted(failure, channel))
    except Exception as exc:  # one message must never stop the pass or stay 'sending': classify it
        return _record(engine, rows, token, start, policy, rng, failure=_redacted(unexpected_failure(exc), channel))
    return _record(engine, rows, token, start, policy, rng, sent=sent)


def _redacted(failure: DeliveryFailure, channel: Channel) -> DeliveryFailure:
    reason = redact(failure.reason, channel.secrets)
    return DeliveryFailure(reason, recoverable=failure.recoverable, retry_after=failure.retry_after)


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
        attachment=(first.attachment_name, first.attachment) if first.attachment_name and first.attachment else None,
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
    # One wait for every row retried now: the rows of one message stay one message (one SMTP
    # transaction to its To and Cc) instead of drifting apart by their jitter.
    wait = policy.delay(max(row.attempts for row in rows), rng)
    if failure is not None and failure.retry_after is not None:
        wait = max(wait, timedelta(seconds=failure.retry_after))
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
