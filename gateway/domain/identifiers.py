"""Chinese subject identifiers and their check characters.

* Resident identity number, GB 11643-1999: 6-digit region code, 8-digit birth date (YYYYMMDD), 3-digit
  sequence (odd for men, even for women), then an ISO 7064 MOD 11-2 check character (0-9 or X).
  The region code's first two digits are a province-level code of GB/T 2260, and the birth date can
  be no later than the day it is checked on (a date the caller passes in: no clock is read here).
* Unified social credit code, GB 32100-2015: 18 characters from a 31-symbol alphabet (digits and upper-case
  letters without I, O, Z, S, V), by position: the registration authority code (1), the organization type
  code (2), the administrative division code of the registering office (3-8, digits), the subject
  identification code (9-17) and a MOD 31 check character (18). Codes starting ``92`` belong to individual
  businesses (个体工商户), whose records are personal data.

Values are read as people type them: ``normalize_identifier`` (Unicode NFKC, upper case, spaces, hyphens
and dots dropped) is applied by parsing here and by every guard of ``gateway.domain.detector``, so a
lower-case ``x``, full-width digits or ``110105 19491231 002X`` name the same subject.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from operator import mul

from gateway.errors import InvalidIdentifier

# The digit arithmetic runs in C (bytes.translate, map(mul, ...)): these checks run on every candidate
# the free-text scanner and the residual guard look at, not only on request identifiers.
_ID_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_ID_OFFSET = 48 * sum(_ID_WEIGHTS)  # the ASCII code of "0", times every weight
_ID_CHECK = "10X98765432"
_RESIDENT_ID = re.compile(r"[0-9]{17}[0-9X]")

# Province-level codes of GB/T 2260 (first two digits of every division code): north 11-15, north-east
# 21-23, east 31-37, centre and south 41-46, south-west 50-54, north-west 61-65, Taiwan 71, Hong Kong 81,
# Macao 82. (Some validators also take 91, "abroad": GB/T 2260 lists no such code, so it is refused.)
PROVINCES = frozenset(
    f"{n}"
    for n in (*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47), *range(50, 55), *range(61, 66))
) | frozenset({"71", "81", "82"})
# Residence permits of Taiwan residents carry 83 in the resident ID format; no subject of ours has one,
# but the guards treat such a number as an identifier all the same.
DETECTED_PROVINCES = PROVINCES | {"83"}
EARLIEST_BIRTH_YEAR = 1900

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUES = bytes.maketrans(USCC_ALPHABET.encode(), bytes(range(31)))
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
# GB 32100-2015 by position. Registration authority codes: 1 机构编制, 2 外交, 3 司法行政, 4 文化, 5 民政,
# 6 旅游, 7 宗教, 8 工会, 9 工商 (market regulation), A 中央军委改革和编制办公室, N 农业, Y 其他; every
# authority numbers its organization types from 1 (9 or the authority's last number is "other").
USCC_AUTHORITIES = "123456789ANY"
_USCC_CHAR = "[0-9A-HJ-NPQRTUWXY]"
USCC_PATTERN = "[" + USCC_AUTHORITIES + "][1-9][0-9]{6}" + _USCC_CHAR + "{9}" + _USCC_CHAR
_USCC = re.compile(USCC_PATTERN)

# Written forms of one identifier: NFKC turns full-width digits and letters into ASCII; these are the
# characters people put between groups of digits (spaces of every width, hyphens and dashes, dots).
SEPARATORS = "\\s\\-\u2010-\u2015\u2212.\u00b7\u30fb"
_SEPARATOR_RUN = re.compile("[" + SEPARATORS + "]+")


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


def normalize_identifier(value: str) -> str:
    """The canonical form of a typed identifier: NFKC, upper case, separators dropped.

    ``１１０１０５ 19491231-002x`` becomes ``11010519491231002X``; every guard reads text the same way.
    """
    text = value if value.isascii() else unicodedata.normalize("NFKC", value)
    return _SEPARATOR_RUN.sub("", text).upper()


def luhn_valid(digits: str) -> bool:
    """True when a string of ASCII digits passes the Luhn (ISO/IEC 7812-1) check."""
    raw = digits.encode("ascii")
    total = sum(raw[-1::-2].translate(_LUHN_PLAIN)) + sum(raw[-2::-2].translate(_LUHN_DOUBLED))
    return total % 10 == 0


_LUHN_PLAIN = bytes.maketrans(b"0123456789", bytes(range(10)))
_LUHN_DOUBLED = bytes.maketrans(b"0123456789", bytes([0, 2, 4, 6, 8, 1, 3, 5, 7, 9]))


def resident_id_birth_date(value: str) -> date | None:
    """Return the birth date encoded in a resident ID, or None if it is not a real date."""
    try:
        return date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return None


def is_valid_resident_id(value: str, *, today: date | None = None) -> bool:
    """True for 18 characters with a province of GB/T 2260, a real birth date and a correct check character.

    A lower-case ``x`` is accepted as the check character: detection must not miss a typed ID. With
    ``today``, a birth date after it is refused too; the guards pass none (an ID "born tomorrow" is
    still an identifier to keep out of the ledger).
    """
    if len(value) != 18 or not (value[:17].isascii() and value[:17].isdigit()):
        return False
    if resident_id_check_char(value[:17]) != value[17].upper():
        return False
    if value[:2] not in DETECTED_PROVINCES:
        return False
    born = resident_id_birth_date(value)
    if born is None or born.year < EARLIEST_BIRTH_YEAR:
        return False
    return today is None or born <= today


def uscc_check_char(first17: str) -> str:
    """Return the GB 32100-2015 MOD 31 check character for the first 17 characters of a code."""
    total = sum(map(mul, first17.encode("ascii").translate(_USCC_VALUES), _USCC_WEIGHTS))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def is_valid_uscc(value: str) -> bool:
    """True when ``value`` has GB 32100's character positions and a correct check character (upper case)."""
    return len(value) == 18 and bool(_USCC.fullmatch(value)) and uscc_check_char(value[:17]) == value[17]


