"""The ledger and grant store as the gateway created them before migrations existed.

Revision ID: 0001
Revises:
Create Date: 2026-12-01

Frozen: later schema changes are new revisions, never edits here. A database created before
migrations holds exactly these tables and is stamped with this revision instead of running it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("frontier", sa.LargeBinary, nullable=False),
        sa.Column("root_hash", sa.LargeBinary, nullable=False),
        sa.Column("checkpoint_size", sa.BigInteger, nullable=False),
        sa.Column("checkpoint_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("leaf_hash", sa.LargeBinary, nullable=False),
        sa.Column("logged_at_us", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("client_id", sa.String(200)),
        sa.Column("department", sa.String(200)),
        sa.Column("purpose", sa.String(200)),
        sa.Column("decision", sa.String(16)),
        sa.Column("target_index", sa.BigInteger),
        sa.Column("review_status", sa.String(16)),
        sa.Column("entry", sa.Text, nullable=False),
    )
    op.create_index("ix_ledger_entries_logged_at", "ledger_entries", ["logged_at_us"])
    op.create_index("ix_ledger_entries_department", "ledger_entries", ["department", "idx"])
    op.create_index("ix_ledger_entries_client", "ledger_entries", ["client_id", "idx"])
    op.create_index("ix_ledger_entries_purpose", "ledger_entries", ["purpose", "idx"])
    op.create_index("ix_ledger_entries_target", "ledger_entries", ["target_index", "idx"])
    op.create_table(
        "ledger_terms",
        sa.Column("term", sa.String(16), primary_key=True),
        sa.Column("value", sa.String(200), primary_key=True),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    )
    op.create_table(
        "ledger_nodes",
        sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "ledger_checkpoints",
        sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("root_hash", sa.LargeBinary, nullable=False),
        sa.Column("signed_at", sa.BigInteger, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
    )
    op.create_table(
        "authorization_grants",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("subject_commitment", sa.String(64), nullable=False),
        sa.Column("id_type", sa.String(16), nullable=False),
        sa.Column("subject_kind", sa.String(32), nullable=False),
        sa.Column("recipient", sa.String(100), nullable=False),
        sa.Column("purposes", sa.JSON, nullable=False),
        sa.Column("items", sa.JSON, nullable=False),
        sa.Column("fields", sa.JSON, nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consent_method", sa.String(100), nullable=False),
        sa.Column("consent_obtained_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consent_reference", sa.String(200), nullable=False),
        sa.Column("consent_separate", sa.Boolean, nullable=False),
        sa.Column("consent_condition_of_service", sa.Boolean, nullable=False),
        sa.Column("consent_service", sa.String(100), nullable=True),
        sa.Column("registered_by", sa.String(100), nullable=False),
        sa.Column("client_id", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ledger_index", sa.BigInteger, nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by_client", sa.String(200), nullable=True),
        sa.Column("revoked_by_department", sa.String(100), nullable=True),
        sa.Column("revoke_reason", sa.String(32), nullable=True),
        sa.Column("revocation_ledger_index", sa.BigInteger, nullable=True),
        sa.Column("revocation_retry", sa.Boolean, nullable=False),
    )
    op.create_index("ix_authorization_grants_subject", "authorization_grants", ["subject_commitment"])
    op.create_index("ix_authorization_grants_recipient", "authorization_grants", ["recipient"])
    op.create_index("ix_authorization_grants_registered_by", "authorization_grants", ["registered_by"])


def downgrade() -> None:
    for table in (
        "authorization_grants",
        "ledger_checkpoints",
        "ledger_nodes",
        "ledger_terms",
        "ledger_entries",
        "ledger_head",
    ):
        op.drop_table(table)
