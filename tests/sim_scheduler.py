"""APScheduler's BlockingScheduler on a frozen clock, for tests that live through days in seconds.

Only the wait is replaced: where BlockingScheduler sleeps until the next job is due, this one moves
freezegun's clock forward to that instant. The job store (SQLAlchemyJobStore on the test's state
database), the triggers and the job functions are the real ones; jobs run inline (DebugExecutor),
so a run is over before the clock moves again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.executors.debug import DebugExecutor
from apscheduler.schedulers.base import STATE_STOPPED, BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from freezegun.api import FrozenDateTimeFactory, StepTickTimeFactory, TickingDateTimeFactory

from kpitree.delivery.file import FileChannel
from kpitree.schedule.runner import RunnerSettings
from kpitree.schedule.service import SchedulerService, ServiceOptions
from kpitree.state.store import StateStore


class SimulatedScheduler(BlockingScheduler):  # type: ignore[misc]
    def __init__(self, clock: FrozenDateTimeFactory, until: datetime, **options: Any) -> None:
        options["executors"] = {"default": DebugExecutor()}
        super().__init__(**options)
        self.clock = clock
        self.until = until

    def _main_loop(self) -> None:
        while self.state != STATE_STOPPED:
            wait = self._process_jobs()
            now = datetime.now(UTC)
            if wait is None or now + timedelta(seconds=wait) > self.until:
                self.shutdown(wait=True)
                return
            self.clock.tick(timedelta(seconds=wait))


def simulated(clock: FrozenDateTimeFactory, until: datetime) -> Callable[..., BaseScheduler]:
    return lambda **options: SimulatedScheduler(clock, until, **options)


def serve_until(
    clock: FrozenDateTimeFactory | StepTickTimeFactory | TickingDateTimeFactory,
    until: datetime,
    store: StateStore,
    trees_dir: Path,
    warehouse_url: str,
    out: Path,
) -> SchedulerService:
    """One scheduler process's life, from the frozen clock's now to ``until``: files delivered to
    ``out/outbox``, reports to ``out/reports``."""
    assert isinstance(clock, FrozenDateTimeFactory), "freeze_time() without tick: the simulation moves the clock"
    channels = {name: FileChannel(name, out / "outbox") for name in ("email", "slack")}
    service = SchedulerService(
        store,
        # Delivery runs after each fire; a daily delivery job keeps the simulation's steps few.
        ServiceOptions(trees_dir, deliver_every=timedelta(days=1)),
        RunnerSettings(warehouse_url, out / "reports"),
        channels,
        scheduler_factory=simulated(clock, until),
    )
    service.serve()
    return service
