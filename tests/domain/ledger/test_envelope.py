"""Envelopes: canonical bytes, the fixed prefix, decoding, ledger times."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.domain.ledger.envelope import (
    canonical_json,
    canonical_record,
    claimed_index,
    decode_envelope,
    envelope_bytes,
    format_time,
    parse_time,
)
from gateway.domain.ledger.terms import EntryFilter
from gateway.errors import InvalidRequest
from tests.support.ledger import resident_id, sample_record, uscc

SECRET = bytes(range(32))


def test_canonical_record_is_sorted_compact_utf8() -> None:
    data = canonical_record({"kind": "query", "b": [1, {"z": True, "a": None}], "a": "信用"})
    assert data == '{"a":"信用","b":[1,{"a":null,"z":true}],"kind":"query"}'.encode()


def test_envelope_bytes_equal_the_canonical_json_of_the_envelope() -> None:
    record = sample_record(3, SECRET)
    leaf = envelope_bytes(12, "2026-11-22T08:00:00.000000Z", canonical_record(record.as_dict()))
    envelope = {"index": 12, "logged_at": "2026-11-22T08:00:00.000000Z", "record": record.as_dict()}
    assert leaf == canonical_json(envelope)
    assert claimed_index(leaf) == 12
    decoded = decode_envelope(leaf)
    assert (decoded.index, decoded.record) == (12, record.as_dict())


@pytest.mark.parametrize(
    ("leaf", "index"),
    [
        (b'{"index":0,"logged_at":"x","record":{}}', 0),
        (b'{"index":007,"x":1}', None),
        (b'{"index":,"x":1}', None),
        (b'{"logged_at":"x","index":3}', None),
        (b"garbage", None),
    ],
)
def test_claimed_index_reads_only_the_fixed_prefix(leaf: bytes, index: int | None) -> None:
    assert claimed_index(leaf) == index


@pytest.mark.parametrize(
    "record",
    [
        {"kind": "unknown"},
        {"kind": "query", "x": float("inf")},
        {"kind": "query", "x": object()},
        {"kind": "query", "x": f"ID {resident_id(1)}"},
        {"kind": "query", "x": {"nested": [uscc(2)]}},
    ],
)
def test_records_that_cannot_be_registered_are_refused(record: dict[str, object]) -> None:
    with pytest.raises(InvalidRequest):
        canonical_record(record)


def test_times_and_filters() -> None:
    moment = datetime(2026, 11, 22, 8, 0, 0, 123456, tzinfo=UTC)
    assert format_time(moment) == "2026-11-22T08:00:00.123456Z"
    assert parse_time(format_time(moment)) == moment
    with pytest.raises(ValueError, match="timezone"):
        format_time(datetime(2026, 1, 1))  # a naive time
    with pytest.raises(InvalidRequest):
        EntryFilter(review="maybe")
    with pytest.raises(InvalidRequest):
        EntryFilter(limit=0)
    with pytest.raises(InvalidRequest):
        EntryFilter(since=moment, until=moment)
