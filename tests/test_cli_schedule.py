"""``kpitree runs``, ``kpitree status`` and ``kpitree schedule``'s user errors, in-process, exit codes
asserted. The scheduler's own life is in test_schedule_catch_up (simulated time) and
test_schedule_processes (real processes)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner

from kpitree.cli.main import cli
from kpitree.schedule.lease import Lease
from kpitree.schedule.service import utc_now
from kpitree.state.store import StateStore
from tests.alerting_world import FIXTURE, QUIET, write_touches
from tests.conftest import ROOT


def test_runs_lists_manual_runs_with_what_they_did(runner: CliRunner, tmp_path: Path) -> None:
    state = f"sqlite:///{tmp_path / 'state.db'}"
    empty = runner.invoke(cli, ["runs", "--state-db", state])
    assert (empty.exit_code, empty.output) == (0, "no runs yet\n")
    warehouse = write_touches(tmp_path / "w.duckdb", {**QUIET, "2026-08": (8, 10)})
    common = ["--state-db", state, "--warehouse", warehouse, "--files-only", "--outbox-dir", str(tmp_path / "out")]
    done = runner.invoke(cli, ["run", str(FIXTURE), "--period", "2026-08", *common])
    assert done.exit_code == 0, done.output

    listed = runner.invoke(cli, ["runs", "--state-db", state, "--tree", "alerting"])
    assert listed.exit_code == 0, listed.output
    header, row = listed.output.splitlines()[:2]
    assert header.split()[:3] == ["id", "status", "trigger"]
    assert row.split()[:5] == ["1", "succeeded", "manual", "alerting", "2026-08"]
    as_json = json.loads(runner.invoke(cli, ["runs", "--state-db", state, "--format", "json"]).output)
    assert [(r["status"], r["nodes"], r["events"]) for r in as_json] == [("succeeded", 3, 2)]
    assert as_json[0]["alerts_queued"] > 0
    assert "token" not in as_json[0]
    other = runner.invoke(cli, ["runs", "--state-db", state, "--tree", "nothing"])
    assert other.output == "no runs yet of nothing\n"


def test_status_shows_the_lease_and_check_fails_without_a_live_scheduler(runner: CliRunner, tmp_path: Path) -> None:
    state = f"sqlite:///{tmp_path / 'state.db'}"
    idle = runner.invoke(cli, ["status", "--state-db", state, "--check"])
    assert idle.exit_code == 1
    assert "scheduler: none has run on this state database" in idle.output
    assert "error: unhealthy: no scheduler holds a live lease" in idle.output
    assert "Traceback" not in idle.output

    Lease(StateStore.open(state).engine, "host:42:abc", timedelta(minutes=5)).try_acquire(utc_now())
    live = runner.invoke(cli, ["status", "--state-db", state, "--check"])
    assert live.exit_code == 0, live.output
    assert live.output.startswith("scheduler: host:42:abc, active;")
    assert "outbox: 0 due, 0 waiting, 0 dead" in live.output
    data = json.loads(runner.invoke(cli, ["status", "--state-db", state, "--format", "json"]).output)
    assert (data["lease"]["holder"], data["lease_live"], data["jobs"]) == ("host:42:abc", True, [])


def test_schedule_without_a_trees_directory_is_a_user_error(runner: CliRunner, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    result = runner.invoke(cli, ["schedule", "--trees-dir", str(missing), "--state-db", f"sqlite:///{tmp_path}/s.db"])
    assert result.exit_code == 1
    assert f"no trees directory {missing}" in result.output
    assert "Traceback" not in result.output
    # The command blocked the scheduler's signals for its body only: this process keeps its mask.
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == mask


def test_a_run_whose_process_was_killed_is_shown_abandoned(runner: CliRunner, tmp_path: Path) -> None:
    state = f"sqlite:///{tmp_path / 'state.db'}"
    StateStore.open(state).engine.dispose()
    # A real process begins a run by hand, then is killed before it finishes (SIGKILL: no cleanup).
    script = tmp_path / "begin_and_die.py"
    script.write_text(
        "import os, signal, sys\n"
        "from datetime import UTC, datetime\n"
        "from kpitree.state.runs import RunRequest, begin_run, holder_name\n"
        "from kpitree.state.store import StateStore\n"
        "request = RunRequest('alerting/2026-08/all/manual', 'alerting', '2026-08', '', 'manual', None, True)\n"
        "begin_run(StateStore.open(sys.argv[1]).engine, request, holder_name(), datetime.now(UTC))\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n",
        encoding="utf-8",
    )
    killed = subprocess.run([sys.executable, str(script), state], cwd=ROOT, check=False)
    assert killed.returncode == -signal.SIGKILL
    listed = runner.invoke(cli, ["runs", "--state-db", state])
    assert listed.exit_code == 0, listed.output
    row = listed.output.splitlines()[1]
    assert row.split()[:3] == ["1", "abandoned", "manual"]
    (as_json,) = json.loads(runner.invoke(cli, ["runs", "--state-db", state, "--format", "json"]).output)
    assert as_json["error"].startswith("its process (")
    assert "ended before the run finished" in as_json["error"]


def test_status_after_a_clean_stop_names_the_scheduler_that_stopped(runner: CliRunner, tmp_path: Path) -> None:
    state = f"sqlite:///{tmp_path / 'state.db'}"
    lease = Lease(StateStore.open(state).engine, "host:1:abc", timedelta(seconds=60))
    now = utc_now()
    assert lease.try_acquire(now).acquired
    lease.release(now)
    result = runner.invoke(cli, ["status", "--state-db", state])
    assert result.exit_code == 0
    assert "scheduler: none running; the last, host:1:abc, stopped cleanly at" in result.output
    assert "none has run" not in result.output
