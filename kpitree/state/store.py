"""Reading and writing the state database."""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, delete, select

from kpitree.compute.engine import TreeComputation
from kpitree.compute.snapshot import Snapshot
from kpitree.compute.values import NodeValue
from kpitree.errors import InternalError, UserError
from kpitree.periods import Period
from kpitree.state.models import ComputeRun, NodeValueRecord, upsert_into
from kpitree.state.schema import create_if_new, schema_is_current
from kpitree.tree import MetricTree, tree_calendar
from kpitree.warehouse import make_file_directory

STATE_ENV = "KPITREE_STATE_DB"
DEFAULT_STATE_FILE = Path(".kpitree") / "state.db"
SQLITE_BUSY_SECONDS = 300


def state_url(option: str | None = None) -> str:
    return option or os.environ.get(STATE_ENV) or f"sqlite:///{DEFAULT_STATE_FILE}"


@dataclass
class StateStore:
    engine: Engine

    @classmethod
    def open(cls, url: str | None = None, *, migrate: bool = True) -> StateStore:
        """Open the state database, creating it (and upgrading its schema) when needed."""
        parsed = sa.make_url(state_url(url))
        make_file_directory(parsed)
        # SQLite: a run waits for another run's commit (the tree lock) and the scheduler's writes;
        # the driver's 5 s would turn a long commit into 'database is locked'.
        options = {"connect_args": {"timeout": SQLITE_BUSY_SECONDS}} if parsed.get_backend_name() == "sqlite" else {}
        engine = sa.create_engine(parsed, **options)
        try:
            with engine.connect():
                pass  # unreachable or refused: say so now, as the user's setting, not midway as a bug
            if migrate and not schema_is_current(engine) and not create_if_new(engine):
                from kpitree.state.migrations import ensure_current  # alembic: only to upgrade

                ensure_current(engine)
        except sa.exc.OperationalError as exc:
            message = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__
            raise UserError(
                f"cannot open the state database {parsed.render_as_string(hide_password=True)}: {message}",
                hint=f"check --state-db or ${STATE_ENV}",
            ) from None
        return cls(engine)

    def record_snapshot(self, snapshot: Snapshot, started_at: datetime | None = None) -> int:
        """Store a run and its period's values; values of an earlier run of that period are replaced."""
        with Session(self.engine) as session:
            run_id = write_snapshot(session, snapshot, started_at)
            session.commit()
            return run_id

    def keep(self, computation: TreeComputation, now: datetime) -> int:
        """:func:`keep_computed` in a transaction of its own (a report's trend)."""
        with Session(self.engine) as session:
            kept = keep_computed(session, computation, now)
            session.commit()
            return kept

    def runs(self, tree_id: str) -> list[ComputeRun]:
        with Session(self.engine) as session:
            return list(
                session.exec(select(ComputeRun).where(col(ComputeRun.tree_id) == tree_id).order_by(col(ComputeRun.id)))
            )

    def recorded(
        self, tree: MetricTree, periods: Sequence[Period], segment: str = ""
    ) -> dict[Period, dict[str, float | None]]:
        """The node values earlier runs stored for ``periods``, where they were computed from this
        very tree file (its version) for this segment and cover every node: a trend can show
        them instead of computing those periods again. Periods not recorded so are left out."""
        if not periods:
            return {}
        by_start = {(p.start, p.end): p for p in periods}
        found: dict[Period, dict[str, float | None]] = {}
        with Session(self.engine) as session:
            rows = session.exec(
                select(NodeValueRecord).where(
                    col(NodeValueRecord.tree_id) == tree.id,
                    col(NodeValueRecord.segment) == segment,
                    col(NodeValueRecord.tree_version) == tree.version,
                    col(NodeValueRecord.period_start).in_([p.start for p in periods]),
                )
            )
            for row in rows:
                period = by_start.get((row.period_start, row.period_end))
                if period is not None:
                    found.setdefault(period, {})[row.node_id] = row.value
        return {period: values for period, values in found.items() if set(values) >= set(tree.nodes)}

    def values(self, tree_id: str, segment: str = "") -> list[NodeValueRecord]:
        with Session(self.engine) as session:
            query = (
                select(NodeValueRecord)
                .where(col(NodeValueRecord.tree_id) == tree_id, col(NodeValueRecord.segment) == segment)
                .order_by(col(NodeValueRecord.period_start), col(NodeValueRecord.id))
            )
            return list(session.exec(query))


