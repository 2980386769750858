"""The grant store on SQLAlchemy: SQLite (WAL) embedded, PostgreSQL in production.

It lives in the same database as the ledger. Nothing is cached: every read, including the one the
query path makes for each query, goes to the database, so a revocation or an expiry takes effect on
the very next query. Revocation is one conditional UPDATE, so of two concurrent revocations exactly
one succeeds and the other gets ``grant_already_revoked``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.engine import Engine, Row

from gateway.adapters.sql import migrate
from gateway.adapters.sql.engine import write_connection
from gateway.adapters.sql.errors import map_sql_errors
from gateway.adapters.sql.schema import authorization_grants
from gateway.domain.grants import ConsentEvidence, Grant, GrantTerms, Revocation, RevokeReason
from gateway.domain.identifiers import IdType, SubjectKind
from gateway.errors import GrantAlreadyRevoked, GrantNotFound, GrantStoreError

_t = authorization_grants


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
    """GrantStore on the gateway database; the schema comes from the migrations."""

    def __init__(self, url: str, *, schema: str | None = None, engine: Engine | None = None) -> None:
        self.engine: Engine = migrate.migrated_engine(url, schema=schema, engine=engine)

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    @staticmethod
    @contextmanager
    def _guard(what: str) -> Iterator[None]:
        # The driver's message may quote parameters; only the kind of failure leaves this adapter.
        with map_sql_errors(GrantStoreError, f"the grant store could not {what}"):
            yield

    # --- writes ---

    def insert(self, grant: Grant) -> None:
        """Store a new grant (pending until ``mark_registered``)."""
        with self._guard("store the grant"), write_connection(self.engine) as conn, conn.begin():
            conn.execute(insert(_t).values(**_row(grant)))

    def mark_registered(self, grant_id: str, ledger_index: int) -> None:
        """Record the ledger index of the grant's registration: from now on it can cover queries."""
        self._update(grant_id, ledger_index=ledger_index)

    def discard(self, grant_id: str) -> None:
        """Delete a grant whose registration never became durable (it never covered anything)."""
        with self._guard("discard the grant"), write_connection(self.engine) as conn, conn.begin():
            conn.execute(delete(_t).where(_t.c.id == grant_id, _t.c.ledger_index.is_(None)))

    def revoke(self, grant_id: str, revocation: Revocation) -> Grant:
        """Revoke a registered grant atomically; Conflict(grant_already_revoked) if it already was."""
        with self._guard("revoke the grant"), write_connection(self.engine) as conn, conn.begin():
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
        if row is None or row.ledger_index is None:
            raise GrantNotFound("no such authorization grant", field="grant_id")
        if changed != 1:
            raise GrantAlreadyRevoked("the authorization grant was already revoked", field="grant_id")
        return _grant(row)

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
        with self._guard("claim the revocation"), write_connection(self.engine) as conn, conn.begin():
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

    def _update(self, grant_id: str, **values: Any) -> None:
        with self._guard("update the grant"), write_connection(self.engine) as conn, conn.begin():
            conn.execute(update(_t).where(_t.c.id == grant_id).values(**values))

    def unfinished(self, older_than: datetime) -> Sequence[Grant]:
        """Pending grants created, and unregistered revocations made, before ``older_than``."""
        query = select(_t).where(
            or_(
                and_(_t.c.ledger_index.is_(None), _t.c.created_at < older_than),
                and_(
                    _t.c.revoked_at.is_not(None),
                    _t.c.revocation_ledger_index.is_(None),
                    _t.c.revoked_at < older_than,
                ),
            )
        )
        with self._guard("list unfinished grants"), self.engine.connect() as conn:
            return [_grant(row) for row in conn.execute(query.order_by(_t.c.created_at, _t.c.id))]

    # --- reads (never cached) ---

    def get(self, grant_id: str) -> Grant | None:
        """The grant with this id, fresh from the database, or None."""
        with self._guard("read the grant"), self.engine.connect() as conn:
            row = conn.execute(select(_t).where(_t.c.id == grant_id)).first()
        return None if row is None else _grant(row)

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
        with self._guard("list grants"), self.engine.connect() as conn:
            return [_grant(row) for row in conn.execute(query)]
