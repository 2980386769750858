"""The JSON Lines export that ``gateway ledger verify`` reads::

    {"ledger":{"format":"credit-gateway-ledger/1","origin":...,"size":N,"verifier_keys":{...}}}
    {"checkpoint":"<signed note>"}          one per checkpoint of at most N entries, smallest first
    {"index":0,"logged_at":...,"record":{...}}   one per entry: exactly the leaf bytes

The export ends with a checkpoint of size N, so every entry in it is covered by a signature.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gateway.domain.ledger.envelope import ENVELOPE_PREFIX, canonical_json

EXPORT_FORMAT = "credit-gateway-ledger/1"


def export_header_line(origin: str, size: int, verifier_keys: Mapping[str, str]) -> bytes:
    """The first line of an export (informative only: nothing in it is trusted by the verifier)."""
    return canonical_json(
        {
            "ledger": {
                "format": EXPORT_FORMAT,
                "origin": origin,
                "size": size,
                "verifier_keys": dict(verifier_keys),
            }
        }
    )


def export_checkpoint_line(note: str) -> bytes:
    """An export line carrying one signed checkpoint note."""
    return canonical_json({"checkpoint": note})


def parse_export_line(line: bytes) -> tuple[str, Any]:
    """Classify an export line as ("entry" | "header" | "checkpoint" | "unknown", its value)."""
    if line.startswith(ENVELOPE_PREFIX):
        return "entry", None
    try:
        raw = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return "unknown", None
    if isinstance(raw, dict) and len(raw) == 1:
        if isinstance(raw.get("checkpoint"), str):
            return "checkpoint", raw["checkpoint"]
        if isinstance(raw.get("ledger"), dict):
            return "header", raw["ledger"]
    return "unknown", None
