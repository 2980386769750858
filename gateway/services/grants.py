"""Authorization grants: register (or refuse), read, revoke, and hand the stored grant to the query path.

Registration: the shape is checked (``validate_terms``), the subject is committed to with the
``commitment`` secret, and the policy ``data.gateway.grants.registration`` decides. A refusal is
registered in the ledger and raised as GrantRefused under the first reason's code. An accepted
grant is stored *pending*, registered in the ledger, and only then marked registered: a grant whose
registration is not durable never covers a query (fail closed).

Revocation is written first (it takes effect on the very next query) and then registered; if the
ledger fails, a retry of the same revocation completes the registration instead of answering
``grant_already_revoked``.

No crash window. With ``changes`` (the grant store and the ledger share a database, as deployed),
each registration and each revocation is one transaction with its ledger entry: a crash leaves both
or neither. Without it the steps above run one after the other, and ``reconcile`` (run at start-up)
finishes what a crash interrupted, looking only at changes older than ``RECONCILE_AFTER_S`` so that
another process's change in flight is left alone:

* a grant still pending whose registration entry is in the ledger is marked registered at that
  entry's index; one without an entry is deleted (it was never answered, never covered a query);
* a revocation without its entry gets it now (the withdrawal stood all along; the entry says who
  revoked and why, as the request would have), or, if the entry is there, its index is noted.

What it did is itself registered: one ``grant`` entry with action ``reconcile`` listing the grant
ids of each case (nothing is registered when there was nothing to do).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from gateway.domain.decision import parse_registration_decision
from gateway.domain.detector import contains_identifier
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
from gateway.domain.ledger.records import (
    GrantReconciliationRecord,
    GrantRecord,
    LedgerRecord,
    RevocationRecord,
    recorded,
)
from gateway.domain.ledger.terms import EntryFilter
from gateway.domain.times import rfc3339
from gateway.errors import Conflict, GatewayError, GrantNotFound, GrantRefused, LedgerError
from gateway.ports import (
    Actor,
    AuditStore,
    Clock,
    GrantChanges,
    GrantStore,
    KeyStore,
    Ledger,
    PolicyEngine,
    Receipt,
)
from gateway.services.registration import register

REGISTRATION_ENTRYPOINT = "gateway.grants.registration"
COMMITMENT_SECRET = "commitment"  # noqa: S105 - the name of a KeyStore secret, not a secret
log = logging.getLogger("gateway.grants")
# Older than any append can wait (the ledger's append timeout is 30 s): a change this old whose
# process is still working on it does not exist.
RECONCILE_AFTER_S = 300.0


@dataclass(frozen=True, slots=True)
class GrantOutcome:
    """A grant after a registration or revocation, with that action's ledger receipt."""

    grant: Grant
    receipt: Receipt


def _grant_id() -> str:
    """A random grant id that the identifier guards will take as it is.

    Callers send it back in ``grant_id``, which request validation checks like any other text; one
    random hex id in a hundred or so reads as a mobile number or card by chance, so draw again.
    """
    while True:
        candidate = uuid.uuid4().hex
        if not contains_identifier(candidate):
            return candidate


@dataclass(slots=True)
class Reconciliation:
    """What ``reconcile`` finished, by grant id."""

    registered: list[str] = field(default_factory=list)
    discarded: list[str] = field(default_factory=list)
    revocations_found: list[str] = field(default_factory=list)
    revocations_registered: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.registered or self.discarded or self.revocations_found or self.revocations_registered
        )


