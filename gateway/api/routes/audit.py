"""The auditor's API over the query ledger, under ``/v1/ledger``.

Scope ``audit:read``: entries (filtered, paginated), one entry with its inclusion proof, the latest
checkpoint (C2SP signed note as text/plain, or JSON), consistency proofs, exports (JSON Lines or
CSV, streamed) and subject reports (the identifier travels in the body, never in a URL).
Scope ``audit:review``: review an entry. The service comes from ``request.app.state.audit``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import PlainTextResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.deps import Principal, require_scope
from gateway.domain.ledger.terms import EntryFilter
from gateway.errors import InvalidRequest
from gateway.ports import Actor
from gateway.services.audit import AuditService

router = APIRouter(prefix="/v1/ledger", tags=["ledger"])

ReaderDep = Annotated[Principal, Depends(require_scope("audit:read"))]
ReviewerDep = Annotated[Principal, Depends(require_scope("audit:review"))]
IndexPath = Annotated[int, Path(ge=0, le=2**62)]
Name = Annotated[str | None, Query(min_length=1, max_length=200)]

NOTE_MEDIA_TYPE = "text/plain; charset=utf-8"


def _service(request: Request) -> AuditService:
    service: AuditService = request.app.state.audit
    return service


ServiceDep = Annotated[AuditService, Depends(_service)]


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise InvalidRequest(
            f"{field} needs a time zone", field=field, accepted="RFC 3339 with Z or an offset"
        )
    return value


def _filter(
    since: Annotated[datetime | None, Query(description="entries logged at or after (RFC 3339)")] = None,
    until: Annotated[datetime | None, Query(description="entries logged before (RFC 3339)")] = None,
    kind: Annotated[Literal["query", "grant", "review", "subject_report", "repair"] | None, Query()] = None,
    client_id: Name = None,
    department: Name = None,
    purpose: Name = None,
    item: Name = None,
    decision: Annotated[Literal["allow", "deny"] | None, Query()] = None,
    reason: Annotated[str | None, Query(min_length=1, max_length=200, description="reason code")] = None,
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


class SubjectReportRequest(BaseModel):
    """Whose entries to find: an identifier scheme and value (checked, then only its commitment is used)."""

    model_config = ConfigDict(extra="forbid")

    id_type: Literal["resident_id", "uscc"]
    value: str = Field(min_length=1, max_length=64)


class ReviewRequest(BaseModel):
    """An auditor's verdict on one entry."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["reviewed", "flagged"]
    comment: str = Field(default="", max_length=2000)


@router.get("/entries")
def list_entries(_: ReaderDep, service: ServiceDep, query: FilterDep) -> dict[str, Any]:
    """Entries matching the filters, one page at a time (pass ``next_cursor`` as ``cursor``)."""
    return service.list_entries(query)


@router.get("/entries/{index}")
def get_entry(
    index: IndexPath,
    _: ReaderDep,
    service: ServiceDep,
    tree_size: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    """One entry, its reviews and its inclusion proof (against the latest checkpoint by default)."""
    return service.entry(index, tree_size)


@router.get("/checkpoint", response_model=None)
def get_checkpoint(
    request: Request,
    _: ReaderDep,
    service: ServiceDep,
    format: Annotated[Literal["note", "json"] | None, Query()] = None,
) -> PlainTextResponse | dict[str, Any]:
    """The latest checkpoint: the C2SP signed note (text/plain), or JSON when asked for."""
    wants_json = format == "json" or (
        format is None and "application/json" in request.headers.get("accept", "")
    )
    if wants_json:
        return service.checkpoint_json()
    return PlainTextResponse(service.checkpoint().note, media_type=NOTE_MEDIA_TYPE)


@router.get("/consistency")
def get_consistency(
    _: ReaderDep,
    service: ServiceDep,
    first: Annotated[int, Query(ge=0)],
    second: Annotated[int, Query(ge=0)],
) -> dict[str, Any]:
    """An RFC 9162 consistency proof between two tree sizes."""
    return service.consistency(first, second)


@router.get("/export", response_model=None)
def export(
    _: ReaderDep,
    service: ServiceDep,
    query: FilterDep,
    format: Annotated[Literal["jsonl", "csv"], Query()] = "jsonl",
) -> StreamingResponse:
    """The whole log as JSON Lines (for ``gateway ledger verify``), or filtered entries as CSV."""
    if format == "csv":
        return StreamingResponse(
            service.export_csv(query.with_page(after=None, limit=1, descending=False)),
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


@router.post("/subject-report")
def subject_report(body: SubjectReportRequest, principal: ReaderDep, service: ServiceDep) -> dict[str, Any]:
    """Every entry that touched one subject (PIPL art. 45); the lookup itself is registered."""
    return service.subject_report(body.id_type, body.value, Actor(principal.client_id, principal.department))


@router.post("/entries/{index}/review")
def review_entry(
    index: IndexPath, body: ReviewRequest, principal: ReviewerDep, service: ServiceDep
) -> dict[str, Any]:
    """Mark an entry reviewed or flagged with a comment; the review is a ledger entry itself."""
    return service.review(index, body.status, body.comment, Actor(principal.client_id, principal.department))
