"""Poison rows and broken settings (issue 16): an address with a line break from the warehouse, a
malformed webhook, a Slack that answers bytes that are not HTTP, a channel raising something
unforeseen. Each row ends sent, retried or dead with its reason; none stops the worker or its
siblings; no credential appears in any reason, row or output. Against a real SMTP server and real
TCP/HTTP servers on loopback."""

from __future__ import annotations

import random
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.engine import Engine

from kpitree.alert.routing import route
from kpitree.cli.main import cli
from kpitree.delivery.channels import Channel, Outgoing, Sent
from kpitree.delivery.outbox import list_outbox
from kpitree.delivery.settings import DeliverySettings, SlackSettings
from kpitree.delivery.setup import open_channels
from kpitree.delivery.slack import SlackChannel
from kpitree.delivery.worker import RetryPolicy, deliver_due
from kpitree.state.migrations import upgrade
from kpitree.tree_files import load_tree_or_raise
from tests.conftest import ROOT, TREES
from tests.loopback import MailHandler, free_port, garbage_server, smtp_server
from tests.test_delivery import RNG, T0, mail, parsed, post, put, rows, smtp

WEBHOOK_SECRET = "T0SECRET/B0SECRET/xoxwebhooksecret"
BOT_TOKEN = "xoxb-1234-very-secret-token"
SMTP_PASSWORD = "hunter2-smtp-password"
SECRETS = (WEBHOOK_SECRET, BOT_TOKEN, SMTP_PASSWORD)


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text
            assert secret.split("/")[-1] not in text


def outbox_text(engine: Engine) -> str:
    return "\n".join(repr(row) for row in list_outbox(engine))


def test_a_crlf_address_from_the_warehouse_is_flagged_and_the_fallback_gets_it() -> None:
    tree = load_tree_or_raise(TREES / "contact_engagement_score.yaml")
    injected = "ana@example.com\r\nBcc: everyone@example.com"
    routed = route(tree, "product_usage", None, {"csm_email": injected})
    assert all("\r" not in r.address and "\n" not in r.address for r in routed.recipients)
    assert {r.address for r in routed.recipients if r.fallback_for} >= {"cs-ops@example.com"}
    assert any("not a valid email address" in flag and "\\r\\n" in flag for flag in routed.flags)


def test_an_invalid_cc_is_dead_and_its_sibling_still_gets_one_email(state: Engine) -> None:
    port = free_port()
    bad = "dana@example.com\r\nBcc: everyone@example.com"
    put(state, mail("m1", "lena@example.com"), mail("m1", bad, role="cc"))
    with smtp_server(port, MailHandler()) as handler:
        tally = deliver_due(state, smtp(port), T0, rng=RNG)
    assert (tally.sent, tally.dead) == (1, 1)
    by_recipient = rows(state)
    assert by_recipient["lena@example.com"].status == "sent"
    assert by_recipient[bad].status == "dead"
    assert "not a valid email address" in (by_recipient[bad].last_error or "")
    (received,) = handler.received
    assert received.recipients == ["lena@example.com"]
    headers = parsed(received.data)
    assert headers["Cc"] is None
    assert "everyone@example.com" not in received.data.decode()


def _secrets_file(tmp_path: Path, smtp_port: int, api_url: str, webhook: str) -> Path:
    path = tmp_path / "secrets.toml"
    path.write_text(
        "[smtp]\n"
        f'host = "127.0.0.1"\nport = {smtp_port}\nstarttls = false\npassword = "{SMTP_PASSWORD}"\n'
        f'[slack]\nbot_token = "{BOT_TOKEN}"\napi_url = "{api_url}"\n'
        f'[slack.webhooks]\n"#cs-ops" = "{webhook}"\n',
        encoding="utf-8",
    )
    return path


def test_a_malformed_webhook_is_a_dead_letter_that_never_shows_its_secret(
    state: Engine, tmp_path: Path, runner: CliRunner
) -> None:
    port = free_port()
    secrets = _secrets_file(tmp_path, port, "http://127.0.0.1:9/api/", f"hxxps:/hooks.example.com/{WEBHOOK_SECRET}")
    put(state, post("s1", "#cs-ops"), mail("m1", "lena@example.com"))
    channels = open_channels(DeliverySettings.load(secrets, environ={}), files_only=False)
    with smtp_server(port, MailHandler()) as handler:
        tally = deliver_due(state, channels, T0, rng=RNG)
    assert (tally.sent, tally.dead) == (1, 1)
    assert len(handler.received) == 1
    dead = rows(state)["#cs-ops"]
    why = "the webhook for '#cs-ops' in the secrets file cannot be used: it is not an http(s) URL with a host"
    assert dead.last_error == f"cannot post to '#cs-ops': {why}"
    url = state.url.render_as_string(hide_password=False)
    listed = runner.invoke(cli, ["alerts", "outbox", "--state-db", url])
    assert listed.exit_code == 0
    assert_no_secret(outbox_text(state), listed.output)


def test_a_slack_answer_that_is_not_http_is_retried_then_dead_and_others_go_on(state: Engine) -> None:
    port = free_port()
    policy = RetryPolicy(max_attempts=2, base_delay=timedelta(seconds=1))
    with garbage_server() as url, smtp_server(port, MailHandler()) as handler:
        channels: dict[str, Channel] = {
            **smtp(port),
            "slack": SlackChannel(SlackSettings(bot_token=BOT_TOKEN, api_url=f"{url}/api/"), timeout=5),
        }
        put(state, post("s1", "#cs-ops"), mail("m1", "lena@example.com"))
        first = deliver_due(state, channels, T0, policy, random.Random(1))
        row = rows(state)["#cs-ops"]
        assert (first.sent, first.retrying) == (1, 1)
        assert row.status == "pending"
        assert "not HTTP" in (row.last_error or "") or "unreachable" in (row.last_error or "")
        second = deliver_due(state, channels, row.next_attempt_at, policy, random.Random(1))
    assert second.dead == 1
    final = rows(state)["#cs-ops"]
    assert final.status == "dead"
    assert (final.last_error or "").startswith("gave up after 2 attempts")
    assert len(handler.received) == 1
    assert_no_secret(outbox_text(state))


