"""Credit repair (clauses (11)(12)): applications, decisions, effects and record commitments.

Pure: times, keys and the catalog are arguments. A repair concerns one record of one catalog item,
named by the record's key in the source table (never the subject's identifier, which the repair only
holds as a keyed commitment). Its life::

    applied --accept--> effective      (the mode of the item's rule applies from ``effective_at``)
    applied --refuse--> refused        (with reason codes)

Nothing here has a fee: repair is free of charge (clause (12)) and every record says so.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from gateway.domain.catalog import Catalog, RepairMode, RepairRule
from gateway.domain.detector import contains_identifier
from gateway.errors import InvalidRequest, ItemNotRepairable, NotFound

_RECORD_LABEL = b"credit-gateway/ledger-record/v1"
_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_REFERENCE = re.compile(r"[^\x00-\x1f\x7f]{1,120}")


class RepairStatus(enum.StrEnum):
    """Where an application stands."""

    APPLIED = "applied"
    EFFECTIVE = "effective"
    REFUSED = "refused"


class EvidenceKind(enum.StrEnum):
    """What the applicant shows to prove the conduct was corrected (clause (11))."""

    OBLIGATION_PERFORMED = "obligation_performed"  # the judgment or penalty was carried out
    PENALTY_PAID = "penalty_paid"
    CREDIT_COMMITMENT = "credit_commitment"  # a public credit commitment letter
    TRAINING_COMPLETED = "training_completed"  # credit repair training
    ADVERSE_EFFECT_REMOVED = "adverse_effect_removed"


class RefusalReason(enum.StrEnum):
    """Why an application was refused (each stated to the applicant)."""

    EVIDENCE_INSUFFICIENT = "evidence_insufficient"
    CONDUCT_NOT_CORRECTED = "conduct_not_corrected"
    ADVERSE_EFFECT_REMAINS = "adverse_effect_remains"
    MINIMUM_PERIOD_NOT_MET = "minimum_period_not_met"
    RECORD_MISMATCH = "record_mismatch"


@dataclass(frozen=True, slots=True)
class Evidence:
    """One piece of correction evidence: its kind, the document's reference and date."""

    kind: EvidenceKind
    reference: str
    issued_on: date

    def as_dict(self) -> dict[str, str]:
        """Stored form."""
        return {"kind": str(self.kind), "reference": self.reference, "issued_on": self.issued_on.isoformat()}


def evidence_digest(evidence: Iterable[Evidence]) -> str:
    """``sha256:<hex>`` over the evidence, as the ledger commits to it without repeating it."""
    text = "\n".join(f"{e.kind}\x00{e.reference}\x00{e.issued_on.isoformat()}" for e in evidence)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def record_commitment(secret: bytes, item: str, record_key: str) -> str:
    """Keyed commitment (HMAC-SHA256, hex) of one source record: who holds the key finds its recipients."""
    if len(secret) < 32:
        raise ValueError("the commitment secret must be at least 32 bytes")
    message = _RECORD_LABEL + b"\x00" + item.encode() + b"\x00" + record_key.strip().encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Repair:
    """One application and, once decided, its outcome."""

    id: str
    item: str
    record_key: str
    subject_commitment: str
    id_type: str
    subject_kind: str
    department: str  # the source department that registered it (the item's department)
    client_id: str
    evidence: tuple[Evidence, ...]
    status: RepairStatus
    mode: RepairMode
    applied_at: datetime
    due_at: datetime
    decided_at: datetime | None = None
    effective_at: datetime | None = None
    refusal_reasons: tuple[RefusalReason, ...] = ()
    ledger_index: int | None = None  # of the application's entry
    decision_ledger_index: int | None = None

    def overdue(self, now: datetime) -> bool:
        """True when the application is still undecided past its time limit (clause (12))."""
        return self.status is RepairStatus.APPLIED and now > self.due_at

    @property
    def free_of_charge(self) -> bool:
        """Always True: no fee may be charged for credit repair (clause (12))."""
        return True


@dataclass(frozen=True, slots=True)
class RepairEffect:
    """What the query path does to one record of an item once its repair is effective."""

    item: str
    record_key: str
    mode: RepairMode
    effective_at: datetime
    label: str = ""
    withheld: frozenset[str] = field(default_factory=frozenset)

    @property
    def hides_record(self) -> bool:
        """Block and delete stop sharing the record; mark shares it marked."""
        return self.mode is not RepairMode.MARK

    def marker(self) -> dict[str, str | bool]:
        """The marker a recipient sees on a marked record."""
        return {
            "repaired": True,
            "label": self.label,
            "effective_on": self.effective_at.date().isoformat(),
            "free_of_charge": True,
        }


