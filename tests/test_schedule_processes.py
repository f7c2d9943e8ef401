"""Real ``kpitree schedule`` processes on one state database (SQLite file, PostgreSQL server): one
active and one standby, a SIGKILL of the active one, a SIGKILL in the middle of a run, a SIGTERM
during a run. Their clocks start just before a fire and run at real speed (tests/scheduler_proc.py);
the tests wait for what the processes log, never for a fixed time."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from kpitree.delivery.outbox import list_outbox
from kpitree.schedule.lease import current_lease
from kpitree.state.alerts import events
from kpitree.state.runs import list_runs
from kpitree.state.store import StateStore
from tests.alerting_world import FIXTURE, QUIET, write_touches
from tests.conftest import ROOT
from tests.engines import state_url
from tests.hostile import CASES

pytestmark = pytest.mark.long  # real processes waiting on each other: started first (tests/long_first.py)

LEASE = 3.0  # seconds
FIRE = "2026-09-01T07:00:00+00:00"  # the alerting tree's monthly fire; it computes August
TAKE_OVER_SLACK = 2.0  # seconds on top of the lease: the standby's poll, a busy CI machine


class SchedulerProcess:
    def __init__(self, name: str, world: World, fake_start: str, *extra: str, anchor: str = "ready") -> None:
        """The clock reads ``fake_start`` once the process is up, or on ``anchor``'s timeline (see
        :meth:`anchor`); ``extra``: --die-at-commit or --slow-commit for the wrapper; anything else
        for kpitree."""
        own = [arg for arg in extra if arg in ("--die-at-commit", "--slow-commit")]
        passed = [arg for arg in extra if arg not in own]
        self.name = name
        self.log = world.dir / f"{name}.log"
        self._stderr: IO[str] = self.log.open("w")
        schedule_args = [
            *("--state-db", world.state_url, "--warehouse", world.warehouse_url, "--trees-dir", str(world.trees)),
            *("--lease", str(LEASE), "--files-only", "--outbox-dir", str(world.dir / "outbox")),
            *("--reports-dir", str(world.dir / "reports"), "--health-file", str(world.dir / f"{name}.json")),
            *passed,
        ]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.scheduler_proc", fake_start, anchor, *own, "--", *schedule_args],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )
        world.processes.append(self.proc)

    def health(self) -> dict[str, Any]:
        """The health file; empty until the process first writes it."""
        path = self.log.with_suffix(".json")
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        return data

    def wait_for_health(self, ready: Callable[[dict[str, Any]], bool], timeout: float = 30) -> dict[str, Any]:
        """The health file, once ``ready`` says it shows what is awaited (it is rewritten each beat)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = self.health()
            if ready(data):
                return data
            time.sleep(0.05)
        pytest.fail(f"{self.name}'s health file never got there: {self.health()}")

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8")

    def anchor(self) -> str:
        """The real instant this process's clock counts from: another process started with it
        and the same fake start shares the timeline."""
        _, line = self.wait_for("clock.anchor")
        return line.split("real=", 1)[1]

    def stacks(self) -> str:
        """The log after asking the process (SIGUSR1) for every thread's stack: what it waits on."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGUSR1)
            time.sleep(0.5)
        return self.text()

    def wait_for(self, event: str, timeout: float = 60) -> tuple[float, str]:
        """(when, the line) once ``event`` is logged; fails with the log if the process exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.text().splitlines():
                if f" {event} " in f" {line} ":  # an event anywhere in the line, its first word too
                    return time.monotonic(), line
            if self.proc.poll() is not None:
                pytest.fail(f"{self.name} exited ({self.proc.returncode}) before logging {event}:\n{self.text()}")
            time.sleep(0.05)
        pytest.fail(f"{self.name} did not log {event} within {timeout}s:\n{self.stacks()}")

    def holder(self) -> str:
        match = re.search(r"scheduler\.starting holder=(\S+)", self.text())
        assert match, self.text()
        return match[1]

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=60)
        self._stderr.close()
        return code


class World:
    def __init__(self, directory: Path, url: str) -> None:
        self.dir = directory
        self.state_url = url
        self.trees = directory / "trees"
        self.trees.mkdir()
        (self.trees / "alerting.yaml").write_text(
            FIXTURE.read_text(encoding="utf-8") + "schedule: {cron: '0 7 1 * *'}\n", encoding="utf-8"
        )
        # August: too few touches, and calls fall by more than 20% and 5: two alerts.
        self.warehouse_url = write_touches(directory / "w.duckdb", {**QUIET, "2026-08": (8, 10)})
        self.store = StateStore.open(url)
        self.processes: list[subprocess.Popen[bytes]] = []


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with state_url(str(request.param), tmp_path) as url:
        made = World(tmp_path, url)
        yield made
        for process in made.processes:  # a failed test must not leave schedulers running
            if process.poll() is None:
                process.kill()
                process.wait()
        made.store.engine.dispose()


