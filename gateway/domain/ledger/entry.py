"""Ledger entries: what is recorded, how it is encoded, and how subjects are committed to.

Every leaf of the ledger is the canonical JSON of an *envelope* (sorted keys, no whitespace,
UTF-8, non-ASCII kept as is)::

    {"index":<n>,"logged_at":"<RFC 3339 UTC, microseconds>","record":{...}}

The three envelope keys sort in that order, so every leaf starts with ``{"index":<n>,``: a
verifier reads the position an entry claims without parsing JSON, and a reordered, inserted or
deleted entry shows up at once. The leaf hash is SHA-256(0x00 || those bytes) (RFC 6962). The
verifier hashes the stored bytes as they are and never re-encodes a record, so the encoding only has
to be stable where it is produced.

A *record* is what a service registers. Records of kind ``query`` carry what GB/T 35273-2020 §9.2
asks of every sharing (date, volume, purpose, recipient) and what an auditor needs::

    kind             "query"
    request_id       correlation id of the request
    client_id        requesting OAuth client (the recipient)
    department       requesting department
    purpose          purpose code;  legal_basis  the legal basis claimed
    grant_id         authorization grant relied on, or null
    subjects         [{"id_type", "subject_kind", "commitment"}]: keyed commitments, never identifiers
    items            [{"item", "fields": [...released], "rows": n}]
    rows_total       rows released in total (the volume)
    decision         "allow" | "deny"
    reason_codes     [code, ...] in order;  reasons  [{"code", "clause", "item"?, "field"?}]
    policy_revision  digest of the policy sources;  catalog_revision  catalog revision
    response_digest  "sha256:<hex>" of the response body sent, or null when nothing was sent

Grants (``grant``), reviews (``review``), subject reports (``subject_report``) and repairs
(``repair``) are records too; the builders below fix their fields.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.domain.identifiers import is_valid_resident_id, is_valid_uscc
from gateway.errors import InvalidRequest

KINDS = frozenset({"query", "grant", "review", "subject_report", "repair", "console"})
REVIEW_STATUSES = frozenset({"reviewed", "flagged"})
_COMMITMENT_LABEL = b"credit-gateway/ledger-subject/v1"
_ENVELOPE_PREFIX = b'{"index":'
# Runs that could hold an identifier: resident IDs start with 1-9, USCCs with 1-9, A, N or Y.
_ID_RUN = re.compile(r"[1-9ANY][0-9A-Z]{17,}")


def canonical_json(value: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, no whitespace, UTF-8, non-ASCII kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def canonical_record(record: Mapping[str, Any]) -> bytes:
    """Validate a record and return its canonical bytes.

    Raises InvalidRequest for an unknown kind, a value JSON cannot carry (or NaN/Infinity), or a
    checksum-valid resident ID or unified social credit code anywhere in it (records carry
    commitments only).
    """
    kind = record.get("kind")
    if kind not in KINDS:
        raise InvalidRequest(
            f"unknown ledger record kind {kind!r}", field="kind", accepted=", ".join(sorted(KINDS))
        )
    try:
        text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(
            "a ledger record holds a value JSON cannot carry",
            field="record",
            accepted="JSON values, finite numbers",
        ) from exc
    if contains_identifier(text):
        raise InvalidRequest("a ledger record may not contain a subject identifier", field="record")
    return text.encode()


def contains_identifier(text: str) -> bool:
    """True when ``text`` holds a checksum-valid resident ID or unified social credit code.

    Only 18-character tokens standing alone count: not part of a longer run of letters and digits
    (such as a hex digest or a commitment).
    """
    end = len(text)
    for match in _ID_RUN.finditer(text):
        start, stop = match.span()
        if stop - start != 18:
            continue
        if start and text[start - 1].isascii() and text[start - 1].isalnum():
            continue
        if stop < end and text[stop].isascii() and text[stop].isalnum():
            continue
        candidate = match.group()
        if is_valid_resident_id(candidate) or is_valid_uscc(candidate):
            return True
    return False


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds, the form every ledger time takes."""
    if moment.tzinfo is None:
        raise ValueError("ledger times must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """Inverse of ``format_time``."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def envelope_bytes(index: int, logged_at: str, record_bytes: bytes) -> bytes:
    """The leaf bytes: the canonical envelope, assembled from an already canonical record.

    Equal to ``canonical_json({"index": ..., "logged_at": ..., "record": ...})``.
    """
    return b'{"index":%d,"logged_at":%s,"record":%s}' % (index, json.dumps(logged_at).encode(), record_bytes)


def claimed_index(leaf: bytes) -> int | None:
    """The index an envelope claims (read from its fixed prefix), or None when it is not one."""
    if not leaf.startswith(_ENVELOPE_PREFIX):
        return None
    end = leaf.find(b",", 9)
    digits = leaf[9:end]
    if end < 0 or not digits.isdigit() or (len(digits) > 1 and digits[0] == 0x30):
        return None
    return int(digits)


@dataclass(frozen=True, slots=True)
class Envelope:
    """A decoded leaf."""

    index: int
    logged_at: str
    record: dict[str, Any]


def decode_envelope(leaf: bytes) -> Envelope:
    """Parse leaf bytes back into an envelope; raise InvalidRequest when they are not one."""
    try:
        raw = json.loads(leaf)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest("ledger entry is not valid JSON", field="entry") from exc
    if (
        not isinstance(raw, dict)
        or set(raw) != {"index", "logged_at", "record"}
        or not isinstance(raw["index"], int)
        or not isinstance(raw["logged_at"], str)
        or not isinstance(raw["record"], dict)
    ):
        raise InvalidRequest("ledger entry is not an envelope", field="entry")
    return Envelope(raw["index"], raw["logged_at"], raw["record"])


# --- subject commitments ---


def subject_commitment(secret: bytes, id_type: str, value: str) -> str:
    """Keyed commitment (HMAC-SHA256, hex) of one subject identifier.

    Whoever holds the ``commitment`` secret can find a subject's entries; the ledger alone does not
    reveal who was looked up. ``value`` is normalized (trimmed, upper case) as identifiers are.
    """
    if len(secret) < 32:
        raise ValueError("the commitment secret must be at least 32 bytes")
    message = _COMMITMENT_LABEL + b"\x00" + id_type.encode() + b"\x00" + value.strip().upper().encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def response_digest(body: bytes) -> str:
    """``sha256:<hex>`` of a response body, as recorded in query entries."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


# --- record builders ---


@dataclass(frozen=True, slots=True)
class SubjectRef:
    """A committed subject: scheme, kind and commitment (no identifier)."""

    id_type: str
    subject_kind: str
    commitment: str

    def as_dict(self) -> dict[str, str]:
        """Record form."""
        return {"id_type": self.id_type, "subject_kind": self.subject_kind, "commitment": self.commitment}


@dataclass(frozen=True, slots=True)
class ItemRelease:
    """One catalog item of a query: the fields released and how many rows."""

    item: str
    fields: tuple[str, ...]
    rows: int

    def as_dict(self) -> dict[str, Any]:
        """Record form (fields sorted)."""
        return {"item": self.item, "fields": sorted(self.fields), "rows": self.rows}


def _reasons(reasons: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    keep = ("code", "clause", "item", "field")
    return [{k: str(r[k]) for k in keep if r.get(k) is not None} for r in reasons]


def _codes(reasons: list[dict[str, str]]) -> list[str]:
    return list(dict.fromkeys(r["code"] for r in reasons if "code" in r))


def query_record(
    *,
    request_id: str,
    client_id: str,
    department: str,
    purpose: str,
    legal_basis: str,
    grant_id: str | None,
    subjects: Sequence[SubjectRef],
    items: Sequence[ItemRelease],
    allow: bool,
    reasons: Iterable[Mapping[str, Any]],
    policy_revision: str,
    catalog_revision: str,
    response_digest: str | None,
) -> dict[str, Any]:
    """The record of one query, allowed or refused (clause (13), GB/T 35273-2020 §9.2)."""
    kept = _reasons(reasons)
    return {
        "kind": "query",
        "request_id": request_id,
        "client_id": client_id,
        "department": department,
        "purpose": purpose,
        "legal_basis": legal_basis,
        "grant_id": grant_id,
        "subjects": [s.as_dict() for s in subjects],
        "items": [i.as_dict() for i in items],
        "rows_total": sum(i.rows for i in items),
        "decision": "allow" if allow else "deny",
        "reason_codes": _codes(kept),
        "reasons": kept,
        "policy_revision": policy_revision,
        "catalog_revision": catalog_revision,
        "response_digest": response_digest,
    }


def grant_record(
    *,
    grant_id: str,
    action: str,
    client_id: str,
    department: str,
    subjects: Sequence[SubjectRef],
    recipient: str,
    purpose: str,
    items: Sequence[str],
    valid_from: str | None,
    valid_until: str | None,
    accepted: bool,
    reasons: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The record of a grant registered, refused or revoked (``action``: register | revoke)."""
    kept = _reasons(reasons)
    return {
        "kind": "grant",
        "grant_id": grant_id,
        "action": action,
        "client_id": client_id,
        "department": department,
        "subjects": [s.as_dict() for s in subjects],
        "recipient": recipient,
        "purpose": purpose,
        "items": [{"item": i, "fields": [], "rows": 0} for i in sorted(items)],
        "valid_from": valid_from,
        "valid_until": valid_until,
        "decision": "allow" if accepted else "deny",
        "reason_codes": _codes(kept),
        "reasons": kept,
    }


def review_record(
    *,
    target_index: int,
    target_leaf_hash: str,
    status: str,
    comment: str,
    client_id: str,
    department: str,
) -> dict[str, Any]:
    """An auditor's review of an entry (``status``: reviewed | flagged)."""
    if status not in REVIEW_STATUSES:
        raise InvalidRequest(
            "review status must be reviewed or flagged", field="status", accepted="reviewed, flagged"
        )
    return {
        "kind": "review",
        "target_index": target_index,
        "target_leaf_hash": target_leaf_hash,
        "status": status,
        "comment": comment,
        "client_id": client_id,
        "department": department,
    }


def subject_report_record(
    *, subject: SubjectRef, client_id: str, department: str, entries_found: int
) -> dict[str, Any]:
    """The record of an auditor looking up one subject's entries (itself visible to that subject)."""
    return {
        "kind": "subject_report",
        "client_id": client_id,
        "department": department,
        "subjects": [subject.as_dict()],
        "entries_found": entries_found,
    }


# --- what the store indexes ---


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


MAX_TERM_LENGTH = 200  # the width of the indexed columns
_SHORT_TERMS = {"decision": 16, "review_status": 16}


def _strings(values: Any, key: str) -> tuple[str, ...]:
    if not isinstance(values, list):
        return ()
    return tuple(sorted({str(v[key]) for v in values if isinstance(v, Mapping) and v.get(key) is not None}))


def entry_terms(record: Mapping[str, Any]) -> EntryTerms:
    """Extract what the audit API filters on from a record (missing fields are None or empty).

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


# --- stored entries and queries over them ---

REVIEW_FILTERS = frozenset({"reviewed", "flagged", "unreviewed"})


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """An entry as stored: its index, leaf hash and exact leaf bytes."""

    index: int
    leaf_hash: bytes
    leaf: bytes

    def envelope(self) -> Envelope:
        """The decoded leaf."""
        return decode_envelope(self.leaf)


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


# --- the JSON Lines export ---
#
#   {"ledger":{"format":"credit-gateway-ledger/1","origin":...,"size":N,"verifier_keys":{...}}}
#   {"checkpoint":"<signed note>"}          one per checkpoint of at most N entries, smallest first
#   {"index":0,"logged_at":...,"record":{...}}   one per entry: exactly the leaf bytes
#
# The export ends with a checkpoint of size N, so every entry in it is covered by a signature.

EXPORT_FORMAT = "credit-gateway-ledger/1"


def export_header_line(origin: str, size: int, verifier_keys: Mapping[str, str]) -> bytes:
    """The first line of an export (informative only: nothing in it is trusted by the verifier)."""
    return canonical_json(
        {
            "ledger": {
                "format": EXPORT_FORMAT,
                "origin": origin,
                "size": size,
                "verifier_keys": dict(verifier_keys),
            }
        }
    )


def export_checkpoint_line(note: str) -> bytes:
    """An export line carrying one signed checkpoint note."""
    return canonical_json({"checkpoint": note})


def parse_export_line(line: bytes) -> tuple[str, Any]:
    """Classify an export line as ("entry" | "header" | "checkpoint" | "unknown", its value)."""
    if line.startswith(_ENVELOPE_PREFIX):
        return "entry", None
    try:
        raw = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return "unknown", None
    if isinstance(raw, dict) and len(raw) == 1:
        if isinstance(raw.get("checkpoint"), str):
            return "checkpoint", raw["checkpoint"]
        if isinstance(raw.get("ledger"), dict):
            return "header", raw["ledger"]
    return "unknown", None
