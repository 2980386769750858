"""The identifier guard: ledger records carry keyed commitments, never a subject identifier in clear.

Everything written into a record passes through it (the canonical encoding checks the whole record,
and the places that accept free text meant for the ledger check that text first, so they can refuse
it under their own field name).

The record check (``record_holds_identifier``) refuses everything the detector refuses on the record's
whole canonical JSON text, for a fraction of the cost. Why reading it in pieces loses nothing:

* the JSON text's structural characters (``"``, ``,``, ``:``, brackets and braces) are ASCII, neither a
  letter, a digit nor a separator the detector joins across, and take part in no Unicode composition,
  so NFKC of the text is NFKC of its pieces with those characters between them, and every identifier the
  detector finds in the text lies inside one piece (a string, a key, a number or a part of one);
* a piece of ASCII only is read by the detector as it is, so it can hold an identifier only where the
  detector's own pre-check (six digits in a row, separators between) matches inside it; every such piece
  is checked in full, and every piece holding a non-ASCII character (full-width digits, ideographic
  spaces, circled numbers, Chinese text...) is checked in full whatever it holds;
* a piece that is one whole digest, commitment or UUID is what ``skip_digests`` replaces by ``#``: it
  holds nothing, so it is passed over without asking the detector;
* verdicts are remembered (a bounded cache keyed by the exact piece): most pieces repeat from record to
  record (codes, departments, legal bases, catalog revisions).

A text holding a backslash (JSON escaped a quote, a backslash or a control character in some string) is
read field by field instead, each string both as it is and as JSON escapes it: the raw form is stricter
than the text (``110105\\n19491231002X`` is read whole there, a newline being a separator, while the
text holds a backslash and an ``n``).

``tests/domain/ledger/test_guard.py`` checks with hypothesis that the record check refuses every record
the whole-text check refuses, identifiers written in every form the detector knows.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from gateway.domain import detector

# What json.dumps(ensure_ascii=False) escapes: the stored text then differs from the string itself.
_ESCAPED = re.compile('[\x00-\x1f"\\\\]')
_CACHED = 1 << 14  # distinct pieces remembered; a record has ~50, most of them shared
_FENCE_CHARS = '",:[]{}'
_PIECE_REST = re.compile("[^" + re.escape(_FENCE_CHARS) + "]*")
# Plain scans, then the piece around each hit: a regex anchored at every piece start was slower.
_NON_ASCII_RUN = re.compile("[^\x00-\x7f]+")
_PRECHECK = re.compile(detector.PRECHECK_PATTERN)
_DIGEST_PIECE = re.compile(detector.DIGEST_PATTERN)


def contains_identifier(text: str) -> bool:
    """True when ``text`` holds a checksum-valid identifier in any written form.

    Delegates to the one detector (``gateway.domain.detector``): resident IDs, credit codes, bank cards
    and mobile numbers, lower-case, full-width, spaced or glued to other text. The gateway's own hex
    digests, commitments and UUIDs are passed over (they would match by chance).
    """
    return detector.contains_identifier(text, skip_digests=True)


@functools.lru_cache(maxsize=_CACHED)
def _remembered(text: str) -> bool:
    if contains_identifier(text):
        return True
    return _ESCAPED.search(text) is not None and contains_identifier(json.dumps(text, ensure_ascii=False))


def _string_holds(text: str) -> bool:
    if not detector.might_hold_identifier(text):
        # Escaping only adds a backslash and letters or hex digits; NFKC of the escaped form is the
        # escaped form of NFKC. The escaped form can still gain six digits in a row from ``\\u001f``
        # (``001`` and digits around it), so the pre-check is applied to that form too when it differs.
        if _ESCAPED.search(text) is None:
            return False
        return contains_identifier(json.dumps(text, ensure_ascii=False))
    return _remembered(text)


def _tokens(value: Any) -> Iterator[str]:
    """Every string, key and number of a JSON value, as text (numbers as JSON writes them)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key)
            yield from _tokens(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tokens(item)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, (int, float)):
        yield json.dumps(value)


def _fields_hold_identifier(record: Mapping[str, Any]) -> bool:
    """Every string, key and number of ``record`` on its own, raw and as JSON writes it."""
    return any(_string_holds(token) for token in _tokens(record))


def _piece_holds(piece: str) -> bool:
    if _DIGEST_PIECE.fullmatch(piece) is not None:
        return False
    return _remembered(piece)


def _piece_around(text: str, start: int, end: int) -> tuple[int, int]:
    """The piece (between JSON's structural characters) holding ``text[start:end]``."""
    lo = max(text.rfind(fence, 0, start) for fence in _FENCE_CHARS) + 1
    match = _PIECE_REST.match(text, end)
    return lo, end if match is None else match.end()


def text_holds_identifier(text: str) -> bool:
    """True when a record's canonical JSON text (without backslashes) holds an identifier.

    Reads only the pieces between JSON's structural characters that can hold one (see the module
    docstring): every piece with a non-ASCII character, and every ASCII piece the pre-check matches in
    (the pre-check's characters are never structural, so each of its matches lies inside one piece).
    """
    done = -1
    if not text.isascii():
        for m in _NON_ASCII_RUN.finditer(text):
            if m.start() < done:
                continue
            lo, done = _piece_around(text, m.start(), m.end())
            if _piece_holds(text[lo:done]):
                return True
    done = -1
    for m in _PRECHECK.finditer(text):
        if m.start() < done:
            continue
        lo, done = _piece_around(text, m.start(), m.end())
        piece = text[lo:done]
        if piece.isascii() and _piece_holds(piece):
            return True
    return False


def record_holds_identifier(record: Mapping[str, Any], text: str | None = None) -> bool:
    """True when a record's dict holds an identifier in any string, key or number.

    ``text`` is the record's canonical JSON text when the caller has it already. Refuses everything
    ``contains_identifier`` refuses on that text (see the module docstring for why).
    """
    if text is None:
        text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if "\\" in text:
        return _fields_hold_identifier(record)
    return text_holds_identifier(text)
