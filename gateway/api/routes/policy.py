"""The policy workbench API (scope ``policy:admin``): drafts, checks, what-if, replay, activation.

The two-person rule is enforced by the service: the client (or console user) that pushed a draft
cannot approve or activate it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response

from gateway.api.deps import PolicyWorkbenchDep, Principal, require_scope
from gateway.api.schemas.policy import (
    ActiveResponse,
    CheckResponse,
    DraftListResponse,
    DraftRequest,
    DraftResponse,
    HistoryResponse,
    PolicyChangeResponse,
    ReplayRequest,
    ReplayResponse,
    RollbackRequest,
    WhatIfRequest,
    WhatIfResponse,
    draft_response,
    history_response,
)
from gateway.api.schemas.problems import problems
from gateway.api.schemas.receipts import receipt_response
from gateway.ports import Actor

router = APIRouter(prefix="/v1/policy", tags=["policy"])
SCOPE = "policy:admin"
AdminPrincipal = Annotated[Principal, Depends(require_scope(SCOPE))]

_ERRORS = problems(
    401, 403, 422, 503, s503="the policy store, the ledger or an engine failed; nothing changed"
)
_ONE = {**_ERRORS, **problems(404, s404="no such draft")}
_CHANGE = {**_ONE, **problems(409, s409="the draft is not ready, or the approver is its author")}


def _actor(principal: Principal) -> Actor:
    return Actor(principal.client_id, principal.department)


@router.post("/drafts", status_code=201, response_model=DraftResponse, responses=_ERRORS)
def push_draft(
    body: DraftRequest, response: Response, principal: AdminPrincipal, service: PolicyWorkbenchDep
) -> DraftResponse:
    """Store a draft bundle written against the active one, with its diff."""
    bundle = service.push(_actor(principal), {k: v.encode("utf-8") for k, v in body.files.items()})
    response.headers["Location"] = f"/v1/policy/drafts/{bundle.id}"
    return draft_response(bundle, service.readiness(bundle), full=True)


@router.get("/drafts", response_model=DraftListResponse, responses=_ERRORS)
def list_drafts(principal: AdminPrincipal, service: PolicyWorkbenchDep) -> DraftListResponse:
    """Bundles and drafts, newest first."""
    return DraftListResponse(drafts=[draft_response(b, []) for b in service.drafts()])


@router.get("/drafts/{draft_id}", response_model=DraftResponse, responses=_ONE)
def get_draft(draft_id: int, principal: AdminPrincipal, service: PolicyWorkbenchDep) -> DraftResponse:
    """One draft with its diff and what still blocks its activation."""
    bundle = service.bundle(draft_id)
    return draft_response(bundle, service.readiness(bundle), full=True)


@router.post("/drafts/{draft_id}/check", response_model=CheckResponse, responses=_ONE)
def check_draft(draft_id: int, principal: AdminPrincipal, service: PolicyWorkbenchDep) -> CheckResponse:
    """Compile, run every Rego test with coverage, check the catalog; the report is kept."""
    return CheckResponse.model_validate(service.check(draft_id))


@router.post("/drafts/{draft_id}/what-if", response_model=WhatIfResponse, responses=_ONE)
def what_if(
    draft_id: int, body: WhatIfRequest, principal: AdminPrincipal, service: PolicyWorkbenchDep
) -> WhatIfResponse:
    """Evaluate one input on the active bundle and on the draft, side by side."""
    result = service.what_if(draft_id, body.input, body.ledger_index)
    return WhatIfResponse(
        active_revision=result.active_revision,
        draft_revision=result.draft_revision,
        active=result.active,
        draft=result.draft,
        kinds=[str(k) for k in result.kinds],
        difference=result.difference,
        ledger_index=result.ledger_index,
    )


@router.post("/drafts/{draft_id}/replay", response_model=ReplayResponse, responses=_ONE)
def replay(
    draft_id: int, body: ReplayRequest, principal: AdminPrincipal, service: PolicyWorkbenchDep
) -> ReplayResponse:
    """Replay kept decisions under the draft; the report is kept and needed for activation."""
    report = service.replay(
        draft_id, last=body.last, first_index=body.first_index, last_index=body.last_index
    )
    return ReplayResponse.model_validate(report)


@router.post("/drafts/{draft_id}/approve", response_model=DraftResponse, responses=_CHANGE)
def approve(draft_id: int, principal: AdminPrincipal, service: PolicyWorkbenchDep) -> DraftResponse:
    """Approve a ready draft (not its author)."""
    bundle = service.approve(draft_id, _actor(principal))
    return draft_response(bundle, service.readiness(bundle))


@router.post("/drafts/{draft_id}/activate", response_model=PolicyChangeResponse, responses=_CHANGE)
def activate(draft_id: int, principal: AdminPrincipal, service: PolicyWorkbenchDep) -> PolicyChangeResponse:
    """Activate an approved draft: a ledger entry, then every worker switches within seconds."""
    receipt = service.activate(draft_id, _actor(principal))
    return PolicyChangeResponse(
        action="activate", revision=service.bundle(draft_id).revision, receipt=receipt_response(receipt)
    )


@router.post("/rollback", response_model=PolicyChangeResponse, responses=_CHANGE)
def rollback(
    principal: AdminPrincipal, service: PolicyWorkbenchDep, body: RollbackRequest | None = None
) -> PolicyChangeResponse:
    """Serve again the bundle active before (a ledger entry)."""
    receipt = service.rollback(_actor(principal), body.to_draft_id if body else None)
    return PolicyChangeResponse(
        action="rollback", revision=service.active_bundle().revision, receipt=receipt_response(receipt)
    )


@router.get("/active", response_model=ActiveResponse, responses=_ERRORS)
def active(principal: AdminPrincipal, service: PolicyWorkbenchDep) -> ActiveResponse:
    """The bundle every worker serves."""
    bundle = service.active_bundle()
    return ActiveResponse(draft_id=bundle.id, revision=bundle.revision)


@router.get(
    "/bundles/gateway.tar.gz",
    response_class=Response,
    responses={
        **_ERRORS,
        200: {"content": {"application/gzip": {}}, "description": "the signed bundle"},
        304: {"description": "the sidecar already has this revision"},
    },
)
def opa_bundle(
    principal: AdminPrincipal,
    service: PolicyWorkbenchDep,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """The active bundle in OPA's bundle format, signed (``.signatures.json``), for the OPA sidecar."""
    revision, archive = service.opa_bundle()
    etag = f'"{revision}"'
    if if_none_match == etag:
        return Response(status_code=304, headers={"ETag": etag})
    return Response(archive, media_type="application/gzip", headers={"ETag": etag})


@router.get("/history", response_model=HistoryResponse, responses=_ERRORS)
def history(principal: AdminPrincipal, service: PolicyWorkbenchDep) -> HistoryResponse:
    """Activations and rollbacks, newest first."""
    return history_response(service.history())
