"""Wire models of the listing procedure (clauses (6)-(8)) and of public disclosure (clauses (4)(5))."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.api.guards import NoIdentifier
from gateway.api.schemas.receipts import ReceiptResponse, receipt_response
from gateway.api.schemas.subjects import SubjectRequest
from gateway.domain.lists import ListEntry
from gateway.services.lists import StepOutcome

_Code = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[a-z][a-z0-9_.]*$"), NoIdentifier]
Text = Annotated[str, Field(min_length=1, max_length=2000), NoIdentifier]


class BasisDocumentRequest(BaseModel):
    """The legally effective document a listing rests on (clause (2))."""

    model_config = ConfigDict(extra="forbid")

    type: Annotated[_Code, Field(examples=["penalty_decision"])]
    number: Annotated[
        str, Field(min_length=1, max_length=100, examples=["杭西市监处罚〔2026〕12号"]), NoIdentifier
    ]
    issuer: Annotated[
        str, Field(min_length=1, max_length=200, examples=["杭州市西湖区市场监督管理局"]), NoIdentifier
    ]
    issued_on: date


class ProposeRequest(BaseModel):
    """Propose listing a subject on a list, on the strength of a basis document."""

    model_config = ConfigDict(extra="forbid")

    list: Annotated[_Code, Field(examples=["market_serious_illegal"])]
    subject: SubjectRequest
    basis_document: BasisDocumentRequest


class NotifyRequest(BaseModel):
    """The party has been told the reasons, the basis and its rights."""

    model_config = ConfigDict(extra="forbid")

    channel: Literal["in_person", "mail", "electronic", "announcement"]


class VerifyRequest(BaseModel):
    """The verification of the party's objection and the result fed back to it."""

    model_config = ConfigDict(extra="forbid")

    upheld: bool
    result: Text


class DecideRequest(BaseModel):
    """The listing decision: reason, basis, the measures it prompts, removal conditions and remedies."""

    model_config = ConfigDict(extra="forbid")

    reason: Text
    basis: Text
    measures: Annotated[list[_Code], Field(max_length=20)]
    removal_conditions: Text
    remedies: Text


class RemoveRequest(BaseModel):
    """Why the entry leaves the list."""

    model_config = ConfigDict(extra="forbid")

    cause: Literal["repair", "expiry", "decision"]


class ListEntryResponse(BaseModel):
    """Where an entry stands; the subject only by commitment."""

    id: str
    list: str
    subject_commitment: str
    subject_kind: str
    status: str
    proposed_at: datetime
    notified_at: datetime | None
    objection_at: datetime | None
    verified_at: datetime | None
    objection_upheld: bool | None
    decided_at: datetime | None
    decision: dict[str, Any] | None
    removed_at: datetime | None
    removal_cause: str | None


class ListStepResponse(BaseModel):
    """A step taken and the receipt of its ledger entry."""

    entry: ListEntryResponse
    receipt: ReceiptResponse


def entry_response(entry: ListEntry) -> ListEntryResponse:
    """The wire form of an entry."""
    d = entry.decision
    return ListEntryResponse(
        id=entry.id,
        list=entry.list_id,
        subject_commitment=entry.subject_commitment,
        subject_kind=entry.subject_kind,
        status=str(entry.status),
        proposed_at=entry.proposed_at,
        notified_at=entry.notified_at,
        objection_at=entry.objection_at,
        verified_at=entry.verified_at,
        objection_upheld=entry.objection_upheld,
        decided_at=entry.decided_at,
        decision=None
        if d is None
        else {
            "reason": d.reason,
            "basis": d.basis,
            "measures": list(d.measures),
            "removal_conditions": d.removal_conditions,
            "remedies": d.remedies,
        },
        removed_at=entry.removed_at,
        removal_cause=None if entry.removal_cause is None else str(entry.removal_cause),
    )


def step_response(outcome: StepOutcome) -> ListStepResponse:
    """The wire form of a step taken."""
    return ListStepResponse(entry=entry_response(outcome.entry), receipt=receipt_response(outcome.receipt))


class DisclosureRequest(BaseModel):
    """Which public item, about which legal person."""

    model_config = ConfigDict(extra="forbid")

    item: Annotated[_Code, Field(examples=["market.admin_penalty"])]
    subject: SubjectRequest


class DisclosureResponse(BaseModel):
    """The disclosed rows, why they may be disclosed, and the ledger receipt."""

    disclosure_id: str
    item: str
    reasons: list[dict[str, str]]
    policy_revision: str
    rows: list[dict[str, Any]]
    receipt: ReceiptResponse
