"""Entries of the seriously-untrustworthy lists and where each stands in the listing procedure.

Revision ID: 0008_lists
Revises: 0007_ledger_witness
Create Date: 2026-12-02

One row per proposal (clauses (6)-(8)): the subject by commitment only, the basis document, the
notice, the objection and its verification, the decision and the removal. Every step is also a
ledger entry; this table is what the query path reads to know which lists a subject is on now.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_lists"
down_revision = "0007_ledger_witness"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "list_entries",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("list_id", sa.String(100), nullable=False),
        sa.Column("subject_commitment", sa.String(200), nullable=False),
        sa.Column("id_type", sa.String(16), nullable=False),
        sa.Column("subject_kind", sa.String(24), nullable=False),
        sa.Column("department", sa.String(200), nullable=False),
        sa.Column("basis_type", sa.String(40), nullable=False),
        sa.Column("basis_number", sa.String(100), nullable=False),
        sa.Column("basis_issuer", sa.String(200), nullable=False),
        sa.Column("basis_issued_on", sa.Date, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notice_channel", sa.String(32), nullable=True),
        sa.Column("objection_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("objection_upheld", sa.Boolean, nullable=True),
        sa.Column("verification_result", sa.Text, nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision", sa.JSON, nullable=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removal_cause", sa.String(16), nullable=True),
    )
    op.create_index("ix_list_entries_subject_status", "list_entries", ["subject_commitment", "status"])


def downgrade() -> None:
    op.drop_index("ix_list_entries_subject_status", table_name="list_entries")
    op.drop_table("list_entries")
