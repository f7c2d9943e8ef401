"""What a channel is given and what it answers.

A channel sends one :class:`Outgoing` message (an email to its To and Cc recipients in one SMTP
transaction, or one Slack post) and either returns, naming any recipients that were refused, or
raises :class:`DeliveryFailure`. Both say whether the failure is *recoverable*: worth retrying
later (a 4xx SMTP reply, a dropped connection, Slack's 429 or 5xx) or not (a 5xx SMTP reply, a
Slack 404 or ``channel_not_found``), which sends the row to the dead letters with the reason.

Anything else a send raises (a reply that is not HTTP, a malformed address that slipped through)
is classified by :func:`unexpected_failure`: a value that cannot be sent is permanent, anything
unknown is retried with backoff, then dead. A reason is recorded only after :func:`redact` took
out the channel's ``secrets`` (a webhook URL's path is its credential).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from kpitree.errors import KpitreeError


@dataclass(frozen=True)
class Outgoing:
    channel: str  # email | slack
    recipients: tuple[str, ...]  # who this send is for (envelope recipients, or the one Slack target)
    subject: str
    text: str
    html: str | None = None
    to: tuple[str, ...] = ()  # email headers: the whole message's To and Cc, even when resending to one
    cc: tuple[str, ...] = ()
    message_id: str | None = None
    blocks: Sequence[Mapping[str, Any]] | None = None  # Slack Block Kit
    attachment: tuple[str, str] | None = None  # (file name, CSV text), emails only


class DeliveryFailure(KpitreeError):
    """The whole message failed; ``recoverable`` says whether a retry may succeed (the worker
    records it on the outbox row and never lets it out)."""

    def __init__(self, reason: str, *, recoverable: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.recoverable = recoverable
        self.retry_after = retry_after  # seconds the receiver asked us to wait (Slack's Retry-After)


@dataclass(frozen=True)
class Refusal:
    reason: str
    recoverable: bool


@dataclass(frozen=True)
class Sent:
    """Delivered to every recipient except those in ``refused``."""

    refused: Mapping[str, Refusal] = field(default_factory=dict)
    where: str = ""  # for the log: the server or file it went to


class Channel(Protocol):
    name: str

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in a reason, a log line or an outbox row."""
        ...

    def send(self, message: Outgoing) -> Sent: ...


# What a malformed value raises while a message is built or sent: sending it again cannot help.
_PERMANENT = (ValueError, TypeError, UnicodeError, LookupError)


def unexpected_failure(exc: Exception) -> DeliveryFailure:
    """A failure for an exception that is not a :class:`DeliveryFailure` (see the module's doc)."""
    kind = type(exc).__name__
    if isinstance(exc, _PERMANENT):
        return DeliveryFailure(f"cannot be sent ({kind}): {exc}", recoverable=False)
    return DeliveryFailure(f"unexpected {kind}: {exc}", recoverable=True)


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret (longest first, so a URL goes before its own path) replaced."""
    for secret in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, "[secret]")
    return text
