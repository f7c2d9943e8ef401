"""State tables. Changing one needs a migration in ``alembic/versions`` (a test compares them)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel


class ComputeRun(SQLModel, table=True):
    """One ``kpitree compute`` (or scheduled run) of one tree, period and segment. Kept forever."""

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
