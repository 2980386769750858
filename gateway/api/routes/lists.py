"""The listing procedure for source departments (scope ``lists:write``), clauses (6)-(8).

Propose, notify, object, verify, decide and remove are one endpoint each; every step taken or
refused is a ledger entry, and a refusal answers 422 with the policy's code and clause. The subject's
identifier is accepted only in the proposal's body and is stored only as a keyed commitment.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from gateway.api.deps import ListServiceDep, Principal, require_scope
from gateway.api.schemas.lists import (
    DecideRequest,
    ListEntryResponse,
    ListStepResponse,
    NotifyRequest,
    ProposeRequest,
    RemoveRequest,
    VerifyRequest,
    entry_response,
    step_response,
)
from gateway.api.schemas.problems import problems
from gateway.domain.identifiers import china_date
from gateway.domain.lists import BasisDocument, ListingDecision, RemovalCause
from gateway.ports import Actor

router = APIRouter(prefix="/v1/lists/entries", tags=["lists"])

WritePrincipal = Annotated[Principal, Depends(require_scope("lists:write"))]
_ERRORS = problems(
    401,
    403,
    422,
    503,
    s422="invalid request, or the step was refused: `code` and `clause` say why",
    s503="the ledger, the store or the policy engine failed; nothing changed",
)
_STEP = {**_ERRORS, **problems(404, 409, s404="no such entry", s409="the entry changed meanwhile")}


def _actor(principal: Principal) -> Actor:
    return Actor(principal.client_id, principal.department)


@router.post("", status_code=201, response_model=ListStepResponse, responses=_ERRORS)
def propose(
    body: ProposeRequest, response: Response, principal: WritePrincipal, service: ListServiceDep
) -> ListStepResponse:
    """Propose listing a subject, on a legally effective basis document the list accepts (clause (2))."""
    subject = body.subject.parse(field="subject.value", today=china_date(service.clock.now()))
    doc = body.basis_document
    basis = BasisDocument(doc.type, doc.number, doc.issuer, doc.issued_on)
    outcome = service.propose(_actor(principal), body.list, subject, basis)
    response.headers["Location"] = f"/v1/lists/entries/{outcome.entry.id}"
    return step_response(outcome)


@router.get("/{entry_id}", response_model=ListEntryResponse, responses=_STEP)
def get_entry(entry_id: str, principal: WritePrincipal, service: ListServiceDep) -> ListEntryResponse:
    """Where one entry stands."""
    return entry_response(service.get(entry_id))


@router.post("/{entry_id}/notice", response_model=ListStepResponse, responses=_STEP)
def notify(
    entry_id: str, body: NotifyRequest, principal: WritePrincipal, service: ListServiceDep
) -> ListStepResponse:
    """The party has been told the reasons, basis and its rights; the notice period starts (clause (8))."""
    return step_response(service.notify(_actor(principal), entry_id, body.channel))


@router.post("/{entry_id}/objection", response_model=ListStepResponse, responses=_STEP)
def object_to(entry_id: str, principal: WritePrincipal, service: ListServiceDep) -> ListStepResponse:
    """The party objected, within the list's time limit (clause (8))."""
    return step_response(service.object(_actor(principal), entry_id))


@router.post("/{entry_id}/verification", response_model=ListStepResponse, responses=_STEP)
def verify(
    entry_id: str, body: VerifyRequest, principal: WritePrincipal, service: ListServiceDep
) -> ListStepResponse:
    """The objection was verified and its result fed back; upheld, the subject is not listed (clause (8))."""
    return step_response(service.verify(_actor(principal), entry_id, body.upheld, body.result))


@router.post("/{entry_id}/decision", response_model=ListStepResponse, responses=_STEP)
def decide(
    entry_id: str, body: DecideRequest, principal: WritePrincipal, service: ListServiceDep
) -> ListStepResponse:
    """List the subject; refused before the notice period or with an unanswered objection (clause (8))."""
    decision = ListingDecision(
        body.reason, body.basis, tuple(body.measures), body.removal_conditions, body.remedies
    )
    return step_response(service.decide(_actor(principal), entry_id, decision))


@router.post("/{entry_id}/removal", response_model=ListStepResponse, responses=_STEP)
def remove(
    entry_id: str, body: RemoveRequest, principal: WritePrincipal, service: ListServiceDep
) -> ListStepResponse:
    """Take the subject off the list; it stops counting on the very next query."""
    return step_response(service.remove(_actor(principal), entry_id, RemovalCause(body.cause)))
