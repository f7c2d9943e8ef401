"""The alert commands in-process, exit codes asserted: run, alerts route-test / test-send / outbox /
retry / deliver, silence add / list / expire."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from kpitree.cli.main import cli
from tests.alerting_world import FIXTURE, QUIET, write_touches
from tests.loopback import MailHandler, free_port, slack_server, smtp_server


@pytest.fixture
def state(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


def test_route_test_shows_the_raci_routing_of_the_seed_trees(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["alerts", "route-test", "activity_volume_per_contact", "call_touches"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.split()[:3] == ["to", "email", "lena.okafor@example.com"] for line in lines)
    assert any(line.split()[:3] == ["cc", "email", "dana.whitfield@example.com"] for line in lines)
    result = runner.invoke(cli, ["alerts", "route-test", "contact_engagement_score", "product_usage"])
    assert result.exit_code == 0, result.output
    assert "[fallback for entity:csm_email]" in result.output
    assert "flagged: entity:csm_email has no value" in result.output
    result = runner.invoke(
        cli,
        ["alerts", "route-test", "contact_engagement_score", "product_usage", "--entity", "csm_email=ana@example.com"],
    )
    assert result.exit_code == 0, result.output
    assert any(line.split()[:3] == ["to", "email", "ana@example.com"] for line in result.output.splitlines())
    assert "named as consulted" not in result.output
    human = runner.invoke(cli, ["alerts", "route-test", "contact_engagement_score", "human_interactions"])
    assert "named as consulted: Ines Duarte" in human.output


def test_route_test_of_an_unknown_node_is_a_user_error(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["alerts", "route-test", "activity_volume_per_contact", "calls"])
    assert result.exit_code == 1
    assert "has no node 'calls'" in result.output
    assert "Traceback" not in result.output


def test_run_delivers_to_files_and_the_outbox_lists_them(runner: CliRunner, state: str, tmp_path: Path) -> None:
    warehouse = write_touches(tmp_path / "w.duckdb", {**QUIET, "2026-08": (8, 10)})
    args = ["--warehouse", warehouse, "--state-db", state]
    result = runner.invoke(
        cli, ["run", str(FIXTURE), "--period", "2026-08", *args, "--files-only", "--outbox-dir", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    assert "firing   touches/too_few" in result.output
    assert "delivery: " in result.output
    # Two emails (Lena with Dana in Cc; the leaders' digest) and three Slack posts (Lena, Dana, and
    # the fallback channel standing in for the leaders, who have no Slack address).
    assert sorted(p.suffix for p in (tmp_path / "out").iterdir()) == [".eml"] * 2 + [".json"] * 3
    listed = runner.invoke(cli, ["alerts", "outbox", "--status", "sent", "--state-db", state])
    assert listed.exit_code == 0
    assert "lena@example.com" in listed.output
    again = runner.invoke(cli, ["run", str(FIXTURE), "--period", "2026-08", *args, "--files-only"])
    assert "0 messages queued" in again.output
    refused = runner.invoke(cli, ["alerts", "retry", "1", "--state-db", state])
    assert refused.exit_code == 1
    assert "not sending it again" in refused.output


def test_a_dead_letter_is_listed_with_its_reason_and_retried(runner: CliRunner, state: str, tmp_path: Path) -> None:
    warehouse = write_touches(tmp_path / "w.duckdb", {**QUIET, "2026-08": (8, 10)})
    port = free_port()
    env = {"KPITREE_SMTP_HOST": "127.0.0.1", "KPITREE_SMTP_PORT": str(port), "KPITREE_SMTP_STARTTLS": "false"}
    handler = MailHandler(rcpt_replies={"lena@example.com": "550 5.1.1 no such user"})
    with smtp_server(port, handler):
        queued = runner.invoke(
            cli,
            ["run", str(FIXTURE), "--period", "2026-08", "--warehouse", warehouse, "--state-db", state, "--no-deliver"],
        )
        assert queued.exit_code == 0, queued.output
        delivered = runner.invoke(
            cli, ["alerts", "deliver", "--state-db", state, "--outbox-dir", str(tmp_path / "out")], env=env
        )
        assert delivered.exit_code == 0, delivered.output
        assert " dead" in delivered.output
    dead = runner.invoke(cli, ["alerts", "outbox", "--status", "dead", "--state-db", state])
    assert "lena@example.com" in dead.output
    assert "last error: SMTP 550: 5.1.1 no such user" in dead.output
    row_id = next(line.split()[0] for line in dead.output.splitlines() if "lena@example.com" in line)
    retried = runner.invoke(cli, ["alerts", "retry", row_id, "--state-db", state])
    assert retried.exit_code == 0
    assert "pending again" in retried.output


def test_test_send_over_smtp_slack_and_file(runner: CliRunner, tmp_path: Path) -> None:
    port = free_port()
    env = {"KPITREE_SMTP_HOST": "127.0.0.1", "KPITREE_SMTP_PORT": str(port), "KPITREE_SMTP_STARTTLS": "false"}
    with smtp_server(port, MailHandler()) as server:
        result = runner.invoke(
            cli, ["alerts", "test-send", str(FIXTURE), "--channel", "email", "--to", "me@example.com"], env=env
        )
    assert result.exit_code == 0, result.output
    assert [m.recipients for m in server.received] == [["me@example.com"]]
    with slack_server() as slack:
        slack.replies.append((200, {"Content-Type": "application/json"}, '{"ok": false, "error": "channel_not_found"}'))
        env = {"KPITREE_SLACK_BOT_TOKEN": "xoxb-test", "KPITREE_SLACK_API_URL": f"{slack.url}/api/"}
        failed = runner.invoke(cli, ["alerts", "test-send", str(FIXTURE), "--channel", "slack", "--to", "#x"], env=env)
        ok = runner.invoke(cli, ["alerts", "test-send", str(FIXTURE), "--channel", "slack", "--to", "#x"], env=env)
    assert failed.exit_code == 1
    assert "permanent" in failed.output
    assert "channel_not_found" in failed.output
    assert ok.exit_code == 0, ok.output
    assert slack.requests[-1].body["blocks"]
    filed = runner.invoke(
        cli,
        [
            "alerts",
            "test-send",
            str(FIXTURE),
            "--channel",
            "file",
            "--to",
            "me@example.com",
            "--outbox-dir",
            str(tmp_path / "out"),
        ],
    )
    assert filed.exit_code == 0, filed.output
    assert [p.suffix for p in (tmp_path / "out").iterdir()] == [".eml"]


def test_silence_add_list_expire(runner: CliRunner, state: str) -> None:
    selectors = ["--tree", "alerting", "--node", "touches"]
    added = runner.invoke(
        cli,
        [
            "silence",
            "add",
            *selectors,
            "--until",
            "3d",
            "--reason",
            "CRM cutover",
            "--by",
            "priya",
            "--state-db",
            state,
        ],
    )
    assert added.exit_code == 0, added.output
    assert added.output.startswith("silence 1 until ")
    listed = runner.invoke(cli, ["silence", "list", "--state-db", state])
    assert "tree=alerting node=touches" in listed.output
    assert "by priya: CRM cutover" in listed.output
    expired = runner.invoke(cli, ["silence", "expire", "1", "--state-db", state])
    assert expired.exit_code == 0
    assert "no silences in force" in runner.invoke(cli, ["silence", "list", "--state-db", state]).output
    assert "expired" in runner.invoke(cli, ["silence", "list", "--all", "--state-db", state]).output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--until", "3d", "--reason", "x"], "needs at least one of"),
        (["--node", "n", "--until", "2020-01-01", "--reason", "x"], "is in the past"),
        (["--node", "n", "--until", "soon", "--reason", "x"], "neither a date"),
    ],
)
def test_silence_mistakes_are_user_errors(runner: CliRunner, state: str, args: list[str], message: str) -> None:
    result = runner.invoke(cli, ["silence", "add", *args, "--state-db", state])
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_expiring_an_unknown_silence_is_a_user_error(runner: CliRunner, state: str) -> None:
    result = runner.invoke(cli, ["silence", "expire", "9", "--state-db", state])
    assert result.exit_code == 1
    assert "no silence 9" in result.output