def write_snapshot(session: Session, snapshot: Snapshot, started_at: datetime | None = None) -> int:
    """Add a run and its period's values to ``session`` (the caller commits, with whatever else
    belongs to the same run); values of an earlier run of that period are replaced."""
    values = {result.node.id: result.current for result in snapshot.results}
    comparison = snapshot.comparison.value if snapshot.comparison else None
    segment = snapshot.segment.key()
    return _write_values(
        session, snapshot.tree, segment, snapshot.period, values, snapshot.warehouse, comparison, started_at
    )


def keep_computed(
    session: Session,
    computation: TreeComputation,
    now: datetime,
    skip: Collection[Period] = (),
    started_at: datetime | None = None,
) -> int:
    """Add the values of every period ``computation`` computed that had ended by ``now`` (a trend's
    periods, the comparison), but those in ``skip``, as runs of their own: a later report or run
    reads them (:meth:`StateStore.recorded`) instead of computing them again, so a trend costs its
    computation once. A period still open is left out: its values are not final. Returns how many
    periods were kept."""
    kept = 0
    for computed in computation.periods:
        if computed.period in skip or computed.window.end > now:
            continue
        _write_values(
            session,
            computation.tree,
            computation.segment.key(),
            computed.period,
            computed.values,
            computation.warehouse,
            None,
            started_at,
        )
        kept += 1
    return kept


def _write_values(
    session: Session,
    tree: MetricTree,
    segment: str,
    period: Period,
    values: Mapping[str, NodeValue],
    warehouse: str,
    comparison: str | None,
    started_at: datetime | None,
) -> int:
    """A run of ``period`` and its node values; the values stored for that period before are replaced."""
    now = datetime.now(UTC)
    run = ComputeRun(
        tree_id=tree.id,
        tree_version=tree.version,
        period_label=tree_calendar(tree).label(period),
        period_start=period.start,
        period_end=period.end,
        grain=period.grain.value,
        segment=segment,
        comparison=comparison,
        warehouse=warehouse,
        started_at=started_at or now,
        finished_at=now,
        nodes=len(values),
    )
    session.add(run)
    session.flush()
    if run.id is None:
        raise InternalError("run.id is missing")
    # The nodes the tree no longer has go; the others are written over, so that two computations
    # of a period committing at once (a report's trend beside a run) both succeed, the later winning.
    session.exec(
        delete(NodeValueRecord).where(
            col(NodeValueRecord.tree_id) == tree.id,
            col(NodeValueRecord.segment) == segment,
            col(NodeValueRecord.period_start) == period.start,
            col(NodeValueRecord.period_end) == period.end,
            col(NodeValueRecord.node_id).not_in(values),
        )
    )
    insert = upsert_into(session.get_bind().dialect, NodeValueRecord)
    written = ("grain", "value", "reason", "run_id", "tree_version")
    session.execute(
        insert.values(
            [
                {
                    "tree_id": tree.id,
                    "segment": segment,
                    "period_start": period.start,
                    "period_end": period.end,
                    "grain": period.grain.value,
                    "node_id": node_id,
                    "value": value.value,
                    "reason": value.reason,
                    "run_id": run.id,
                    "tree_version": tree.version,
                }
                for node_id, value in values.items()
            ]
        ).on_conflict_do_update(
            index_elements=["tree_id", "segment", "period_start", "period_end", "node_id"],
            set_={column: insert.excluded[column] for column in written},
        )
    )
    return run.id
