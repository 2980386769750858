"""Entries of the seriously-untrustworthy lists and the steps of the listing procedure (clauses (6)-(8)).

Pure: an entry is a frozen value; each step returns the entry as it is after the step. Whether a
step may be taken is the policy's call (``data.gateway.listing.verdict``): ``step_input`` builds what
it decides on, from the entry as stored. An entry names its subject only by commitment.

States: proposed -> notified -> listed -> removed; an objection found right on verification ends
the proposal as ``rejected`` (the subject is never listed on it).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from gateway.domain.times import rfc3339


class ListingStatus(enum.StrEnum):
    """Where an entry stands in the procedure."""

    PROPOSED = "proposed"
    NOTIFIED = "notified"
    LISTED = "listed"
    REJECTED = "rejected"
    REMOVED = "removed"


class RemovalCause(enum.StrEnum):
    """Why an entry leaves a list (clauses (7)(11))."""

    REPAIR = "repair"
    EXPIRY = "expiry"
    DECISION = "decision"


STEPS = ("propose", "notify", "object", "verify", "decide", "remove")


@dataclass(frozen=True, slots=True)
class BasisDocument:
    """The legally effective document a listing rests on (clause (2))."""

    type: str
    number: str
    issuer: str
    issued_on: date


@dataclass(frozen=True, slots=True)
class ListingDecision:
    """What a listing decision states (clause (8)): reason, basis, measures, removal and remedies."""

    reason: str
    basis: str
    measures: tuple[str, ...]
    removal_conditions: str
    remedies: str


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One subject's way onto (and off) one list."""

    id: str
    list_id: str
    subject_commitment: str
    id_type: str
    subject_kind: str
    department: str
    basis: BasisDocument
    status: ListingStatus
    proposed_at: datetime
    notified_at: datetime | None = None
    notice_channel: str | None = None
    objection_at: datetime | None = None
    verified_at: datetime | None = None
    objection_upheld: bool | None = None
    verification_result: str | None = None
    decided_at: datetime | None = None
    decision: ListingDecision | None = None
    removed_at: datetime | None = None
    removal_cause: RemovalCause | None = None

    def notified(self, at: datetime, channel: str) -> ListEntry:
        """The entry once the party has been told the reasons, basis and its rights."""
        return replace(self, status=ListingStatus.NOTIFIED, notified_at=at, notice_channel=channel)

    def objected(self, at: datetime) -> ListEntry:
        """The entry once the party has objected."""
        return replace(self, objection_at=at)

    def verified(self, at: datetime, upheld: bool, result: str) -> ListEntry:
        """The entry once the objection has been verified; an objection upheld ends the proposal."""
        status = ListingStatus.REJECTED if upheld else self.status
        return replace(
            self, status=status, verified_at=at, objection_upheld=upheld, verification_result=result
        )

    def decided(self, at: datetime, decision: ListingDecision) -> ListEntry:
        """The entry once the subject is listed."""
        return replace(self, status=ListingStatus.LISTED, decided_at=at, decision=decision)

    def removed(self, at: datetime, cause: RemovalCause) -> ListEntry:
        """The entry once the subject has left the list."""
        return replace(self, status=ListingStatus.REMOVED, removed_at=at, removal_cause=cause)


def step_input(
    step: str,
    list_id: str,
    department: str,
    now: datetime,
    entry: ListEntry | None,
    *,
    basis_type: str | None = None,
    measures: Sequence[str] = (),
) -> dict[str, Any]:
    """The input of ``data.gateway.listing.verdict`` for one step (the entry as stored, or None)."""
    document: dict[str, Any] = {
        "step": step,
        "list": list_id,
        "requester": {"department": department},
        "now": rfc3339(now),
        "entry": None,
        "basis_document": {"type": basis_type},
        "measures": list(measures),
    }
    if entry is not None:
        document["entry"] = {
            "status": str(entry.status),
            "notified_at": None if entry.notified_at is None else rfc3339(entry.notified_at),
            "objection_at": None if entry.objection_at is None else rfc3339(entry.objection_at),
            "objection_verified": entry.verified_at is not None,
        }
    return document