class _Exploding:
    """A channel with a bug of a kind not foreseen (its message quotes a secret): the worker must
    classify it, redact it, record it, and go on with the next message."""

    name = "slack"
    secrets = (WEBHOOK_SECRET,)

    def send(self, message: Outgoing) -> Sent:
        raise RuntimeError(f"boom while posting to https://hooks.example.com/{WEBHOOK_SECRET} for {message.recipients}")


def test_an_unforeseen_exception_is_retried_with_its_reason_redacted(state: Engine) -> None:
    port = free_port()
    put(state, post("s1", "#cs-ops"), mail("m1", "lena@example.com"))
    with smtp_server(port, MailHandler()) as handler:
        tally = deliver_due(state, {**smtp(port), "slack": _Exploding()}, T0, rng=RNG)
    assert (tally.sent, tally.retrying) == (1, 1)
    assert len(handler.received) == 1
    row = rows(state)["#cs-ops"]
    assert row.status == "pending"
    expected = "unexpected RuntimeError: boom while posting to https://hooks.example.com/[secret] for ('#cs-ops',)"
    assert row.last_error == expected
    assert_no_secret(outbox_text(state))


def test_rows_abandoned_while_sending_too_often_are_dead(state: Engine) -> None:
    put(state, mail("m1", "lena@example.com"))
    policy = RetryPolicy(max_attempts=2)
    with state.begin() as connection:  # what a worker killed in the middle of each send leaves
        connection.execute(
            sa.text("UPDATE outbox SET status = 'sending', attempts = 2, claimed_at = :t, claim_token = 'x'"),
            {"t": T0 - timedelta(hours=1)},
        )
    tally = deliver_due(state, {}, T0, policy, RNG)
    assert tally.dead == 1
    (row,) = list_outbox(state)
    assert row.status == "dead"
    assert "the worker stopped while sending it each time" in (row.last_error or "")


@pytest.mark.parametrize(
    ("env", "secrets_text", "message"),
    [
        ({"KPITREE_SMTP_HOST": "127.0.0.1", "KPITREE_SMTP_PORT": "abc"}, None, "SMTP port must be a number"),
        ({}, "[slack]\nwebhooks = 'x'\n", "slack.webhooks must be a table"),
        ({}, "[smtp]\nhost = 'a'\npassword = 5\n", "the password setting must be text"),
        ({}, "[smtp\n", "is not valid TOML"),
        ({}, "smtp = 3\n", "[smtp] in"),
    ],
)
def test_broken_delivery_settings_are_user_errors(
    runner: CliRunner, tmp_path: Path, env: dict[str, str], secrets_text: str | None, message: str
) -> None:
    args = ["alerts", "deliver", "--state-db", f"sqlite:///{tmp_path / 'state.db'}"]
    if secrets_text is not None:
        (tmp_path / "secrets.toml").write_text(secrets_text, encoding="utf-8")
        args += ["--secrets", str(tmp_path / "secrets.toml")]
    result = runner.invoke(cli, args, env=env)
    assert result.exit_code == 1, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_a_secrets_path_naming_a_directory_is_a_user_error(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(
        cli,
        ["alerts", "deliver", "--state-db", f"sqlite:///{tmp_path / 's.db'}"],
        env={"KPITREE_SECRETS": str(tmp_path)},
    )
    assert result.exit_code == 1
    assert "is a directory" in result.stderr


def test_test_send_refuses_an_address_with_a_line_break(runner: CliRunner) -> None:
    to = "me@example.com\r\nBcc: all@example.com"
    result = runner.invoke(
        cli, ["alerts", "test-send", str(TREES / "activity_volume_per_contact.yaml"), "--channel", "email", "--to", to]
    )
    assert result.exit_code == 1
    assert "cannot be used: it holds a line break" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["db", "upgrade", "--state-db", "postgresql+psycopg://kpitree@127.0.0.1:1/nowhere"],
        ["sample-data", "--size", "1000", "--warehouse", "postgresql+psycopg://kpitree@127.0.0.1:1/nowhere"],
        [
            "load",
            "{data}",
            "--table",
            "t",
            "--no-contract",
            "--warehouse",
            "postgresql+psycopg://kpitree@127.0.0.1:1/x",
        ],
    ],
)
def test_an_unreachable_postgresql_is_a_user_error(runner: CliRunner, tmp_path: Path, args: list[str]) -> None:
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n", encoding="utf-8")
    result = runner.invoke(cli, [arg.format(data=data) for arg in args])
    assert result.exit_code == 1, result.output
    assert "Connection refused" in result.stderr
    assert "Traceback" not in result.output


def test_output_into_a_closed_pipe_is_not_an_internal_error(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'state.db'}")
    upgrade(engine)
    put(engine, *(mail(f"m{i}", f"owner{i}@example.com") for i in range(3000)))
    engine.dispose()
    process = subprocess.Popen(
        [sys.executable, "-m", "kpitree", "alerts", "outbox", "--state-db", f"sqlite:///{tmp_path / 'state.db'}"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    process.stdout.readline()
    process.stdout.close()  # what 'head -1' does
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert b"Traceback" not in err
