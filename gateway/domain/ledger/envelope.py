"""How a record becomes a leaf of the log, and how a leaf is read back.

Every leaf of the ledger is the canonical JSON of an *envelope* (sorted keys, no whitespace,
UTF-8, non-ASCII kept as is)::

    {"index":<n>,"logged_at":"<RFC 3339 UTC, microseconds>","record":{...}}

The three envelope keys sort in that order, so every leaf starts with ``{"index":<n>,``: a
verifier reads the position an entry claims without parsing JSON (``claimed_index``), and a
reordered, inserted or deleted entry shows up at once. The leaf hash is SHA-256(0x00 || those
bytes) (RFC 6962). The verifier hashes the stored bytes as they are and never re-encodes a record,
so the encoding only has to be stable where it is produced.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.domain.ledger.guard import record_holds_identifier
from gateway.domain.ledger.records import KINDS
from gateway.errors import InvalidRequest

ENVELOPE_PREFIX = b'{"index":'
_DIGITS_AT = len(ENVELOPE_PREFIX)


def canonical_json(value: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, no whitespace, UTF-8, non-ASCII kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def canonical_record(record: Mapping[str, Any]) -> bytes:
    """Validate a record's dict (``LedgerRecord.as_dict()``) and return its canonical bytes.

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
    # Field by field: refuses all the text would, at a fraction of the cost (see ledger/guard.py).
    if record_holds_identifier(record, text):
        raise InvalidRequest("a ledger record may not contain a subject identifier", field="record")
    return text.encode()


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
    if not leaf.startswith(ENVELOPE_PREFIX):
        return None
    end = leaf.find(b",", _DIGITS_AT)
    digits = leaf[_DIGITS_AT:end]
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


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """An entry as stored: its index, leaf hash and exact leaf bytes."""

    index: int
    leaf_hash: bytes
    leaf: bytes

    def envelope(self) -> Envelope:
        """The decoded leaf."""
        return decode_envelope(self.leaf)
