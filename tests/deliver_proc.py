"""One delivery pass in a process of its own, for tests/test_concurrent_runs.py:

    python -m tests.deliver_proc STATE_URL SLACK_API_URL LEASE_SECONDS

The claim lease is shortened so that one pass lasts several leases against a slow Slack.
"""

from __future__ import annotations

import sys
from datetime import timedelta

import sqlalchemy as sa

from kpitree.delivery.settings import SlackSettings
from kpitree.delivery.slack import SlackChannel
from kpitree.delivery.worker import RetryPolicy, deliver_due


def main(state_url: str, slack_api_url: str, lease_seconds: str) -> None:
    engine = sa.create_engine(state_url)
    channel = SlackChannel(SlackSettings(bot_token="xoxb-test", api_url=slack_api_url), timeout=30)
    policy = RetryPolicy(lease=timedelta(seconds=float(lease_seconds)), pass_deadline=timedelta(minutes=5))
    tally = deliver_due(engine, {"slack": channel}, policy=policy)
    print(f"sent={tally.sent} retrying={tally.retrying} dead={tally.dead}", flush=True)
    engine.dispose()


if __name__ == "__main__":
    main(*sys.argv[1:])
