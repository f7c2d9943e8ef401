"""The file channel: each message written to a file in the local outbox, as ``.eml`` (an email,
exactly as SMTP would carry it) or ``.json`` (a Slack post)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from kpitree.delivery.channels import Outgoing, Sent
from kpitree.delivery.email import build_email


class FileChannel:
    """Writes each message to a file in the local outbox: the demo's and dry runs' delivery, and
    what a channel without credentials does, so nothing is lost and everything can be read."""

    secrets: tuple[str, ...] = ()

    def __init__(self, name: str, directory: Path) -> None:
        self.name = name
        self.directory = directory

    def send(self, message: Outgoing) -> Sent:
        self.directory.mkdir(parents=True, exist_ok=True)
        stem = _file_stem(message)
        if message.channel == "email":
            path = self.directory / f"{stem}.eml"
            path.write_bytes(build_email(message, sender="kpitree@localhost").as_bytes())
        else:
            path = self.directory / f"{stem}.json"
            body = {"channel": message.recipients[0], "text": message.text, "blocks": message.blocks}
            path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
        return Sent(where=str(path))


def _file_stem(message: Outgoing) -> str:
    """One file per message and recipient set, so a resend overwrites rather than duplicates."""
    ident = (
        message.message_id or hashlib.sha256(f"{message.subject}\n{message.text}".encode()).hexdigest()[:24]
    ).strip("<>")
    safe = "".join(c if c.isalnum() or c in "-_.@" else "_" for c in f"{ident}-{'+'.join(message.recipients)}")
    return safe[:180]
