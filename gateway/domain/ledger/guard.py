"""The identifier guard: ledger records carry keyed commitments, never a subject identifier in clear.

Everything written into a record passes through it (the canonical encoding checks the whole record,
and the places that accept free text meant for the ledger check that text first, so they can refuse
it under their own field name).
"""

from __future__ import annotations

import re

from gateway.domain.identifiers import is_valid_resident_id, is_valid_uscc

# Runs that could hold an identifier: resident IDs start with 1-9, USCCs with 1-9, A, N or Y.
_ID_RUN = re.compile(r"[1-9ANY][0-9A-Z]{17,}")


def contains_identifier(text: str) -> bool:
    """True when ``text`` holds a checksum-valid resident ID or unified social credit code.

    Only 18-character tokens standing alone count: not part of a longer run of letters and digits
    (such as a hex digest or a commitment).
    """
    end = len(text)
    for match in _ID_RUN.finditer(text):
        start, stop = match.span()
        if stop - start != 18:
            continue
        if start and text[start - 1].isascii() and text[start - 1].isalnum():
            continue
        if stop < end and text[stop].isascii() and text[stop].isalnum():
            continue
        candidate = match.group()
        if is_valid_resident_id(candidate) or is_valid_uscc(candidate):
            return True
    return False
