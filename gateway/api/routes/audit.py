"""The auditor's API over the query ledger, under ``/v1/ledger``.

Scope ``audit:read``: entries (filtered, paginated), one entry with its inclusion proof, the latest
checkpoint (C2SP signed note as text/plain, or JSON), consistency proofs, exports (JSON Lines or
CSV, streamed) and subject reports (the identifier travels in the body, never in a URL).
Scope ``audit:review``: review an entry.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from gateway.api.deps import AuditServiceDep, Principal, registering, require_scope
from gateway.api.guards import InstantInRange, NoIdentifier
from gateway.api.schemas.ledger import (
    CheckpointResponse,
    ConsistencyResponse,
    EntryPageResponse,
    EntryProofResponse,
    ReviewRequest,
    ReviewResponse,
    SubjectReportResponse,
    checkpoint_response,
    consistency_response,
    entries_csv,
    entry_page_response,
    entry_proof_response,
    review_response,
    subject_report_response,
)
from gateway.api.schemas.problems import problems
from gateway.api.schemas.subjects import SubjectRequest
from gateway.domain.ledger.terms import EntryFilter
from gateway.errors import InvalidRequest
from gateway.ports import Actor

router = APIRouter(prefix="/v1/ledger", tags=["ledger"])

ReaderDep = Annotated[Principal, Depends(require_scope("audit:read"))]
ReviewerDep = Annotated[Principal, Depends(require_scope("audit:review"))]
IndexPath = Annotated[int, Path(ge=0, le=2**62)]
# Filter values travel in the URL, which access logs keep: none may carry an identifier.
Name = Annotated[str | None, Query(min_length=1, max_length=200), NoIdentifier]

NOTE_MEDIA_TYPE = "text/plain; charset=utf-8"


ServiceDep = AuditServiceDep
_ERRORS = problems(401, 403, 422, 503, s503="the ledger could not be read or written")
_ONE = {**_ERRORS, **problems(404, s404="no such entry")}


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise InvalidRequest(
            f"{field} needs a time zone", field=field, accepted="RFC 3339 with Z or an offset"
        )
    return value


def _filter(
    since: Annotated[
        datetime | None, Query(description="entries logged at or after (RFC 3339)"), InstantInRange
    ] = None,
    until: Annotated[
        datetime | None, Query(description="entries logged before (RFC 3339)"), InstantInRange
    ] = None,
    kind: Annotated[
        Literal[
            "query",
            "grant",
            "review",
            "subject_report",
            "repair",
            "console",
            "key_handover",
            "invalid",
            "notification",
            "policy",
            "listing",
        ]
        | None,
        Query(),
    ] = None,
    client_id: Name = None,
    department: Name = None,
    purpose: Name = None,
    item: Name = None,
    decision: Annotated[Literal["allow", "deny", "error", "invalid"] | None, Query()] = None,
    reason: Annotated[
        str | None, Query(min_length=1, max_length=200, description="reason code"), NoIdentifier
    ] = None,
    review: Annotated[Literal["reviewed", "flagged", "unreviewed"] | None, Query()] = None,
    order: Annotated[Literal["asc", "desc"], Query()] = "asc",
    cursor: Annotated[int | None, Query(ge=-1, description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EntryFilter:
    return EntryFilter(
        since=_aware(since, "since"),
        until=_aware(until, "until"),
        kind=kind,
        client_id=client_id,
        department=department,
        purpose=purpose,
        decision=decision,
        item=item,
        reason=reason,
        review=review,
        after=cursor,
        descending=order == "desc",
        limit=limit,
    )


FilterDep = Annotated[EntryFilter, Depends(_filter)]


@router.get("/entries", response_model=EntryPageResponse, responses=_ERRORS)
def list_entries(_: ReaderDep, service: ServiceDep, query: FilterDep) -> EntryPageResponse:
    """Entries matching the filters, one page at a time (pass ``next_cursor`` as ``cursor``)."""
    return entry_page_response(service.list_entries(query))


@router.get("/entries/{index}", response_model=EntryProofResponse, responses=_ONE)
def get_entry(
    index: IndexPath,
    _: ReaderDep,
    service: ServiceDep,
    tree_size: Annotated[int | None, Query(ge=1)] = None,
) -> EntryProofResponse:
    """One entry, its reviews and its inclusion proof (against the latest checkpoint by default)."""
    return entry_proof_response(service.entry(index, tree_size))


@router.get(
    "/checkpoint",
    response_model=CheckpointResponse,
    responses={
        **_ERRORS,
        200: {
            "description": "the C2SP signed note (text/plain), or JSON with ``format=json``",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
    },
)
def get_checkpoint(
    request: Request,
    _: ReaderDep,
    service: ServiceDep,
    format: Annotated[Literal["note", "json"] | None, Query()] = None,
) -> Response:
    """The latest checkpoint: the C2SP signed note (text/plain), or JSON when asked for."""
    wants_json = format == "json" or (
        format is None and "application/json" in request.headers.get("accept", "")
    )
    if wants_json:
        body = checkpoint_response(service.checkpoint(), service.verifier_keys())
        return JSONResponse(body.model_dump(mode="json"))
    return PlainTextResponse(service.checkpoint().note, media_type=NOTE_MEDIA_TYPE)


@router.get("/consistency", response_model=ConsistencyResponse, responses=_ERRORS)
def get_consistency(
    _: ReaderDep,
    service: ServiceDep,
    first: Annotated[int, Query(ge=0)],
    second: Annotated[int, Query(ge=0)],
) -> ConsistencyResponse:
    """An RFC 9162 consistency proof between two tree sizes."""
    return consistency_response(service.consistency(first, second))


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        **_ERRORS,
        200: {
            "description": "JSON Lines (the whole log, for ``gateway ledger verify``) or CSV",
            "content": {
                "application/jsonl": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
    },
)
def export(
    _: ReaderDep,
    service: ServiceDep,
    query: FilterDep,
    format: Annotated[Literal["jsonl", "csv"], Query()] = "jsonl",
) -> StreamingResponse:
    """The whole log as JSON Lines (for ``gateway ledger verify``), or filtered entries as CSV."""
    if format == "csv":
        return StreamingResponse(
            entries_csv(service.iter_entries(query.with_page(after=None, limit=1, descending=False))),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": 'attachment; filename="ledger.csv"'},
        )
    if query.with_page(after=None, limit=100, descending=False) != EntryFilter():
        raise InvalidRequest(
            "the JSON Lines export is always the whole log; filters apply to CSV only",
            field="format",
            accepted="format=csv with filters, or jsonl without",
        )
    body: Iterator[bytes] = service.export_jsonl()
    return StreamingResponse(
        body,
        media_type="application/jsonl",
        headers={"content-disposition": 'attachment; filename="ledger.jsonl"'},
    )


@router.post("/subject-report", response_model=SubjectReportResponse, responses=_ERRORS)
@registering
def subject_report(body: SubjectRequest, principal: ReaderDep, service: ServiceDep) -> SubjectReportResponse:
    """Every entry that touched one subject (PIPL art. 45); the lookup itself is registered."""
    actor = Actor(principal.client_id, principal.department)
    return subject_report_response(service.subject_report(body.id_type, body.value, actor))


@router.post("/entries/{index}/review", response_model=ReviewResponse, responses=_ONE)
@registering
def review_entry(
    index: IndexPath, body: ReviewRequest, principal: ReviewerDep, service: ServiceDep
) -> ReviewResponse:
    """Mark an entry reviewed or flagged with a comment; the review is a ledger entry itself."""
    actor = Actor(principal.client_id, principal.department)
    return review_response(service.review(index, body.status, body.comment, actor))
