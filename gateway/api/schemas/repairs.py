"""Credit repair (clauses (11)(12)): an application as sent, a repair as shown, notifications."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from gateway.api.guards import NoIdentifier
from gateway.api.schemas.receipts import ReceiptResponse, receipt_response
from gateway.api.schemas.subjects import SubjectRequest
from gateway.domain.repairs import Evidence, EvidenceKind, RefusalReason, Repair
from gateway.domain.times import rfc3339
from gateway.ports import Receipt


class EvidenceRequest(BaseModel):
    """One piece of correction evidence."""

    model_config = ConfigDict(extra="forbid")

    kind: EvidenceKind
    reference: Annotated[
        str, Field(min_length=1, max_length=120, examples=["（2026）浙0102执恢123号结案通知书"]), NoIdentifier
    ]
    issued_on: date

    def evidence(self) -> Evidence:
        """The domain value."""
        return Evidence(self.kind, self.reference, self.issued_on)


class RepairRequest(BaseModel):
    """An application: the item, the record's key in the source, the subject, the evidence."""

    model_config = ConfigDict(extra="forbid")

    item: Annotated[str, Field(min_length=1, max_length=100, examples=["market.admin_penalty"]), NoIdentifier]
    record_key: Annotated[str, Field(min_length=1, max_length=64, examples=["1042"]), NoIdentifier]
    subject: SubjectRequest
    evidence: Annotated[list[EvidenceRequest], Field(min_length=1, max_length=10)]


class RefuseRequest(BaseModel):
    """Why an application is refused."""

    model_config = ConfigDict(extra="forbid")

    reasons: Annotated[list[RefusalReason], Field(min_length=1, max_length=5)]


class RepairResponse(BaseModel):
    """A repair as its source department sees it (the subject only as a commitment)."""

    id: str
    item: str
    record_key: str
    subject_commitment: str
    status: str
    mode: str
    applied_at: datetime
    due_at: datetime
    overdue: bool  # undecided past its time limit (clause (12))
    decided_at: datetime | None
    effective_at: datetime | None
    refusal_reasons: list[str]
    evidence_kinds: list[str]
    free_of_charge: bool  # always true: no fee (clause (12))
    ledger_index: int | None
    decision_ledger_index: int | None


class RepairActionResponse(BaseModel):
    """A repair after one step, with that step's receipt (null while its registration is pending)."""

    repair: RepairResponse
    receipt: ReceiptResponse | None


class RepairListResponse(BaseModel):
    """Applications of the caller's department."""

    repairs: list[RepairResponse]
    overdue_total: int


def repair_response(repair: Repair, now: datetime) -> RepairResponse:
    """The wire form of a repair at ``now``."""
    return RepairResponse(
        id=repair.id,
        item=repair.item,
        record_key=repair.record_key,
        subject_commitment=repair.subject_commitment,
        status=str(repair.status),
        mode=str(repair.mode),
        applied_at=repair.applied_at,
        due_at=repair.due_at,
        overdue=repair.overdue(now),
        decided_at=repair.decided_at,
        effective_at=repair.effective_at,
        refusal_reasons=[str(r) for r in repair.refusal_reasons],
        evidence_kinds=[str(e.kind) for e in repair.evidence],
        free_of_charge=repair.free_of_charge,
        ledger_index=repair.ledger_index,
        decision_ledger_index=repair.decision_ledger_index,
    )


def repair_action_response(repair: Repair, receipt: Receipt | None, now: datetime) -> RepairActionResponse:
    """The wire form of a step's outcome."""
    return RepairActionResponse(
        repair=repair_response(repair, now), receipt=receipt_response(receipt) if receipt else None
    )


class NotificationResponse(BaseModel):
    """A repair a recipient must apply to a record it received (``record_ref`` is on its rows too)."""

    type: str
    notification_id: str
    repair_id: str
    item: str
    record_ref: str
    mode: str
    effective_at: str | None
    received_index: int
    received_at: str
    created_at: str
    acknowledged_at: str | None
    free_of_charge: bool


class NotificationListResponse(BaseModel):
    """The caller's department's notifications, oldest first."""

    notifications: list[NotificationResponse]


class AuditNotificationResponse(NotificationResponse):
    """An unacknowledged notification as auditors see it."""

    department: str
    registered_index: int | None
    delivered_at: str | None


class AuditNotificationListResponse(BaseModel):
    """Every notification not acknowledged yet."""

    notifications: list[AuditNotificationResponse]


class AckResponse(BaseModel):
    """The acknowledgement's receipt."""

    receipt: ReceiptResponse


class WebhookRequest(BaseModel):
    """Where the department wants notifications posted."""

    model_config = ConfigDict(extra="forbid")

    url: Annotated[
        str, Field(min_length=8, max_length=500, examples=["https://recipient.example/hooks/repairs"])
    ]


class WebhookResponse(BaseModel):
    """The registration: the signing secret is shown this once (the gateway stores none)."""

    department: str
    url: str
    secret: str
    signature_header: str
    delivery_header: str
    registered_at: AwareDatetime


def stamp(moment: datetime | None) -> str | None:
    """RFC 3339 or None."""
    return rfc3339(moment) if moment else None
