"""The listing procedure: propose, notify, object, verify, decide, remove (clauses (6)-(10)).

Each step is decided by the policy (``data.gateway.listing.verdict``) on the entry as stored, then
written to the list store and registered in the ledger; a refused step is registered too, and the
caller gets ListingRefused with the policy's reason and clause. A step whose registration fails is
undone in the store, so the store never holds a step the ledger does not.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.domain.catalog import Catalog
from gateway.domain.decision import parse_registration_decision
from gateway.domain.identifiers import SubjectId
from gateway.domain.ledger.commitments import SubjectRef
from gateway.domain.ledger.records import ListingRecord, recorded
from gateway.domain.lists import (
    BasisDocument,
    ListEntry,
    ListingDecision,
    ListingStatus,
    RemovalCause,
    step_input,
)
from gateway.errors import LedgerError, ListEntryNotFound, ListingRefused
from gateway.ports import Actor, Clock, Ledger, ListStore, PolicyEngine, Receipt
from gateway.services.registration import register

VERDICT_ENTRYPOINT = "gateway.listing.verdict"
NOTICE_CHANNELS = frozenset({"in_person", "mail", "electronic", "announcement"})
log = logging.getLogger("gateway.lists")


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """A step taken: the entry as it now stands and the receipt of its ledger entry."""

    entry: ListEntry
    receipt: Receipt


class ListService:
    """The listing procedure's use cases over the ports; one instance serves every request."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        store: ListStore,
        engine: PolicyEngine,
        ledger: Ledger,
        commit: Callable[[SubjectId], str],
        clock: Clock,
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.engine = engine
        self.ledger = ledger
        self.commit = commit
        self.clock = clock

    def propose(self, caller: Actor, list_id: str, subject: SubjectId, basis: BasisDocument) -> StepOutcome:
        """Propose listing ``subject`` on ``list_id`` on the strength of ``basis`` (clause (2))."""
        now = self.clock.now()
        entry = ListEntry(
            id=uuid.uuid4().hex,
            list_id=list_id,
            subject_commitment=self.commit(subject),
            id_type=str(subject.id_type),
            subject_kind=str(subject.kind),
            department=caller.department,
            basis=basis,
            status=ListingStatus.PROPOSED,
            proposed_at=now,
        )
        details = {
            "basis_document": {
                "type": basis.type,
                "number": basis.number,
                "issuer": basis.issuer,
                "issued_on": basis.issued_on.isoformat(),
            }
        }
        self._decide("propose", caller, entry, None, details, basis_type=basis.type)
        self.store.insert(entry)
        try:
            receipt = self._register("propose", caller, entry, "allow", (), details)
        except LedgerError:
            self.store.replace(entry.removed(now, RemovalCause.DECISION), ListingStatus.PROPOSED)
            raise
        return StepOutcome(entry, receipt)

    def notify(self, caller: Actor, entry_id: str, channel: str) -> StepOutcome:
        """Record that the party was told the reasons, basis and its rights (clause (8))."""
        entry = self._entry(entry_id)
        return self._step(
            "notify", caller, entry, entry.notified(self.clock.now(), channel), {"channel": channel}
        )

    def object(self, caller: Actor, entry_id: str) -> StepOutcome:
        """Record the party's objection (clause (8))."""
        entry = self._entry(entry_id)
        return self._step("object", caller, entry, entry.objected(self.clock.now()), {})

    def verify(self, caller: Actor, entry_id: str, upheld: bool, result: str) -> StepOutcome:
        """Record the verification of the objection and its result; upheld ends the proposal."""
        entry = self._entry(entry_id)
        after = entry.verified(self.clock.now(), upheld, result)
        return self._step("verify", caller, entry, after, {"upheld": upheld, "result": result})

    def decide(self, caller: Actor, entry_id: str, decision: ListingDecision) -> StepOutcome:
        """List the subject, stating reason, basis, measures, removal conditions and remedies (clause (8))."""
        entry = self._entry(entry_id)
        details = {
            "reason": decision.reason,
            "basis": decision.basis,
            "measures": list(decision.measures),
            "removal_conditions": decision.removal_conditions,
            "remedies": decision.remedies,
        }
        after = entry.decided(self.clock.now(), decision)
        return self._step("decide", caller, entry, after, details, measures=decision.measures)

    def remove(self, caller: Actor, entry_id: str, cause: RemovalCause) -> StepOutcome:
        """Take the subject off the list (on repair, expiry or a decision); it stops counting at once."""
        entry = self._entry(entry_id)
        after = entry.removed(self.clock.now(), cause)
        return self._step("remove", caller, entry, after, {"cause": str(cause)})

    def remove_on_repair(
        self, caller: Actor, subject_commitment: str, item: str | None = None
    ) -> list[StepOutcome]:
        """Take a repaired subject off the lists it is on (clause (11)), each removal a ledger entry.

        Called by the credit-repair use case when a repair takes effect: the subject stops counting
        as listed on the very next query. With ``item``, only the lists that item's records found.
        """
        return [
            self.remove(caller, entry.id, RemovalCause.REPAIR)
            for entry in self.store.listed_for_subject(subject_commitment)
            if item is None or item in self._list_items(entry.list_id)
        ]

    def _list_items(self, list_id: str) -> frozenset[str]:
        spec = self.catalog.lists.get(list_id)
        return spec.items if spec is not None else frozenset()

    def get(self, entry_id: str) -> ListEntry:
        """The entry with this id; ListEntryNotFound otherwise."""
        return self._entry(entry_id)

    # --- internals ---

    def _entry(self, entry_id: str) -> ListEntry:
        entry = self.store.get(entry_id)
        if entry is None:
            raise ListEntryNotFound("no list entry has this id", field="entry_id")
        return entry

    def _step(
        self,
        step: str,
        caller: Actor,
        before: ListEntry,
        after: ListEntry,
        details: Mapping[str, Any],
        *,
        measures: tuple[str, ...] = (),
    ) -> StepOutcome:
        self._decide(step, caller, before, before, details, measures=measures)
        self.store.replace(after, before.status)
        try:
            receipt = self._register(step, caller, after, "allow", (), details)
        except LedgerError:
            self.store.replace(before, after.status)  # the step did not happen: no ledger entry says so
            raise
        return StepOutcome(after, receipt)

    def _decide(
        self,
        step: str,
        caller: Actor,
        entry: ListEntry,
        stored: ListEntry | None,
        details: Mapping[str, Any],
        *,
        basis_type: str | None = None,
        measures: tuple[str, ...] = (),
    ) -> None:
        document = step_input(
            step,
            entry.list_id,
            caller.department,
            self.clock.now(),
            stored,
            basis_type=basis_type,
            measures=measures,
        )
        verdict = parse_registration_decision(self.engine.evaluate(VERDICT_ENTRYPOINT, document))
        if verdict.allow:
            return
        reasons = sorted(verdict.reasons, key=lambda r: (r.code, r.field or ""))
        receipt = self._register(step, caller, entry, "deny", tuple(reasons), details)
        first = reasons[0]
        raise ListingRefused(
            first.message,
            reason_code=first.code,
            clause=first.clause,
            field=first.field,
            reasons=[r.as_dict() for r in reasons],
            receipt=receipt.as_dict(),
            extra={"reasons": [r.as_dict() for r in reasons], "receipt": receipt.as_dict()},
        )

    def _register(
        self,
        step: str,
        caller: Actor,
        entry: ListEntry,
        outcome: str,
        reasons: tuple[Any, ...],
        details: Mapping[str, Any],
    ) -> Receipt:
        record = ListingRecord(
            step=step,
            entry_id=entry.id,
            list_id=entry.list_id,
            subject=SubjectRef(entry.id_type, entry.subject_kind, entry.subject_commitment),
            client_id=caller.client_id,
            department=caller.department,
            decision="allow" if outcome == "allow" else "deny",
            reasons=recorded(reasons),
            policy_revision=self.engine.revision,
            details=details,
        )
        return register(self.ledger, record, log=log, failure="the listing step could not be registered")
