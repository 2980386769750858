"""The console's sessions and accounts, until now created by the console itself on first use.

Revision ID: 0004_console
Revises: 0003_tokens
Create Date: 2026-12-02

A database the console already served holds both tables (created then with the same columns): they
are kept as they are, so upgrading it neither fails nor drops a live session.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_console"
down_revision = "0003_tokens"
branch_labels = None
depends_on = None


def _exists(name: str) -> bool:
    bind = op.get_bind()
    # The gateway's tables may live in a schema named by the engine's translate map (tests, tenants).
    schema = (bind.get_execution_options().get("schema_translate_map") or {}).get(None)
    return sa.inspect(bind).has_table(name, schema=schema)


def upgrade() -> None:
    if not _exists("console_sessions"):
        op.create_table(
            "console_sessions",
            sa.Column("token_hash", sa.String(64), primary_key=True),
            sa.Column("username", sa.String(64), nullable=False),
            sa.Column("stage", sa.String(8), nullable=False),
            sa.Column("created_at", sa.BigInteger, nullable=False),
            sa.Column("last_seen", sa.BigInteger, nullable=False),
            sa.Column("revoked", sa.Boolean, nullable=False),
        )
    if not _exists("console_accounts"):
        op.create_table(
            "console_accounts",
            sa.Column("account", sa.String(64), primary_key=True),
            sa.Column("failures", sa.Integer, nullable=False),
            sa.Column("locked_until", sa.BigInteger, nullable=False),
            sa.Column("last_step", sa.BigInteger, nullable=False),
            sa.Column("enrolled_digest", sa.String(64), nullable=True),
        )


def downgrade() -> None:
    op.drop_table("console_accounts")
    op.drop_table("console_sessions")
