"""The credit repair use cases (clauses (11)(12)): apply, accept, refuse; the query path's view.

A source department applies on behalf of the subject for one record of one of its items. Accepting
makes the repair effective at once: from the next query on, every worker and replica reads it from
the shared repair store and blocks, deletes or marks the record. Every step is a ledger entry with
the subject and the record as keyed commitments; an item the catalog says may not be repaired is
refused with its clause and the provision, and the refusal is registered too. Nothing costs a fee.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from gateway.domain.catalog import Catalog, RepairMode
from gateway.domain.identifiers import SubjectId
from gateway.domain.ledger.commitments import SubjectRef, commit_subject
from gateway.domain.ledger.records import RecordedReason, RepairRecord
from gateway.domain.repairs import (
    Evidence,
    OutboxTask,
    RefusalReason,
    Repair,
    RepairEffect,
    RepairStatus,
    check_evidence,
    check_record_key,
    due_at,
    effect_of,
    evidence_digest,
    record_commitment,
    repairable_rule,
)
from gateway.domain.times import rfc3339
from gateway.errors import (
    Conflict,
    InsufficientScope,
    InvalidRequest,
    ItemNotRepairable,
    LedgerError,
    NotFound,
    RepairNotFound,
)
from gateway.ports import (
    Actor,
    Clock,
    KeyStore,
    Ledger,
    Receipt,
    ReceiptSearch,
    RepairedListings,
    RepairStore,
)
from gateway.services.registration import register

log = logging.getLogger("gateway.repairs")
COMMITMENT_SECRET = "commitment"  # noqa: S105 - the name of a KeyStore secret, not a secret
_RECIPIENT_LABEL = b"credit-gateway/recipient-record-ref/v1"
INLINE_LEASE_S = 30.0  # how long the accepting request owns its first outbox tasks


@dataclass(frozen=True, slots=True)
class RepairOutcome:
    """A repair after one step, and the receipt of that step's ledger entry (None if still pending)."""

    repair: Repair
    receipt: Receipt | None


