"""A run of the alerting fixture that kills its own process (SIGKILL: no cleanup, no finally) at a
chosen point, for tests/test_alert_crash.py:

    python -m tests.crash_run after-commit|after-send WAREHOUSE_URL STATE_URL SMTP_PORT SLACK_DIR
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

from kpitree import pipeline
from kpitree.delivery.channels import Outgoing, Sent
from kpitree.delivery.email import SmtpChannel
from kpitree.delivery.file import FileChannel
from kpitree.state.store import StateStore
from kpitree.tree import tree_calendar
from kpitree.warehouse import open_warehouse
from tests.alerting_world import alerting_tree, loopback_channels


def die(*_args: Any, **_kwargs: Any) -> Any:
    os.kill(os.getpid(), signal.SIGKILL)


def main(mode: str, warehouse_url: str, state_url: str, smtp_port: str, slack_dir: str) -> None:
    if mode == "after-commit":
        pipeline.deliver_due = die  # type: ignore[attr-defined]  # the outbox is committed; nothing sent
    else:
        real_send = SmtpChannel.send

        def send_then_die(self: SmtpChannel, message: Outgoing) -> Sent:
            real_send(self, message)
            die()  # sent, not yet marked as sent
            raise AssertionError("unreachable")

        SmtpChannel.send = send_then_die  # type: ignore[method-assign]
    tree = alerting_tree()
    channels = {**loopback_channels(int(smtp_port)), "slack": FileChannel("slack", Path(slack_dir))}
    warehouse = open_warehouse(warehouse_url)
    period = tree_calendar(tree).parse("2026-08")
    pipeline.run_tree(tree, period, warehouse, StateStore.open(state_url), channels=channels)
    raise SystemExit("the run finished: the kill point was never reached")


if __name__ == "__main__":
    main(*sys.argv[1:])
