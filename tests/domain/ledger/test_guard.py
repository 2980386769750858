"""The identifier guard every record passes."""

from __future__ import annotations

from gateway.domain.ledger.guard import contains_identifier
from tests.support.ledger import resident_id, uscc


def test_the_identifier_guard_spares_digests_and_commitments() -> None:
    assert contains_identifier(f"身份证{resident_id(5)}号")
    assert contains_identifier(f'"{uscc(7)}"')
    assert not contains_identifier(f"x{resident_id(5)}")  # inside a longer token
    assert not contains_identifier(f'"{resident_id(5)[:-1]}"')  # 17 characters
    bad_check = resident_id(5)[:-1] + ("0" if resident_id(5)[-1] != "0" else "1")
    assert not contains_identifier(f'"{bad_check}"')
    digest = "1101011990030700" + "54" + "ab" * 23  # a hex digest that starts like an ID
    assert not contains_identifier(f'"{digest}"')
