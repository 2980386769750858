"""POST /v1/queries: the gateway's main endpoint (scope ``query``)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.deps import Principal, require_scope
from gateway.domain.identifiers import parse_subject
from gateway.domain.ledger.guard import contains_identifier
from gateway.domain.query import ItemRequest, QuerySpec
from gateway.errors import InvalidRequest
from gateway.ports import Actor
from gateway.services.query import QueryService

router = APIRouter(tags=["queries"])

_CODE = r"^[a-z][a-z0-9_.]{0,99}$"


class SubjectRequest(BaseModel):
    """A subject identifier; its check character is validated before anything else happens."""

    model_config = ConfigDict(extra="forbid")

    id_type: Annotated[str, Field(pattern="^(resident_id|uscc)$", examples=["uscc"])]
    value: Annotated[str, Field(min_length=18, max_length=18, examples=["91330100MA2B3C4D5E"])]


class ItemFieldsRequest(BaseModel):
    """A catalog item and, optionally, the fields wanted from it."""

    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(pattern=_CODE)]
    fields: Annotated[list[Annotated[str, Field(pattern=_CODE)]] | None, Field(max_length=50)] = None


class QueryRequest(BaseModel):
    """What a requesting department asks for, why, and about whom."""

    model_config = ConfigDict(extra="forbid")

    purpose: Annotated[str, Field(pattern=_CODE, examples=["admin_licensing_review"])]
    legal_basis: Annotated[str, Field(min_length=2, max_length=300)]
    items: Annotated[
        list[ItemFieldsRequest | Annotated[str, Field(pattern=_CODE)]], Field(min_length=1, max_length=20)
    ]
    subjects: Annotated[list[SubjectRequest], Field(min_length=1, max_length=1000)]
    measure: Annotated[str | None, Field(pattern=_CODE)] = None
    grant_id: Annotated[str | None, Field(max_length=64)] = None


class QueryResponse(BaseModel):
    """Desensitized results, the decision's reasons and the ledger receipt."""

    query_id: str
    decision: dict[str, Any]
    results: list[dict[str, Any]]
    receipt: dict[str, Any]


def to_spec(body: QueryRequest, max_subjects: int) -> QuerySpec:
    """Validate identifiers and normalize the request into a QuerySpec."""
    if len(body.subjects) > max_subjects:
        raise InvalidRequest(
            f"too many subjects in one query ({len(body.subjects)})",
            field="subjects",
            accepted=f"at most {max_subjects} subjects",
        )
    items = tuple(
        ItemRequest(it)
        if isinstance(it, str)
        else ItemRequest(it.id, None if it.fields is None else tuple(it.fields))
        for it in body.items
    )
    seen: set[str] = set()
    for i, it in enumerate(items):
        if it.item_id in seen:
            raise InvalidRequest("an item is listed twice", field=f"items[{i}]", accepted="each item once")
        seen.add(it.item_id)
    subjects = tuple(
        parse_subject(s.id_type, s.value, field=f"subjects[{i}].value") for i, s in enumerate(body.subjects)
    )
    if contains_identifier(body.legal_basis):
        # The legal basis is recorded in the ledger, which never holds an identifier in clear.
        raise InvalidRequest(
            "the legal basis may not contain a subject identifier",
            field="legal_basis",
            accepted="the law and article relied on, e.g. 《行政许可法》第三十四条",
        )
    if body.grant_id is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", body.grant_id):
        raise InvalidRequest(
            "malformed grant id", field="grant_id", accepted="the id returned by POST /v1/grants"
        )
    return QuerySpec(
        purpose=body.purpose,
        legal_basis=body.legal_basis,
        items=items,
        subjects=subjects,
        measure=body.measure,
        grant_id=body.grant_id,
    )


@router.post(
    "/v1/queries",
    response_model=QueryResponse,
    responses={
        401: {"description": "missing or invalid token (problem+json)"},
        403: {"description": "refused by policy or insufficient scope (problem+json)"},
        422: {"description": "invalid request (problem+json)"},
        503: {"description": "a dependency failed; nothing was returned (problem+json)"},
    },
)
def create_query(
    body: QueryRequest,
    request: Request,
    principal: Annotated[Principal, Depends(require_scope("query"))],
) -> JSONResponse:
    """Run one query: decide, read, desensitize, register, respond."""
    service: QueryService = request.app.state.queries
    spec = to_spec(body, request.app.state.settings.max_subjects)
    outcome = service.run(Actor(principal.client_id, principal.department), spec)
    # The body is built by the service in exactly the documented shape; returning it directly skips
    # a second validation of every row (response_model still documents it in OpenAPI).
    return JSONResponse(outcome.body)
