"""The outbox and its worker against real servers on loopback: an SMTP server (aiosmtpd) and an
HTTP server answering like Slack. Time is passed to the worker explicitly, so "retried no sooner
than told" is checked to the second without waiting."""

from __future__ import annotations

import email
import email.policy
import json
import random
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy.engine import Engine

from kpitree.alert.queue import NewMessage, idempotency_key
from kpitree.delivery.channels import Outgoing
from kpitree.delivery.email import SmtpChannel
from kpitree.delivery.file import FileChannel
from kpitree.delivery.outbox import enqueue, list_outbox, requeue
from kpitree.delivery.settings import SlackSettings, SmtpSettings
from kpitree.delivery.slack import SlackChannel
from kpitree.delivery.worker import RetryPolicy, deliver_due
from kpitree.state.models import OutboxMessage
from tests.loopback import MailHandler, free_port, slack_server, smtp_server

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
RNG = random.Random(7)


def mail(key: str, recipient: str, role: str = "to") -> NewMessage:
    return NewMessage(
        idempotency_key=idempotency_key(key, recipient),
        message_key=key,
        message_id=f"<{key}@kpitree.test>",
        tree_id="activity_volume_per_contact",
        run_key="run-1",
        event_ids=(1,),
        channel="email",
        recipient=recipient,
        owner=recipient.split("@")[0],
        role=role,
        subject="Call touches fell 45%",
        body_text="Call touches fell from 480 to 264.",
        body_html="<p>Call touches fell from 480 to 264.</p>",
    )


def post(key: str, target: str) -> NewMessage:
    return NewMessage(
        idempotency_key=idempotency_key(key, target),
        message_key=key,
        tree_id="activity_volume_per_contact",
        run_key="run-1",
        event_ids=(1,),
        channel="slack",
        recipient=target,
        owner="lena",
        role="to",
        subject="",
        body_text="Call touches fell 45%",
        slack_blocks=({"type": "section", "text": {"type": "mrkdwn", "text": "Call touches fell 45%"}},),
    )


def put(engine: Engine, *messages: NewMessage, now: datetime = T0) -> int:
    with engine.begin() as connection:
        return enqueue(connection, messages, now)


def rows(engine: Engine) -> dict[str, OutboxMessage]:
    return {row.recipient: row for row in list_outbox(engine)}


def smtp(port: int) -> dict[str, SmtpChannel]:
    return {"email": SmtpChannel(SmtpSettings(host="127.0.0.1", port=port, starttls=False, timeout=5))}


