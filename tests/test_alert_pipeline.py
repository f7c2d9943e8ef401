"""The run pipeline end to end against real parts: a DuckDB warehouse, the state database on SQLite
and PostgreSQL, an SMTP server (aiosmtpd) and an HTTP server answering like Slack, on loopback.
Time is frozen with freezegun: the lifecycle's repeat interval is checked without waiting."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa
from freezegun import freeze_time
from sqlmodel import Session, select

from kpitree.delivery.channels import Channel
from kpitree.delivery.outbox import list_outbox
from kpitree.delivery.worker import deliver_due
from kpitree.pipeline import RunOutcome, run_tree
from kpitree.state.alerts import events
from kpitree.state.models import AlertEvent, Silence
from kpitree.state.store import StateStore
from kpitree.tree import MetricTree, tree_calendar
from kpitree.tree_files import load_tree_or_raise
from kpitree.warehouse import open_warehouse
from tests.alerting_world import FIXTURE, QUIET, alerting_tree, loopback_channels, write_touches
from tests.loopback import MailHandler, ReceivedMail, free_port, slack_server, smtp_server

T0 = datetime(2026, 8, 3, 7, 0, tzinfo=UTC)


@pytest.fixture
def tree() -> MetricTree:
    return alerting_tree()


def run(
    tree: MetricTree, store: StateStore, warehouse_url: str, month: str, channels: Mapping[str, Channel] | None
) -> RunOutcome:
    warehouse = open_warehouse(warehouse_url)
    try:
        return run_tree(tree, tree_calendar(tree).parse(month), warehouse, store, channels=channels)
    finally:
        warehouse.dispose()


def parsed(mail: ReceivedMail) -> EmailMessage:
    message = email.message_from_bytes(mail.data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    return str(text.get_content()), str(html.get_content())


def test_the_email_carries_node_movement_branch_and_owner_in_both_parts_escaped(
    tree: MetricTree, store: StateStore, tmp_path: Path
) -> None:
    url = write_touches(tmp_path / "w.duckdb", {**QUIET, "2026-08": (8, 10)})
    port = free_port()
    with smtp_server(port, MailHandler()) as server, freeze_time(T0):
        outcome = run(tree, store, url, "2026-08", loopback_channels(port))
    fired = {(e.rule_id, e.kind) for e in outcome.events}
    assert fired == {("too_few", "firing"), ("call_drop", "firing")}
    by_to = {parsed(m)["To"]: parsed(m) for m in server.received}
    # The call drop goes to Lena (Responsible for calls), Dana (Accountable, inherited) in copy.
    message = by_to["lena@example.com"]
    assert message.get_content_type() == "multipart/alternative"
    assert message["Cc"] == "dana@example.com"
    assert message["Message-ID"].endswith("@kpitree>")
    text, html = parts(message)
    for body in (text, html):
        assert "20 -&gt; 8" in body or "20 -> 8" in body  # the movement
        assert "Lena Okafor" in body  # the owner
        assert "Priya Raman" in body  # consulted: named in the text
    assert "<img onerror=x> & co" in text
    assert "&lt;img onerror=x&gt; &amp; co" in html
    assert "<img" not in html
    assert "Largest-gap branch: <img onerror=x> & co" in text
    assert 'class="branch">&lt;img onerror=x&gt; &amp; co' in html


def test_too_few_touches_is_routed_to_the_largest_gap_branch(
    tree: MetricTree, store: StateStore, tmp_path: Path
) -> None:
    url = write_touches(tmp_path / "w.duckdb", {**QUIET, "2026-08": (8, 10)})
    port = free_port()
    with smtp_server(port, MailHandler()) as server, slack_server() as slack, freeze_time(T0):
        outcome = run(tree, store, url, "2026-08", loopback_channels(port, slack.url))
    assert outcome.delivered is not None
    assert outcome.delivered.dead == 0
    recipients = sorted(r for m in server.received for r in m.recipients)
    # Lena gets one email for both alerts (grouped per recipient), Dana in copy, the leaders' digest.
    assert recipients == ["dana@example.com", "leaders@example.com", "lena@example.com"]
    lena = next(parsed(m) for m in server.received if "lena@example.com" in m.recipients)
    text, _html = parts(lena)
    assert "too_few" in text
    assert "call_drop" in text
    digest = next(parsed(m) for m in server.received if "leaders@example.com" in m.recipients)
    assert "digest" in str(digest["Subject"])
    # Slack: call_drop is email-only, too_few goes to Lena's and Dana's Slack ids, escaped for mrkdwn.
    posted = {r.body["channel"]: r.body for r in slack.requests}
    # The leaders have no Slack address: their digest goes to the fallback receiver, flagged.
    assert set(posted) == {"U01LENA", "U01DANA", "#revops-alerts"}
    fallback = [row for row in list_outbox(store.engine) if row.recipient == "#revops-alerts"]
    assert [(row.role, row.owner, row.fallback) for row in fallback] == [("digest", "ops", True)]
    section = json.dumps(posted["U01LENA"]["blocks"])
    assert "&lt;img onerror=x&gt; &amp; co" in section
    assert posted["U01LENA"]["text"]


def test_three_runs_notify_once_then_repeat_then_resolve_once(
    tree: MetricTree, store: StateStore, tmp_path: Path
) -> None:
    months = {**QUIET, "2026-08": (8, 10), "2026-09": (8, 10), "2026-10": (8, 9), "2026-11": (20, 10)}
    url = write_touches(tmp_path / "w.duckdb", months)
    port = free_port()
    too_few: list[str] = []
    with smtp_server(port, MailHandler()) as server:
        for month, day in (("2026-08", 0), ("2026-09", 7), ("2026-10", 14)):
            with freeze_time(T0 + timedelta(days=day)):
                outcome = run(tree, store, url, month, loopback_channels(port))
            too_few += [e.kind for e in outcome.events if e.rule_id == "too_few" and e.notified]
        assert too_few == ["firing"]  # three runs with the condition holding: told once
        with freeze_time(T0 + timedelta(days=31)):  # past the 30-day repeat interval
            outcome = run(tree, store, url, "2026-10", loopback_channels(port))
        assert [e.kind for e in outcome.events if e.rule_id == "too_few"] == ["repeat"]
        with freeze_time(T0 + timedelta(days=35)):
            resolved = run(tree, store, url, "2026-11", loopback_channels(port))
            again = run(tree, store, url, "2026-11", loopback_channels(port))
        sent_before = len(server.received)
        with freeze_time(T0 + timedelta(days=36)):
            rerun = run(tree, store, url, "2026-11", loopback_channels(port))
    assert [e.kind for e in resolved.events if e.rule_id == "too_few"] == ["resolved"]
    assert again.events == ()
    assert again.queued == 0
    assert rerun.queued == 0
    assert len(server.received) == sent_before
    subjects = [str(parsed(m)["Subject"]) for m in server.received if "lena@example.com" in m.recipients]
    assert sum("resolved" in s for s in subjects) == 1


def test_a_silence_holds_back_and_is_audited_then_its_end_notifies(
    tree: MetricTree, store: StateStore, tmp_path: Path
) -> None:
    url = write_touches(tmp_path / "w.duckdb", {**QUIET, "2026-08": (8, 10)})
    with Session(store.engine) as session:
        session.add(
            Silence(
                tree_id="alerting",
                node_id="touches",
                starts_at=T0 - timedelta(days=1),
                ends_at=T0 + timedelta(days=2),
                reason="CRM migration",
                created_by="test",
                created_at=T0,
            )
        )
        session.commit()
    port = free_port()
    with smtp_server(port, MailHandler()) as server:
        with freeze_time(T0):
            held = run(tree, store, url, "2026-08", loopback_channels(port))
        silenced = [e for e in held.events if e.rule_id == "too_few"]
        assert [(e.kind, e.notified, e.suppressed_by) for e in silenced] == [("firing", False, "silence:1")]
        audit = [e for e in events(store.engine, "alerting") if e.rule_id == "too_few"]
        assert [(e.kind, e.suppressed_by) for e in audit] == [("firing", "silence:1")]
        assert all("too_few" not in parts(parsed(m))[0] for m in server.received)
        with freeze_time(T0 + timedelta(days=3)):  # the silence is over: the next run tells it
            after = run(tree, store, url, "2026-08", loopback_channels(port))
    assert [(e.kind, e.notified) for e in after.events if e.rule_id == "too_few"] == [("firing", True)]


def test_a_maintenance_window_holds_back(store: StateStore, tmp_path: Path) -> None:
    text = Path(alerting_tree().path).read_text()
    maintenance = (
        "  fallback_receiver: ops\n  maintenance:\n"
        "    - {start: '2026-08-01T00:00:00+00:00', end: '2026-08-05T00:00:00+00:00', reason: cutover}\n"
    )
    path = tmp_path / "alerting.yaml"
    path.write_text(text.replace("  fallback_receiver: ops\n", maintenance))
    tree = load_tree_or_raise(path)
    url = write_touches(tmp_path / "w.duckdb", {**QUIET, "2026-08": (8, 10)})
    with freeze_time(T0):
        outcome = run(tree, store, url, "2026-08", None)
    assert {e.suppressed_by for e in outcome.events} == {"maintenance:cutover"}
    assert outcome.queued == 0
    assert list_outbox(store.engine) == []


def test_results_events_and_outbox_commit_together(tree: MetricTree, store: StateStore, tmp_path: Path) -> None:
    url = write_touches(tmp_path / "w.duckdb", {**QUIET, "2026-08": (8, 10)})
    with freeze_time(T0):
        outcome = run(tree, store, url, "2026-08", None)  # queued, not delivered
    assert outcome.delivered is None
    assert outcome.queued == len(list_outbox(store.engine)) > 0
    with Session(store.engine) as session:
        event_ids = {e.id for e in session.exec(select(AlertEvent))}
        values = session.execute(sa.text("SELECT count(*) FROM node_value WHERE run_id = :r"), {"r": outcome.run_id})
        assert values.scalar_one() == len(tree.nodes)
    told = {i for row in list_outbox(store.engine) for i in json.loads(row.event_ids)}
    assert told
    assert told <= event_ids


def test_a_daily_digest_collects_the_days_runs_and_goes_out_at_its_end(store: StateStore, tmp_path: Path) -> None:
    path = tmp_path / "alerting.yaml"
    path.write_text(
        FIXTURE.read_text().replace("  fallback_receiver: ops\n", "  fallback_receiver: ops\n  digest: daily\n")
    )
    tree = load_tree_or_raise(path)
    url = write_touches(tmp_path / "w.duckdb", {**QUIET, "2026-08": (8, 10), "2026-09": (20, 10)})
    port = free_port()
    with smtp_server(port, MailHandler()) as server:
        with freeze_time(T0):  # 07:00: both rules fire
            run(tree, store, url, "2026-08", loopback_channels(port))
        with freeze_time(T0 + timedelta(hours=8)):  # 15:00: calls are back, both resolve
            run(tree, store, url, "2026-09", loopback_channels(port))
        digests = [r for r in list_outbox(store.engine) if r.role == "digest" and r.channel == "email"]
        assert len(digests) == 1
        (digest,) = digests
        assert digest.status == "pending"
        assert len(json.loads(digest.event_ids)) == 4
        assert digest.next_attempt_at == datetime(2026, 8, 4, tzinfo=UTC)
        assert all("leaders@example.com" not in m.recipients for m in server.received)
        deliver_due(store.engine, loopback_channels(port), datetime(2026, 8, 4, tzinfo=UTC))
    (mail,) = [m for m in server.received if "leaders@example.com" in m.recipients]
    text, _html = parts(parsed(mail))
    assert text.count("FIRING:") == 2
    assert text.count("RESOLVED:") == 2
