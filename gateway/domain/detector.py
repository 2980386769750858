"""The one identifier detector: every guard asks it whether a text holds an identifier.

Request validation (every free-text and code field), the ledger's record guard, the residual guard on
released values and the free-text scanner all read text through ``normalize``, so an identifier counts
however a person wrote it:

* Unicode NFKC first: full-width digits and letters (``１１０１…``), circled digits and ideographic
  spaces become their ASCII forms;
* upper case, so a lower-case check character ``x`` or a lower-case credit code counts;
* separators (spaces, hyphens and dashes, dots, in runs of up to three) next to a digit are dropped, so
  ``110105 19491231 002X``, ``6222-0212-3456-7890`` and ``138.0013.8000`` are read whole.

Nothing relies on word boundaries: an identifier touching Chinese text or letters counts
(``依据ID330108196403318305申请``). Resident IDs and credit codes are searched in every 18-character window
(their check characters make a chance hit rare), so even digits glued on do not hide one. Bank cards
(Luhn) and mobile numbers have weak or no checks, so they count only as a whole run of digits: a longer
run of digits is some other number.

One exception, for the ledger's own records only (``skip_digests``): the gateway writes SHA-256 digests,
commitments and ids as 32 or 64 lower-case hex digits or as UUIDs. In a hex string of that length an
18-character window passes a credit code's checks every few thousand digests, and an 11-digit run looks
like a mobile number every few hundred, so those tokens are passed over there. Requests never get that
exemption: whatever a caller sends is checked in full before it can reach a record.
"""

from __future__ import annotations

import bisect
import enum
import re
import string
import unicodedata
from collections.abc import Collection, Iterator
from dataclasses import dataclass

from gateway.domain.identifiers import (
    SEPARATORS,
    USCC_PATTERN,
    is_valid_resident_id,
    is_valid_uscc,
    luhn_valid,
)


class IdentifierKind(enum.StrEnum):
    """What the detector finds; every kind but ``USCC`` is personal data."""

    RESIDENT_ID = "resident_id"
    INDIVIDUAL_BUSINESS = "individual_business_uscc"  # a credit code starting 92
    BANK_CARD = "bank_card"
    MOBILE = "mobile"
    USCC = "uscc"  # a legal person's credit code: public registration data, still kept out of the ledger


ALL_KINDS: frozenset[IdentifierKind] = frozenset(IdentifierKind)
PERSONAL_KINDS: frozenset[IdentifierKind] = ALL_KINDS - {IdentifierKind.USCC}
# What a ledger record must never hold: subject identifiers of either scheme.
SUBJECT_KINDS: frozenset[IdentifierKind] = frozenset(
    {IdentifierKind.RESIDENT_ID, IdentifierKind.INDIVIDUAL_BUSINESS, IdentifierKind.USCC}
)

# Mobile segments allocated by MIIT (13x-19x); 140-144, 154, 160/161/163/164/168/169 and the 19x outside
# the list are unallocated or data-only.
MOBILE_SEGMENTS = frozenset(
    f"1{n:02d}"
    for n in range(30, 100)
    if re.fullmatch(r"3[0-9]|4[5-9]|5[0-35-9]|6[2567]|7[0-8]|8[0-9]|9[0-35-9]", f"{n:02d}")
)

_SEP = "[" + SEPARATORS + "]"
# A run of separators is dropped when a digit stands on one side and a letter or digit on the other.
_JOIN = re.compile("(?<=[0-9])" + _SEP + "{1,3}(?=[0-9A-Za-z])|(?<=[A-Za-z])" + _SEP + "{1,3}(?=[0-9])")
# Credit codes are letters and digits: written in groups, letters meet letters across a separator too.
_JOIN_ALL = re.compile("(?<=[0-9A-Za-z])" + _SEP + "{1,3}(?=[0-9A-Za-z])")
# Every identifier needs six digits in a row once separators are gone (a credit code's division code).
PRECHECK_PATTERN = "[0-9](?:" + _SEP + "{0,3}[0-9]){5}"
_PRECHECK = re.compile(PRECHECK_PATTERN)
_RESIDENT_WINDOW = re.compile(r"(?=([1-9][0-9]{16}[0-9X]))")
_USCC_WINDOW = re.compile("(?=(" + USCC_PATTERN + "))")
_DIGIT_RUN = re.compile(r"[0-9]+")
_LONG_RUN = re.compile(r"[0-9A-Z]{18,}")
# The gateway's own tokens (see the module docstring); the ledger guard reads whole ones as such.
DIGEST_PATTERN = r"(?:[0-9a-f]{64}|[0-9a-f]{32}|[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12})"
_DIGESTS = re.compile(r"(?<![0-9A-Za-z])" + DIGEST_PATTERN + r"(?![0-9A-Za-z])")


