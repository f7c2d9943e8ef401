"""Nothing lost, nothing sent twice on a rerun: a run killed with SIGKILL after the outbox commit
delivers after restart; one killed after sending but before marking sends at most one duplicate,
with the same Message-ID; re-running the same period sends nothing new."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kpitree.delivery.file import FileChannel
from kpitree.delivery.outbox import list_outbox
from kpitree.delivery.worker import RetryPolicy, deliver_due
from kpitree.pipeline import run_tree
from kpitree.state.store import StateStore
from kpitree.tree import tree_calendar
from kpitree.warehouse import open_warehouse
from tests.alerting_world import QUIET, alerting_tree, loopback_channels, write_touches
from tests.conftest import ROOT
from tests.loopback import MailHandler, ReceivedMail, free_port, smtp_server
from tests.test_alert_pipeline import parsed


def crash(mode: str, warehouse_url: str, state_url: str, port: int, slack_dir: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.crash_run", mode, warehouse_url, state_url, str(port), str(slack_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr


@pytest.fixture
def world(tmp_path: Path) -> tuple[str, str]:
    warehouse_url = write_touches(tmp_path / "w.duckdb", {**QUIET, "2026-08": (8, 10)})
    return warehouse_url, f"sqlite:///{tmp_path / 'state.db'}"


def rerun_sends_nothing(warehouse_url: str, store: StateStore, port: int, slack_dir: Path) -> None:
    tree = alerting_tree()
    warehouse = open_warehouse(warehouse_url)
    channels = {**loopback_channels(port), "slack": FileChannel("slack", slack_dir)}
    try:
        outcome = run_tree(tree, tree_calendar(tree).parse("2026-08"), warehouse, store, channels=channels)
    finally:
        warehouse.dispose()
    assert outcome.events == ()
    assert outcome.queued == 0


def test_killed_after_the_commit_delivers_after_restart(world: tuple[str, str], tmp_path: Path) -> None:
    warehouse_url, state_url = world
    port = free_port()
    with smtp_server(port, MailHandler()) as server:
        crash("after-commit", warehouse_url, state_url, port, tmp_path / "slack")
        assert server.received == []
        store = StateStore.open(state_url)
        pending = list_outbox(store.engine, "pending")
        assert pending
        tally = deliver_due(store.engine, {**loopback_channels(port), "slack": FileChannel("slack", tmp_path)})
        assert tally.sent == len(pending)
        assert tally.dead == 0
        emails = {r.message_key for r in pending if r.channel == "email"}
        assert len(server.received) == len(emails)
        rerun_sends_nothing(warehouse_url, store, port, tmp_path / "slack")
        assert len(server.received) == len(emails)


def test_killed_after_sending_sends_at_most_one_duplicate_with_the_same_message_id(
    world: tuple[str, str], tmp_path: Path
) -> None:
    warehouse_url, state_url = world
    port = free_port()
    with smtp_server(port, MailHandler()) as server:
        crash("after-send", warehouse_url, state_url, port, tmp_path / "slack")
        (first,) = server.received  # it died right after the first email went out
        store = StateStore.open(state_url)
        assert {r.status for r in list_outbox(store.engine) if r.message_key == _key(store, first)} == {"sending"}
        policy = RetryPolicy()
        later = datetime.now(UTC) + policy.lease + timedelta(seconds=1)  # the dead worker's lease ran out
        channels = {**loopback_channels(port), "slack": FileChannel("slack", tmp_path)}
        deliver_due(store.engine, channels, later, policy)
        deliver_due(store.engine, channels, later + timedelta(minutes=1), policy)
        rerun_sends_nothing(warehouse_url, store, port, tmp_path / "slack")
    ids = Counter(str(parsed(m)["Message-ID"]) for m in server.received)
    assert ids[str(parsed(first)["Message-ID"])] == 2  # the one duplicate, recognisable by its id
    assert all(count == 1 for message_id, count in ids.items() if message_id != str(parsed(first)["Message-ID"]))
    assert {r.status for r in list_outbox(store.engine)} == {"sent"}


def _key(store: StateStore, mail: ReceivedMail) -> str:
    message_id = str(parsed(mail)["Message-ID"])
    return next(r.message_key for r in list_outbox(store.engine) if r.message_id == message_id)