class RepairService:
    """The repair lifecycle over the repair store and the ledger; one instance serves every request."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        store: RepairStore,
        ledger: Ledger,
        keystore: KeyStore,
        clock: Clock,
        entries: ReceiptSearch,
        settle_s: float = 60.0,
        listings: RepairedListings | None = None,
    ) -> None:
        self.entries = entries
        self.listings = listings
        self.catalog = catalog
        self.store = store
        self.ledger = ledger
        self.keystore = keystore
        self.clock = clock
        self.settle_s = settle_s

    # --- commitments ---

    def _secret(self) -> bytes:
        return self.keystore.secret(COMMITMENT_SECRET)

    def record_commitment(self, item: str, record_key: str) -> str:
        """The keyed commitment of one source record, as query entries carry it."""
        return record_commitment(self._secret(), item, record_key)

    def recipient_ref(self, department: str, commitment: str) -> str:
        """The reference to a record one recipient sees on its rows and its notifications.

        Keyed per department, so two recipients cannot join their results on it.
        """
        message = _RECIPIENT_LABEL + b"\x00" + department.encode() + b"\x00" + commitment.encode()
        return hmac.new(self._secret(), message, hashlib.sha256).hexdigest()

    # --- the lifecycle ---

    def apply(
        self, actor: Actor, item_id: str, record_key: str, subject: SubjectId, evidence: Sequence[Evidence]
    ) -> RepairOutcome:
        """Register an application; an unrepairable item is refused (registered) with its clause."""
        now = self.clock.now()
        key = check_record_key(record_key)
        pieces = check_evidence(evidence, now)
        item = self.catalog.item(item_id)
        if item is None:
            raise NotFound("the catalog has no such item", field="item")
        if item.department != actor.department:
            raise InsufficientScope(
                "only the item's source department registers its repairs", accepted=item.department
            )
        ref = commit_subject(self._secret(), subject)
        commitment = self.record_commitment(item_id, key)
        try:
            rule = repairable_rule(self.catalog, item_id)
        except ItemNotRepairable as refusal:
            record = self._record("apply", item_id, commitment, ref, actor, "", "deny", pieces, now)
            record = _with_reasons(record, (RecordedReason(refusal.code, "(11)", item_id),))
            receipt = self._register(record)
            refusal.extra["receipt"] = receipt.as_dict()
            raise
        if self.store.open_for_record(item_id, key) is not None:
            raise Conflict("the record already has an open or effective repair", field="record_key")
        repair = Repair(
            id=uuid.uuid4().hex,
            item=item_id,
            record_key=key,
            subject_commitment=ref.commitment,
            id_type=ref.id_type,
            subject_kind=ref.subject_kind,
            department=actor.department,
            client_id=actor.client_id,
            evidence=pieces,
            status=RepairStatus.APPLIED,
            mode=rule.mode or RepairMode.BLOCK,
            applied_at=now,
            due_at=due_at(now, rule),
        )
        self.store.insert(repair)
        try:
            receipt = self._register(
                self._record(
                    "apply", item_id, commitment, ref, actor, str(repair.mode), "allow", pieces, now, repair
                )
            )
        except Exception:
            self.store.discard(repair.id)
            raise
        self.store.mark_registered(repair.id, receipt.index)
        return RepairOutcome(_stored(self.store, repair.id), receipt)

    def refuse(self, actor: Actor, repair_id: str, reasons: Sequence[RefusalReason]) -> RepairOutcome:
        """Refuse an application with reasons (registered)."""
        if not reasons:
            raise InvalidRequest("a refusal states at least one reason", field="reasons")
        repair = self._own(actor, repair_id)
        now = self.clock.now()
        decided = self.store.refuse(repair.id, now, list(dict.fromkeys(reasons)))
        record = _with_reasons(
            self._decision_record("refuse", decided, actor, "deny"),
            tuple(RecordedReason(str(r), "(11)", decided.item) for r in decided.refusal_reasons),
        )
        receipt = self._register(record)
        self.store.mark_decision_registered(decided.id, receipt.index)
        return RepairOutcome(_stored(self.store, decided.id), receipt)

    def accept(self, actor: Actor, repair_id: str) -> tuple[Repair, list[OutboxTask]]:
        """Accept: effective now, with its ledger entry and recipient search written to the outbox.

        Returns the tasks leased to the caller (the API runs them at once); whatever they cannot
        finish (a crash, a ledger outage) a delivery worker finishes once the lease runs out.
        """
        repair = self._own(actor, repair_id)
        now = self.clock.now()
        settle = now + timedelta(seconds=self.settle_s)
        accepted = self.store.accept(repair.id, now, settle, now + timedelta(seconds=INLINE_LEASE_S))
        if self.listings is not None:
            # The list removal takes effect with the repair; each removal is its own ledger entry.
            self.listings.remove_on_repair(actor, repair.subject_commitment, repair.item)
        return accepted

    def decision_record(self, repair: Repair) -> RepairRecord:
        """The accept entry of an effective repair (built by the outbox task that registers it)."""
        return self._decision_record("accept", repair, Actor(repair.client_id, repair.department), "allow")

    def get(self, actor: Actor, repair_id: str) -> Repair:
        """One application of the caller's department."""
        return self._own(actor, repair_id)

    def find(
        self, actor: Actor, *, status: str | None = None, overdue: bool = False, limit: int = 100
    ) -> list[Repair]:
        """The caller's department's applications."""
        if status is not None and status not in {str(s) for s in RepairStatus}:
            raise InvalidRequest("unknown status", field="status", accepted="applied, effective, refused")
        overdue_at = self.clock.now() if overdue else None
        return self.store.find(department=actor.department, status=status, overdue_at=overdue_at, limit=limit)

    def overdue_count(self) -> int:
        """Applications undecided past their time limit, for the metrics (clause (12))."""
        return self.store.count_overdue(self.clock.now())

    def receipt_of(self, index: int) -> Receipt:
        """The receipt of a registered step, read back from the ledger."""
        entry = self.entries.entry(index)
        if entry is None:
            raise LedgerError("the repair's ledger entry could not be read")
        return Receipt(entry.index, entry.leaf_hash.hex())

    def now(self) -> datetime:
        """The service clock's time (the API flags overdue applications with it)."""
        return self.clock.now()

    # --- what other use cases read ---

    def effects_for(
        self, items: Sequence[str], subject_commitments: Sequence[str]
    ) -> dict[str, dict[str, RepairEffect]]:
        """item -> record key -> effect, for the records of these subjects; read now, never cached.

        RepairStoreError when the store cannot be read: the query path refuses rather than share.
        """
        out: dict[str, dict[str, RepairEffect]] = {}
        for repair in self.store.effective_for(list(items), list(subject_commitments)):
            rule = self.catalog.repair_rule(repair.item)
            if rule is None or not rule.repairable:
                continue
            out.setdefault(repair.item, {})[repair.record_key] = effect_of(repair, rule)
        return out

    def repairs_effective_for(
        self, subject_commitments: Sequence[str], items: Sequence[str] | None = None
    ) -> list[Repair]:
        """Effective repairs of these subjects (all repairable items unless ``items`` is given).

        For the list use cases: a subject with an effective repair of a list item is removed from
        that list from the same moment (clause (11)).
        """
        wanted = (
            list(items) if items is not None else [i for i, r in self.catalog.repairs.items() if r.repairable]
        )
        return self.store.effective_for(wanted, list(subject_commitments))

    def export(self, department: str, since: datetime | None = None) -> list[dict[str, object]]:
        """The effective repairs a source department must apply to its own records (the export)."""
        return export_repairs(self.catalog, self.store, department, since)

    # --- internals ---

    def _own(self, actor: Actor, repair_id: str) -> Repair:
        repair = self.store.get(repair_id)
        if repair is None or repair.department != actor.department:
            raise RepairNotFound("no repair application with this id", field="repair_id")
        return repair

    def _register(self, record: RepairRecord) -> Receipt:
        return register(self.ledger, record, log=log, failure="the repair step could not be registered")

    def _record(
        self,
        action: str,
        item: str,
        commitment: str,
        ref: SubjectRef,
        actor: Actor,
        mode: str,
        decision: str,
        evidence: Sequence[Evidence],
        now: datetime,
        repair: Repair | None = None,
    ) -> RepairRecord:
        return RepairRecord(
            action=action,  # type: ignore[arg-type]  # callers pass apply / accept / refuse
            repair_id=repair.id if repair else "",
            item=item,
            record_commitment=commitment,
            subject=ref,
            client_id=actor.client_id,
            department=actor.department,
            mode=mode,
            decision=decision,  # type: ignore[arg-type]  # allow or deny
            reasons=(),
            evidence_kinds=tuple(str(e.kind) for e in evidence),
            evidence_digest=evidence_digest(evidence),
            due_at=rfc3339(repair.due_at) if repair else rfc3339(now),
        )

    def _decision_record(self, action: str, repair: Repair, actor: Actor, decision: str) -> RepairRecord:
        ref = SubjectRef(repair.id_type, repair.subject_kind, repair.subject_commitment)
        base = self._record(
            action,
            repair.item,
            self.record_commitment(repair.item, repair.record_key),
            ref,
            actor,
            str(repair.mode),
            decision,
            repair.evidence,
            repair.applied_at,
            repair,
        )
        decided = repair.decided_at or self.clock.now()
        return replace(
            base,
            effective_at=rfc3339(repair.effective_at) if repair.effective_at else None,
            overdue=decided > repair.due_at,
        )


