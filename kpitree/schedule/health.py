"""What ``kpitree status`` and the scheduler's health file show: the lease, the next fire time of
each job, the outbox backlog and each tree's last run. Read from the state database, so any
process (a monitor, a second host) can ask."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from kpitree.schedule.lease import LeaseView, current_lease
from kpitree.state.models import OutboxMessage, PipelineRun

JOBS_TABLE = "apscheduler_jobs"
TREE_JOB_PREFIX = "tree:"


@dataclass(frozen=True)
class JobView:
    job_id: str
    next_fire: datetime | None  # None: paused


@dataclass(frozen=True)
class OutboxBacklog:
    due: int  # pending and due now
    waiting: int  # pending, due later (a retry's backoff, a daily digest)
    dead: int  # given up: 'kpitree alerts retry ID' after fixing the cause
    oldest_due: datetime | None


@dataclass(frozen=True)
class LastRun:
    tree_id: str
    run_key: str
    status: str
    started_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class SchedulerStatus:
    checked_at: datetime
    lease: LeaseView | None
    lease_live: bool
    jobs: tuple[JobView, ...]
    outbox: OutboxBacklog
    last_runs: tuple[LastRun, ...]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = _jsonable(asdict(self))
        return data


def scheduler_status(engine: Engine, now: datetime) -> SchedulerStatus:
    lease = current_lease(engine)
    return SchedulerStatus(
        now,
        lease,
        lease is not None and lease.expires_at > now,
        tuple(_jobs(engine)),
        _backlog(engine, now),
        tuple(_last_runs(engine)),
    )


def _jobs(engine: Engine) -> list[JobView]:
    # The job store's own columns, read without unpickling the jobs: any process can report them.
    if not sa.inspect(engine).has_table(JOBS_TABLE):
        return []
    table = sa.Table(JOBS_TABLE, sa.MetaData(), sa.Column("id"), sa.Column("next_run_time", sa.Float))
    with engine.connect() as connection:
        rows = connection.execute(sa.select(table.c.id, table.c.next_run_time).order_by(table.c.id)).all()
    return [
        JobView(row.id, datetime.fromtimestamp(row.next_run_time, UTC) if row.next_run_time else None) for row in rows
    ]


def _backlog(engine: Engine, now: datetime) -> OutboxBacklog:
    pending = col(OutboxMessage.status) == "pending"
    due_now = col(OutboxMessage.next_attempt_at) <= now
    with Session(engine) as session:
        due = session.exec(select(func.count()).where(pending, due_now)).one()
        waiting = session.exec(select(func.count()).where(pending, ~due_now)).one()
        dead = session.exec(select(func.count()).where(col(OutboxMessage.status) == "dead")).one()
        oldest = session.exec(select(func.min(OutboxMessage.next_attempt_at)).where(pending, due_now)).one()
    return OutboxBacklog(due, waiting, dead, oldest)


def _last_runs(engine: Engine) -> list[LastRun]:
    with Session(engine) as session:
        newest = select(func.max(PipelineRun.id)).group_by(col(PipelineRun.tree_id))
        rows = session.exec(
            select(PipelineRun).where(col(PipelineRun.id).in_(newest)).order_by(col(PipelineRun.tree_id))
        ).all()
    return [LastRun(r.tree_id, r.run_key, r.status, r.started_at, r.finished_at) for r in rows]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value
