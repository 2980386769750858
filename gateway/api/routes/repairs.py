"""Credit repair (clauses (11)(12)) for source departments: apply, accept, refuse, read, list.

Every route needs scope ``records:repair``; a department sees and decides only its own items'
applications. The subject's identifier is accepted only in the request body and stored only as a
keyed commitment. Accepting makes the repair effective at once; its ledger entry and the search for
the record's recipients run from the outbox (at once here, or by the delivery worker after a crash).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from gateway.api.deps import NotificationServiceDep, Principal, RepairServiceDep, require_scope
from gateway.api.schemas.problems import problems
from gateway.api.schemas.repairs import (
    RefuseRequest,
    RepairActionResponse,
    RepairListResponse,
    RepairRequest,
    RepairResponse,
    repair_action_response,
    repair_response,
)
from gateway.domain.identifiers import china_date
from gateway.errors import LedgerError
from gateway.ports import Actor

router = APIRouter(prefix="/v1/repairs", tags=["repairs"])
SCOPE = "records:repair"
RepairPrincipal = Annotated[Principal, Depends(require_scope(SCOPE))]

_ERRORS = problems(
    401,
    403,
    422,
    503,
    s422="invalid request, or the item may not be repaired (`item_not_repairable`: clause and basis)",
    s503="the ledger or the repair store failed",
)
_ONE = {**_ERRORS, **problems(404, 409, s404="no such repair", s409="already decided, or already open")}


def _actor(principal: Principal) -> Actor:
    return Actor(principal.client_id, principal.department)


@router.post("", status_code=201, response_model=RepairActionResponse, responses=_ONE)
def apply_for_repair(
    body: RepairRequest, response: Response, principal: RepairPrincipal, service: RepairServiceDep
) -> RepairActionResponse:
    """Apply for the repair of one record; free of charge. Past ``due_at`` an undecided one is overdue."""
    subject = body.subject.parse(field="subject.value", today=china_date(service.now()))
    outcome = service.apply(
        _actor(principal), body.item, body.record_key, subject, [e.evidence() for e in body.evidence]
    )
    response.headers["Location"] = f"/v1/repairs/{outcome.repair.id}"
    return repair_action_response(outcome.repair, outcome.receipt, service.now())


@router.get("", response_model=RepairListResponse, responses=_ERRORS)
def list_repairs(
    principal: RepairPrincipal,
    service: RepairServiceDep,
    status: Annotated[str | None, Query(max_length=16)] = None,
    overdue: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> RepairListResponse:
    """The department's applications (``overdue=true``: undecided past their time limit)."""
    repairs = service.find(_actor(principal), status=status, overdue=overdue, limit=limit)
    now = service.now()
    return RepairListResponse(
        repairs=[repair_response(r, now) for r in repairs], overdue_total=service.overdue_count()
    )


@router.get("/{repair_id}", response_model=RepairResponse, responses=_ONE)
def get_repair(repair_id: str, principal: RepairPrincipal, service: RepairServiceDep) -> RepairResponse:
    """One application, with its status now."""
    return repair_response(service.get(_actor(principal), repair_id), service.now())


@router.post("/{repair_id}/accept", response_model=RepairActionResponse, responses=_ONE)
def accept_repair(
    repair_id: str,
    principal: RepairPrincipal,
    service: RepairServiceDep,
    notifications: NotificationServiceDep,
) -> RepairActionResponse:
    """Accept: effective from now on every worker and replica; recipients of the record are told."""
    actor = _actor(principal)
    repair, owned = service.accept(actor, repair_id)
    notifications.run_owned(owned)
    stored = service.get(actor, repair.id)
    if stored.decision_ledger_index is None:
        # The effect stands (sharing less is the safe side); the worker registers it later.
        raise LedgerError("the repair is effective but its registration is pending; it will be retried")
    receipt = service.receipt_of(stored.decision_ledger_index)
    return repair_action_response(stored, receipt, service.now())


@router.post("/{repair_id}/refuse", response_model=RepairActionResponse, responses=_ONE)
def refuse_repair(
    repair_id: str, body: RefuseRequest, principal: RepairPrincipal, service: RepairServiceDep
) -> RepairActionResponse:
    """Refuse with reasons (each stated to the applicant)."""
    outcome = service.refuse(_actor(principal), repair_id, body.reasons)
    return repair_action_response(outcome.repair, outcome.receipt, service.now())
