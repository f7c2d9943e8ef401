"""``kpitree schedule`` (the scheduler process), ``kpitree runs`` and ``kpitree status``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from kpitree.cli.alert_commands import delivery_channels, delivery_options
from kpitree.cli.options import TREES_DIR_OPTION, reports_dir_option, state_option, warehouse_option
from kpitree.cli.plain import echo

WATCH_EVERY = 5.0  # seconds


@click.command()
@click.option(
    "--lease",
    "lease_seconds",
    type=click.FloatRange(min=1),
    default=60,
    show_default=True,
    help="Seconds the active scheduler's lease lasts unrenewed: a standby takes over this long after it dies.",
)
@click.option("--watch", is_flag=True, help=f"Reload changed tree files (checked every {WATCH_EVERY:g}s); SIGHUP too.")
@click.option(
    "--health-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Keep a JSON file with the lease, next fire times and outbox backlog up to date.",
)
@reports_dir_option("its variance report (<tree>/<period>.md and .html) and its entity alerts (<period>-entities.csv)")
@click.option(
    "--max-catch-up",
    type=click.IntRange(min=1),
    default=12,
    show_default=True,
    help="After a downtime, compute at most this many missed periods per tree (the newest).",
)
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@delivery_options
@warehouse_option
@state_option
@TREES_DIR_OPTION
def schedule(
    lease_seconds: float,
    watch: bool,
    health_file: Path | None,
    reports_dir: Path,
    max_catch_up: int,
    log_format: str,
    secrets: Path | None,
    outbox_dir: Path | None,
    files_only: bool,
    warehouse: str | None,
    state_db: str | None,
    trees_dir: Path | None,
) -> None:
    """Run every tree that has a schedule on its cron, until stopped (SIGTERM or Ctrl-C).

    One pipeline run per fire: compute the tree's last closed period, attribute, alert, deliver.
    After a downtime, each missed period is computed once, and only the latest one notifies.
    Several schedulers may share a state database: one runs the jobs, the others wait as
    standbys and take over when its lease expires. SIGTERM lets the run in progress finish;
    SIGHUP reloads the tree files. Logs go to stderr. See docs/scheduling.md.
    """
    from kpitree.schedule.signals import handled_signals_blocked

    with handled_signals_blocked():  # before any thread starts: see kpitree.schedule.signals
        from kpitree.errors import TreeNotFound
        from kpitree.resources import default_trees_dir
        from kpitree.schedule.logs import configure_logging
        from kpitree.schedule.runner import RunnerSettings
        from kpitree.schedule.service import SchedulerService, ServiceOptions
        from kpitree.state.store import StateStore

        directory = trees_dir or default_trees_dir()
        if not directory.is_dir():
            raise TreeNotFound(f"no trees directory {directory}", hint="pass --trees-dir or set $KPITREE_TREES")
        configure_logging(log_format)
        service = SchedulerService(
            StateStore.open(state_db),
            ServiceOptions(
                directory,
                lease_length=timedelta(seconds=lease_seconds),
                watch_every=WATCH_EVERY if watch else None,
                health_file=health_file,
            ),
            RunnerSettings(warehouse, reports_dir, max_catch_up),
            delivery_channels(secrets, outbox_dir, files_only),
        )
        service.install_signal_handlers()
        service.serve()


@click.command()
@click.option("--tree", "tree_id", default=None, metavar="TREE", help="Only this tree's runs.")
@click.option("--limit", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table")
@state_option
def runs(tree_id: str | None, limit: int, output_format: str, state_db: str | None) -> None:
    """List pipeline runs, newest first: status, duration, nodes computed, alerts queued."""
    from kpitree.state.runs import ABANDONED, list_runs, mark_abandoned
    from kpitree.state.store import StateStore

    engine = StateStore.open(state_db).engine
    mark_abandoned(engine, datetime.now(UTC))  # a run whose process is gone is not 'running'
    rows = list_runs(engine, tree_id, limit)
    if output_format == "json":
        echo(json.dumps([row.model_dump(mode="json", exclude={"token"}) for row in rows], indent=2))
        return
    if not rows:
        echo("no runs yet" + (f" of {tree_id}" if tree_id else ""))
        return
    echo(
        f"{'id':>4} {'status':<9} {'trigger':<8} {'tree / period':<40} {'started (UTC)':<16} "
        f"{'took':>6} {'nodes':>5} {'events':>6} {'queued':>6}"
    )
    for row in rows:
        ended = row.finished_at is not None and row.status != ABANDONED  # an abandoned run's end is unknown
        took = f"{(row.finished_at - row.started_at).total_seconds():.1f}s" if ended and row.finished_at else "-"
        attempt = f" (attempt {row.attempt})" if row.attempt > 1 else ""
        echo(
            f"{row.id:>4} {row.status:<9} {row.trigger:<8} {row.tree_id + ' ' + row.period_label:<40} "
            f"{row.started_at:%Y-%m-%d %H:%M} {took:>6} {_count(row.nodes):>5} {_count(row.events):>6} "
            f"{_count(row.alerts_queued):>6}{attempt}"
        )
        if row.scheduled_for:
            echo(f"{'':>23}scheduled for {row.scheduled_for:%Y-%m-%d %H:%M} UTC")
        if row.error:
            echo(f"{'':>23}error: {row.error}")


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


@click.command()
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text")
@click.option(
    "--check", is_flag=True, help="Exit 1 unless a scheduler holds a live lease and no outbox message is dead."
)
@state_option
def status(output_format: str, check: bool, state_db: str | None) -> None:
    """The scheduler's lease, each job's next fire time, the outbox backlog and each tree's last run."""
    from kpitree.errors import UserError
    from kpitree.schedule.health import scheduler_status
    from kpitree.state.runs import mark_abandoned
    from kpitree.state.store import StateStore

    now = datetime.now(UTC)
    engine = StateStore.open(state_db).engine
    mark_abandoned(engine, now)
    report = scheduler_status(engine, now)
    if output_format == "json":
        echo(json.dumps(report.to_json(), indent=2))
    else:
        lease = report.lease
        if lease is None:
            echo("scheduler: none has run on this state database")
        elif lease.released_at is not None and not report.lease_live:
            echo(
                f"scheduler: none running; the last, {lease.holder}, stopped cleanly at "
                f"{lease.released_at:%Y-%m-%d %H:%M:%S} UTC (held since {lease.acquired_at:%Y-%m-%d %H:%M} UTC)"
            )
        else:
            state = "active" if report.lease_live else "EXPIRED (no scheduler is running)"
            echo(f"scheduler: {lease.holder}, {state}; lease renewed {lease.renewed_at:%Y-%m-%d %H:%M:%S} UTC")
            echo(
                f"           expires {lease.expires_at:%Y-%m-%d %H:%M:%S} UTC, "
                f"held since {lease.acquired_at:%Y-%m-%d %H:%M} UTC"
            )
        echo("jobs:" if report.jobs else "jobs: none stored")
        for job in report.jobs:
            when = f"{job.next_fire:%Y-%m-%d %H:%M:%S} UTC" if job.next_fire else "paused"
            echo(f"  {job.job_id:<40} next fire {when}")
        backlog = report.outbox
        oldest = f", oldest due since {backlog.oldest_due:%Y-%m-%d %H:%M} UTC" if backlog.oldest_due else ""
        echo(f"outbox: {backlog.due} due, {backlog.waiting} waiting, {backlog.dead} dead{oldest}")
        for run in report.last_runs:
            echo(
                f"last run of {run.tree_id}: {run.status} ({run.run_key}, started {run.started_at:%Y-%m-%d %H:%M} UTC)"
            )
    if check:
        problems = []
        if not report.lease_live:
            problems.append("no scheduler holds a live lease")
        if report.outbox.dead:
            problems.append(f"{report.outbox.dead} outbox messages are dead")
        if problems:
            raise UserError("unhealthy: " + "; ".join(problems), hint="see kpitree status, kpitree alerts outbox")
