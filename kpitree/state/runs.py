"""The pipeline-run ledger: every run, by hand or scheduled, with its status.

A run is *begun* (a ``running`` row, committed at once) before it computes anything, and
*finished* inside the transaction that commits its results, so the row turns ``succeeded`` if and
only if the results, alert states and outbox rows are stored. A process killed halfway leaves a
``running`` row and nothing else; the scheduler that next holds the lease re-runs it.

Each attempt draws a fresh ``token``. Claiming a row and finishing it are compare-and-set on the
token, so when two processes reach the same run (a paused scheduler waking after its successor took
over), only the newest attempt can commit; the other raises :class:`RunSuperseded` and rolls back.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime
from uuid import uuid4

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select, update

from kpitree.errors import InternalError, RunSuperseded
from kpitree.state.models import PipelineRun, TreeLock, table_of, upsert_into

RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
ABANDONED = "abandoned"  # its process ended (killed) before it finished: nothing of it was committed
MAX_ATTEMPTS = 3  # a scheduled run that failed this often waits for a person ('kpitree run')
ERROR_CHARS = 2000


@dataclass(frozen=True)
class RunRequest:
    """What a run is before it starts: its key, and whether it may notify."""

    run_key: str
    tree_id: str
    period_label: str
    segment: str
    trigger: str  # manual | schedule | catch-up
    scheduled_for: datetime | None
    notify: bool


@dataclass(frozen=True)
class RunTicket:
    """A claimed attempt at a run: the ledger row and the token that lets this attempt finish it."""

    row_id: int
    run_key: str
    token: str
    attempt: int
    notify: bool


def holder_name() -> str:
    """host:pid:nonce: who runs an attempt (a scheduler, or a run by hand), readable in logs, unique
    even when a pid is reused, and enough to tell later whether that process is still alive."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid4().hex[:6]}"


