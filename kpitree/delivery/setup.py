"""The channels a delivery uses, from the delivery settings.

A channel with credentials sends for real (SMTP, Slack); one without writes its messages to the
local outbox directory (the demo's and a dry run's delivery), so nothing is lost.
"""

from __future__ import annotations

from kpitree.delivery.channels import Channel
from kpitree.delivery.file import FileChannel
from kpitree.delivery.settings import DeliverySettings


def open_channels(settings: DeliverySettings, files_only: bool = False) -> dict[str, Channel]:
    channels: dict[str, Channel] = {
        "email": FileChannel("email", settings.outbox_dir),
        "slack": FileChannel("slack", settings.outbox_dir),
    }
    if files_only:
        return channels
    if settings.smtp is not None:
        from kpitree.delivery.email import SmtpChannel

        channels["email"] = SmtpChannel(settings.smtp)
    if settings.slack.configured:
        from kpitree.delivery.slack import SlackChannel

        channels["slack"] = SlackChannel(settings.slack)
    return channels


def describe(channels: dict[str, Channel]) -> str:
    """For the log: where each channel delivers."""
    parts = []
    for name, channel in channels.items():
        where = f"files in {channel.directory}" if isinstance(channel, FileChannel) else type(channel).__name__
        parts.append(f"{name}: {where}")
    return "; ".join(parts)
