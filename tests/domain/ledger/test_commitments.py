"""Subject commitments."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from gateway.domain.ledger.commitments import subject_commitment
from tests.support.ledger import resident_id

SECRET = bytes(range(32))


def test_subject_commitment_is_a_keyed_hmac_of_the_normalized_identifier() -> None:
    value = resident_id(9)
    expected = hmac.new(
        SECRET, b"credit-gateway/ledger-subject/v1\x00resident_id\x00" + value.encode(), hashlib.sha256
    ).hexdigest()
    assert subject_commitment(SECRET, "resident_id", value) == expected
    assert subject_commitment(SECRET, "resident_id", f"  {value.lower()} ") == expected
    assert subject_commitment(bytes(32), "resident_id", value) != expected
    assert subject_commitment(SECRET, "uscc", value) != expected
    with pytest.raises(ValueError, match="32 bytes"):
        subject_commitment(b"short", "resident_id", value)
