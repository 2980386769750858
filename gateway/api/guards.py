"""Wire-level guard for every free-text and code field a request carries.

Whatever a caller writes into a purpose, an item or field code, a legal basis, a consent reference, a
grant id or a review comment may end up in the ledger (kept forever) or in a log line. Such a value
holding a checksum-valid identifier, in any written form, is refused before anything else happens:
pydantic reports it under the error type ``identifier_in_text`` at the field's position, and
``gateway.api.problems`` answers 422 with that code and field, never with the value.
"""

from __future__ import annotations

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
