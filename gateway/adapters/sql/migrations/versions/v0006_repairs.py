"""Credit repair: applications, recipient notifications, their outbox and webhook registrations.

Revision ID: 0006_repairs
Revises: 0005_workbench
Create Date: 2026-12-02

Applications and their outcome (``repairs``); one notification per repair and recipient department
(``repair_notifications``); the outbox written in the transaction of a repair's effect, so that no
ledger entry, recipient search or webhook delivery is lost on a crash (``repair_outbox``); and the
webhook each department registers (``notification_webhooks``, no secret stored).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_repairs"
down_revision = "0005_workbench"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "repairs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("item", sa.String(100), nullable=False),
        sa.Column("record_key", sa.String(64), nullable=False),
        sa.Column("subject_commitment", sa.String(64), nullable=False),
        sa.Column("id_type", sa.String(16), nullable=False),
        sa.Column("subject_kind", sa.String(32), nullable=False),
        sa.Column("department", sa.String(100), nullable=False),
        sa.Column("client_id", sa.String(200), nullable=False),
        sa.Column("evidence", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refusal_reasons", sa.JSON, nullable=True),
        sa.Column("ledger_index", sa.BigInteger, nullable=True),
        sa.Column("decision_ledger_index", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_repairs_item_subject", "repairs", ["item", "subject_commitment", "status"])
    op.create_index("ix_repairs_status_due", "repairs", ["status", "due_at"])
    op.create_index("ix_repairs_department", "repairs", ["department", "applied_at"])
    op.create_table(
        "repair_notifications",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("repair_id", sa.String(32), sa.ForeignKey("repairs.id"), nullable=False),
        sa.Column("department", sa.String(100), nullable=False),
        sa.Column("received_index", sa.BigInteger, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ledger_index", sa.BigInteger, nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acked_by", sa.String(200), nullable=True),
        sa.Column("ack_ledger_index", sa.BigInteger, nullable=True),
        sa.UniqueConstraint("repair_id", "department", name="uq_repair_notifications_repair_department"),
    )
    op.create_index(
        "ix_repair_notifications_department", "repair_notifications", ["department", "created_at"]
    )
    op.create_table(
        "repair_outbox",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("repair_id", sa.String(32), nullable=False),
        sa.Column("notification_id", sa.String(32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(64), nullable=True),
    )
    op.create_index("ix_repair_outbox_pending", "repair_outbox", ["done_at", "next_attempt_at"])
    op.create_table(
        "notification_webhooks",
        sa.Column("department", sa.String(100), primary_key=True),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("notification_webhooks")
    op.drop_index("ix_repair_outbox_pending", "repair_outbox")
    op.drop_table("repair_outbox")
    op.drop_index("ix_repair_notifications_department", "repair_notifications")
    op.drop_table("repair_notifications")
    op.drop_index("ix_repairs_department", "repairs")
    op.drop_index("ix_repairs_status_due", "repairs")
    op.drop_index("ix_repairs_item_subject", "repairs")
    op.drop_table("repairs")
