"""Index terms and filters."""

from __future__ import annotations

import pytest

from gateway.domain.ledger.records import ReviewRecord
from gateway.domain.ledger.terms import entry_terms
from gateway.errors import InvalidRequest
from tests.support.ledger import sample_record

SECRET = bytes(range(32))


def test_entry_terms_extracts_what_the_audit_api_filters_on() -> None:
    terms = entry_terms(sample_record(4, SECRET).as_dict())
    assert (terms.kind, terms.department, terms.decision) == ("query", "tax_bureau", "deny")
    assert terms.items == ("tax_violation",)
    assert terms.reasons == ("purpose_not_allowed",)
    assert len(terms.commitments) == 1
    review = ReviewRecord(
        target_index=4, target_leaf_hash="00", status="flagged", comment="", client_id="a", department="d"
    ).as_dict()
    assert (entry_terms(review).target_index, entry_terms(review).review_status) == (4, "flagged")
    with pytest.raises(InvalidRequest):
        entry_terms({"kind": "query", "department": "x" * 201})
    with pytest.raises(InvalidRequest):
        entry_terms({"kind": "query", "items": [{"item": "y" * 201}]})
