"""Chinese subject identifiers and their check characters.

* Resident identity number, GB 11643-1999: 6-digit region code, 8-digit birth date (YYYYMMDD), 3-digit
  sequence (odd for men, even for women), then an ISO 7064 MOD 11-2 check character (0-9 or X).
* Unified social credit code, GB 32100-2015: 18 characters from a 31-symbol alphabet (digits and upper-case
  letters without I, O, Z, S, V); the 18th is a MOD 31 check character. Codes starting ``92`` belong to
  individual businesses (个体工商户), whose records are personal data.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date
from operator import mul

from gateway.errors import InvalidIdentifier

# The digit arithmetic runs in C (bytes.translate, map(mul, ...)): these checks run on every candidate
# the free-text scanner and the residual guard look at, not only on request identifiers.
_ID_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_ID_OFFSET = 48 * sum(_ID_WEIGHTS)  # the ASCII code of "0", times every weight
_ID_CHECK = "10X98765432"
_RESIDENT_ID = re.compile(r"[0-9]{17}[0-9X]")

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUES = bytes.maketrans(USCC_ALPHABET.encode(), bytes(range(31)))
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
_USCC = re.compile(r"[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}")


class SubjectKind(enum.StrEnum):
    """Who a record is about; decides whether personal-information rules apply."""

    NATURAL_PERSON = "natural_person"
    LEGAL_PERSON = "legal_person"
    INDIVIDUAL_BUSINESS = "individual_business"

    @property
    def is_personal(self) -> bool:
        """Natural persons and individual businesses are both protected as personal data."""
        return self is not SubjectKind.LEGAL_PERSON


class IdType(enum.StrEnum):
    """Which identifier scheme a subject identifier uses."""

    RESIDENT_ID = "resident_id"
    USCC = "uscc"


def resident_id_check_char(first17: str) -> str:
    """Return the ISO 7064 MOD 11-2 check character for the first 17 digits of a resident ID."""
    return _ID_CHECK[(sum(map(mul, first17.encode("ascii"), _ID_WEIGHTS)) - _ID_OFFSET) % 11]


def resident_id_birth_date(value: str) -> date | None:
    """Return the birth date encoded in a resident ID, or None if it is not a real date."""
    try:
        return date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return None


def is_valid_resident_id(value: str) -> bool:
    """True when ``value`` has the resident ID shape, a real birth date and a correct check character.

    A lower-case ``x`` is accepted as the check character: detection must not miss a typed ID.
    """
    if len(value) != 18 or not (value[:17].isascii() and value[:17].isdigit()):
        return False
    if resident_id_check_char(value[:17]) != value[17].upper():
        return False
    born = resident_id_birth_date(value)
    return born is not None and born.year >= 1900


def uscc_check_char(first17: str) -> str:
    """Return the GB 32100-2015 MOD 31 check character for the first 17 characters of a code."""
    total = sum(map(mul, first17.encode("ascii").translate(_USCC_VALUES), _USCC_WEIGHTS))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def is_valid_uscc(value: str) -> bool:
    """True when ``value`` has the unified social credit code shape and a correct check character."""
    return len(value) == 18 and bool(_USCC.fullmatch(value)) and uscc_check_char(value[:17]) == value[17]


def age_on(born: date, today: date) -> int:
    """Completed years of age on ``today``."""
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


@dataclass(frozen=True, slots=True)
class SubjectId:
    """A validated subject identifier: its scheme, its value and the kind of subject it names."""

    id_type: IdType
    value: str
    kind: SubjectKind
    birth_date: date | None = None

    def is_minor(self, today: date) -> bool:
        """True for a natural person under 18 on ``today`` (clause (16): prudence with minors)."""
        return self.birth_date is not None and age_on(self.birth_date, today) < 18


def parse_subject(id_type: str, value: str, *, field: str = "subjects") -> SubjectId:
    """Validate an identifier and classify the subject; raise InvalidIdentifier naming the rule broken."""
    raw = value.strip().upper()
    if id_type == IdType.RESIDENT_ID:
        if not _RESIDENT_ID.fullmatch(raw):
            raise InvalidIdentifier(
                "resident ID must be 17 digits followed by a digit or X",
                field=field,
                accepted="18 characters: 17 digits and a check character 0-9 or X (GB 11643-1999)",
            )
        born = resident_id_birth_date(raw)
        if born is None or born.year < 1900:
            raise InvalidIdentifier(
                "resident ID encodes no valid birth date",
                field=field,
                accepted="characters 7-14 must be a real date YYYYMMDD",
            )
        if resident_id_check_char(raw[:17]) != raw[17]:
            raise InvalidIdentifier(
                "resident ID check character does not match (ISO 7064 MOD 11-2)",
                field=field,
                accepted="a resident ID whose 18th character is its MOD 11-2 check character",
            )
        return SubjectId(IdType.RESIDENT_ID, raw, SubjectKind.NATURAL_PERSON, born)
    if id_type == IdType.USCC:
        if not _USCC.fullmatch(raw):
            raise InvalidIdentifier(
                "unified social credit code has the wrong shape",
                field=field,
                accepted="18 characters from 0-9 and A-Y without I, O, Z, S, V (GB 32100-2015)",
            )
        if uscc_check_char(raw[:17]) != raw[17]:
            raise InvalidIdentifier(
                "unified social credit code check character does not match (MOD 31)",
                field=field,
                accepted="a code whose 18th character is its GB 32100-2015 check character",
            )
        kind = SubjectKind.INDIVIDUAL_BUSINESS if raw.startswith("92") else SubjectKind.LEGAL_PERSON
        return SubjectId(IdType.USCC, raw, kind)
    raise InvalidIdentifier(
        f"unknown identifier type {id_type!r}", field=field, accepted="resident_id or uscc"
    )