_ASCII_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)


@dataclass(frozen=True, slots=True)
class Normalized:
    """A text as the detector reads it, and where each of its characters came from.

    ``starts[i]`` is the index in the original text of the character that produced ``text[i]``; a span
    ``[a, b)`` of ``text`` covers ``original[starts[a] : ends[b - 1]]``. ``breaks`` are the positions in
    ``text`` where separators were dropped: the group boundaries of a written number.
    """

    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    breaks: tuple[int, ...] = ()

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original span of ``text[start:end]``."""
        return self.starts[start], self.ends[end - 1]


def _view(text: str) -> tuple[str, tuple[int, ...]]:
    """The normalized text and its group boundaries, without the way back (the guards' fast path)."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    if _JOIN.search(text) is None:
        return text.translate(_ASCII_UPPER), ()
    parts: list[str] = []
    breaks: list[int] = []
    pos = length = 0
    for m in _JOIN.finditer(text):
        parts.append(text[pos : m.start()])
        length += m.start() - pos
        breaks.append(length)
        pos = m.end()
    parts.append(text[pos:])
    return "".join(parts).translate(_ASCII_UPPER), tuple(breaks)


def normalize(text: str) -> str:
    """``text`` as every guard reads it: NFKC, upper case, separators next to digits dropped."""
    return _view(text)[0]


def normalize_mapped(text: str) -> Normalized:
    """``normalize`` character by character, keeping the way back to the original positions.

    Per-character NFKC equals whole-text NFKC for everything an identifier is made of (digits, letters,
    separators); the scanner needs the positions to mask the original text.
    """
    chars: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        for c in ch if ch.isascii() else unicodedata.normalize("NFKC", ch):
            chars.append(c)
            origin.append(i)
    view = "".join(chars).translate(_ASCII_UPPER)
    out: list[str] = []
    starts: list[int] = []
    breaks: list[int] = []
    pos = 0
    for m in _JOIN.finditer(view):
        out.append(view[pos : m.start()])
        starts.extend(origin[pos : m.start()])
        breaks.append(len(starts))
        pos = m.end()
    out.append(view[pos:])
    starts.extend(origin[pos:])
    return Normalized("".join(out), tuple(starts), tuple(s + 1 for s in starts), tuple(breaks))


def might_hold_identifier(text: str) -> bool:
    """The cheap pre-check: False means ``text`` holds no identifier of any kind."""
    if text.isascii():
        return _PRECHECK.search(text) is not None
    return _PRECHECK.search(unicodedata.normalize("NFKC", text)) is not None


def mobile_number(digits: str) -> bool:
    """True for an 11-digit number of an allocated segment, with or without a 86 / 0086 prefix."""
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    elif len(digits) == 15 and digits.startswith("0086"):
        digits = digits[4:]
    return len(digits) == 11 and digits.isascii() and digits.isdigit() and digits[:3] in MOBILE_SEGMENTS


def bank_card_number(digits: str) -> bool:
    """True for 16 to 19 ASCII digits passing the Luhn check."""
    return 16 <= len(digits) <= 19 and digits.isascii() and digits.isdigit() and luhn_valid(digits)


def _uscc_kind(code: str) -> IdentifierKind:
    return IdentifierKind.INDIVIDUAL_BUSINESS if code.startswith("92") else IdentifierKind.USCC


def subject_windows(view: str) -> list[tuple[int, str]]:
    """(start, text) of every 18-character window of a normalized text that is a valid resident ID or
    credit code (the scanner masks these even where its fenced patterns see nothing).

    Both are 18 letters and digits in a row, so only runs at least that long are searched: a ledger
    record is mostly short runs (times, codes, counts), and the lookahead scan at every position of the
    whole text was most of the guard's cost.
    """
    residents: list[tuple[int, str]] = []
    codes: list[tuple[int, str]] = []
    for run in _LONG_RUN.finditer(view):
        segment, base = run.group(), run.start()
        found = [
            (base + m.start(), m.group(1))
            for m in _RESIDENT_WINDOW.finditer(segment)
            if is_valid_resident_id(m.group(1))
        ]
        taken = {start for start, _ in found}
        residents.extend(found)
        codes.extend(
            (base + m.start(), m.group(1))
            for m in _USCC_WINDOW.finditer(segment)
            if base + m.start() not in taken and is_valid_uscc(m.group(1))
        )
    return residents + codes


def number_spans(view: str, breaks: tuple[int, ...] = ()) -> Iterator[tuple[int, int]]:
    """Spans of a normalized text that may be a card or mobile number.

    Every maximal run of digits, and where the run was written in groups (``breaks`` inside it), every
    sequence of consecutive groups 11 to 19 digits long: ``6249 4592 9957 8555 6130-7458`` holds a card
    in its first four groups, however many groups follow.
    """
    for m in _DIGIT_RUN.finditer(view):
        start, end = m.span()
        yield start, end
        if not breaks:
            continue
        lo, hi = bisect.bisect_right(breaks, start), bisect.bisect_left(breaks, end)
        if lo >= hi:
            continue
        bounds = [start, *breaks[lo:hi], end]
        for i in range(len(bounds) - 1):
            for j in range(i + 1, len(bounds)):
                if (i, j) != (0, len(bounds) - 1) and 11 <= bounds[j] - bounds[i] <= 19:
                    yield bounds[i], bounds[j]


def number_kind(view: str, start: int, end: int) -> IdentifierKind | None:
    """MOBILE or BANK_CARD when ``view[start:end]`` (a span of ``number_spans``) is one, else None."""
    run = view[start:end]
    n = end - start
    if n in (11, 13, 15) and mobile_number(run):
        return IdentifierKind.MOBILE
    if (
        bank_card_number(run)
        and view[end : end + 1] != "X"  # 17 digits and an X are shaped as a resident ID
        # A resident ID or an all-digit credit code that happens to pass Luhn is not also a card.
        and (n != 18 or not (is_valid_resident_id(run) or is_valid_uscc(run)))
    ):
        return IdentifierKind.BANK_CARD
    return None


def identifiers_in_normalized(
    view: str, kinds: Collection[IdentifierKind] = ALL_KINDS, breaks: tuple[int, ...] = ()
) -> set[IdentifierKind]:
    """The kinds of checksum-valid identifier in an already normalized text."""
    found: set[IdentifierKind] = set()
    windows = subject_windows(view)
    for _, code in windows:
        kind = IdentifierKind.RESIDENT_ID if is_valid_resident_id(code) else _uscc_kind(code)
        if kind in kinds:
            found.add(kind)
    if IdentifierKind.BANK_CARD in kinds or IdentifierKind.MOBILE in kinds:
        for start, end in free_number_spans(view, breaks, windows):
            number = number_kind(view, start, end)
            if number is not None and number in kinds:
                found.add(number)
    return found


def free_number_spans(
    view: str, breaks: tuple[int, ...], windows: list[tuple[int, str]]
) -> Iterator[tuple[int, int]]:
    """``number_spans`` outside every valid resident ID and credit code: the digits of a credit code
    (``9111010168899177X5``) are not also a card."""
    for start, end in number_spans(view, breaks):
        if not any(w <= start and end <= w + 18 for w, _ in windows):
            yield start, end


def identifiers_in(
    text: str, kinds: Collection[IdentifierKind] = ALL_KINDS, *, skip_digests: bool = False
) -> set[IdentifierKind]:
    """The kinds of checksum-valid identifier ``text`` holds, in any written form.

    ``skip_digests`` is for the ledger's own records (see the module docstring), never for input.
    """
    if not might_hold_identifier(text):
        return set()
    if skip_digests:
        text = _DIGESTS.sub("#", text)
    view, breaks = _view(text)
    found = identifiers_in_normalized(view, kinds, breaks)
    codes = {IdentifierKind.USCC, IdentifierKind.INDIVIDUAL_BUSINESS} & set(kinds)
    if codes - found and _JOIN_ALL.search(view):
        # ``9265.0102.UCQW.D18YGH``: a code whose groups join letter to letter.
        compact = _JOIN_ALL.sub("", view)
        found |= {
            _uscc_kind(code)
            for _, code in subject_windows(compact)
            if not is_valid_resident_id(code) and _uscc_kind(code) in codes
        }
    return found


def contains_identifier(
    text: str, kinds: Collection[IdentifierKind] = ALL_KINDS, *, skip_digests: bool = False
) -> bool:
    """True when ``text`` holds a checksum-valid identifier of one of ``kinds``."""
    return bool(identifiers_in(text, kinds, skip_digests=skip_digests))
