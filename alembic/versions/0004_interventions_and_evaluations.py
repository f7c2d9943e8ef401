"""impact: interventions, their recorded edits, and their evaluations

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    when = sqlmodel.sql.sqltypes.UTCDateTime
    op.create_table(
        "intervention",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tree_id", text(), nullable=False),
        sa.Column("node_id", text(), nullable=False),
        sa.Column("expect", text(), nullable=False),
        sa.Column("expected_size", sa.Float(), nullable=True),
        sa.Column("start", sa.Date(), nullable=False),
        sa.Column("grain", text(), nullable=False),
        sa.Column("window_periods", sa.Integer(), nullable=False),
        sa.Column("segment", text(), nullable=False),
        sa.Column("control", text(), nullable=False),
        sa.Column("owner", text(), nullable=False),
        sa.Column("note", text(), nullable=False),
        sa.Column("registered_at", when(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("intervention", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_intervention_tree_id"), ["tree_id"], unique=False)
    op.create_table(
        "intervention_edit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("intervention_id", sa.Integer(), nullable=False),
        sa.Column("edited_at", when(), nullable=False),
        sa.Column("field_name", text(), nullable=False),
        sa.Column("old_value", text(), nullable=False),
        sa.Column("new_value", text(), nullable=False),
        sa.Column("reason", text(), nullable=False),
        sa.ForeignKeyConstraint(["intervention_id"], ["intervention.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("intervention_edit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_intervention_edit_intervention_id"), ["intervention_id"], unique=False)
    op.create_table(
        "intervention_evaluation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("intervention_id", sa.Integer(), nullable=False),
        sa.Column("evaluated_at", when(), nullable=False),
        sa.Column("verdict", text(), nullable=False),
        sa.Column("reason", text(), nullable=False),
        sa.Column("effect", sa.Float(), nullable=True),
        sa.Column("low", sa.Float(), nullable=True),
        sa.Column("high", sa.Float(), nullable=True),
        sa.Column("relative", sa.Float(), nullable=True),
        sa.Column("details", text(), nullable=False),
        sa.Column("notified", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["intervention_id"], ["intervention.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("intervention_evaluation", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_intervention_evaluation_intervention_id"), ["intervention_id"], unique=False
        )


def downgrade() -> None:
    for table in ("intervention_evaluation", "intervention_edit"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_intervention_id"))
        op.drop_table(table)
    with op.batch_alter_table("intervention", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_intervention_tree_id"))
    op.drop_table("intervention")
