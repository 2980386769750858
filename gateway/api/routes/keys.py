"""POST /v1/keys/field-key: a recipient obtains the key to its ``encrypt``-obligation fields."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from gateway.api.deps import KeyHandoverDep, Principal, registering, require_scope
from gateway.api.schemas.keys import KeyHandoverRequest, KeyHandoverResponse, key_handover_response
from gateway.api.schemas.problems import problems

router = APIRouter(tags=["keys"])

Caller = Annotated[Principal, Depends(require_scope("query"))]


@router.post(
    "/v1/keys/field-key",
    response_model=KeyHandoverResponse,
    responses=problems(401, 403, 422, 503),
)
@registering
def field_key(body: KeyHandoverRequest, caller: Caller, service: KeyHandoverDep) -> KeyHandoverResponse:
    """The caller department's field key wrapped to the X25519 public key it sends; registered in
    the ledger (kind ``key_handover``) before it is returned."""
    wrapped, receipt = service.hand_over(caller, body.public_key)
    return key_handover_response(wrapped, receipt)