def assert_told_once(world: World) -> None:
    outbox = list_outbox(world.store.engine)
    assert outbox
    assert {row.status for row in outbox} == {"sent"}
    recorded = events(world.store.engine, "alerting")
    assert sorted((e.rule_id, e.kind) for e in recorded) == [("call_drop", "firing"), ("too_few", "firing")]
    assert len(list((world.dir / "outbox").iterdir())) == len({row.message_key for row in outbox})


def test_two_schedulers_run_each_fire_once_and_the_standby_takes_over(world: World) -> None:
    active = SchedulerProcess("active", world, "2026-09-01T06:59:50+00:00")
    active.wait_for("lease.acquired")
    standby = SchedulerProcess("standby", world, "2026-09-01T06:59:50+00:00", anchor=active.anchor())
    standby.wait_for("scheduler.standby")
    standby.wait_for_health(lambda data: data.get("process", {}).get("role") == "standby")
    active.wait_for("run.succeeded")
    active.wait_for("outbox.delivered")

    killed_at = time.monotonic()
    assert active.stop(signal.SIGKILL) == -signal.SIGKILL
    took_over_at, line = standby.wait_for("lease.taken_over")
    assert took_over_at - killed_at <= LEASE + TAKE_OVER_SLACK, line
    assert f"previous={active.holder()}" in line
    _, done = standby.wait_for("catch_up.done")
    assert "runs=0" in done  # the fire was run already: nothing to catch up
    _, kept = standby.wait_for("job.kept")  # the job store had it: no second job
    assert "next_fire=2026-10-01T07:00:00+00:00" in kept
    health = standby.wait_for_health(lambda data: data["process"]["role"] == "active")  # written by now
    assert (health["process"]["role"], health["lease"]["holder"]) == ("active", standby.holder())
    assert {job["job_id"]: job["next_fire"] for job in health["jobs"]}["tree:alerting"] == "2026-10-01T07:00:00+00:00"

    (run,) = list_runs(world.store.engine)
    assert (run.period_label, run.status, run.attempt, run.holder) == ("2026-08", "succeeded", 1, active.holder())
    assert " run.started " not in standby.text()
    assert_told_once(world)

    assert standby.stop() == 0
    assert " scheduler.stopped " in standby.text()
    released = current_lease(world.store.engine)  # released on a clean stop: expired, and saying when
    assert released is not None
    assert released.holder == standby.holder()
    assert released.released_at is not None
    assert released.expires_at == released.released_at


def test_a_run_killed_mid_compute_leaves_nothing_and_is_completed_on_the_next_start(world: World) -> None:
    doomed = SchedulerProcess("doomed", world, "2026-09-01T06:59:54+00:00", "--die-at-commit")
    assert doomed.proc.wait(timeout=60) == -signal.SIGKILL, doomed.text()
    (run,) = list_runs(world.store.engine)
    assert (run.status, run.attempt) == ("running", 1)
    assert world.store.values("alerting") == []
    assert world.store.runs("alerting") == []
    assert events(world.store.engine, "alerting") == []
    assert list_outbox(world.store.engine) == []

    successor = SchedulerProcess("successor", world, "2026-09-01T07:00:30+00:00")
    successor.wait_for("lease.taken_over")
    _, line = successor.wait_for("run.started")
    assert "trigger=retry" in line
    assert "attempt=2" in line
    successor.wait_for("outbox.delivered")
    (run,) = list_runs(world.store.engine)
    assert (run.status, run.attempt, run.holder) == ("succeeded", 2, successor.holder())
    assert {value.node_id for value in world.store.values("alerting")} >= {"touches", "calls", "emails"}
    assert_told_once(world)
    assert successor.stop() == 0


