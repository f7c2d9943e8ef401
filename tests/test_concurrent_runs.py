"""Two at once (issue 16): overlapping ``kpitree run`` of one tree and period, and two delivery
workers over one pass longer than the claim lease. Real processes, a real SMTP server and the
Slack-like server on loopback, SQLite and PostgreSQL state; several trials each. What counts is
what arrived at the servers."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from kpitree.delivery.outbox import list_outbox
from kpitree.state.migrations import upgrade
from tests.alerting_world import FIXTURE, QUIET, write_touches
from tests.conftest import ROOT
from tests.engines import state_url
from tests.loopback import MailHandler, SlackLike, free_port, slack_server, smtp_server
from tests.test_delivery import post, put

pytestmark = pytest.mark.long  # real processes waiting on each other: started first (tests/long_first.py)

TRIALS = 3


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _kpitree(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "kpitree", *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _secrets(folder: Path, smtp_port: int, slack: SlackLike) -> Path:
    path = folder / "secrets.toml"
    path.write_text(
        f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\nstarttls = false\n'
        f'[slack]\nbot_token = "xoxb-test"\napi_url = "{slack.url}/api/"\n',
        encoding="utf-8",
    )
    return path


def _runs(count: int, state: str, warehouse: str, secrets: Path) -> list[tuple[int, str, str]]:
    """``count`` runs of the alerting tree for August, started together; their exits and output."""
    processes = [
        _kpitree(
            *("run", str(FIXTURE), "--period", "2026-08", "--state-db", state),
            *("--warehouse", warehouse, "--secrets", str(secrets)),
        )
        for _ in range(count)
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        results.append((process.returncode, out, err))
    return results


@pytest.fixture
def servers() -> Iterator[tuple[int, MailHandler, SlackLike]]:
    port = free_port()
    with smtp_server(port, MailHandler()) as mail, slack_server() as slack:
        yield port, mail, slack


def test_overlapping_runs_notify_each_alert_once(
    engine_name: str, tmp_path: Path, servers: tuple[int, MailHandler, SlackLike]
) -> None:
    port, mail, slack = servers
    warehouse = write_touches(tmp_path / "w.duckdb", {**QUIET, "2026-08": (8, 10)})
    secrets = _secrets(tmp_path, port, slack)
    (tmp_path / "alone").mkdir()
    with state_url(engine_name, tmp_path / "alone") as alone:
        ((code, _, err),) = _runs(1, alone, warehouse, secrets)
        assert code == 0, err
    expected = (len(mail.received), len(slack.requests))
    assert expected[0] > 0
    assert expected[1] > 0
    for trial in range(TRIALS):
        mail.received.clear()
        slack.requests.clear()
        (tmp_path / f"trial{trial}").mkdir()
        with state_url(engine_name, tmp_path / f"trial{trial}") as url:
            results = _runs(2, url, warehouse, secrets)
            assert [code for code, _, _ in results] == [0, 0], [err for _, _, err in results]
            assert "Traceback" not in "".join(err for _, _, err in results)
            engine = sa.create_engine(url)
            outbox = list_outbox(engine)
            engine.dispose()
        assert (len(mail.received), len(slack.requests)) == expected, f"trial {trial}"
        ids = Counter(m.data.split(b"Message-ID: ")[1].split(b"\r\n")[0] for m in mail.received)
        assert max(ids.values()) == 1
        queued = sorted(int(out.split(" messages queued")[0].rsplit(" ", 1)[1]) for _, out, _ in results)
        assert queued[0] == 0  # the run that committed second saw the first one's notifications
        assert queued[1] == len(outbox)


def test_two_workers_over_a_pass_longer_than_the_lease_post_each_message_once(engine_name: str, tmp_path: Path) -> None:
    with slack_server() as slack:
        slack.delay = 0.7  # 12 posts: about 8 s, four times the 2 s lease below
        for trial in range(TRIALS):
            slack.requests.clear()
            (tmp_path / f"trial{trial}").mkdir()
            with state_url(engine_name, tmp_path / f"trial{trial}") as url:
                engine = sa.create_engine(url)
                upgrade(engine)
                put(engine, *(post(f"s{i}", f"U0{i:02d}ABC") for i in range(12)))
                first = subprocess.Popen(
                    [sys.executable, "-m", "tests.deliver_proc", url, f"{slack.url}/api/", "2"],
                    cwd=ROOT,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                time.sleep(3)  # the first is well into its pass, past one lease
                second = subprocess.run(
                    [sys.executable, "-m", "tests.deliver_proc", url, f"{slack.url}/api/", "2"],
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    timeout=120,
                    check=True,
                )
                first_out, _ = first.communicate(timeout=120)
                statuses = Counter(row.status for row in list_outbox(engine))
                engine.dispose()
            posted = Counter(str(request.body.get("channel")) for request in slack.requests)
            assert sorted(posted) == sorted(f"U0{i:02d}ABC" for i in range(12)), f"trial {trial}"
            assert set(posted.values()) == {1}, f"trial {trial}: {posted}"
            assert statuses == {"sent": 12}
            sent = [int(out.split()[0].split("=")[1]) for out in (first_out, second.stdout)]
            assert sum(sent) == 12