# Birth dates and ages are counted in China Standard Time (UTC+8, no daylight saving).
CHINA_TIME = timezone(timedelta(hours=8))


def china_date(moment: datetime) -> date:
    """The calendar date in China at ``moment`` (aware): the "today" birth dates are compared with."""
    return moment.astimezone(CHINA_TIME).date()


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


def parse_subject(id_type: str, value: str, *, today: date, field: str = "subjects") -> SubjectId:
    """Validate an identifier and classify the subject; raise InvalidIdentifier naming the rule broken.

    ``value`` is normalized as every guard normalizes it (``normalize_identifier``), so a lower-case or
    spaced form names the same subject and yields the same commitment. ``today`` is the date of the
    request: nobody is born after it.
    """
    raw = normalize_identifier(value)
    if id_type == IdType.RESIDENT_ID:
        if not _RESIDENT_ID.fullmatch(raw):
            raise InvalidIdentifier(
                "resident ID must be 17 digits followed by a digit or X",
                field=field,
                accepted="18 characters: 17 digits and a check character 0-9 or X (GB 11643-1999)",
            )
        if raw[:2] not in PROVINCES:
            raise InvalidIdentifier(
                "resident ID does not start with a province-level code",
                field=field,
                accepted="characters 1-2 a province-level code of GB/T 2260 (11-15, 21-23, 31-37, 41-46, "
                "50-54, 61-65, 71, 81, 82)",
            )
        born = resident_id_birth_date(raw)
        if born is None or born.year < EARLIEST_BIRTH_YEAR:
            raise InvalidIdentifier(
                "resident ID encodes no valid birth date",
                field=field,
                accepted="characters 7-14 must be a real date YYYYMMDD",
            )
        if born > today:
            raise InvalidIdentifier(
                "resident ID encodes a birth date after today",
                field=field,
                accepted="characters 7-14 a birth date no later than the day of the request",
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
                accepted="18 characters from 0-9 and A-Y without I, O, Z, S, V (GB 32100-2015): registration "
                "authority 1-9, A, N or Y; organization type 1-9; a 6-digit division code; a 9-character "
                "subject identification code; the check character",
            )
        if uscc_check_char(raw[:17]) != raw[17]:
            raise InvalidIdentifier(
                "unified social credit code check character does not match (MOD 31)",
                field=field,
                accepted="a code whose 18th character is its GB 32100-2015 check character",
            )
        kind = SubjectKind.INDIVIDUAL_BUSINESS if raw.startswith("92") else SubjectKind.LEGAL_PERSON
        return SubjectId(IdType.USCC, raw, kind)
    raise InvalidIdentifier("unknown identifier type", field=field, accepted="resident_id or uscc")
