"""Public disclosure (clauses (4)(5)): no token; only what the catalog marks public.

The subject is named in the body, never in the URL (URLs end up in access logs).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from gateway.api.deps import DisclosureServiceDep
from gateway.api.schemas.lists import DisclosureRequest, DisclosureResponse
from gateway.api.schemas.problems import problems
from gateway.domain.identifiers import china_date

router = APIRouter(prefix="/public/v1", tags=["public disclosure"])


@router.post(
    "/disclosures",
    response_model=DisclosureResponse,
    responses=problems(403, 422, 503, s403="not public: `code` and `clause` say why"),
)
def disclose(body: DisclosureRequest, service: DisclosureServiceDep) -> JSONResponse:
    """A legal person's records of a public item, in its disclosure period, desensitized for the public."""
    subject = body.subject.parse(field="subject.value", today=china_date(service.clock.now()))
    outcome = service.disclose(body.item, subject)
    return JSONResponse({**outcome.body, "receipt": outcome.receipt.as_dict()})
