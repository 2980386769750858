"""The auditor's view of the query ledger: entries, proofs, checkpoints, reports, reviews and CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.api.guards import NoIdentifier
from gateway.api.schemas.receipts import ReceiptResponse, receipt_response
from gateway.domain.ledger.envelope import StoredEntry, format_time
from gateway.domain.transparency.checkpoint import SignedCheckpoint
from gateway.services.audit import ConsistencyProof, EntryPage, EntryProof, ReviewOutcome, SubjectReport

# --- requests ---


class ReviewRequest(BaseModel):
    """An auditor's verdict on one entry."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["reviewed", "flagged"]
    comment: Annotated[str, Field(max_length=2000), NoIdentifier] = ""


# --- responses ---


class EntryResponse(BaseModel):
    """An entry as stored: its index, leaf hash, logging time and record."""

    index: int
    leaf_hash: str
    logged_at: str
    record: dict[str, Any]


class EntryPageResponse(BaseModel):
    """One page of entries; pass ``next_cursor`` as ``cursor`` for the next (None at the end)."""

    entries: list[EntryResponse]
    next_cursor: int | None


class CheckpointResponse(BaseModel):
    """A checkpoint in JSON: its fields, when it was signed, the signed note and the keys to check it."""

    origin: str
    tree_size: int
    root_hash: str
    timestamp: str
    note: str
    verifier_keys: dict[str, str]


class ReviewSummaryResponse(BaseModel):
    """A review of an entry, as listed with the entry."""

    index: int
    logged_at: str
    status: Any
    comment: Any
    client_id: Any
    department: Any


class InclusionProofResponse(BaseModel):
    """An RFC 9162 inclusion proof."""

    tree_size: int
    leaf_index: int
    inclusion_path: list[str]


class EntryProofResponse(EntryResponse):
    """One entry, its reviews and its inclusion proof against a signed checkpoint."""

    reviews: list[ReviewSummaryResponse]
    inclusion_proof: InclusionProofResponse
    checkpoint: CheckpointResponse | None


class ConsistencyResponse(BaseModel):
    """An RFC 9162 consistency proof between two tree sizes, with both roots."""

    tree_size_1: int
    tree_size_2: int
    consistency_path: list[str]
    first_root: str
    second_root: str


class CommittedSubjectResponse(BaseModel):
    """A subject as the ledger knows it: scheme, kind and keyed commitment, never the identifier."""

    id_type: str
    subject_kind: str
    commitment: str


class SubjectReportResponse(BaseModel):
    """Every entry that touched one subject, and the receipt of this report's own registration."""

    subject: CommittedSubjectResponse
    count: int
    entries: list[EntryResponse]
    receipt: ReceiptResponse


class ReviewResponse(BaseModel):
    """A registered review: its receipt and the record appended."""

    receipt: ReceiptResponse
    review: dict[str, Any]


# --- rendering ---


def entry_response(entry: StoredEntry) -> EntryResponse:
    """An entry as the API shows it."""
    envelope = entry.envelope()
    return EntryResponse(
        index=entry.index,
        leaf_hash=entry.leaf_hash.hex(),
        logged_at=envelope.logged_at,
        record=envelope.record,
    )


def entry_page_response(page: EntryPage) -> EntryPageResponse:
    """One page of entries."""
    return EntryPageResponse(entries=[entry_response(e) for e in page.entries], next_cursor=page.next_cursor)


def checkpoint_response(checkpoint: SignedCheckpoint, verifier_keys: Mapping[str, str]) -> CheckpointResponse:
    """A checkpoint in JSON."""
    return CheckpointResponse(
        origin=checkpoint.checkpoint.origin,
        tree_size=checkpoint.size,
        root_hash=checkpoint.root_hash.hex(),
        timestamp=format_time(datetime.fromtimestamp(checkpoint.timestamp, UTC)),
        note=checkpoint.note,
        verifier_keys=dict(verifier_keys),
    )


def _review_summary(entry: StoredEntry) -> ReviewSummaryResponse:
    envelope = entry.envelope()
    record = envelope.record
    return ReviewSummaryResponse(
        index=entry.index,
        logged_at=envelope.logged_at,
        status=record.get("status"),
        comment=record.get("comment"),
        client_id=record.get("client_id"),
        department=record.get("department"),
    )


def entry_proof_response(proof: EntryProof) -> EntryProofResponse:
    """One entry with its reviews, its inclusion proof and the checkpoint it is proved against."""
    entry = entry_response(proof.entry)
    return EntryProofResponse(
        **entry.model_dump(),
        reviews=[_review_summary(r) for r in proof.reviews],
        inclusion_proof=InclusionProofResponse(
            tree_size=proof.tree_size,
            leaf_index=proof.entry.index,
            inclusion_path=[p.hex() for p in proof.inclusion_path],
        ),
        checkpoint=None
        if proof.checkpoint is None
        else checkpoint_response(proof.checkpoint, proof.verifier_keys),
    )


def consistency_response(proof: ConsistencyProof) -> ConsistencyResponse:
    """A consistency proof in JSON."""
    return ConsistencyResponse(
        tree_size_1=proof.first,
        tree_size_2=proof.second,
        consistency_path=[p.hex() for p in proof.path],
        first_root=proof.first_root.hex(),
        second_root=proof.second_root.hex(),
    )


def subject_report_response(report: SubjectReport) -> SubjectReportResponse:
    """A subject report."""
    return SubjectReportResponse(
        subject=CommittedSubjectResponse(**report.subject.as_dict()),
        count=len(report.entries),
        entries=[entry_response(e) for e in report.entries],
        receipt=receipt_response(report.receipt),
    )


def review_response(outcome: ReviewOutcome) -> ReviewResponse:
    """A registered review."""
    return ReviewResponse(receipt=receipt_response(outcome.receipt), review=outcome.record.as_dict())


# --- CSV, for people ---

CSV_COLUMNS = (
    "index",
    "logged_at",
    "kind",
    "client_id",
    "department",
    "purpose",
    "legal_basis",
    "grant_id",
    "decision",
    "reasons",
    "items",
    "fields",
    "rows_total",
    "subjects",
    "policy_revision",
    "catalog_revision",
    "response_digest",
    "target_index",
    "status",
    "comment",
    "leaf_hash",
)


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # Spreadsheets run cells that start like a formula (CSV injection); keep them inert.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_row(entry: StoredEntry) -> list[str]:
    envelope = entry.envelope()
    r = envelope.record
    items = [i for i in r.get("items") or [] if isinstance(i, Mapping)]
    values: dict[str, Any] = {
        **{k: r.get(k) for k in CSV_COLUMNS},
        "index": entry.index,
        "logged_at": envelope.logged_at,
        "reasons": ";".join(str(x.get("code")) for x in r.get("reasons") or [] if isinstance(x, Mapping)),
        "items": ";".join(str(i.get("item")) for i in items),
        "fields": ";".join(f"{i.get('item')}.{f}" for i in items for f in i.get("fields") or []),
        "subjects": len(r.get("subjects") or []),
        "leaf_hash": entry.leaf_hash.hex(),
    }
    return [_cell(values[c]) for c in CSV_COLUMNS]


def entries_csv(entries: Iterable[StoredEntry], preamble: Iterable[Sequence[str]] = ()) -> Iterator[str]:
    """Entries as CSV (one row per entry, lists joined with ';'), streamed in chunks of about 64 KiB.

    ``preamble`` rows come before the header (the console names the checkpoint an export was cut at).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(preamble)
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        writer.writerow(_csv_row(entry))
        if buffer.tell() > 1 << 16:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