def _process_ended(holder: str) -> bool:
    """Whether ``holder`` names a process of this host that no longer exists (another host's
    processes cannot be seen from here: their runs stay 'running' until that host's scheduler
    takes them up)."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


def mark_abandoned(engine: Engine, now: datetime) -> int:
    """Turn the ``running`` rows whose process has ended into ``abandoned``; how many."""
    with Session(engine) as session:
        running = session.exec(select(PipelineRun).where(col(PipelineRun.status) == RUNNING)).all()
        ended = [(row.id, row.token, row.holder) for row in running if _process_ended(row.holder)]
        for row_id, token, holder in ended:
            session.execute(
                update(PipelineRun)
                .where(col(PipelineRun.id) == row_id, col(PipelineRun.token) == token)
                .values(
                    status=ABANDONED,
                    finished_at=now,
                    error=f"its process ({holder}) ended before the run finished; nothing of it was committed",
                )
            )
        session.commit()
    return len(ended)


def begin_run(engine: Engine, request: RunRequest, holder: str, now: datetime) -> RunTicket | None:
    """Claim ``request``: a new ``running`` row, or a new attempt at a row left running or failed.

    None when the run already succeeded (it must not run twice), or another attempt claimed it
    between our read and our write.
    """
    token = uuid4().hex
    row = PipelineRun(
        run_key=request.run_key,
        tree_id=request.tree_id,
        period_label=request.period_label,
        segment=request.segment,
        trigger=request.trigger,
        scheduled_for=request.scheduled_for,
        notify=request.notify,
        status=RUNNING,
        token=token,
        holder=holder,
        started_at=now,
    )
    with Session(engine) as session:
        session.add(row)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
        else:
            if row.id is None:
                raise InternalError("row.id is missing")
            return RunTicket(row.id, request.run_key, token, 1, request.notify)
        existing = session.exec(select(PipelineRun).where(col(PipelineRun.run_key) == request.run_key)).one()
        if existing.status == SUCCEEDED:
            return None
        if existing.id is None:
            raise InternalError("existing.id is missing")
        row_id, attempt = existing.id, existing.attempt + 1  # read before the commit expires them
        claimed = session.execute(
            update(PipelineRun)
            .where(col(PipelineRun.id) == row_id, col(PipelineRun.token) == existing.token)
            .values(
                token=token,
                holder=holder,
                attempt=attempt,
                status=RUNNING,
                notify=request.notify,
                started_at=now,
                finished_at=None,
                error=None,
            )
            .returning(col(PipelineRun.id))
        ).first()
        session.commit()
        if claimed is None:
            return None
        return RunTicket(row_id, request.run_key, token, attempt, request.notify)


def lock_tree(session: Session, tree_id: str, now: datetime) -> None:
    """Take the tree's lock for the rest of ``session``'s transaction: call it first, before the
    transaction reads anything. A second run of the tree waits here until the first commits, and
    then reads the alert states as that one left them (see :class:`TreeLock`)."""
    insert = upsert_into(session.get_bind().dialect, TreeLock)
    session.execute(
        insert.values(tree_id=tree_id, runs=1, locked_at=now).on_conflict_do_update(
            index_elements=["tree_id"], set_={"runs": table_of(TreeLock).c.runs + 1, "locked_at": now}
        )
    )


@dataclass(frozen=True)
class RunTally:
    compute_run_id: int
    nodes: int
    events: int
    alerts_queued: int


def finish_run(session: Session, ticket: RunTicket, tally: RunTally, now: datetime) -> None:
    """Mark the run succeeded in ``session``'s transaction (the one holding its results).

    Raises :class:`RunSuperseded` when another attempt claimed the row since: the caller's
    transaction must then roll back.
    """
    result = session.execute(
        update(PipelineRun)
        .where(col(PipelineRun.id) == ticket.row_id, col(PipelineRun.token) == ticket.token)
        .values(
            status=SUCCEEDED,
            finished_at=now,
            compute_run_id=tally.compute_run_id,
            nodes=tally.nodes,
            events=tally.events,
            alerts_queued=tally.alerts_queued,
            error=None,
        )
        .returning(col(PipelineRun.id))
    ).first()
    if result is None:
        raise RunSuperseded(f"run {ticket.run_key}: another attempt claimed it; this one rolled back")


def fail_run(engine: Engine, ticket: RunTicket, error: str, now: datetime) -> None:
    """Record why the attempt failed (nothing of it was committed). A superseded attempt leaves
    its successor's row alone."""
    with Session(engine) as session:
        session.execute(
            update(PipelineRun)
            .where(col(PipelineRun.id) == ticket.row_id, col(PipelineRun.token) == ticket.token)
            .values(status=FAILED, finished_at=now, error=error[:ERROR_CHARS])
        )
        session.commit()


def unfinished_runs(engine: Engine, tree_id: str) -> list[PipelineRun]:
    """Scheduled runs of ``tree_id`` left running or abandoned (their process died) or failed, that
    may be tried again, oldest first."""
    with Session(engine) as session:
        query = (
            select(PipelineRun)
            .where(
                col(PipelineRun.tree_id) == tree_id,
                col(PipelineRun.status).in_([RUNNING, FAILED, ABANDONED]),
                col(PipelineRun.scheduled_for).is_not(None),
                col(PipelineRun.attempt) < MAX_ATTEMPTS,
            )
            .order_by(col(PipelineRun.scheduled_for))
        )
        return list(session.exec(query))


def last_scheduled_fire(engine: Engine, tree_id: str) -> datetime | None:
    """The latest fire time the scheduler has taken up for ``tree_id`` (whatever became of it)."""
    with Session(engine) as session:
        query = select(func.max(PipelineRun.scheduled_for)).where(col(PipelineRun.tree_id) == tree_id)
        return session.exec(query).one()


def list_runs(engine: Engine, tree_id: str | None = None, limit: int = 50) -> list[PipelineRun]:
    """The newest runs first."""
    with Session(engine) as session:
        query = select(PipelineRun).order_by(col(PipelineRun.id).desc()).limit(limit)
        if tree_id is not None:
            query = query.where(col(PipelineRun.tree_id) == tree_id)
        return list(session.exec(query))
