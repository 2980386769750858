"""Wire-level guard for every free-text and code field a request carries.

Whatever a caller writes into a purpose, an item or field code, a legal basis, a consent reference, a
grant id or a review comment may end up in the ledger (kept forever) or in a log line. Such a value
holding a checksum-valid identifier, in any written form, is refused before anything else happens:
pydantic reports it under the error type ``identifier_in_text`` at the field's position, and
``gateway.api.problems`` answers 422 with that code and field, never with the value.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypeVar

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from gateway.domain.detector import contains_identifier
from gateway.errors import IdentifierInText

IDENTIFIER_IN_TEXT = IdentifierInText.code
MESSAGE = "must not contain a personal identifier (resident ID, credit code, bank card or mobile number)"


T = TypeVar("T")


def refuse_identifier(value: T) -> T:
    """``value`` unchanged, or a validation error of type ``identifier_in_text`` (None passes)."""
    if isinstance(value, str) and contains_identifier(value):
        raise PydanticCustomError(IDENTIFIER_IN_TEXT, MESSAGE)
    return value


NoIdentifier = AfterValidator(refuse_identifier)


TIME_OUT_OF_RANGE = "time_out_of_range"


def refuse_unrepresentable_time(value: datetime | None) -> datetime | None:
    """``value`` unchanged if it names an instant the gateway can compute with, else a validation
    error of type ``time_out_of_range`` at the field (never a 500 from an overflow further on).

    ``9999-12-31T23:59:59-12:00`` parses, but is in year 10000 once in UTC; every comparison, store
    and ledger record works in UTC, so such a time is refused here. Year 0 and 10000 and offsets of
    a day or more are refused by the parser itself, under the same field.
    """
    if value is None:
        return None
    try:
        value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise PydanticCustomError(
            TIME_OUT_OF_RANGE, "time is out of range once converted to UTC (years 1 to 9999)"
        ) from None
    return value


InstantInRange = AfterValidator(refuse_unrepresentable_time)
