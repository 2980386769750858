"""The policy workbench: bundles and drafts, the active bundle, its history, and kept policy inputs.

Revision ID: 0005_workbench
Revises: 0004_console
Create Date: 2026-12-02

``policy_bundles`` holds every bundle pushed (the files, the diff against its parent, the checks and
the replay report); ``policy_active`` the one row every worker polls to switch without a restart;
``policy_history`` every activation and rollback (each also a ledger entry); ``policy_inputs`` the
identifier-free policy input of each query, keyed by its ledger index, for what-if and replay.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.adapters.sql.schema import UtcDateTime

revision = "0005_workbench"
down_revision = "0004_console"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_bundles",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("revision", sa.String(80), nullable=False),
        sa.Column("content_digest", sa.String(80), nullable=False),
        sa.Column("parent_revision", sa.String(80), nullable=True),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("department", sa.String(200), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("files", sa.Text, nullable=False),
        sa.Column("diff", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("approver", sa.String(200), nullable=True),
        sa.Column("check_ok", sa.Boolean, nullable=True),
        sa.Column("check_report", sa.Text, nullable=True),
        sa.Column("replay_report", sa.Text, nullable=True),
        sa.Column("replay_digest", sa.String(80), nullable=True),
    )
    op.create_index("ix_policy_bundles_revision", "policy_bundles", ["revision"])
    op.create_table(
        "policy_active",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("bundle_id", sa.Integer, nullable=False),
        sa.Column("revision", sa.String(80), nullable=False),
        sa.Column("changed_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "policy_history",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("bundle_id", sa.Integer, nullable=False),
        sa.Column("revision", sa.String(80), nullable=False),
        sa.Column("parent_revision", sa.String(80), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("approver", sa.String(200), nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("ledger_index", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "policy_inputs",
        sa.Column("ledger_index", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("input_digest", sa.String(80), nullable=False),
        sa.Column("input", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("policy_inputs")
    op.drop_table("policy_history")
    op.drop_table("policy_active")
    op.drop_index("ix_policy_bundles_revision", table_name="policy_bundles")
    op.drop_table("policy_bundles")
