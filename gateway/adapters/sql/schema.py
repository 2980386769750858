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

# Cosignatures the gateway got from its witnesses: each a checkpoint note with the witness's line.
ledger_cosignatures = sa.Table(
    "ledger_cosignatures",
    metadata,
    sa.Column("witness", sa.String(200), primary_key=True),
    sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("root_hash", sa.LargeBinary, nullable=False),
    sa.Column("cosigned_at", sa.BigInteger, nullable=False),  # POSIX seconds, from the cosignature
    sa.Column("note", sa.Text, nullable=False),
)

# A witness's own state (``gateway witness serve`` keeps it in its own database, never the gateway's):
# per log, the latest checkpoint it cosigned, with its cosignature.
witness_checkpoints = sa.Table(
    "witness_checkpoints",
    metadata,
    sa.Column("origin", sa.String(200), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("root_hash", sa.LargeBinary, nullable=False),
    sa.Column("cosigned_at", sa.BigInteger, nullable=False),
    sa.Column("note", sa.Text, nullable=False),
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

# --- token endpoint throttling ---

# One row per throttled key (a digest of "client:<id>" or "address:<ip>", never the typed text), shared
# by every worker and replica, so N workers do not multiply the failures an attacker is allowed.
token_throttle = sa.Table(
    "token_throttle",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("last_failure_ms", sa.BigInteger, nullable=False),
    sa.Column("locked_until_ms", sa.BigInteger, nullable=False),
)

# --- the console (gateway.adapters.sql.console_sessions) ---

# One row per console session; only the SHA-256 of the cookie's token is kept.
console_sessions = sa.Table(
    "console_sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("username", sa.String(64), nullable=False),
    sa.Column("stage", sa.String(8), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("last_seen", sa.BigInteger, nullable=False),
    sa.Column("revoked", sa.Boolean, nullable=False, default=False),
)

# Failure counts, lockouts and the last TOTP step per account (a digest of the typed name).
console_accounts = sa.Table(
    "console_accounts",
    metadata,
    sa.Column("account", sa.String(64), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False, default=0),
    sa.Column("locked_until", sa.BigInteger, nullable=False, default=0),
    sa.Column("last_step", sa.BigInteger, nullable=False, default=-1),
    sa.Column("enrolled_digest", sa.String(64), nullable=True),
)

# --- the policy workbench ---

policy_bundles = sa.Table(
    "policy_bundles",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("revision", sa.String(80), nullable=False),  # what the engine reports for the bundle
    sa.Column("content_digest", sa.String(80), nullable=False),  # every file, tests included
    sa.Column("parent_revision", sa.String(80), nullable=True),
    sa.Column("author", sa.String(200), nullable=False),
    sa.Column("department", sa.String(200), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("files", sa.Text, nullable=False),  # JSON object: relative path -> UTF-8 text
    sa.Column("diff", sa.Text, nullable=False),  # unified diff against the parent bundle
    sa.Column("status", sa.String(16), nullable=False),  # base | draft | approved | active | retired
    sa.Column("approver", sa.String(200), nullable=True),
    sa.Column("check_ok", sa.Boolean, nullable=True),
    sa.Column("check_report", sa.Text, nullable=True),
    sa.Column("replay_report", sa.Text, nullable=True),
    sa.Column("replay_digest", sa.String(80), nullable=True),
    sa.Index("ix_policy_bundles_revision", "revision"),
)

# One row: the bundle every worker and replica serves (each polls it, see adapters/policy/hot.py).
policy_active = sa.Table(
    "policy_active",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("bundle_id", sa.Integer, nullable=False),
    sa.Column("revision", sa.String(80), nullable=False),
    sa.Column("changed_at", UtcDateTime, nullable=False),
)

policy_history = sa.Table(
    "policy_history",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("action", sa.String(16), nullable=False),  # activate | rollback
    sa.Column("bundle_id", sa.Integer, nullable=False),
    sa.Column("revision", sa.String(80), nullable=False),
    sa.Column("parent_revision", sa.String(80), nullable=False),
    sa.Column("author", sa.String(200), nullable=False),
    sa.Column("approver", sa.String(200), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("ledger_index", sa.BigInteger, nullable=False),
)

# The identifier-free policy input of each query entry; its digest is inside the entry itself.
policy_inputs = sa.Table(
    "policy_inputs",
    metadata,
    sa.Column("ledger_index", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("input_digest", sa.String(80), nullable=False),
    sa.Column("input", sa.Text, nullable=False),
)

# --- credit repair (clauses (11)(12)): applications, notifications, the outbox, webhooks ---

repairs = sa.Table(
    "repairs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("item", sa.String(100), nullable=False),
    # The source's own row key (never an identifier: the catalog and the API check that).
    sa.Column("record_key", sa.String(64), nullable=False),
    sa.Column("subject_commitment", sa.String(64), nullable=False),
    sa.Column("id_type", sa.String(16), nullable=False),
    sa.Column("subject_kind", sa.String(32), nullable=False),
    sa.Column("department", sa.String(100), nullable=False),
    sa.Column("client_id", sa.String(200), nullable=False),
    sa.Column("evidence", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("mode", sa.String(16), nullable=False),
    sa.Column("applied_at", UtcDateTime, nullable=False),
    sa.Column("due_at", UtcDateTime, nullable=False),
    sa.Column("decided_at", UtcDateTime, nullable=True),
    sa.Column("effective_at", UtcDateTime, nullable=True),
    sa.Column("refusal_reasons", sa.JSON, nullable=True),
    sa.Column("ledger_index", sa.BigInteger, nullable=True),
    sa.Column("decision_ledger_index", sa.BigInteger, nullable=True),
    # The query path reads effective repairs by item and subject: one index lookup per item.
    sa.Index("ix_repairs_item_subject", "item", "subject_commitment", "status"),
    sa.Index("ix_repairs_status_due", "status", "due_at"),
    sa.Index("ix_repairs_department", "department", "applied_at"),
)

repair_notifications = sa.Table(
    "repair_notifications",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("repair_id", sa.String(32), sa.ForeignKey("repairs.id"), nullable=False),
    sa.Column("department", sa.String(100), nullable=False),
    sa.Column("received_index", sa.BigInteger, nullable=False),  # the query entry that released it
    sa.Column("received_at", UtcDateTime, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("ledger_index", sa.BigInteger, nullable=True),
    sa.Column("delivered_at", UtcDateTime, nullable=True),
    sa.Column("acked_at", UtcDateTime, nullable=True),
    sa.Column("acked_by", sa.String(200), nullable=True),
    sa.Column("ack_ledger_index", sa.BigInteger, nullable=True),
    # Exactly one notification per repair and recipient, however often its recipients are searched.
    sa.UniqueConstraint("repair_id", "department", name="uq_repair_notifications_repair_department"),
    sa.Index("ix_repair_notifications_department", "department", "created_at"),
)

repair_outbox = sa.Table(
    "repair_outbox",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column(
        "kind", sa.String(24), nullable=False
    ),  # register_repair | scan | register_notification | webhook
    sa.Column("repair_id", sa.String(32), nullable=False),
    sa.Column("notification_id", sa.String(32), nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("next_attempt_at", UtcDateTime, nullable=False),
    sa.Column("lease_until", UtcDateTime, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("done_at", UtcDateTime, nullable=True),
    sa.Column("last_error", sa.String(64), nullable=True),
    sa.Index("ix_repair_outbox_pending", "done_at", "next_attempt_at"),
)

notification_webhooks = sa.Table(
    "notification_webhooks",
    metadata,
    sa.Column("department", sa.String(100), primary_key=True),
    sa.Column("url", sa.String(500), nullable=False),
    # Names the signing secret, derived from the gateway's key: no webhook secret is ever stored.
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
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
