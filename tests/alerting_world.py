"""Warehouses whose data switches the alert rules of tests/fixtures/trees/alerting.yaml on and off,
and the loopback channels the alert tests deliver through. Shared with the crash-test script,
which runs in its own process."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from kpitree.delivery.channels import Channel
from kpitree.delivery.email import SmtpChannel
from kpitree.delivery.settings import SlackSettings, SmtpSettings
from kpitree.delivery.slack import SlackChannel
from kpitree.ingest import land_table
from kpitree.tree import MetricTree
from kpitree.tree_files import load_tree_or_raise
from kpitree.warehouse import open_warehouse
from tests.staging import staging

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "trees" / "alerting.yaml"

# Month -> (calls, emails). Touches below 25 fire 'too_few'; calls falling 20% and 5 fire 'call_drop'.
QUIET = {"2026-06": (20, 10), "2026-07": (20, 10)}


def alerting_tree() -> MetricTree:
    return load_tree_or_raise(FIXTURE)


def write_touches(path: Path, months: Mapping[str, tuple[int, int]]) -> str:
    """A DuckDB warehouse at ``path`` with ``months``' calls and emails (each on the 10th, noon UTC)."""
    connection = staging("activities")
    for month, (calls, emails) in months.items():
        for channel, count in (("call", calls), ("email", emails)):
            connection.execute(
                """
                INSERT INTO activities
                SELECT ? || '-' || ? || '-' || i, 'c' || i, 'a1', 'r1', ?, 'touch', false, 'crm',
                       ? || '-' || ? || '-' || i, CAST(? || '-10 12:00:00+00' AS TIMESTAMPTZ)
                FROM range(?) t(i)
                """,
                [month, channel, channel, month, channel, month, count],
            )
    url = f"duckdb:///{path}"
    warehouse = open_warehouse(url, writable=True)
    land_table(connection, "activities", warehouse, "activities")
    warehouse.dispose()
    connection.close()
    return url


def loopback_channels(smtp_port: int, slack_url: str | None = None) -> dict[str, Channel]:
    channels: dict[str, Channel] = {
        "email": SmtpChannel(SmtpSettings(host="127.0.0.1", port=smtp_port, starttls=False, timeout=5))
    }
    if slack_url is not None:
        channels["slack"] = SlackChannel(SlackSettings(bot_token="xoxb-test", api_url=f"{slack_url}/api/"))
    return channels
