"""Every table of the gateway database, in one MetaData: the ledger and the grant store.

The ledger and the grant store live in the same database (SQLite file or PostgreSQL schema). The
schema is created and changed only by the migrations in ``migrations/``; a test checks that the
migrated database equals this MetaData, so the two cannot drift apart.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

metadata = sa.MetaData()


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no offset, so UTC is implied)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("grant times must be timezone-aware")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --- the ledger ---

ledger_head = sa.Table(
    "ledger_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("frontier", sa.LargeBinary, nullable=False),
    sa.Column("root_hash", sa.LargeBinary, nullable=False),
    sa.Column("checkpoint_size", sa.BigInteger, nullable=False),
    sa.Column("checkpoint_at", sa.BigInteger, nullable=False),  # POSIX seconds
    # The origin the ledger was created with (NULL only in a ledger created before revision 0002).
    sa.Column("origin", sa.String(200), nullable=True),
    # The signed checkpoint note of exactly (size, root_hash), replaced with every batch.
    sa.Column("signed_note", sa.Text, nullable=True),
)

ledger_entries = sa.Table(
    "ledger_entries",
    metadata,
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("leaf_hash", sa.LargeBinary, nullable=False),
    sa.Column("logged_at_us", sa.BigInteger, nullable=False),  # microseconds since the epoch, UTC
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("client_id", sa.String(200)),
    sa.Column("department", sa.String(200)),
    sa.Column("purpose", sa.String(200)),
    sa.Column("decision", sa.String(16)),
    sa.Column("target_index", sa.BigInteger),
    sa.Column("review_status", sa.String(16)),
    sa.Column("entry", sa.Text, nullable=False),  # the exact leaf bytes (canonical JSON, UTF-8)
    sa.Index("ix_ledger_entries_logged_at", "logged_at_us"),
    sa.Index("ix_ledger_entries_department", "department", "idx"),
    sa.Index("ix_ledger_entries_client", "client_id", "idx"),
    sa.Index("ix_ledger_entries_purpose", "purpose", "idx"),
    sa.Index("ix_ledger_entries_target", "target_index", "idx"),
)

ledger_terms = sa.Table(
    "ledger_terms",
    metadata,
    sa.Column("term", sa.String(16), primary_key=True),  # item | reason | subject
    sa.Column("value", sa.String(200), primary_key=True),
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
)

ledger_nodes = sa.Table(
    "ledger_nodes",
    metadata,
    sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hash", sa.LargeBinary, nullable=False),
)

ledger_checkpoints = sa.Table(
    "ledger_checkpoints",
    metadata,
    sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("root_hash", sa.LargeBinary, nullable=False),
    sa.Column("signed_at", sa.BigInteger, nullable=False),
    sa.Column("note", sa.Text, nullable=False),
)

# --- the grant store ---

authorization_grants = sa.Table(
    "authorization_grants",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("subject_commitment", sa.String(64), nullable=False),
    sa.Column("id_type", sa.String(16), nullable=False),
    sa.Column("subject_kind", sa.String(32), nullable=False),
    sa.Column("recipient", sa.String(100), nullable=False),
    sa.Column("purposes", sa.JSON, nullable=False),
    sa.Column("items", sa.JSON, nullable=False),
    sa.Column("fields", sa.JSON, nullable=True),
    sa.Column("valid_from", UtcDateTime, nullable=False),
    sa.Column("valid_until", UtcDateTime, nullable=False),
    sa.Column("consent_method", sa.String(100), nullable=False),
    sa.Column("consent_obtained_at", UtcDateTime, nullable=False),
    sa.Column("consent_reference", sa.String(200), nullable=False),
    sa.Column("consent_separate", sa.Boolean, nullable=False),
    sa.Column("consent_condition_of_service", sa.Boolean, nullable=False),
    sa.Column("consent_service", sa.String(100), nullable=True),
    sa.Column("registered_by", sa.String(100), nullable=False),
    sa.Column("client_id", sa.String(200), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("ledger_index", sa.BigInteger, nullable=True),
    sa.Column("revoked_at", UtcDateTime, nullable=True),
    sa.Column("revoked_by_client", sa.String(200), nullable=True),
    sa.Column("revoked_by_department", sa.String(100), nullable=True),
    sa.Column("revoke_reason", sa.String(32), nullable=True),
    sa.Column("revocation_ledger_index", sa.BigInteger, nullable=True),
    # True while a revocation is in force but its ledger registration failed: a retry may claim it.
    sa.Column("revocation_retry", sa.Boolean, nullable=False, default=False),
    sa.Index("ix_authorization_grants_subject", "subject_commitment"),
    sa.Index("ix_authorization_grants_recipient", "recipient"),
    sa.Index("ix_authorization_grants_registered_by", "registered_by"),
)


# --- seriously-untrustworthy list entries (clauses (6)-(8)) ---

list_entries = sa.Table(
    "list_entries",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("list_id", sa.String(100), nullable=False),
    sa.Column("subject_commitment", sa.String(200), nullable=False),  # never the identifier
    sa.Column("id_type", sa.String(16), nullable=False),
    sa.Column("subject_kind", sa.String(24), nullable=False),
    sa.Column("department", sa.String(200), nullable=False),
    sa.Column("basis_type", sa.String(40), nullable=False),
    sa.Column("basis_number", sa.String(100), nullable=False),
    sa.Column("basis_issuer", sa.String(200), nullable=False),
    sa.Column("basis_issued_on", sa.Date, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("proposed_at", UtcDateTime, nullable=False),
    sa.Column("notified_at", UtcDateTime, nullable=True),
    sa.Column("notice_channel", sa.String(32), nullable=True),
    sa.Column("objection_at", UtcDateTime, nullable=True),
    sa.Column("verified_at", UtcDateTime, nullable=True),
    sa.Column("objection_upheld", sa.Boolean, nullable=True),
    sa.Column("verification_result", sa.Text, nullable=True),
    sa.Column("decided_at", UtcDateTime, nullable=True),
    sa.Column("decision", sa.JSON, nullable=True),  # reason, basis, measures, removal_conditions, remedies
    sa.Column("removed_at", UtcDateTime, nullable=True),
    sa.Column("removal_cause", sa.String(16), nullable=True),
    sa.Index("ix_list_entries_subject_status", "subject_commitment", "status"),
)
