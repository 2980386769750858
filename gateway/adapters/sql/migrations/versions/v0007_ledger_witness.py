"""Witnesses: the cosignatures the gateway collects, and a witness's own state.

Revision ID: 0007_ledger_witness
Revises: 0006_repairs
Create Date: 2026-12-02

``ledger_cosignatures`` holds every cosigned checkpoint the gateway got back from a witness (the note
with the witness's cosignature line), so ``gateway ledger verify --witness`` and the console can check
the log against the latest witnessed checkpoint. ``witness_checkpoints`` is the state of a witness
(``gateway witness serve``), which migrates its own database with this same schema: per log, the
latest checkpoint it cosigned.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_ledger_witness"
down_revision = "0006_repairs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_cosignatures",
        sa.Column("witness", sa.String(200), primary_key=True),
        sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("root_hash", sa.LargeBinary, nullable=False),
        sa.Column("cosigned_at", sa.BigInteger, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
    )
    op.create_table(
        "witness_checkpoints",
        sa.Column("origin", sa.String(200), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("root_hash", sa.LargeBinary, nullable=False),
        sa.Column("cosigned_at", sa.BigInteger, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("witness_checkpoints")
    op.drop_table("ledger_cosignatures")
