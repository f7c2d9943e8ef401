"""runs of one tree commit one at a time (the tree lock row); a released lease says when

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tree_lock",
        sa.Column("tree_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("locked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tree_id"),
    )
    with op.batch_alter_table("scheduler_lease", schema=None) as batch_op:
        batch_op.add_column(sa.Column("released_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scheduler_lease", schema=None) as batch_op:
        batch_op.drop_column("released_at")
    op.drop_table("tree_lock")