def test_sigterm_lets_the_run_in_progress_finish(world: World) -> None:
    scheduler = SchedulerProcess("scheduler", world, "2026-09-01T06:59:54+00:00", "--slow-commit")
    scheduler.wait_for("run.started")
    # Every thread blocks the signals the scheduler takes but one, which waits for them in
    # sigtimedwait: none lands on a thread whose sleep holds it back (kpitree.schedule.signals).
    # The run's worker, the control thread and the signal thread are up by now, beside the main one.
    threads = thread_signals(scheduler.proc.pid)
    taken = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
    open_to_them = [waiting for blocked, waiting in threads.values() if not taken <= blocked]
    assert len(threads) >= 4, threads
    assert len(open_to_them) == 1, threads
    assert "sigtimedwait" in open_to_them[0], threads
    scheduler.proc.send_signal(signal.SIGTERM)
    scheduler.wait_for("scheduler.stopping", timeout=30)  # at once, not when the run is over
    assert scheduler.proc.wait(timeout=60) == 0, scheduler.text()
    log = scheduler.text()
    assert log.index(" scheduler.stopping ") < log.index(" run.succeeded ") < log.index(" scheduler.stopped ")
    (run,) = list_runs(world.store.engine)
    assert run.status == "succeeded"
    assert_told_once(world)


def thread_signals(pid: int) -> dict[int, tuple[set[int], str]]:
    """Each thread of process ``pid`` -> (the signals it blocks, the kernel function it sleeps in),
    from Linux's /proc/PID/task/TID."""
    found: dict[int, tuple[set[int], str]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            status = (task / "status").read_text(encoding="utf-8")
            waiting = (task / "wchan").read_text(encoding="utf-8")
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        mask = int(next(line for line in status.splitlines() if line.startswith("SigBlk:")).split()[1], 16)
        found[int(task.name)] = ({number for number in range(1, 65) if mask >> (number - 1) & 1}, waiting)
    return found


@pytest.mark.parametrize("how", ["sighup", "watch"])
def test_a_changed_tree_is_reloaded_and_its_job_replaced(world: World, how: str) -> None:
    scheduler = SchedulerProcess(
        "scheduler", world, "2026-09-10T00:00:00+00:00", *(["--watch"] if how == "watch" else [])
    )
    _, first = scheduler.wait_for("job.scheduled")
    assert "next_fire=2026-10-01T07:00:00+00:00" in first
    tree_file = world.trees / "alerting.yaml"
    tree_file.write_text(tree_file.read_text(encoding="utf-8").replace("0 7 1 * *", "0 9 15 * *"), encoding="utf-8")
    if how == "sighup":
        scheduler.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 30
    while scheduler.text().count(" job.scheduled ") < 2:
        assert time.monotonic() < deadline, scheduler.text()
        time.sleep(0.05)
    second = [line for line in scheduler.text().splitlines() if " job.scheduled " in line][1]
    assert "cron '0 9 15 * *'" in second
    assert "next_fire=2026-09-15T09:00:00+00:00" in second
    assert scheduler.stop() == 0


def test_hostile_files_under_watch_leave_the_lease_renewed_and_sigterm_working(world: World) -> None:
    """A bomb, a NUL byte and a broken version of the scheduled tree saved into a watched folder,
    then a health file that cannot be written: each is logged, the tree's last valid version stays
    scheduled, the control thread keeps renewing the lease, and SIGTERM still stops the process."""
    health = world.dir / "health" / "scheduler.json"
    scheduler = SchedulerProcess(
        "scheduler", world, "2026-09-10T00:00:00+00:00", "--watch", "--health-file", str(health)
    )
    scheduler.wait_for("job.scheduled")
    for case in CASES:
        case.write(world.trees)
    tree_file = world.trees / "alerting.yaml"
    tree_file.write_text(tree_file.read_text(encoding="utf-8").replace("agg: count", "agg: \x00"), encoding="utf-8")
    deadline = time.monotonic() + 30
    while scheduler.text().count(" trees.loaded ") < 2:
        assert time.monotonic() < deadline, scheduler.text()
        time.sleep(0.05)
    log = scheduler.text()
    assert " tree.kept tree=alerting " in log
    assert all(f"tree.invalid file={world.trees / case.name}.yaml " in log for case in CASES), log
    assert log.count(" trees.loaded scheduled=alerting ") == 2  # still scheduled, its job kept
    scheduler.wait_for("job.kept")
    # The health file's folder becomes a file: every beat's write now fails.
    shutil.rmtree(health.parent)
    health.parent.write_text("not a folder", encoding="utf-8")
    scheduler.wait_for("health.unwritable")
    renewed = current_lease(world.store.engine)
    assert renewed is not None
    deadline = time.monotonic() + 3 * LEASE
    while (now := current_lease(world.store.engine)) is not None and now.renewed_at == renewed.renewed_at:
        assert time.monotonic() < deadline, scheduler.text()
        time.sleep(0.05)
    assert now is not None
    assert now.holder == scheduler.holder()
    assert now.expires_at > renewed.expires_at
    assert scheduler.stop() == 0, scheduler.text()
    assert " scheduler.stopped " in scheduler.text()
