"""The ledger's identity and signed head: the origin it was created with, the note covering its head.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

``origin`` is set when the ledger is created (or, for a ledger created before this revision, taken
from its checkpoints on first open); a gateway configured with another origin refuses to start.
``signed_note`` is the signed checkpoint of the head's size and root, replaced in the transaction of
every batch: the gateway appends only on top of a head that note covers.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_head") as batch:
        batch.add_column(sa.Column("origin", sa.String(200), nullable=True))
        batch.add_column(sa.Column("signed_note", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ledger_head") as batch:
        batch.drop_column("signed_note")
        batch.drop_column("origin")
