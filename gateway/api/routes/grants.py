"""Authorization grants (clause (14)): register, read, list, search and revoke.

Writes need scope ``grants:write``; reads need ``grants:read`` (``grants:write`` includes it). A
department sees only the grants it registered or receives. The subject's identifier is accepted
only in request bodies (never in a URL, where it would end up in access logs) and is stored only
as a keyed commitment.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, Security

from gateway.api.deps import (
    GrantServiceDep,
    Principal,
    current_principal,
    registering,
    require_scope,
)
from gateway.api.schemas.grants import (
    Commitment,
    GrantActionResponse,
    GrantListResponse,
    GrantRequest,
    GrantResponse,
    GrantSearchRequest,
    RevokeRequest,
    grant_action_response,
    grant_response,
    grant_terms,
)
from gateway.api.schemas.problems import problems
from gateway.domain.grants import RevokeReason
from gateway.domain.identifiers import china_date
from gateway.errors import InsufficientScope
from gateway.ports import Actor

router = APIRouter(prefix="/v1/grants", tags=["grants"])

WRITE_SCOPE = "grants:write"
READ_SCOPE = "grants:read"


def require_read(
    principal: Annotated[Principal, Security(current_principal, scopes=[READ_SCOPE])],
) -> Principal:
    """Reading grants needs ``grants:read``; a client that may write them may read them too."""
    if READ_SCOPE not in principal.scopes and WRITE_SCOPE not in principal.scopes:
        raise InsufficientScope(f"this endpoint needs scope {READ_SCOPE!r}", accepted=READ_SCOPE)
    return principal


ReadPrincipal = Annotated[Principal, Depends(require_read)]
WritePrincipal = Annotated[Principal, Depends(require_scope(WRITE_SCOPE))]


def _actor(principal: Principal) -> Actor:
    return Actor(principal.client_id, principal.department)


_ERRORS = problems(
    401,
    403,
    422,
    503,
    s422="invalid request, or the grant was refused: `code` says why",
    s503="the ledger, the store or the policy engine failed; nothing changed",
)
_GET = {**_ERRORS, **problems(404, s404="no such grant")}
_REVOKE = {**_ERRORS, **problems(404, 409, s404="no such grant", s409="already revoked")}


# --- routes ---


@router.post("", status_code=201, response_model=GrantActionResponse, responses=_ERRORS)
@registering
def register_grant(
    body: GrantRequest, response: Response, principal: WritePrincipal, service: GrantServiceDep
) -> GrantActionResponse:
    """Register a person's authorization; refused grants answer 422 with the refusal's code and clause."""
    subject = body.subject.parse(field="subject.value", today=china_date(service.clock.now()))
    outcome = service.register(_actor(principal), subject, grant_terms(body))
    response.headers["Location"] = f"/v1/grants/{outcome.grant.id}"
    return grant_action_response(outcome, service.clock.now())


@router.get("", response_model=GrantListResponse, responses=_ERRORS)
def list_grants(
    principal: ReadPrincipal,
    service: GrantServiceDep,
    recipient: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    subject_commitment: Annotated[Commitment | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> GrantListResponse:
    """Grants the caller's department registered or receives, by recipient and/or subject commitment."""
    grants = service.list_grants(
        _actor(principal), subject_commitment=subject_commitment, recipient=recipient, limit=limit
    )
    now = service.clock.now()
    return GrantListResponse(grants=[grant_response(g, now) for g in grants])


@router.post("/search", response_model=GrantListResponse, responses=_ERRORS)
def search_grants(
    body: GrantSearchRequest, principal: ReadPrincipal, service: GrantServiceDep
) -> GrantListResponse:
    """Grants of one subject, given by identifier in the body."""
    subject = body.subject.parse(field="subject.value", today=china_date(service.clock.now()))
    grants = service.search(_actor(principal), subject, recipient=body.recipient, limit=body.limit)
    now = service.clock.now()
    return GrantListResponse(grants=[grant_response(g, now) for g in grants])


@router.get("/{grant_id}", response_model=GrantResponse, responses=_GET)
def get_grant(grant_id: str, principal: ReadPrincipal, service: GrantServiceDep) -> GrantResponse:
    """One grant, with its status now."""
    return grant_response(service.get(_actor(principal), grant_id), service.clock.now())


@router.post("/{grant_id}/revoke", response_model=GrantActionResponse, responses=_REVOKE)
@registering
def revoke_grant(
    grant_id: str, principal: WritePrincipal, service: GrantServiceDep, body: RevokeRequest | None = None
) -> GrantActionResponse:
    """Revoke a grant (PIPL art. 15); the very next query under it is refused with ``grant_revoked``."""
    reason = body.reason if body is not None else RevokeReason.SUBJECT_WITHDRAWAL
    return grant_action_response(service.revoke(_actor(principal), grant_id, reason), service.clock.now())
