"""State tables. Changing one needs a migration in ``alembic/versions`` (a test compares them)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, UniqueConstraint
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel

from kpitree.errors import UsageError


class ComputeRun(SQLModel, table=True):
    """One computation of one tree, period and segment (``kpitree compute``, or a pipeline run's).
    Kept forever."""

    __tablename__ = "compute_run"

    id: int | None = Field(default=None, primary_key=True)
    tree_id: str = Field(index=True)
    tree_version: str  # sha256 of the tree file the values were computed with
    period_label: str
    period_start: date
    period_end: date  # exclusive
    grain: str
    segment: str = ""  # '' for the whole population, else e.g. 'segment=SMB'
    comparison: str | None = None
    warehouse: str  # the URL, password hidden
    started_at: datetime
    finished_at: datetime
    nodes: int


class NodeValueRecord(SQLModel, table=True):
    """The latest value of one node for one period and segment; a re-run replaces it."""

    __tablename__ = "node_value"
    __table_args__ = (
        UniqueConstraint("tree_id", "segment", "period_start", "period_end", "node_id", name="uq_node_value_period"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tree_id: str = Field(index=True)
    segment: str = ""
    period_start: date
    period_end: date
    grain: str
    node_id: str
    value: float | None = None
    reason: str | None = None
    run_id: int = Field(foreign_key="compute_run.id", index=True)
    tree_version: str


class AlertState(SQLModel, table=True):
    """Where one alert (tree, node, rule, entity) stands: firing or resolved, and when its owners
    last heard. One row per fingerprint, updated by every run."""

    __tablename__ = "alert_state"

    fingerprint: str = Field(primary_key=True)  # sha256 of tree, node, rule and entity
    tree_id: str = Field(index=True)
    node_id: str
    rule_id: str
    entity: str = ""  # '' for the node itself, else a contact or account id
    status: str  # firing | resolved
    signature: str  # what the alert says (severity, band, direction): a change may re-notify
    first_fired_at: datetime
    last_fired_at: datetime
    last_notified_at: datetime | None = None
    resolved_at: datetime | None = None
    period_label: str  # the period of the run that last evaluated it


class AlertEvent(SQLModel, table=True):
    """Every notification decision, sent or held back (a silence, a maintenance window): the audit."""

    __tablename__ = "alert_event"
    __table_args__ = (UniqueConstraint("fingerprint", "kind", "run_key", name="uq_alert_event_run"),)

    id: int | None = Field(default=None, primary_key=True)
    fingerprint: str = Field(index=True)
    tree_id: str = Field(index=True)
    node_id: str
    rule_id: str
    entity: str = ""
    kind: str  # firing | changed | repeat | resolved
    run_key: str  # tree, period and segment (and scheduled time) of the run that decided it
    period_label: str
    created_at: datetime
    suppressed_by: str | None = None  # 'silence:<id>' or 'maintenance:<reason>'
    facts: str  # JSON: values, change, attribution, owners


class OutboxMessage(SQLModel, table=True):
    """One message to one recipient on one channel, written in the same transaction as the run's
    results and delivered by the worker. Rows of one email share ``message_key`` and go out in one
    SMTP transaction (To and Cc), each recipient keeping its own status."""

    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(unique=True)  # a re-run of the same period writes the same keys
    message_key: str = Field(index=True)
    message_id: str | None = None  # email Message-ID, fixed at enqueue so a resend repeats it
    tree_id: str = Field(index=True)
    run_key: str
    event_ids: str  # JSON list of alert_event ids this message tells
    channel: str  # email | slack
    recipient: str  # email address, Slack member or channel id, or '#name'
    owner: str  # person or team id the recipient stands for
    role: str  # to | cc | digest
    fallback: bool = False  # the owner had no address on this channel: sent to the fallback receiver
    subject: str = ""
    body_text: str
    body_html: str | None = None
    slack_blocks: str | None = None  # JSON list of Block Kit blocks
    attachment_name: str | None = None  # an email's one attachment: the CSV of the entities it summarises
    attachment: str | None = None
    status: str = Field(default="pending", index=True)  # pending | sending | sent | dead
    attempts: int = 0
    next_attempt_at: datetime
    claimed_at: datetime | None = None
    claim_token: str | None = None
    sent_at: datetime | None = None
    last_error: str | None = None
    created_at: datetime


class Silence(SQLModel, table=True):
    """Notifications matching it are recorded but not sent, until it ends or is expired."""

    __tablename__ = "silence"

    id: int | None = Field(default=None, primary_key=True)
    tree_id: str | None = None  # None: every tree
    node_id: str | None = None  # None: every node of the tree
    rule_id: str | None = None
    entity: str | None = None
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    created_at: datetime
    expired_at: datetime | None = None


class PipelineRun(SQLModel, table=True):
    """The ledger of pipeline runs, by hand or scheduled. The row is committed as ``running`` before
    the computation starts, and turned ``succeeded`` in the same transaction as the run's results,
    so a run killed halfway is visible (still ``running``, its results absent) and is re-run by the
    next scheduler that holds the lease. ``token`` changes with every attempt: only the attempt
    holding it may finish the row (a scheduler that lost its lease cannot commit over its successor).
    """

    __tablename__ = "pipeline_run"

    id: int | None = Field(default=None, primary_key=True)
    run_key: str = Field(unique=True)  # tree, period, segment and scheduled (or manual) time
    tree_id: str = Field(index=True)
    period_label: str
    segment: str = ""
    trigger: str  # manual | schedule | catch-up
    scheduled_for: datetime | None = None  # the cron fire time; None for a run by hand
    notify: bool = True  # False for a catch-up of an older period: states recorded, nothing sent
    status: str = Field(index=True)  # running | succeeded | failed | abandoned
    attempt: int = 1
    token: str  # the current attempt's
    holder: str  # the process (host:pid:nonce) that ran the attempt: a scheduler, or a run by hand
    started_at: datetime
    finished_at: datetime | None = None
    compute_run_id: int | None = None
    nodes: int | None = None
    events: int | None = None
    alerts_queued: int | None = None
    error: str | None = None


class TreeLock(SQLModel, table=True):
    """One row per tree, written as the *first* statement of every pipeline run's commit
    transaction: the database holds the row (SQLite's write lock, PostgreSQL's row lock) until that
    transaction ends, so the runs of one tree decide what to notify one at a time, each reading the
    alert states the one before it committed. Two overlapping ``kpitree run`` cannot both notify."""

    __tablename__ = "tree_lock"

    tree_id: str = Field(primary_key=True)
    runs: int = 0  # how many runs have committed through the lock (the write that takes it)
    locked_at: datetime


class SchedulerLease(SQLModel, table=True):
    """Who may run scheduled jobs: one row per lease name. The holder renews ``expires_at``; once it
    passes, any standby may take the row over (compare-and-set on holder and expiry)."""

    __tablename__ = "scheduler_lease"

    name: str = Field(primary_key=True)
    holder: str
    acquired_at: datetime
    renewed_at: datetime
    expires_at: datetime
    released_at: datetime | None = None  # set by a clean stop (the lease then expires at once)


class Intervention(SQLModel, table=True):
    """A change made to move one node, registered before it is judged: the expected direction and
    size, the segment it was made in, the control segment, and the evaluation window are fixed when
    it is added. A later change to any of them is kept in ``intervention_edit``, and shown beside
    every verdict, so a window stretched until the numbers looked good is visible."""

    __tablename__ = "intervention"

    id: int | None = Field(default=None, primary_key=True)
    tree_id: str = Field(index=True)
    node_id: str
    expect: str  # up | down
    expected_size: float | None = None  # relative: 0.2 = 20%
    start: date  # the first day of the first treated period
    grain: str  # week | month: the periods the window is counted in
    window_periods: int  # after the start; the pre-period before it is as long
    segment: str = ""  # the treated segment's key ('' for the whole population)
    control: str = ""  # the control segment's key ('' for none: before/after only)
    owner: str  # a person or team id of the tree
    note: str = ""
    registered_at: datetime


class InterventionEdit(SQLModel, table=True):
    """One change to a registered intervention: what it was, what it became, when and why."""

    __tablename__ = "intervention_edit"

    id: int | None = Field(default=None, primary_key=True)
    intervention_id: int = Field(index=True, foreign_key="intervention.id")
    edited_at: datetime
    field_name: str
    old_value: str
    new_value: str
    reason: str = ""


class InterventionEvaluation(SQLModel, table=True):
    """One evaluation of an intervention. ``details`` holds every number the verdict rests on (JSON);
    ``notified`` is set when the verdict was queued to the owner (once per change of verdict)."""

    __tablename__ = "intervention_evaluation"

    id: int | None = Field(default=None, primary_key=True)
    intervention_id: int = Field(index=True, foreign_key="intervention.id")
    evaluated_at: datetime
    verdict: str  # verified | not verified | inconclusive
    reason: str
    effect: float | None = None
    low: float | None = None
    high: float | None = None
    relative: float | None = None
    details: str  # JSON
    notified: bool = False


def table_of(model: type[SQLModel]) -> Table:
    """A model's Core table, for statements on plain rows (bulk inserts, upserts) that the ORM's
    per-object machinery would only slow down."""
    table: Table = model.__table__  # type: ignore[attr-defined]  # set by SQLModel's metaclass
    return table


def upsert_into(dialect: Dialect, model: type[SQLModel]) -> Any:
    """An INSERT into ``model``'s table that can say ON CONFLICT (DO NOTHING, DO UPDATE), in the
    state database's dialect: SQLite or PostgreSQL, the two it runs on. With DO UPDATE, a row two
    transactions write at once is updated by the second, not refused as a duplicate."""
    if dialect.name == "postgresql":
        return postgresql.insert(table_of(model))
    if dialect.name == "sqlite":
        return sqlite.insert(table_of(model))
    raise UsageError(f"the state database must be SQLite or PostgreSQL, not {dialect.name}")
