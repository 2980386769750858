"""Authorization grants (clause (14)): register, read, list, search and revoke.

Writes need scope ``grants:write``; reads need ``grants:read`` (``grants:write`` includes it). A
department sees only the grants it registered or receives. The subject's identifier is accepted
only in request bodies (never in a URL, where it would end up in access logs) and is stored only
as a keyed commitment.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool

from gateway.api.deps import Principal, current_principal, require_scope
from gateway.api.guards import NoIdentifier
from gateway.domain.grants import ConsentEvidence, Grant, GrantTerms, RevokeReason
from gateway.domain.identifiers import china_date, parse_subject
from gateway.errors import InsufficientScope
from gateway.ports import Actor
from gateway.services.grants import GrantOutcome, GrantService

router = APIRouter(prefix="/v1/grants", tags=["grants"])

WRITE_SCOPE = "grants:write"
READ_SCOPE = "grants:read"

# Every code and text of a grant is written to the ledger: none may carry an identifier.
_Token = Annotated[str, Field(min_length=1, max_length=100), NoIdentifier]
_Commitment = Annotated[str, Field(pattern="^[0-9a-f]{64}$")]


def require_read(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    """Reading grants needs ``grants:read``; a client that may write them may read them too."""
    if READ_SCOPE not in principal.scopes and WRITE_SCOPE not in principal.scopes:
        raise InsufficientScope(f"this endpoint needs scope {READ_SCOPE!r}", accepted=READ_SCOPE)
    return principal


ReadPrincipal = Annotated[Principal, Depends(require_read)]
WritePrincipal = Annotated[Principal, Depends(require_scope(WRITE_SCOPE))]


# --- wire models ---


class SubjectRequest(BaseModel):
    """The person who consented: a resident ID (or an individual business's credit code)."""

    model_config = ConfigDict(extra="forbid")

    id_type: Literal["resident_id", "uscc"]
    value: Annotated[str, Field(min_length=1, max_length=32)]


class ConsentRequest(BaseModel):
    """Evidence of the consent: how, when, where it is recorded, separate or not, conditional or not."""

    model_config = ConfigDict(extra="forbid")

    method: Annotated[str, Field(min_length=1, max_length=100, examples=["written"]), NoIdentifier]
    obtained_at: AwareDatetime
    reference: Annotated[str, Field(min_length=1, max_length=200, examples=["HF-2026-000123"]), NoIdentifier]
    separate: StrictBool
    condition_of_service: StrictBool
    service: Annotated[str | None, Field(max_length=100), NoIdentifier] = None


class GrantRequest(BaseModel):
    """A grant to register."""

    model_config = ConfigDict(extra="forbid")

    subject: SubjectRequest
    recipient: _Token
    purposes: Annotated[list[_Token], Field(max_length=1000)]
    items: Annotated[list[_Token], Field(max_length=1000)]
    fields: Annotated[
        dict[_Token, Annotated[list[_Token], Field(max_length=1000)]] | None, Field(max_length=1000)
    ] = None
    valid_from: AwareDatetime
    valid_until: AwareDatetime | None = None
    consent: ConsentRequest


class GrantSearchRequest(BaseModel):
    """Find the grants of one subject (the identifier goes in the body, never in the URL)."""

    model_config = ConfigDict(extra="forbid")

    subject: SubjectRequest
    recipient: _Token | None = None
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
    receipt: dict[str, Any]


class GrantListResponse(BaseModel):
    """Grants, oldest first."""

    grants: list[GrantResponse]


# --- mapping ---


def _service(request: Request) -> GrantService:
    service: GrantService = request.app.state.grants
    return service


def _actor(principal: Principal) -> Actor:
    return Actor(principal.client_id, principal.department)


def grant_view(grant: Grant, now: datetime) -> GrantResponse:
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


def _terms(body: GrantRequest) -> GrantTerms:
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


def _action(service: GrantService, outcome: GrantOutcome) -> GrantActionResponse:
    return GrantActionResponse(
        grant=grant_view(outcome.grant, service.clock.now()), receipt=outcome.receipt.as_dict()
    )


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or invalid token (problem+json)"},
    403: {"description": "insufficient scope (problem+json)"},
    422: {"description": "invalid request, or the grant was refused: `code` says why (problem+json)"},
    503: {"description": "the ledger, the store or the policy engine failed; nothing changed (problem+json)"},
}


# --- routes ---


@router.post("", status_code=201, response_model=GrantActionResponse, responses=_ERRORS)
def register_grant(
    body: GrantRequest, request: Request, response: Response, principal: WritePrincipal
) -> GrantActionResponse:
    """Register a person's authorization; refused grants answer 422 with the refusal's code and clause."""
    service = _service(request)
    today = china_date(service.clock.now())
    subject = parse_subject(body.subject.id_type, body.subject.value, field="subject.value", today=today)
    outcome = service.register(_actor(principal), subject, _terms(body))
    response.headers["Location"] = f"/v1/grants/{outcome.grant.id}"
    return _action(service, outcome)


@router.get("", response_model=GrantListResponse, responses=_ERRORS)
def list_grants(
    request: Request,
    principal: ReadPrincipal,
    recipient: Annotated[str | None, Query(min_length=1, max_length=100), NoIdentifier] = None,
    subject_commitment: Annotated[_Commitment | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> GrantListResponse:
    """Grants the caller's department registered or receives, by recipient and/or subject commitment."""
    service = _service(request)
    grants = service.list_grants(
        _actor(principal), subject_commitment=subject_commitment, recipient=recipient, limit=limit
    )
    now = service.clock.now()
    return GrantListResponse(grants=[grant_view(g, now) for g in grants])


@router.post("/search", response_model=GrantListResponse, responses=_ERRORS)
def search_grants(body: GrantSearchRequest, request: Request, principal: ReadPrincipal) -> GrantListResponse:
    """Grants of one subject, given by identifier in the body."""
    service = _service(request)
    today = china_date(service.clock.now())
    subject = parse_subject(body.subject.id_type, body.subject.value, field="subject.value", today=today)
    grants = service.search(_actor(principal), subject, recipient=body.recipient, limit=body.limit)
    now = service.clock.now()
    return GrantListResponse(grants=[grant_view(g, now) for g in grants])


@router.get(
    "/{grant_id}", response_model=GrantResponse, responses={**_ERRORS, 404: {"description": "no such grant"}}
)
def get_grant(grant_id: str, request: Request, principal: ReadPrincipal) -> GrantResponse:
    """One grant, with its status now."""
    service = _service(request)
    return grant_view(service.get(_actor(principal), grant_id), service.clock.now())


@router.post(
    "/{grant_id}/revoke",
    response_model=GrantActionResponse,
    responses={**_ERRORS, 404: {"description": "no such grant"}, 409: {"description": "already revoked"}},
)
def revoke_grant(
    grant_id: str, request: Request, principal: WritePrincipal, body: RevokeRequest | None = None
) -> GrantActionResponse:
    """Revoke a grant (PIPL art. 15); the very next query under it is refused with ``grant_revoked``."""
    service = _service(request)
    reason = body.reason if body is not None else RevokeReason.SUBJECT_WITHDRAWAL
    return _action(service, service.revoke(_actor(principal), grant_id, reason))
