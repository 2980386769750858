"""Authorization grants (clause (14)): what a registering department sends, and a grant as shown."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool

from gateway.api.guards import InstantInRange, NoIdentifier
from gateway.api.schemas.receipts import ReceiptResponse, receipt_response
from gateway.api.schemas.subjects import SubjectRequest
from gateway.domain.grants import ConsentEvidence, Grant, GrantTerms, RevokeReason
from gateway.services.grants import GrantOutcome

# Every code and text of a grant is written to the ledger: none may carry an identifier.
Token = Annotated[str, Field(min_length=1, max_length=100), NoIdentifier]
Commitment = Annotated[str, Field(pattern="^[0-9a-f]{64}$")]


class ConsentRequest(BaseModel):
    """Evidence of the consent: how, when, where it is recorded, separate or not, conditional or not."""

    model_config = ConfigDict(extra="forbid")

    method: Annotated[str, Field(min_length=1, max_length=100, examples=["written"]), NoIdentifier]
    obtained_at: Annotated[AwareDatetime, InstantInRange]
    reference: Annotated[str, Field(min_length=1, max_length=200, examples=["HF-2026-000123"]), NoIdentifier]
    separate: StrictBool
    condition_of_service: StrictBool
    service: Annotated[str | None, Field(max_length=100), NoIdentifier] = None


class GrantRequest(BaseModel):
    """A grant to register."""

    model_config = ConfigDict(extra="forbid")

    subject: SubjectRequest
    recipient: Token
    purposes: Annotated[list[Token], Field(max_length=1000)]
    items: Annotated[list[Token], Field(max_length=1000)]
    fields: Annotated[
        dict[Token, Annotated[list[Token], Field(max_length=1000)]] | None, Field(max_length=1000)
    ] = None
    valid_from: Annotated[AwareDatetime, InstantInRange]
    valid_until: Annotated[AwareDatetime | None, InstantInRange] = None
    consent: ConsentRequest


class GrantSearchRequest(BaseModel):
    """Find the grants of one subject (the identifier goes in the body, never in the URL)."""

    model_config = ConfigDict(extra="forbid")

    subject: SubjectRequest
    recipient: Token | None = None
    limit: Annotated[int, Field(ge=1, le=500)] = 100


class RevokeRequest(BaseModel):
    """Why the grant is revoked; a subject's withdrawal unless said otherwise."""

    model_config = ConfigDict(extra="forbid")

    reason: RevokeReason = RevokeReason.SUBJECT_WITHDRAWAL


class SubjectResponse(BaseModel):
    """The subject as stored: scheme, kind and keyed commitment, never the identifier."""

    id_type: str
    kind: str
    commitment: str


class ConsentResponse(BaseModel):
    """The consent evidence as registered."""

    method: str
    obtained_at: datetime
    reference: str
    separate: bool
    condition_of_service: bool
    service: str | None


class RevocationResponse(BaseModel):
    """When, by whom and why a grant was revoked."""

    revoked_at: datetime
    department: str
    client_id: str
    reason: str
    ledger_index: int | None


class GrantResponse(BaseModel):
    """A registered grant and its status now."""

    id: str
    status: str
    subject: SubjectResponse
    recipient: str
    purposes: list[str]
    items: list[str]
    fields: dict[str, list[str]] | None
    valid_from: datetime
    valid_until: datetime | None
    consent: ConsentResponse
    registered_by: str
    client_id: str
    created_at: datetime
    ledger_index: int | None
    revocation: RevocationResponse | None


class GrantActionResponse(BaseModel):
    """A grant after registration or revocation, with that action's ledger receipt."""

    grant: GrantResponse
    receipt: ReceiptResponse


class GrantListResponse(BaseModel):
    """Grants, oldest first."""

    grants: list[GrantResponse]


def grant_response(grant: Grant, now: datetime) -> GrantResponse:
    """The wire form of a grant."""
    terms = grant.terms
    consent = terms.consent
    revocation = grant.revocation
    return GrantResponse(
        id=grant.id,
        status=str(grant.status(now)),
        subject=SubjectResponse(
            id_type=str(grant.id_type), kind=str(grant.subject_kind), commitment=grant.subject_commitment
        ),
        recipient=terms.recipient,
        purposes=list(terms.purposes),
        items=list(terms.items),
        fields=None if terms.fields is None else {k: list(v) for k, v in terms.fields.items()},
        valid_from=terms.valid_from,
        valid_until=terms.valid_until,
        consent=ConsentResponse(
            method=consent.method,
            obtained_at=consent.obtained_at,
            reference=consent.reference,
            separate=consent.separate,
            condition_of_service=consent.condition_of_service,
            service=consent.service,
        ),
        registered_by=grant.registered_by,
        client_id=grant.client_id,
        created_at=grant.created_at,
        ledger_index=grant.ledger_index,
        revocation=None
        if revocation is None
        else RevocationResponse(
            revoked_at=revocation.revoked_at,
            department=revocation.department,
            client_id=revocation.client_id,
            reason=str(revocation.reason),
            ledger_index=revocation.ledger_index,
        ),
    )


def grant_terms(body: GrantRequest) -> GrantTerms:
    """The domain terms of a grant request."""
    c = body.consent
    return GrantTerms(
        recipient=body.recipient,
        purposes=tuple(body.purposes),
        items=tuple(body.items),
        fields=None if body.fields is None else {k: tuple(v) for k, v in body.fields.items()},
        valid_from=body.valid_from,
        valid_until=body.valid_until,
        consent=ConsentEvidence(
            method=c.method,
            obtained_at=c.obtained_at,
            reference=c.reference,
            separate=c.separate,
            condition_of_service=c.condition_of_service,
            service=c.service,
        ),
    )


def grant_action_response(outcome: GrantOutcome, now: datetime) -> GrantActionResponse:
    """A grant after registration or revocation, with the action's receipt."""
    return GrantActionResponse(
        grant=grant_response(outcome.grant, now), receipt=receipt_response(outcome.receipt)
    )
