"""What the alerting stage hands to delivery: messages to queue, each keyed by what it tells and
to whom, so that queueing one twice (a re-run of the same period) is a no-op. The delivery stage
writes them to the outbox (:mod:`kpitree.delivery.outbox`) and sends them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class NewMessage:
    """A message the alerting stage wants sent: one recipient on one channel."""

    idempotency_key: str
    message_key: str  # rows of one email share it, and go out in one SMTP transaction
    tree_id: str
    run_key: str
    event_ids: tuple[int, ...]
    channel: str
    recipient: str
    owner: str
    role: str  # to | cc | digest
    subject: str
    body_text: str
    body_html: str | None = None
    slack_blocks: tuple[dict[str, Any], ...] | None = None
    message_id: str | None = None
    fallback: bool = False
    not_before: datetime | None = None  # first attempt (a daily digest waits for the day's end)
    attachment_name: str | None = None  # emails only: the CSV of the entities the message summarises
    attachment: str | None = None


def idempotency_key(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