class GrantService:
    """Registers, reads and revokes grants; thread-safe as long as its collaborators are."""

    def __init__(
        self,
        store: GrantStore,
        engine: PolicyEngine,
        ledger: Ledger,
        keystore: KeyStore,
        clock: Clock,
        changes: GrantChanges | None = None,
    ) -> None:
        self.store = store
        self.engine = engine
        self.ledger = ledger
        self.keystore = keystore
        self.clock = clock
        self.changes = changes

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
            id=_grant_id(),
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
        record = GrantRecord(grant, actor.client_id, actor.department, (), revision)
        if self.changes is not None:
            receipt = self._atomically(lambda changes: changes.register(grant, record))
        else:
            self.store.insert(grant)
            try:
                receipt = self._append(record)
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
        if self.changes is not None:
            return self._revoke_atomically(actor, grant, reason, revision)
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

    def _revoke_atomically(
        self, actor: Actor, grant: Grant, reason: RevokeReason, revision: str
    ) -> GrantOutcome:
        revocation = Revocation(self.clock.now(), actor.client_id, actor.department, reason)
        revoked = replace(grant, revocation=revocation)
        record = RevocationRecord(revoked, actor.client_id, actor.department, reason, revision)
        try:
            receipt = self._atomically(lambda changes: changes.revoke(grant.id, revocation, record))
        except Conflict:
            # Revoked already; only a revocation left without its entry (by a gateway from before
            # revocations and entries were one transaction) may be completed, by one request.
            current = self.store.get(grant.id)
            if current is None or current.revocation is None or current.revocation.ledger_index is not None:
                raise
            revoked = current
            assert current.revocation is not None  # noqa: S101 - checked just above
            record = RevocationRecord(
                current, actor.client_id, actor.department, current.revocation.reason, revision
            )
            receipt = self._atomically(lambda changes: changes.complete_revocation(grant.id, record))
        assert revoked.revocation is not None  # noqa: S101 - revoked above
        log.info("grant revoked", extra={"reason": str(revoked.revocation.reason)})
        return GrantOutcome(
            replace(revoked, revocation=replace(revoked.revocation, ledger_index=receipt.index)), receipt
        )

    def _atomically(self, change: Any) -> Receipt:
        """Run one change-and-entry transaction; fail closed (LedgerError) on anything unexpected."""
        assert self.changes is not None  # noqa: S101 - only called with changes
        try:
            receipt: Receipt = change(self.changes)
        except (LedgerError, Conflict, GrantNotFound):
            raise
        except Exception as exc:
            log.error("grant change not registered", extra={"error_type": type(exc).__name__})
            if isinstance(exc, GatewayError):
                raise
            raise LedgerError("the grant action could not be registered in the ledger") from exc
        return receipt

    # --- start-up reconciliation (see the module docstring) ---

    def reconcile(self, entries: AuditStore, *, older_than_s: float = RECONCILE_AFTER_S) -> Reconciliation:
        """Finish grant changes a crash interrupted, and register what was done; see the module doc."""
        done = Reconciliation()
        cutoff = self.clock.now() - timedelta(seconds=older_than_s)
        for grant in self.store.unfinished(cutoff):
            found = self._entries_of(entries, grant)
            if grant.ledger_index is None:
                index = found.get("register")
                if index is None:
                    self.store.discard(grant.id)
                    done.discarded.append(grant.id)
                else:
                    self.store.mark_registered(grant.id, index)
                    done.registered.append(grant.id)
                continue
            revocation = grant.revocation
            if revocation is None or revocation.ledger_index is not None:
                continue
            index = found.get("revoke")
            if index is not None:
                self.store.mark_revocation_registered(grant.id, index)
                done.revocations_found.append(grant.id)
                continue
            record = RevocationRecord(
                grant, revocation.client_id, revocation.department, revocation.reason, self.engine.revision
            )
            try:
                self._register_left_revocation(grant.id, record)
            except Conflict:
                continue  # another process registered it meanwhile
            done.revocations_registered.append(grant.id)
        if done:
            self._append(
                GrantReconciliationRecord(
                    registered=tuple(done.registered),
                    discarded=tuple(done.discarded),
                    revocations_found=tuple(done.revocations_found),
                    revocations_registered=tuple(done.revocations_registered),
                )
            )
            log.warning(
                "grant changes reconciled",
                extra={
                    "registered": len(done.registered),
                    "discarded": len(done.discarded),
                    "revocations_found": len(done.revocations_found),
                    "revocations_registered": len(done.revocations_registered),
                },
            )
        return done

    def _register_left_revocation(self, grant_id: str, record: RevocationRecord) -> None:
        if self.changes is not None:
            self.changes.complete_revocation(grant_id, record)
            return
        self.store.mark_revocation_unregistered(grant_id)
        if not self.store.claim_revocation_retry(grant_id):
            raise Conflict("the revocation is being registered elsewhere")
        try:
            receipt = self._append(record)
        except LedgerError:
            self.store.mark_revocation_unregistered(grant_id)
            raise
        self.store.mark_revocation_registered(grant_id, receipt.index)

    @staticmethod
    def _entries_of(entries: AuditStore, grant: Grant) -> dict[str, int]:
        """action -> index of the grant's own accepted entries (found through its subject's terms)."""
        found: dict[str, int] = {}
        query = EntryFilter(kind="grant", subject=grant.subject_commitment)
        for entry in entries.iter_entries(query):
            record = entry.envelope().record
            if record.get("grant_id") == grant.id and record.get("decision") == "allow":
                found.setdefault(str(record.get("action")), entry.index)
        return found

    # --- ledger ---

    def _append(self, record: LedgerRecord) -> Receipt:
        return register(
            self.ledger, record, log=log, failure="the grant action could not be registered in the ledger"
        )
