"""alerts: state, events, outbox, silences

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    when = sqlmodel.sql.sqltypes.UTCDateTime
    op.create_table(
        "alert_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", text(), nullable=False),
        sa.Column("tree_id", text(), nullable=False),
        sa.Column("node_id", text(), nullable=False),
        sa.Column("rule_id", text(), nullable=False),
        sa.Column("entity", text(), nullable=False),
        sa.Column("kind", text(), nullable=False),
        sa.Column("run_key", text(), nullable=False),
        sa.Column("period_label", text(), nullable=False),
        sa.Column("created_at", when(), nullable=False),
        sa.Column("suppressed_by", text(), nullable=True),
        sa.Column("facts", text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("fingerprint", "kind", "run_key", name="uq_alert_event_run"),
    )
    with op.batch_alter_table("alert_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_event_fingerprint"), ["fingerprint"], unique=False)
        batch_op.create_index(batch_op.f("ix_alert_event_tree_id"), ["tree_id"], unique=False)

    op.create_table(
        "alert_state",
        sa.Column("fingerprint", text(), nullable=False),
        sa.Column("tree_id", text(), nullable=False),
        sa.Column("node_id", text(), nullable=False),
        sa.Column("rule_id", text(), nullable=False),
        sa.Column("entity", text(), nullable=False),
        sa.Column("status", text(), nullable=False),
        sa.Column("signature", text(), nullable=False),
        sa.Column("first_fired_at", when(), nullable=False),
        sa.Column("last_fired_at", when(), nullable=False),
        sa.Column("last_notified_at", when(), nullable=True),
        sa.Column("resolved_at", when(), nullable=True),
        sa.Column("period_label", text(), nullable=False),
        sa.PrimaryKeyConstraint("fingerprint"),
    )
    with op.batch_alter_table("alert_state", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_state_tree_id"), ["tree_id"], unique=False)

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", text(), nullable=False),
        sa.Column("message_key", text(), nullable=False),
        sa.Column("message_id", text(), nullable=True),
        sa.Column("tree_id", text(), nullable=False),
        sa.Column("run_key", text(), nullable=False),
        sa.Column("event_ids", text(), nullable=False),
        sa.Column("channel", text(), nullable=False),
        sa.Column("recipient", text(), nullable=False),
        sa.Column("owner", text(), nullable=False),
        sa.Column("role", text(), nullable=False),
        sa.Column("fallback", sa.Boolean(), nullable=False),
        sa.Column("subject", text(), nullable=False),
        sa.Column("body_text", text(), nullable=False),
        sa.Column("body_html", text(), nullable=True),
        sa.Column("slack_blocks", text(), nullable=True),
        sa.Column("status", text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", when(), nullable=False),
        sa.Column("claimed_at", when(), nullable=True),
        sa.Column("claim_token", text(), nullable=True),
        sa.Column("sent_at", when(), nullable=True),
        sa.Column("last_error", text(), nullable=True),
        sa.Column("created_at", when(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_message_key"), ["message_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_tree_id"), ["tree_id"], unique=False)

    op.create_table(
        "silence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tree_id", text(), nullable=True),
        sa.Column("node_id", text(), nullable=True),
        sa.Column("rule_id", text(), nullable=True),
        sa.Column("entity", text(), nullable=True),
        sa.Column("starts_at", when(), nullable=False),
        sa.Column("ends_at", when(), nullable=False),
        sa.Column("reason", text(), nullable=False),
        sa.Column("created_by", text(), nullable=False),
        sa.Column("created_at", when(), nullable=False),
        sa.Column("expired_at", when(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("silence")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_tree_id"))
        batch_op.drop_index(batch_op.f("ix_outbox_status"))
        batch_op.drop_index(batch_op.f("ix_outbox_message_key"))

    op.drop_table("outbox")
    with op.batch_alter_table("alert_state", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_state_tree_id"))

    op.drop_table("alert_state")
    with op.batch_alter_table("alert_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_event_tree_id"))
        batch_op.drop_index(batch_op.f("ix_alert_event_fingerprint"))

    op.drop_table("alert_event")
