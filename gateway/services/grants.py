"""Authorization grants: register (or refuse), read, revoke, and hand the stored grant to the query path.

Registration: the shape is checked (``validate_terms``), the subject is committed to with the
``commitment`` secret, and the policy ``data.gateway.grants.registration`` decides. A refusal is
registered in the ledger and raised as GrantRefused under the first reason's code. An accepted
grant is stored *pending*, registered in the ledger, and only then marked registered: a grant whose
registration is not durable never covers a query (fail closed).

Revocation is written first (it takes effect on the very next query) and then registered; if the
ledger fails, a retry of the same revocation completes the registration instead of answering
``grant_already_revoked``.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from typing import Any

from gateway.domain.decision import parse_registration_decision
from gateway.domain.grants import (
    Grant,
    GrantTerms,
    Revocation,
    RevokeReason,
    is_grant_id,
    require_personal,
    validate_terms,
)
from gateway.domain.identifiers import SubjectId
from gateway.domain.ledger.commitments import commit_subject
from gateway.domain.ledger.records import GrantRecord, LedgerRecord, RevocationRecord, recorded
from gateway.domain.times import rfc3339
from gateway.errors import Conflict, GrantNotFound, GrantRefused, LedgerError
from gateway.ports import Actor, Clock, GrantStore, KeyStore, Ledger, PolicyEngine, Receipt
from gateway.services.registration import register

REGISTRATION_ENTRYPOINT = "gateway.grants.registration"
COMMITMENT_SECRET = "commitment"  # noqa: S105 - the name of a KeyStore secret, not a secret
log = logging.getLogger("gateway.grants")


@dataclass(frozen=True, slots=True)
class GrantOutcome:
    """A grant after a registration or revocation, with that action's ledger receipt."""

    grant: Grant
    receipt: Receipt


class GrantService:
    """Registers, reads and revokes grants; thread-safe as long as its collaborators are."""

    def __init__(
        self,
        store: GrantStore,
        engine: PolicyEngine,
        ledger: Ledger,
        keystore: KeyStore,
        clock: Clock,
    ) -> None:
        self.store = store
        self.engine = engine
        self.ledger = ledger
        self.keystore = keystore
        self.clock = clock

    def commitment(self, subject: SubjectId) -> str:
        """The keyed commitment of a subject, the same one query ledger entries carry."""
        return commit_subject(self.keystore.secret(COMMITMENT_SECRET), subject).commitment

    def register(self, actor: Actor, subject: SubjectId, terms: GrantTerms) -> GrantOutcome:
        """Decide a grant; register a refusal (and raise GrantRefused) or store and register it."""
        require_personal(subject.kind)
        validate_terms(terms)
        now = self.clock.now()
        commitment = self.commitment(subject)
        revision = self.engine.revision
        decision = parse_registration_decision(
            self.engine.evaluate(
                REGISTRATION_ENTRYPOINT,
                {"grant": terms.policy_document(subject.kind), "now": rfc3339(now)},
            )
        )
        grant = Grant(
            id=uuid.uuid4().hex,
            subject_commitment=commitment,
            id_type=subject.id_type,
            subject_kind=subject.kind,
            terms=terms,
            registered_by=actor.department,
            client_id=actor.client_id,
            created_at=now,
        )
        if not decision.allow:
            refusal = GrantRecord(
                grant, actor.client_id, actor.department, recorded(decision.reasons), revision
            )
            receipt = self._append(refusal)
            first = decision.reasons[0]
            reasons = [r.as_dict() for r in decision.reasons]
            log.info("grant refused", extra={"code": first.code, "reasons": len(reasons)})
            raise GrantRefused(
                first.message,
                reason_code=first.code,
                clause=first.clause,
                field=first.field,
                extra={"reasons": reasons, "receipt": receipt.as_dict(), "policy_revision": revision},
            )
        self.store.insert(grant)
        try:
            receipt = self._append(GrantRecord(grant, actor.client_id, actor.department, (), revision))
        except LedgerError:
            self.store.discard(grant.id)
            raise
        self.store.mark_registered(grant.id, receipt.index)
        log.info("grant registered", extra={"items": len(terms.items), "purposes": len(terms.purposes)})
        return GrantOutcome(replace(grant, ledger_index=receipt.index), receipt)

    def get(self, actor: Actor, grant_id: str) -> Grant:
        """A registered grant the actor's department registered or receives; NotFound otherwise."""
        grant = self.store.get(grant_id) if is_grant_id(grant_id) else None
        if grant is None or grant.ledger_index is None or not grant.visible_to(actor.department):
            raise GrantNotFound("no such authorization grant", field="grant_id")
        return grant

    def list_grants(
        self,
        actor: Actor,
        *,
        subject_commitment: str | None = None,
        recipient: str | None = None,
        limit: int = 100,
    ) -> list[Grant]:
        """Registered grants the actor's department registered or receives, filtered as asked."""
        grants = self.store.find(
            subject_commitment=subject_commitment,
            recipient=recipient,
            visible_to=actor.department,
            limit=limit,
        )
        return [g for g in grants if g.ledger_index is not None]

    def search(
        self, actor: Actor, subject: SubjectId, *, recipient: str | None = None, limit: int = 100
    ) -> list[Grant]:
        """``list_grants`` for one subject given by its identifier (committed here, never stored)."""
        return self.list_grants(
            actor, subject_commitment=self.commitment(subject), recipient=recipient, limit=limit
        )

    def revoke(self, actor: Actor, grant_id: str, reason: RevokeReason) -> GrantOutcome:
        """Revoke now (the next query sees it), then register the revocation in the ledger."""
        grant = self.get(actor, grant_id)
        revision = self.engine.revision
        try:
            revoked = self.store.revoke(
                grant.id, Revocation(self.clock.now(), actor.client_id, actor.department, reason)
            )
        except Conflict:
            # Revoked already. Only a revocation whose registration failed may be completed, and by
            # one request only: concurrent revocations get grant_already_revoked.
            if not self.store.claim_revocation_retry(grant.id):
                raise
            current = self.store.get(grant.id)
            if current is None or current.revocation is None:  # pragma: no cover - revoked just above
                raise
            revoked = current
        assert revoked.revocation is not None  # noqa: S101 - the store returns a revoked grant
        record = RevocationRecord(
            revoked, actor.client_id, actor.department, revoked.revocation.reason, revision
        )
        try:
            receipt = self._append(record)
        except LedgerError:
            # The withdrawal stays in force (the person's choice wins); a retry registers it.
            self.store.mark_revocation_unregistered(revoked.id)
            raise
        self.store.mark_revocation_registered(revoked.id, receipt.index)
        log.info("grant revoked", extra={"reason": str(reason)})
        return GrantOutcome(
            replace(revoked, revocation=replace(revoked.revocation, ledger_index=receipt.index)), receipt
        )

    def grant_for_query(self, grant_id: str, department: str) -> dict[str, Any] | None:
        """The ``input.grant`` document for a query, read from the store now (never cached).

        None when there is no registered grant with this id that ``department`` registered or
        receives: a department cannot learn that another's grant exists. The policy still checks
        the recipient, subject, purpose, items, validity and revocation.
        """
        grant = self.store.get(grant_id) if is_grant_id(grant_id) else None
        if grant is None or grant.ledger_index is None or not grant.visible_to(department):
            return None
        return grant.query_document()

    # --- ledger ---

    def _append(self, record: LedgerRecord) -> Receipt:
        return register(
            self.ledger, record, log=log, failure="the grant action could not be registered in the ledger"
        )