def repairable_rule(catalog: Catalog, item_id: str) -> RepairRule:
    """The rule of a repairable item; NotFound for an unknown item, ItemNotRepairable with its basis."""
    item = catalog.item(item_id)
    rule = catalog.repair_rule(item_id)
    if item is None or rule is None:
        raise NotFound("the catalog has no such item", field="item")
    if not rule.repairable:
        raise ItemNotRepairable(
            "this item's information may not be repaired",
            field="item",
            clause="(11)",
            extra={"legal_basis": {"law": rule.basis_law, "article": rule.basis_article}},
        )
    return rule


def check_record_key(value: str) -> str:
    """A record key as sources name rows: a short code, and never an identifier."""
    if not isinstance(value, str) or not _KEY.fullmatch(value.strip()):
        raise InvalidRequest(
            "record_key must be 1 to 64 letters, digits or _.:-",
            field="record_key",
            accepted="the record's key in the source table",
        )
    if contains_identifier(value):
        raise InvalidRequest(
            "record_key must name a record, not a person", field="record_key", accepted="a row key"
        )
    return value.strip()


def check_evidence(evidence: Iterable[Evidence], now: datetime) -> tuple[Evidence, ...]:
    """At least one, at most ten pieces; references short, dated, and free of identifiers."""
    pieces = tuple(evidence)
    if not 1 <= len(pieces) <= 10:
        raise InvalidRequest("give one to ten pieces of evidence", field="evidence", accepted="1..10 items")
    for i, piece in enumerate(pieces):
        where = f"evidence[{i}].reference"
        if not _REFERENCE.fullmatch(piece.reference) or not piece.reference.strip():
            raise InvalidRequest("reference must be 1 to 120 printable characters", field=where)
        if contains_identifier(piece.reference):
            raise InvalidRequest("reference must not contain a personal identifier", field=where)
        if piece.issued_on > now.date():
            raise InvalidRequest("evidence cannot be dated in the future", field=f"evidence[{i}].issued_on")
    return pieces


def due_at(applied_at: datetime, rule: RepairRule) -> datetime:
    """When a decision on an application made at ``applied_at`` is due."""
    return applied_at + timedelta(days=rule.decision_days or 0)


def effect_of(repair: Repair, rule: RepairRule) -> RepairEffect:
    """The query-path effect of an effective repair."""
    if repair.effective_at is None:
        raise ValueError("the repair is not effective")
    return RepairEffect(
        repair.item,
        repair.record_key,
        repair.mode,
        repair.effective_at,
        rule.marked_label,
        rule.withheld_fields,
    )


def apply_effects(
    rows: list[dict[str, object]], effects: Mapping[str, RepairEffect], key_of: str
) -> list[dict[str, object]]:
    """Rows as recipients may see them: hidden records dropped, marked ones withheld-and-flagged.

    ``key_of`` is the reserved row key holding the record key; it stays on the rows for the caller.
    This is the in-process half of the effect: the SQL read already excluded hidden records, and
    this drops any the source returned anyway (a source that cannot filter, or a race).
    """
    out: list[dict[str, object]] = []
    for row in rows:
        effect = effects.get(str(row.get(key_of, "")))
        if effect is None:
            out.append(row)
        elif not effect.hides_record:
            out.append({k: v for k, v in row.items() if k not in effect.withheld})
    return out


@dataclass(frozen=True, slots=True)
class Recipient:
    """A department that received a record: through which query entry, and when."""

    department: str
    received_index: int
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Notification:
    """A recipient department told that a record it received was repaired."""

    id: str
    repair_id: str
    department: str
    received_index: int
    received_at: datetime
    created_at: datetime
    ledger_index: int | None = None
    delivered_at: datetime | None = None
    acked_at: datetime | None = None
    acked_by: str | None = None
    ack_ledger_index: int | None = None


class TaskKind(enum.StrEnum):
    """What an outbox task does; every kind is safe to run again after a crash."""

    REGISTER_REPAIR = "register_repair"  # append the accept entry of an effective repair
    SCAN = "scan"  # search the ledger for the record's recipients and create their notifications
    REGISTER_NOTIFICATION = "register_notification"  # append a notification's issued entry
    WEBHOOK = "webhook"  # deliver a notification to the department's webhook


@dataclass(frozen=True, slots=True)
class OutboxTask:
    """One pending task, written in the transaction that made it necessary."""

    id: str
    kind: TaskKind
    repair_id: str
    notification_id: str | None
    next_attempt_at: datetime
    attempts: int


@dataclass(frozen=True, slots=True)
class Webhook:
    """Where a department wants notifications posted; ``key_id`` names its derived signing secret."""

    department: str
    url: str
    key_id: str


def retry_delay(attempts: int, *, base_s: float, max_s: float) -> timedelta:
    """Exponential backoff after ``attempts`` failed attempts: base, 2 base, 4 base, ... at most max."""
    return timedelta(seconds=min(max_s, base_s * (2 ** max(0, attempts - 1))))
