"""``kpitree schedule``: the process that runs every tree on its cron.

A scheduler is in one of three states:

- **standby**: another scheduler holds the lease (:mod:`kpitree.schedule.lease`); this one polls
  until the holder's lease expires, then takes it over and says so in its log;
- **active**: it holds the lease. It first catches up what was missed while no scheduler ran
  (:mod:`kpitree.schedule.plan`), then APScheduler's BlockingScheduler fires each tree's job. A
  control thread renews the lease, reloads the trees on SIGHUP or ``--watch``, writes the health
  file, and on SIGTERM or SIGINT shuts APScheduler down after the run in progress;
- **stopped**: the lease is released, so a standby takes over at once instead of at expiry.

Jobs are stored in the state database (APScheduler's SQLAlchemyJobStore, table ``apscheduler_jobs``)
with explicit ids (``tree:<id>``) and ``replace_existing``, so restarts never duplicate them; a job
whose tree was removed (or lost its ``schedule``) is removed on reload. Jobs coalesce and never
expire (``misfire_grace_time=None``); what a late or repeated fire computes is decided by the run
ledger, not by APScheduler, so a fire taken up twice runs once. Runs execute one at a time (one
worker thread), which is what SQLite's single writer wants anyway.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from apscheduler.events import EVENT_SCHEDULER_STARTED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from kpitree.crontab import ONE_MICROSECOND
from kpitree.delivery.channels import Channel
from kpitree.errors import InternalError
from kpitree.schedule import jobs
from kpitree.schedule.catalog import Fingerprint, ScheduledTree, scheduled_trees, trees_fingerprint
from kpitree.schedule.health import JOBS_TABLE, TREE_JOB_PREFIX, scheduler_status
from kpitree.schedule.lease import Lease, holder_name
from kpitree.schedule.logs import log_event
from kpitree.schedule.runner import RunnerSettings, TreeRunner
from kpitree.schedule.signals import take_signals
from kpitree.schedule.triggers import latest_fire
from kpitree.state.store import StateStore

DELIVERY_JOB = "kpitree:deliver"
SchedulerFactory = Callable[..., BaseScheduler]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ServiceOptions:
    trees_dir: Path
    lease_length: timedelta = timedelta(seconds=60)
    watch_every: float | None = None  # seconds between looks at the trees directory; None: SIGHUP only
    health_file: Path | None = None
    deliver_every: timedelta = timedelta(seconds=60)  # retries and daily digests fall due between runs


class SchedulerService:
    def __init__(
        self,
        store: StateStore,
        options: ServiceOptions,
        settings: RunnerSettings,
        channels: Mapping[str, Channel],
        *,
        scheduler_factory: SchedulerFactory = BlockingScheduler,
        clock: Callable[[], datetime] = utc_now,
        holder: str | None = None,
    ) -> None:
        self.store = store
        self.options = options
        self.clock = clock
        self.scheduler_factory = scheduler_factory
        self.lease = Lease(store.engine, holder or holder_name(), options.lease_length)
        self.runner = TreeRunner(store, settings, channels, self.lease.holder, clock, self._renew)
        self.trees: dict[str, ScheduledTree] = {}
        self.role = "starting"
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._wake = threading.Event()
        self._lost = False
        self._scheduler: BaseScheduler | None = None
        self._shutting_down = False
        self._shutdown_thread: threading.Thread | None = None
        self._jobs_lock = threading.Lock()
        self._trees_seen: Fingerprint = ()
        self._health_error = ""  # the last failure to write the health file, logged once
        # The instant the catch-up looked at: the jobs added right after it take their first fire
        # from there, not from when APScheduler starts, so that a fire in between is not lost.
        self._caught_up_to: datetime | None = None

    # -- signals --------------------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT: finish the current run and stop. SIGHUP: reload the trees. Taken
        by a thread of their own (:mod:`kpitree.schedule.signals`): call before :meth:`serve`."""
        take_signals(self.request_stop, self.request_reload)

    def request_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def request_reload(self) -> None:
        self._reload.set()
        self._wake.set()

    # -- the process ----------------------------------------------------------------------------

    def serve(self) -> None:
        """Run until stopped: standby until the lease is ours, then active until stopped (or, if
        the lease is lost, standby again)."""
        log_event(
            logging.INFO,
            "scheduler.starting",
            holder=self.lease.holder,
            state_db=self.store.engine.url.render_as_string(hide_password=True),
            trees_dir=self.options.trees_dir,
            lease_seconds=self.options.lease_length.total_seconds(),
        )
        try:
            while not self._stop.is_set():
                if not self._wait_for_lease():
                    break
                self._be_active()
                if not self._lost:
                    break
        finally:
            self.role = "stopped"
            try:
                self.lease.release(self.clock())
            except sa.exc.OperationalError as exc:  # the database is away: the lease expires by itself
                log_event(logging.WARNING, "lease.release_failed", error=str(exc.orig))
            self._write_health()
            log_event(logging.INFO, "scheduler.stopped", holder=self.lease.holder)

    def _wait_for_lease(self) -> bool:
        self.role = "standby"
        told: str | None = None
        poll = self.options.lease_length.total_seconds() / 4
        while not self._stop.is_set():
            now = self.clock()
            try:
                got = self.lease.try_acquire(now)
            except sa.exc.OperationalError as exc:
                log_event(logging.WARNING, "lease.unavailable", error=str(exc.orig))
                self._pause(poll)
                continue
            if got.acquired:
                before = got.before
                if before is not None and before.holder != self.lease.holder:
                    log_event(
                        logging.WARNING,
                        "lease.taken_over",
                        holder=self.lease.holder,
                        previous=before.holder,
                        expired_at=before.expires_at,
                    )
                else:
                    log_event(logging.INFO, "lease.acquired", holder=self.lease.holder)
                return True
            if got.before is None:
                raise InternalError("got.before is missing")
            if told != got.before.holder:
                told = got.before.holder
                log_event(
                    logging.INFO, "scheduler.standby", active=got.before.holder, lease_expires=got.before.expires_at
                )
            self._write_health()
            # Wake just after the holder's lease would expire, unless it renews first.
            until_expiry = (got.before.expires_at - now).total_seconds() + 0.05
            self._pause(min(max(until_expiry, 0.05), poll))
        return False

    def _pause(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

    def _be_active(self) -> None:
        self.role = "active"
        self._lost = False
        self.reload_trees()
        done = threading.Event()
        jobs.activate(self)
        control = threading.Thread(target=self._control, args=(done,), name="kpitree-control", daemon=True)
        control.start()
        try:
            self._caught_up_to = self.clock()
            self._catch_up()
            if not (self._stop.is_set() or self._lost):
                self._shutting_down = False
                self._scheduler = self._new_scheduler()
                self._scheduler.start()  # blocks until shut down (SIGTERM, or the lease lost)
        finally:
            # APScheduler's loop returns as soon as the scheduler is marked stopped, which can be
            # before its executor has finished the run in progress: wait for that here, with the
            # control thread still renewing the lease, so 'scheduler.stopped' comes after the run.
            if self._shutdown_thread is not None:
                self._shutdown_thread.join()
                self._shutdown_thread = None
            done.set()
            self._wake.set()
            control.join()
            self._scheduler = None
            jobs.deactivate()

    def _catch_up(self) -> None:
        ran = 0
        for scheduled in sorted(self.trees.values(), key=lambda s: s.tree.id):
            if self._stop.is_set() or self._lost:
                return
            results = self.runner.reconcile(scheduled.tree, scheduled.trigger, stopping=self._stopping)
            ran += sum(1 for r in results if r.status == "succeeded")
        log_event(logging.INFO, "catch_up.done", runs=ran, trees=len(self.trees))
        self.runner.deliver()

    def _stopping(self) -> bool:
        return self._stop.is_set() or self._lost

    def _renew(self) -> bool:
        """The lease check before each run: renew it, or learn that it is gone."""
        try:
            held = self.lease.renew(self.clock())
        except sa.exc.OperationalError as exc:
            log_event(logging.WARNING, "lease.renew_failed", error=str(exc.orig))
            return False  # the run waits: the next fire (or the next start) catches it up
        if not held:
            self._lose_lease()
        return held

    def _lose_lease(self) -> None:
        if not self._lost:
            self._lost = True
            log_event(logging.ERROR, "lease.lost", holder=self.lease.holder, hint="another scheduler took over")
            self._wake.set()

    # -- APScheduler ------------------------------------------------------------------------------

    def _new_scheduler(self) -> BaseScheduler:
        scheduler = self.scheduler_factory(
            jobstores={"default": SQLAlchemyJobStore(engine=self.store.engine, tablename=JOBS_TABLE)},
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )
        scheduler.add_listener(lambda _event: self._sync_jobs(), EVENT_SCHEDULER_STARTED)
        return scheduler

    def _sync_jobs(self) -> None:
        """Make the job store hold one job per scheduled tree (and the delivery job), no more."""
        scheduler = self._scheduler
        if scheduler is None:
            return
        with self._jobs_lock:
            existing = {job.id: job for job in scheduler.get_jobs()}
            for job_id in existing:
                if job_id.startswith(TREE_JOB_PREFIX) and job_id.removeprefix(TREE_JOB_PREFIX) not in self.trees:
                    scheduler.remove_job(job_id)
                    log_event(logging.INFO, "job.removed", job=job_id)
            for scheduled in self.trees.values():
                job = existing.get(scheduled.job_id)
                if job is not None and job.name == scheduled.job_name:
                    log_event(logging.INFO, "job.kept", job=scheduled.job_name, next_fire=job.next_run_time)
                    continue
                first_fire: dict[str, datetime] = {}
                if self._caught_up_to is not None:
                    # The catch-up ran every fire up to that instant; APScheduler on its own would
                    # start from its own later now and skip a fire that fell in the gap.
                    after = self._caught_up_to + ONE_MICROSECOND
                    if (fire := scheduled.trigger.get_next_fire_time(None, after)) is not None:
                        first_fire["next_run_time"] = fire  # None would add the job paused
                added = scheduler.add_job(
                    jobs.FIRE_TREE,
                    trigger=scheduled.trigger,
                    args=[scheduled.tree.id],
                    id=scheduled.job_id,
                    name=scheduled.job_name,
                    replace_existing=True,
                    **first_fire,
                )
                log_event(logging.INFO, "job.scheduled", job=scheduled.job_name, next_fire=added.next_run_time)
            every = int(self.options.deliver_every.total_seconds())
            name = f"deliver the outbox every {every}s"
            if existing.get(DELIVERY_JOB) is None or existing[DELIVERY_JOB].name != name:
                scheduler.add_job(
                    jobs.DELIVER_OUTBOX,
                    trigger=IntervalTrigger(seconds=every, timezone=UTC),
                    id=DELIVERY_JOB,
                    name=name,
                    replace_existing=True,
                )
            self._caught_up_to = None  # jobs added on a later reload start from their own now

    def fire(self, tree_id: str) -> None:
        """A tree's job: run what is due for it now (the fire itself, and anything missed)."""
        scheduled = self.trees.get(tree_id)
        if scheduled is None:  # its tree went away between a reload and this fire
            log_event(logging.WARNING, "job.orphan", tree=tree_id, hint="no scheduled tree has this id: job removed")
            if self._scheduler is not None:
                self._scheduler.remove_job(f"{TREE_JOB_PREFIX}{tree_id}")
            return
        on_time = latest_fire(scheduled.trigger, self.clock())
        self.runner.reconcile(scheduled.tree, scheduled.trigger, on_time=on_time, stopping=self._stopping)
        self.runner.deliver()
        self._write_health()

    def deliver(self) -> None:
        self.runner.deliver()

    # -- the control thread -----------------------------------------------------------------------

    def _control(self, done: threading.Event) -> None:
        """Renew the lease, watch the trees, reload, and stop on request, until ``done``.

        Each step runs under :meth:`_survive`: whatever one raises (a tree file that breaks a
        loader, a health file that cannot be written, a database error of a kind not foreseen) is
        logged, and the thread goes on. If it died, the lease would expire while the jobs still run,
        and SIGTERM would no longer stop the process."""
        renew_every = self.options.lease_length.total_seconds() / 4
        watch_every = self.options.watch_every
        next_renew = time.monotonic() + renew_every
        next_watch = time.monotonic() + (watch_every or 0)
        stop_logged = False
        while not done.is_set():
            self._wake.wait(min(renew_every, watch_every or renew_every, 1.0))
            self._wake.clear()
            if done.is_set():
                return
            if time.monotonic() >= next_renew:
                next_renew = time.monotonic() + renew_every
                self._survive("heartbeat", self._heartbeat)
            if watch_every is not None and time.monotonic() >= next_watch:
                next_watch = time.monotonic() + watch_every
                self._survive("watch", self._look_for_changes)
            if self._reload.is_set():
                self._reload.clear()
                self._survive("reload", self._reload_and_sync)
            if self._stop.is_set() and not stop_logged:
                stop_logged = True
                log_event(logging.INFO, "scheduler.stopping", hint="the run in progress finishes first")
            if self._stop.is_set() or self._lost:
                self._survive("shutdown", self._shut_scheduler_down)

    def _survive(self, step: str, action: Callable[[], None]) -> None:
        try:
            action()
        except Exception as exc:  # the control thread must outlive anything one step raises
            log_event(logging.ERROR, "control.error", exc_info=True, step=step, error=f"{type(exc).__name__}: {exc}")

    def _look_for_changes(self) -> None:
        if trees_fingerprint(self.options.trees_dir) != self._trees_seen:
            self._reload.set()

    def _reload_and_sync(self) -> None:
        self.reload_trees()
        self._sync_jobs()

    def _heartbeat(self) -> None:
        try:
            if not self.lease.renew(self.clock()):
                self._lose_lease()
        except sa.exc.OperationalError as exc:  # the database is busy or away: retry next beat
            log_event(logging.WARNING, "lease.renew_failed", error=str(exc.orig))
        self._write_health()

    def _shut_scheduler_down(self) -> None:
        scheduler = self._scheduler
        if scheduler is None or not scheduler.running or self._shutting_down:
            return
        self._shutting_down = True
        # In its own thread: shutdown(wait=True) waits for the run in progress, and the control
        # loop must keep renewing the lease meanwhile.
        self._shutdown_thread = threading.Thread(
            target=scheduler.shutdown, kwargs={"wait": True}, name="kpitree-shutdown"
        )
        self._shutdown_thread.start()

    # -- trees ------------------------------------------------------------------------------------

    def reload_trees(self) -> None:
        """Load the trees directory again; a file that fails validation keeps its last valid
        version scheduled (see :func:`kpitree.schedule.catalog.scheduled_trees`)."""
        self._trees_seen = trees_fingerprint(self.options.trees_dir)
        found = scheduled_trees(self.options.trees_dir, self.trees)
        added, removed = found.keys() - self.trees.keys(), self.trees.keys() - found.keys()
        self.trees = found
        log_event(
            logging.INFO,
            "trees.loaded",
            scheduled=",".join(sorted(found)) or "none",
            added=len(added),
            removed=len(removed),
        )

    # -- health -----------------------------------------------------------------------------------

    def _write_health(self) -> None:
        if self.options.health_file is None:
            return
        try:
            status = scheduler_status(self.store.engine, self.clock())
        except sa.exc.OperationalError as exc:
            log_event(logging.WARNING, "health.unavailable", error=str(exc.orig))
            return
        data: dict[str, Any] = {
            "process": {"holder": self.lease.holder, "role": self.role, "pid": os.getpid()},
            **status.to_json(),
        }
        target = self.options.health_file
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".tmp")
            partial.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
            partial.replace(target)  # readers never see half a file
        except OSError as exc:  # a full disk or a moved folder must not stop the scheduler
            if str(exc) != self._health_error:
                log_event(logging.WARNING, "health.unwritable", file=target, error=str(exc))
            self._health_error = str(exc)
        else:
            self._health_error = ""
