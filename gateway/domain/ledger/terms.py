"""What the store indexes of a record, and what an auditor filters entries by.

The index terms are read from a record's canonical dict (``LedgerRecord.as_dict()``), the very
dict whose bytes go into the log: a term can never say something the entry does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.errors import InvalidRequest

MAX_TERM_LENGTH = 200  # the width of the indexed columns
_SHORT_TERMS = {"decision": 16, "review_status": 16}
REVIEW_FILTERS = frozenset({"reviewed", "flagged", "unreviewed"})


@dataclass(frozen=True, slots=True)
class EntryTerms:
    """The searchable facts of a record (columns and terms the store indexes)."""

    kind: str
    client_id: str | None
    department: str | None
    purpose: str | None
    decision: str | None
    target_index: int | None
    review_status: str | None
    items: tuple[str, ...]
    reasons: tuple[str, ...]
    commitments: tuple[str, ...]


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _strings(values: Any, key: str) -> tuple[str, ...]:
    if not isinstance(values, list):
        return ()
    return tuple(sorted({str(v[key]) for v in values if isinstance(v, Mapping) and v.get(key) is not None}))


def entry_terms(record: Mapping[str, Any]) -> EntryTerms:
    """Extract what the audit API filters on from a record's dict (missing fields are None or empty).

    Raises InvalidRequest when a searchable value is longer than its index allows, so one bad
    record fails alone instead of failing the batch it would have been committed with.
    """
    target = record.get("target_index")
    terms = EntryTerms(
        kind=str(record["kind"]),
        client_id=_opt_str(record.get("client_id")),
        department=_opt_str(record.get("department")),
        purpose=_opt_str(record.get("purpose")),
        decision=_opt_str(record.get("decision")),
        target_index=target if isinstance(target, int) and not isinstance(target, bool) else None,
        review_status=_opt_str(record.get("status")) if record.get("kind") == "review" else None,
        items=_strings(record.get("items"), "item"),
        reasons=_strings(record.get("reasons"), "code"),
        commitments=_strings(record.get("subjects"), "commitment"),
    )
    singles = {
        "client_id": terms.client_id,
        "department": terms.department,
        "purpose": terms.purpose,
        "decision": terms.decision,
        "review_status": terms.review_status,
    }
    for name, value in singles.items():
        if value is not None and len(value) > _SHORT_TERMS.get(name, MAX_TERM_LENGTH):
            raise InvalidRequest(f"ledger record field {name} is too long", field=name)
    for value in (*terms.items, *terms.reasons, *terms.commitments):
        if len(value) > MAX_TERM_LENGTH:
            raise InvalidRequest(
                "a ledger record item, reason code or commitment is too long", field="record"
            )
    if terms.target_index is not None and not 0 <= terms.target_index < 2**62:
        raise InvalidRequest("target_index out of range", field="target_index")
    return terms


@dataclass(frozen=True, slots=True)
class EntryFilter:
    """What an auditor asks for: filters (all optional, combined with AND) and one page."""

    since: datetime | None = None
    until: datetime | None = None
    kind: str | None = None
    client_id: str | None = None
    department: str | None = None
    purpose: str | None = None
    decision: str | None = None
    item: str | None = None
    reason: str | None = None
    subject: str | None = None  # a subject commitment
    review: str | None = None  # reviewed | flagged | unreviewed (latest review of the entry)
    after: int | None = None  # cursor: the last index of the previous page
    descending: bool = False
    limit: int = 100

    def __post_init__(self) -> None:
        if self.review is not None and self.review not in REVIEW_FILTERS:
            raise InvalidRequest(
                "unknown review filter", field="review", accepted=", ".join(sorted(REVIEW_FILTERS))
            )
        if not 1 <= self.limit <= 10000:
            raise InvalidRequest("limit must be between 1 and 10000", field="limit", accepted="1..10000")
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise InvalidRequest("until must be after since", field="until")

    def with_page(self, *, after: int | None, limit: int, descending: bool) -> EntryFilter:
        """The same filters with another page."""
        return EntryFilter(
            self.since,
            self.until,
            self.kind,
            self.client_id,
            self.department,
            self.purpose,
            self.decision,
            self.item,
            self.reason,
            self.subject,
            self.review,
            after,
            descending,
            limit,
        )
