"""POST /v1/queries: the gateway's main endpoint (scope ``query``)."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from gateway.api.deps import Principal, QueryLimitsDep, QueryServiceDep, registering, require_scope
from gateway.api.schemas.problems import problems
from gateway.api.schemas.queries import QueryRequest, QueryResponse, query_body
from gateway.domain.identifiers import china_date
from gateway.domain.ledger.guard import contains_identifier
from gateway.domain.query import ItemRequest, QuerySpec
from gateway.errors import InvalidRequest
from gateway.ports import Actor
from gateway.services.query import PreparedQuery

router = APIRouter(tags=["queries"])


def to_spec(body: QueryRequest, max_subjects: int, today: date) -> QuerySpec:
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
    subjects = tuple(s.parse(field=f"subjects[{i}].value", today=today) for i, s in enumerate(body.subjects))
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
    responses=problems(
        401,
        403,
        422,
        503,
        s403="refused by policy (with its reasons and receipt) or insufficient scope",
        s503="a dependency failed; nothing was returned",
    ),
)
@registering
async def create_query(
    body: QueryRequest,
    principal: Annotated[Principal, Depends(require_scope("query"))],
    service: QueryServiceDep,
    limits: QueryLimitsDep,
) -> JSONResponse:
    """Run one query: decide, read, desensitize (on a worker thread), register (awaited), respond.

    No thread waits for the ledger's group commit: the receipt is awaited on the event loop.
    """

    def prepare() -> PreparedQuery:  # one hop to the thread pool for all of the CPU and I/O work
        spec = to_spec(body, limits.max_subjects, china_date(service.clock.now()))
        return service.prepare(Actor(principal.client_id, principal.department), spec)

    outcome = await service.conclude(await run_in_threadpool(prepare))
    # Rendered as a dict: validating every released row again on the way out would only cost time
    # (response_model still documents the shape, and the OpenAPI test checks real bodies against it).
    return JSONResponse(query_body(outcome))
