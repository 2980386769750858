"""The grant store on SQLAlchemy: SQLite (WAL) embedded, PostgreSQL in production.

It lives in the same database as the ledger. Nothing is cached: every read, including the one the
query path makes for each query, goes to the database, so a revocation or an expiry takes effect on
the very next query. Revocation is one conditional UPDATE, so of two concurrent revocations exactly
one succeeds and the other gets ``grant_already_revoked``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Index,
    MetaData,
    String,
    Table,
    create_engine,
    delete,
    event,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Engine, Row
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.types import TypeDecorator

from gateway.domain.grants import ConsentEvidence, Grant, GrantTerms, Revocation, RevokeReason
from gateway.domain.identifiers import IdType, SubjectKind
from gateway.errors import (
    ConfigurationError,
    GrantAlreadyRevoked,
    GrantNotFound,
    GrantStoreError,
)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no offset, so UTC is implied)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("grant times must be timezone-aware")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

grants_table = Table(
    "authorization_grants",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("subject_commitment", String(64), nullable=False),
    Column("id_type", String(16), nullable=False),
    Column("subject_kind", String(32), nullable=False),
    Column("recipient", String(100), nullable=False),
    Column("purposes", JSON, nullable=False),
    Column("items", JSON, nullable=False),
    Column("fields", JSON, nullable=True),
    Column("valid_from", UtcDateTime, nullable=False),
    Column("valid_until", UtcDateTime, nullable=False),
    Column("consent_method", String(100), nullable=False),
    Column("consent_obtained_at", UtcDateTime, nullable=False),
    Column("consent_reference", String(200), nullable=False),
    Column("consent_separate", Boolean, nullable=False),
    Column("consent_condition_of_service", Boolean, nullable=False),
    Column("consent_service", String(100), nullable=True),
    Column("registered_by", String(100), nullable=False),
    Column("client_id", String(200), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("ledger_index", BigInteger, nullable=True),
    Column("revoked_at", UtcDateTime, nullable=True),
    Column("revoked_by_client", String(200), nullable=True),
    Column("revoked_by_department", String(100), nullable=True),
    Column("revoke_reason", String(32), nullable=True),
    Column("revocation_ledger_index", BigInteger, nullable=True),
    # True while a revocation is in force but its ledger registration failed: a retry may claim it.
    Column("revocation_retry", Boolean, nullable=False, default=False),
    Index("ix_authorization_grants_subject", "subject_commitment"),
    Index("ix_authorization_grants_recipient", "recipient"),
    Index("ix_authorization_grants_registered_by", "registered_by"),
)

_t = grants_table


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        # A revocation must survive a power cut once the API has said it happened.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=10000")
    finally:
        cursor.close()


def _grant(row: Row[Any]) -> Grant:
    m = row._mapping
    fields = m["fields"]
    revocation = None
    if m["revoked_at"] is not None:
        revocation = Revocation(
            revoked_at=m["revoked_at"],
            client_id=m["revoked_by_client"],
            department=m["revoked_by_department"],
            reason=RevokeReason(m["revoke_reason"]),
            ledger_index=m["revocation_ledger_index"],
        )
    return Grant(
        id=m["id"],
        subject_commitment=m["subject_commitment"],
        id_type=IdType(m["id_type"]),
        subject_kind=SubjectKind(m["subject_kind"]),
        terms=GrantTerms(
            recipient=m["recipient"],
            purposes=tuple(m["purposes"]),
            items=tuple(m["items"]),
            fields=None if fields is None else {k: tuple(v) for k, v in fields.items()},
            valid_from=m["valid_from"],
            valid_until=m["valid_until"],
            consent=ConsentEvidence(
                method=m["consent_method"],
                obtained_at=m["consent_obtained_at"],
                reference=m["consent_reference"],
                separate=m["consent_separate"],
                condition_of_service=m["consent_condition_of_service"],
                service=m["consent_service"],
            ),
        ),
        registered_by=m["registered_by"],
        client_id=m["client_id"],
        created_at=m["created_at"],
        ledger_index=m["ledger_index"],
        revocation=revocation,
    )


def _row(grant: Grant) -> dict[str, Any]:
    terms = grant.terms
    return {
        "id": grant.id,
        "subject_commitment": grant.subject_commitment,
        "id_type": str(grant.id_type),
        "subject_kind": str(grant.subject_kind),
        "recipient": terms.recipient,
        "purposes": list(terms.purposes),
        "items": list(terms.items),
        "fields": None if terms.fields is None else {k: list(v) for k, v in terms.fields.items()},
        "valid_from": terms.valid_from,
        "valid_until": grant.valid_until,
        "consent_method": terms.consent.method,
        "consent_obtained_at": terms.consent.obtained_at,
        "consent_reference": terms.consent.reference,
        "consent_separate": terms.consent.separate,
        "consent_condition_of_service": terms.consent.condition_of_service,
        "consent_service": terms.consent.service,
        "registered_by": grant.registered_by,
        "client_id": grant.client_id,
        "created_at": grant.created_at,
        "ledger_index": grant.ledger_index,
        "revocation_retry": False,
    }


class SqlGrantStore:
    """GrantStore on one SQLAlchemy URL; creates its table on first use."""

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        create: bool = True,
        engine_options: Mapping[str, Any] | None = None,
    ) -> None:
        options: dict[str, Any] = {"pool_pre_ping": True, **(engine_options or {})}
        engine = create_engine(url, **options)
        if engine.dialect.name == "sqlite":
            if engine.url.database in (None, "", ":memory:"):
                raise ConfigurationError("the grant store needs a database file, not an in-memory SQLite")
            event.listen(engine, "connect", _sqlite_pragmas)
        if schema is not None:
            # Same convention as the ledger store: one PostgreSQL schema per deployment (or test).
            engine = engine.execution_options(schema_translate_map={None: schema})
        self.engine: Engine = engine
        if create:
            self._guard(lambda: metadata.create_all(self.engine, checkfirst=True))

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    @staticmethod
    def _guard(action: Any) -> Any:
        try:
            return action()
        except SQLAlchemyError as exc:
            # The driver's message may quote parameters; only the error type leaves this adapter.
            raise GrantStoreError(f"the grant store failed ({type(exc).__name__})") from exc

    # --- writes ---

    def insert(self, grant: Grant) -> None:
        """Store a new grant (pending until ``mark_registered``)."""

        def run() -> None:
            with self.engine.begin() as conn:
                conn.execute(insert(_t).values(**_row(grant)))

        self._guard(run)

    def mark_registered(self, grant_id: str, ledger_index: int) -> None:
        """Record the ledger index of the grant's registration: from now on it can cover queries."""
        self._update(grant_id, ledger_index=ledger_index)

    def discard(self, grant_id: str) -> None:
        """Delete a grant whose registration never became durable (it never covered anything)."""

        def run() -> None:
            with self.engine.begin() as conn:
                conn.execute(delete(_t).where(_t.c.id == grant_id, _t.c.ledger_index.is_(None)))

        self._guard(run)

    def revoke(self, grant_id: str, revocation: Revocation) -> Grant:
        """Revoke a registered grant atomically; Conflict(grant_already_revoked) if it already was."""

        def run() -> Grant:
            with self.engine.begin() as conn:
                changed = conn.execute(
                    update(_t)
                    .where(_t.c.id == grant_id, _t.c.revoked_at.is_(None), _t.c.ledger_index.is_not(None))
                    .values(
                        revoked_at=revocation.revoked_at,
                        revoked_by_client=revocation.client_id,
                        revoked_by_department=revocation.department,
                        revoke_reason=str(revocation.reason),
                        revocation_retry=False,
                    )
                ).rowcount
                row = conn.execute(select(_t).where(_t.c.id == grant_id)).first()
            if row is None or row._mapping["ledger_index"] is None:
                raise GrantNotFound("no such authorization grant", field="grant_id")
            if changed != 1:
                raise GrantAlreadyRevoked("the authorization grant was already revoked", field="grant_id")
            return _grant(row)

        result: Grant = self._guard(run)
        return result

    def mark_revocation_registered(self, grant_id: str, ledger_index: int) -> None:
        """Record the ledger index of the grant's revocation."""
        self._update(grant_id, revocation_ledger_index=ledger_index, revocation_retry=False)

    def mark_revocation_unregistered(self, grant_id: str) -> None:
        """The revocation stands but its registration failed: let a later retry complete it."""
        self._update(grant_id, revocation_retry=True)

    def claim_revocation_retry(self, grant_id: str) -> bool:
        """Atomically take over the registration of a revocation whose registration failed.

        True for exactly one caller per failure; False when the revocation is registered or another
        request is registering it.
        """

        def run() -> bool:
            with self.engine.begin() as conn:
                claimed = conn.execute(
                    update(_t)
                    .where(
                        _t.c.id == grant_id,
                        _t.c.revocation_retry.is_(True),
                        _t.c.revocation_ledger_index.is_(None),
                    )
                    .values(revocation_retry=False)
                ).rowcount
            return bool(claimed == 1)

        result: bool = self._guard(run)
        return result

    def _update(self, grant_id: str, **values: Any) -> None:
        def run() -> None:
            with self.engine.begin() as conn:
                conn.execute(update(_t).where(_t.c.id == grant_id).values(**values))

        self._guard(run)

    # --- reads (never cached) ---

    def get(self, grant_id: str) -> Grant | None:
        """The grant with this id, fresh from the database, or None."""

        def run() -> Grant | None:
            with self.engine.connect() as conn:
                row = conn.execute(select(_t).where(_t.c.id == grant_id)).first()
            return None if row is None else _grant(row)

        result: Grant | None = self._guard(run)
        return result

    def find(
        self,
        *,
        subject_commitment: str | None = None,
        recipient: str | None = None,
        visible_to: str | None = None,
        limit: int = 100,
    ) -> Sequence[Grant]:
        """Grants matching every filter given, oldest first; ``visible_to`` keeps a department's own."""
        query = select(_t)
        if subject_commitment is not None:
            query = query.where(_t.c.subject_commitment == subject_commitment)
        if recipient is not None:
            query = query.where(_t.c.recipient == recipient)
        if visible_to is not None:
            query = query.where(or_(_t.c.recipient == visible_to, _t.c.registered_by == visible_to))
        query = query.order_by(_t.c.created_at, _t.c.id).limit(limit)

        def run() -> list[Grant]:
            with self.engine.connect() as conn:
                return [_grant(row) for row in conn.execute(query)]

        result: list[Grant] = self._guard(run)
        return result