_SOURCE_ACTION = {
    RepairMode.MARK: "mark the record repaired (it stays shared, marked)",
    RepairMode.BLOCK: "stop sharing the record (keep it in the source)",
    RepairMode.DELETE: "delete the record from the source",
}


def export_repairs(
    catalog: Catalog, store: RepairStore, department: str, since: datetime | None = None
) -> list[dict[str, object]]:
    """What ``gateway repairs export`` writes: each effective repair and what the source must do.

    Delete mode says so: the source deletes the record, and gateway and source converge.
    """
    rows: list[dict[str, object]] = []
    for repair in store.effective_of_department(department, since):
        rule = catalog.repair_rule(repair.item)
        item = catalog.item(repair.item)
        rows.append(
            {
                "repair_id": repair.id,
                "item": repair.item,
                "database": item.source.database if item else None,
                "table": item.source.table if item else None,
                "record_key_column": rule.record_key_column if rule else None,
                "record_key": repair.record_key,
                "mode": str(repair.mode),
                "action": _SOURCE_ACTION[repair.mode],
                "effective_at": rfc3339(repair.effective_at) if repair.effective_at else None,
                "free_of_charge": True,
            }
        )
    return rows


def _with_reasons(record: RepairRecord, reasons: tuple[RecordedReason, ...]) -> RepairRecord:
    return replace(record, reasons=reasons)


def _stored(store: RepairStore, repair_id: str) -> Repair:
    repair = store.get(repair_id)
    if repair is None:
        raise RepairNotFound("the repair disappeared", field="repair_id")
    return repair
