"""Compute runs and node values per period and segment.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    op.create_table(
        "compute_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tree_id", text(), nullable=False),
        sa.Column("tree_version", text(), nullable=False),
        sa.Column("period_label", text(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("grain", text(), nullable=False),
        sa.Column("segment", text(), nullable=False),
        sa.Column("comparison", text(), nullable=True),
        sa.Column("warehouse", text(), nullable=False),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("nodes", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_compute_run_tree_id"), "compute_run", ["tree_id"], unique=False)
    op.create_table(
        "node_value",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tree_id", text(), nullable=False),
        sa.Column("segment", text(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("grain", text(), nullable=False),
        sa.Column("node_id", text(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("reason", text(), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("tree_version", text(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["compute_run.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tree_id", "segment", "period_start", "period_end", "node_id", name="uq_node_value_period"),
    )
    op.create_index(op.f("ix_node_value_run_id"), "node_value", ["run_id"], unique=False)
    op.create_index(op.f("ix_node_value_tree_id"), "node_value", ["tree_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_node_value_tree_id"), table_name="node_value")
    op.drop_index(op.f("ix_node_value_run_id"), table_name="node_value")
    op.drop_table("node_value")
    op.drop_index(op.f("ix_compute_run_tree_id"), table_name="compute_run")
    op.drop_table("compute_run")
