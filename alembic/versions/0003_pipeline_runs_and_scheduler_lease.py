"""scheduler: the pipeline-run ledger and the scheduler lease

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    when = sqlmodel.sql.sqltypes.UTCDateTime
    op.create_table(
        "pipeline_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_key", text(), nullable=False),
        sa.Column("tree_id", text(), nullable=False),
        sa.Column("period_label", text(), nullable=False),
        sa.Column("segment", text(), nullable=False),
        sa.Column("trigger", text(), nullable=False),
        sa.Column("scheduled_for", when(), nullable=True),
        sa.Column("notify", sa.Boolean(), nullable=False),
        sa.Column("status", text(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("token", text(), nullable=False),
        sa.Column("holder", text(), nullable=False),
        sa.Column("started_at", when(), nullable=False),
        sa.Column("finished_at", when(), nullable=True),
        sa.Column("compute_run_id", sa.Integer(), nullable=True),
        sa.Column("nodes", sa.Integer(), nullable=True),
        sa.Column("events", sa.Integer(), nullable=True),
        sa.Column("alerts_queued", sa.Integer(), nullable=True),
        sa.Column("error", text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_key"),
    )
    with op.batch_alter_table("pipeline_run", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pipeline_run_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_pipeline_run_tree_id"), ["tree_id"], unique=False)
    op.create_table(
        "scheduler_lease",
        sa.Column("name", text(), nullable=False),
        sa.Column("holder", text(), nullable=False),
        sa.Column("acquired_at", when(), nullable=False),
        sa.Column("renewed_at", when(), nullable=False),
        sa.Column("expires_at", when(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("scheduler_lease")
    with op.batch_alter_table("pipeline_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pipeline_run_tree_id"))
        batch_op.drop_index(batch_op.f("ix_pipeline_run_status"))
    op.drop_table("pipeline_run")
