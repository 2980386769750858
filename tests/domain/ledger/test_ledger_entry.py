"""Ledger entries: canonical bytes, envelopes, commitments, the identifier guard, searchable terms."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from gateway.domain.ledger import entry as le
from gateway.errors import InvalidRequest
from tests.support.ledger import resident_id, sample_record, uscc

SECRET = bytes(range(32))


def test_canonical_record_is_sorted_compact_utf8() -> None:
    data = le.canonical_record({"kind": "query", "b": [1, {"z": True, "a": None}], "a": "信用"})
    assert data == '{"a":"信用","b":[1,{"a":null,"z":true}],"kind":"query"}'.encode()


def test_envelope_bytes_equal_the_canonical_json_of_the_envelope() -> None:
    record = sample_record(3, SECRET)
    leaf = le.envelope_bytes(12, "2026-11-22T08:00:00.000000Z", le.canonical_record(record))
    envelope = {"index": 12, "logged_at": "2026-11-22T08:00:00.000000Z", "record": record}
    assert leaf == le.canonical_json(envelope)
    assert le.claimed_index(leaf) == 12
    decoded = le.decode_envelope(leaf)
    assert (decoded.index, decoded.record) == (12, record)


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
    assert le.claimed_index(leaf) == index


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
        le.canonical_record(record)


def test_the_identifier_guard_spares_digests_and_commitments() -> None:
    assert le.contains_identifier(f"身份证{resident_id(5)}号")
    assert le.contains_identifier(f'"{uscc(7)}"')
    assert le.contains_identifier(f"x{resident_id(5)}")  # letters are no boundary an ID needs
    assert not le.contains_identifier(f'"{resident_id(5)[:-1]}"')  # 17 characters
    bad_check = resident_id(5)[:-1] + ("0" if resident_id(5)[-1] != "0" else "1")
    assert not le.contains_identifier(f'"{bad_check}"')
    digest = "1101011990030700" + "54" + "ab" * 23  # a hex digest that starts like an ID
    assert not le.contains_identifier(f'"{digest}"')


def test_subject_commitment_is_a_keyed_hmac_of_the_normalized_identifier() -> None:
    value = resident_id(9)
    expected = hmac.new(
        SECRET, b"credit-gateway/ledger-subject/v1\x00resident_id\x00" + value.encode(), hashlib.sha256
    ).hexdigest()
    assert le.subject_commitment(SECRET, "resident_id", value) == expected
    assert le.subject_commitment(SECRET, "resident_id", f"  {value.lower()} ") == expected
    assert le.subject_commitment(bytes(32), "resident_id", value) != expected
    assert le.subject_commitment(SECRET, "uscc", value) != expected
    with pytest.raises(ValueError, match="32 bytes"):
        le.subject_commitment(b"short", "resident_id", value)


def test_entry_terms_extracts_what_the_audit_api_filters_on() -> None:
    terms = le.entry_terms(sample_record(4, SECRET))
    assert (terms.kind, terms.department, terms.decision) == ("query", "tax_bureau", "deny")
    assert terms.items == ("tax_violation",)
    assert terms.reasons == ("purpose_not_allowed",)
    assert len(terms.commitments) == 1
    review = le.review_record(
        target_index=4, target_leaf_hash="00", status="flagged", comment="", client_id="a", department="d"
    )
    assert (le.entry_terms(review).target_index, le.entry_terms(review).review_status) == (4, "flagged")
    with pytest.raises(InvalidRequest):
        le.entry_terms({"kind": "query", "department": "x" * 201})
    with pytest.raises(InvalidRequest):
        le.entry_terms({"kind": "query", "items": [{"item": "y" * 201}]})


def test_query_record_carries_the_gbt35273_sharing_facts() -> None:
    record = sample_record(1, SECRET)
    facts = ("client_id", "department", "purpose", "legal_basis", "grant_id", "items", "rows_total")
    audit = (
        "subjects",
        "decision",
        "reason_codes",
        "reasons",
        "policy_revision",
        "catalog_revision",
        "response_digest",
    )
    for key in (*facts, *audit):
        assert key in record
    assert record["rows_total"] == sum(i["rows"] for i in record["items"])
    assert sample_record(4, SECRET)["reason_codes"] == ["purpose_not_allowed"]
    assert record["reason_codes"] == []
    assert resident_id(1) not in json.dumps(record)


def test_times_and_filters() -> None:
    moment = datetime(2026, 11, 22, 8, 0, 0, 123456, tzinfo=UTC)
    assert le.format_time(moment) == "2026-11-22T08:00:00.123456Z"
    assert le.parse_time(le.format_time(moment)) == moment
    with pytest.raises(ValueError, match="timezone"):
        le.format_time(datetime(2026, 1, 1))  # a naive time
    with pytest.raises(InvalidRequest):
        le.EntryFilter(review="maybe")
    with pytest.raises(InvalidRequest):
        le.EntryFilter(limit=0)
    with pytest.raises(InvalidRequest):
        le.EntryFilter(since=moment, until=moment)


def test_export_lines_are_told_apart() -> None:
    assert le.parse_export_line(b'{"index":3,"logged_at":"x","record":{}}') == ("entry", None)
    assert le.parse_export_line(le.export_checkpoint_line("note\n")) == ("checkpoint", "note\n")
    kind, header = le.parse_export_line(le.export_header_line("o/l", 5, {"ed25519": "k"}))
    assert kind == "header"
    assert header["size"] == 5
    assert le.parse_export_line(b"{}") == ("unknown", None)
    assert le.parse_export_line(b"not json") == ("unknown", None)
