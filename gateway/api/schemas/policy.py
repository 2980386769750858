"""Wire models of the policy workbench (``/v1/policy/...``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from gateway.api.schemas.receipts import ReceiptResponse
from gateway.ports import PolicyBundle, PolicyHistoryEntry

MAX_FILE_CHARS = 1_000_000


class DraftRequest(BaseModel):
    """A full bundle: every Rego module, its tests and the catalog data, by relative path."""

    model_config = ConfigDict(extra="forbid")

    files: dict[str, str] = Field(min_length=1, max_length=500)


class WhatIfRequest(BaseModel):
    """An input written by hand, or the ledger index of a query whose kept input to use."""

    model_config = ConfigDict(extra="forbid")

    input: dict[str, Any] | None = None
    ledger_index: int | None = Field(default=None, ge=0)


class ReplayRequest(BaseModel):
    """Which kept decisions to replay: the last N, or a window of ledger indexes."""

    model_config = ConfigDict(extra="forbid")

    last: int | None = Field(default=None, ge=1, le=200_000)
    first_index: int | None = Field(default=None, ge=0)
    last_index: int | None = Field(default=None, ge=0)


class RollbackRequest(BaseModel):
    """Roll back to the bundle active before, or to one that served before, by id."""

    model_config = ConfigDict(extra="forbid")

    to_draft_id: int | None = Field(default=None, ge=1)


class DraftResponse(BaseModel):
    """A bundle or draft, its checks' and replay's outcome, and what still stops its activation."""

    id: int
    revision: str
    content_digest: str
    parent_revision: str | None
    author: str
    department: str
    created_at: str
    status: str
    approver: str | None
    check_ok: bool | None
    replay_digest: str | None
    replay_summary: dict[str, Any] | None
    blocking: list[str]
    diff: str | None = None
    files: list[str] | None = None


class DraftListResponse(BaseModel):
    """Bundles and drafts, newest first."""

    drafts: list[DraftResponse]


class CheckResponse(BaseModel):
    """Every check of a draft: compilation, tests with per-test results, coverage, the catalog."""

    ok: bool
    revision: str | None
    content_digest: str
    compile: list[dict[str, Any]]
    tests: list[dict[str, Any]]
    tests_passed: int
    tests_failed: int
    coverage: list[dict[str, Any]]
    catalog: list[dict[str, Any]]


class WhatIfResponse(BaseModel):
    """One input on the active bundle and on the draft, and how the two decisions differ."""

    active_revision: str
    draft_revision: str
    active: Any
    draft: Any
    kinds: list[str]
    difference: list[dict[str, Any]]
    ledger_index: int | None


class ReplayResponse(BaseModel):
    """Counts of a replay and every change, grouped by kind, the dangerous kinds first."""

    model_config = ConfigDict(extra="allow")

    base_revision: str
    draft_revision: str
    total: int
    unchanged: int
    changed: int
    errors: int
    dangerous: int
    by_kind: dict[str, list[int]]
    changes: list[dict[str, Any]]
    digest: str


class PolicyChangeResponse(BaseModel):
    """An activation or rollback: the revision now active and its ledger receipt."""

    action: str
    revision: str
    receipt: ReceiptResponse


class ActiveResponse(BaseModel):
    """The bundle every worker serves (or is switching to)."""

    draft_id: int
    revision: str


class HistoryEntryResponse(BaseModel):
    """One activation or rollback."""

    seq: int
    action: str
    draft_id: int
    revision: str
    parent_revision: str
    author: str
    approver: str
    at: str
    ledger_index: int


class HistoryResponse(BaseModel):
    """Activations and rollbacks, newest first."""

    history: list[HistoryEntryResponse]


SUMMARY_KEYS = ("total", "unchanged", "changed", "errors", "dangerous", "base_revision", "draft_revision")


def draft_response(bundle: PolicyBundle, blocking: list[str], *, full: bool = False) -> DraftResponse:
    """The wire form of a bundle (with its diff and file names when ``full``)."""
    report = bundle.replay_report
    return DraftResponse(
        id=bundle.id,
        revision=bundle.revision,
        content_digest=bundle.content_digest,
        parent_revision=bundle.parent_revision,
        author=bundle.author,
        department=bundle.department,
        created_at=bundle.created_at.isoformat(),
        status=bundle.status,
        approver=bundle.approver,
        check_ok=bundle.check_ok,
        replay_digest=bundle.replay_digest,
        replay_summary=None if report is None else {k: report.get(k) for k in SUMMARY_KEYS},
        blocking=blocking,
        diff=bundle.diff if full else None,
        files=sorted(bundle.files) if full else None,
    )


def history_response(entries: list[PolicyHistoryEntry]) -> HistoryResponse:
    """The wire form of the history."""
    return HistoryResponse(
        history=[
            HistoryEntryResponse(
                seq=e.seq,
                action=e.action,
                draft_id=e.bundle_id,
                revision=e.revision,
                parent_revision=e.parent_revision,
                author=e.author,
                approver=e.approver,
                at=e.at.isoformat(),
                ledger_index=e.ledger_index,
            )
            for e in entries
        ]
    )
