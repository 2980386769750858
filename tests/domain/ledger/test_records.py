"""Typed records: what a query record carries."""

from __future__ import annotations

import json

from tests.support.ledger import resident_id, sample_record

SECRET = bytes(range(32))


def test_query_record_carries_the_gbt35273_sharing_facts() -> None:
    record = sample_record(1, SECRET).as_dict()
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
    assert sample_record(4, SECRET).as_dict()["reason_codes"] == ["purpose_not_allowed"]
    assert record["reason_codes"] == []
    assert resident_id(1) not in json.dumps(record)
