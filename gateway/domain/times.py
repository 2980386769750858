"""Times as the policies read them."""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` (both policy engines parse it); microseconds only when present."""
    if moment.tzinfo is None:
        raise ValueError("policy times must be timezone-aware")
    utc = moment.astimezone(UTC)
    if utc.microsecond:
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")
