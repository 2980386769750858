"""The identifier guard: ledger records carry keyed commitments, never a subject identifier in clear.

Everything written into a record passes through it (the canonical encoding checks the whole record,
and the places that accept free text meant for the ledger check that text first, so they can refuse
it under their own field name).
"""

from __future__ import annotations

from gateway.domain import detector


def contains_identifier(text: str) -> bool:
    """True when ``text`` holds a checksum-valid identifier in any written form.

    Delegates to the one detector (``gateway.domain.detector``): resident IDs, credit codes, bank cards
    and mobile numbers, lower-case, full-width, spaced or glued to other text. The gateway's own hex
    digests, commitments and UUIDs are passed over (they would match by chance).
    """
    return detector.contains_identifier(text, skip_digests=True)