def parsed(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_one_email_to_to_and_cc_in_one_transaction(state: Engine) -> None:
    put(state, mail("m1", "lena@example.com"), mail("m1", "dana@example.com", role="cc"))
    port = free_port()
    with smtp_server(port, MailHandler()) as server:
        tally = deliver_due(state, smtp(port), T0, rng=RNG)
    assert (tally.sent, tally.retrying, tally.dead) == (2, 0, 0)
    (received,) = server.received
    assert sorted(received.recipients) == ["dana@example.com", "lena@example.com"]
    message = parsed(received.data)
    assert message.get_content_type() == "multipart/alternative"
    assert message["To"] == "lena@example.com"
    assert message["Cc"] == "dana@example.com"
    assert message["Message-ID"] == "<m1@kpitree.test>"
    assert message["Date"]
    assert {part.get_content_type() for part in message.iter_parts()} == {"text/plain", "text/html"}
    assert all(row.status == "sent" for row in rows(state).values())


def test_a_server_down_then_up_on_the_same_port_gets_exactly_one_message(state: Engine) -> None:
    port = free_port()
    put(state, mail("m2", "lena@example.com"))
    down = deliver_due(state, smtp(port), T0, rng=RNG)
    assert down.retrying == 1
    (row,) = list_outbox(state)
    assert row.status == "pending"
    assert "connection" in (row.last_error or "")
    assert row.next_attempt_at > T0
    handler = MailHandler()
    with smtp_server(port, handler):
        early = deliver_due(state, smtp(port), T0 + timedelta(microseconds=1), rng=RNG)
        later = deliver_due(state, smtp(port), row.next_attempt_at, rng=RNG)
        again = deliver_due(state, smtp(port), row.next_attempt_at + timedelta(hours=2), rng=RNG)
    assert (early.sent, later.sent, again.sent) == (0, 1, 0)
    assert len(handler.received) == 1


def test_451_is_retried_and_550_is_dead_lettered(state: Engine) -> None:
    handler = MailHandler()
    handler.data_replies.extend(["451 4.3.0 try again later"])
    port = free_port()
    put(state, mail("m3", "lena@example.com"))
    with smtp_server(port, handler):
        first = deliver_due(state, smtp(port), T0, rng=RNG)
        (row,) = list_outbox(state)
        second = deliver_due(state, smtp(port), row.next_attempt_at, rng=RNG)
    assert (first.retrying, second.sent) == (1, 1)
    assert "451" in (row.last_error or "")
    assert len(handler.received) == 1

    handler = MailHandler()
    handler.data_replies.extend(["550 5.7.1 message rejected"])
    put(state, mail("m4", "marcus@example.com"))
    with smtp_server(port, handler):
        tally = deliver_due(state, smtp(port), T0 + timedelta(days=1), rng=RNG)
    dead = rows(state)["marcus@example.com"]
    assert tally.dead == 1
    assert dead.status == "dead"
    assert "550" in (dead.last_error or "")


def test_a_partial_refusal_is_recorded_per_recipient(state: Engine) -> None:
    handler = MailHandler(rcpt_replies={"gone@example.com": "550 5.1.1 no such user", "busy@example.com": "452 full"})
    port = free_port()
    put(
        state,
        mail("m5", "lena@example.com"),
        mail("m5", "gone@example.com", role="cc"),
        mail("m5", "busy@example.com", role="cc"),
    )
    with smtp_server(port, handler):
        tally = deliver_due(state, smtp(port), T0, rng=RNG)
        by_recipient = rows(state)
        handler.rcpt_replies.clear()
        retry = deliver_due(state, smtp(port), by_recipient["busy@example.com"].next_attempt_at, rng=RNG)
    assert (tally.sent, tally.retrying, tally.dead) == (1, 1, 1)
    assert by_recipient["lena@example.com"].status == "sent"
    assert by_recipient["gone@example.com"].status == "dead"
    assert "550" in (by_recipient["gone@example.com"].last_error or "")
    assert by_recipient["busy@example.com"].status == "pending"
    # The retry goes to the one recipient left, with the same Message-ID and the full header list.
    assert retry.sent == 1
    assert [m.recipients for m in handler.received] == [["lena@example.com"], ["busy@example.com"]]
    resent = parsed(handler.received[1].data)
    assert resent["Message-ID"] == "<m5@kpitree.test>"
    assert "gone@example.com" in resent["Cc"]


def test_the_same_key_is_written_once(state: Engine) -> None:
    assert put(state, mail("m6", "lena@example.com")) == 1
    assert put(state, mail("m6", "lena@example.com")) == 0
    assert len(list_outbox(state)) == 1


def slack(server_url: str, **settings: object) -> dict[str, SlackChannel]:
    return {"slack": SlackChannel(SlackSettings(api_url=f"{server_url}/api/", **settings), timeout=5)}  # type: ignore[arg-type]


def test_slack_200_delivers_by_webhook_and_by_bot(state: Engine) -> None:
    with slack_server() as server:
        hooks = {"#cs-ops": f"{server.url}/hooks/T1/B1/x"}
        put(state, post("s1", "#cs-ops"), post("s2", "U01LENA"))
        tally = deliver_due(state, slack(server.url, webhooks=hooks, bot_token="xoxb-test"), T0, rng=RNG)
    assert tally.sent == 2
    paths = sorted(r.path for r in server.requests)
    assert paths == ["/api/chat.postMessage", "/hooks/T1/B1/x"]
    bot = next(r.body for r in server.requests if r.path == "/api/chat.postMessage")
    assert bot["channel"] == "U01LENA"
    assert bot["text"] == "Call touches fell 45%"  # the plain-text fallback is always set
    assert bot["blocks"][0]["type"] == "section"


def test_slack_429_is_retried_no_sooner_than_retry_after(state: Engine) -> None:
    with slack_server() as server:
        server.replies.append(
            (429, {"Retry-After": "30", "Content-Type": "application/json"}, '{"ok": false, "error": "ratelimited"}')
        )
        put(state, post("s3", "U01LENA"))
        channels = slack(server.url, bot_token="xoxb-test")
        first = deliver_due(state, channels, T0, rng=RNG)
        (row,) = list_outbox(state)
        too_early = deliver_due(state, channels, T0 + timedelta(seconds=29), rng=RNG)
        on_time = deliver_due(state, channels, T0 + timedelta(seconds=30), rng=RNG)
    assert first.retrying == 1
    assert row.next_attempt_at >= T0 + timedelta(seconds=30)
    assert (too_early.sent, on_time.sent) == (0, 1)
    assert len(server.requests) == 2


def test_slack_404_and_invalid_blocks_are_dead_letters_and_500_is_retried(state: Engine) -> None:
    with slack_server() as server:
        hooks = {"#gone": f"{server.url}/hooks/T1/B2/y"}
        server.replies.extend(
            [
                (404, {"Content-Type": "text/plain"}, "channel_not_found"),
                (200, {"Content-Type": "application/json"}, '{"ok": false, "error": "invalid_blocks"}'),
                (500, {"Content-Type": "text/plain"}, "internal error"),
            ]
        )
        put(state, post("s4", "#gone"), post("s5", "U01LENA"), post("s6", "U01DANA"))
        channels = slack(server.url, webhooks=hooks, bot_token="xoxb-test")
        tally = deliver_due(state, channels, T0, rng=RNG)
        by_target = rows(state)
        retry = deliver_due(state, channels, by_target["U01DANA"].next_attempt_at, rng=RNG)
    assert (tally.sent, tally.retrying, tally.dead) == (0, 1, 2)
    assert by_target["#gone"].status == "dead"
    assert "channel_not_found" in (by_target["#gone"].last_error or "")
    assert by_target["U01LENA"].status == "dead"
    assert "invalid_blocks" in (by_target["U01LENA"].last_error or "")
    assert by_target["U01DANA"].status == "pending"
    assert "500" in (by_target["U01DANA"].last_error or "")
    assert retry.sent == 1


def test_a_dead_letter_can_be_requeued(state: Engine) -> None:
    put(state, post("s7", "U01LENA"))
    deliver_due(state, {}, T0, rng=RNG)  # no slack channel configured: dead, with why
    (row,) = list_outbox(state)
    assert row.status == "dead"
    assert "no slack channel" in (row.last_error or "")
    assert row.id is not None
    again = requeue(state, row.id, T0 + timedelta(minutes=1))
    assert again.status == "pending"
    with slack_server() as server:
        tally = deliver_due(state, slack(server.url, bot_token="xoxb"), T0 + timedelta(minutes=1), rng=RNG)
    assert tally.sent == 1


def test_backoff_has_full_jitter_and_a_cap() -> None:
    policy = RetryPolicy(base_delay=timedelta(seconds=10), max_delay=timedelta(seconds=100))
    rng = random.Random(1)
    delays = [policy.delay(attempt, rng).total_seconds() for attempt in (1, 2, 3, 10) for _ in range(200)]
    first, second, third, tenth = (delays[i * 200 : (i + 1) * 200] for i in range(4))
    assert max(first) <= 10
    assert max(second) <= 20
    assert max(third) <= 40
    assert max(tenth) <= 100
    assert min(tenth) < 20  # full jitter: anywhere from 0 to the ceiling, not ceiling +/- a little
    assert max(tenth) > 80


def test_the_file_channel_keeps_every_message_readable(state: Engine, tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    channels = {"email": FileChannel("email", outbox / "email"), "slack": FileChannel("slack", outbox / "slack")}
    put(state, mail("f1", "lena@example.com"), mail("f1", "dana@example.com", role="cc"), post("f2", "#cs-ops"))
    tally = deliver_due(state, channels, T0, rng=RNG)
    assert tally.sent == 3
    (eml,) = (outbox / "email").iterdir()
    message = parsed(eml.read_bytes())
    assert message["Message-ID"] == "<f1@kpitree.test>"
    assert message["Cc"] == "dana@example.com"
    assert message.get_content_type() == "multipart/alternative"
    (posted,) = (outbox / "slack").iterdir()
    assert json.loads(posted.read_text())["channel"] == "#cs-ops"
    # A resend of the same message (a claim released after a crash) overwrites its file.
    again = Outgoing(
        channel="email", recipients=("lena@example.com",), subject="s", text="t", message_id="<f1@kpitree.test>"
    )
    channels["email"].send(again)
    channels["email"].send(again)
    assert len(list((outbox / "email").iterdir())) == 2  # the first send's file, and this message's one


def test_after_a_transient_failure_to_and_cc_still_leave_in_one_transaction(state: Engine) -> None:
    port = free_port()
    put(state, mail("m1", "lena@example.com"), mail("m1", "dana@example.com", role="cc"))
    handler = MailHandler()
    handler.data_replies.append("451 4.3.0 try again later")
    with smtp_server(port, handler):
        first = deliver_due(state, smtp(port), T0, rng=random.Random(3))
        waits = {row.next_attempt_at for row in list_outbox(state)}
        assert first.retrying == 2
        assert len(waits) == 1  # one delay for the message, not one per recipient
        (due,) = waits
        second = deliver_due(state, smtp(port), due, rng=RNG)
    assert second.sent == 2
    (received,) = handler.received
    assert sorted(received.recipients) == ["dana@example.com", "lena@example.com"]


def test_a_pass_past_its_deadline_leaves_the_rest_for_the_next(state: Engine) -> None:
    policy = RetryPolicy(pass_deadline=timedelta(seconds=1))
    with slack_server() as server:
        server.delay = 0.6  # a Slack that takes its time with every post
        put(state, *(post(f"s{i}", f"U0{i}ABC") for i in range(5)))
        first = deliver_due(state, slack(server.url, bot_token="xoxb-test"), T0, policy, RNG)
        assert 1 <= first.sent < 5
        assert {row.status for row in list_outbox(state)} == {"sent", "pending"}
        rest = deliver_due(state, slack(server.url, bot_token="xoxb-test"), T0, RetryPolicy(), RNG)
    assert first.sent + rest.sent == 5
    assert len(server.requests) == 5
