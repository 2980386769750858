"""Authorization grants (clause (14)): a person's specific, time-bounded consent to one recipient.

A grant names the subject (only as a keyed commitment), one recipient department, the purposes and
catalog items (optionally the fields of each item) it covers, when it is valid, and the evidence of
the consent: how and when it was obtained, where it is recorded, whether it was a separate consent
(PIPL art. 23) and whether it was made a condition of some service (PIPL art. 16).

This module checks only the *shape* of a grant. Whether a well-shaped grant is acceptable (blanket,
lifetime, mandatory, retroactive...) is decided by the Rego policy ``data.gateway.grants.registration``
so that security teams can tune it; what a stored grant covers on the query path is decided by
``data.gateway.coverage.covered_items``. Pure: times are arguments, nothing is read or written here.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.domain.identifiers import IdType, SubjectKind
from gateway.domain.ledger.guard import contains_identifier
from gateway.domain.times import rfc3339
from gateway.errors import GrantSubjectNotPersonal, InvalidRequest

MAX_PURPOSES = 20
MAX_ITEMS = 100
MAX_FIELDS = 100
MAX_TOKEN = 100
MAX_REFERENCE = 200
# The engines parse times only within 1678-2262; a start or consent outside 1971-2259 is not a real one.
EARLIEST_YEAR = 1971
LATEST_START_YEAR = 2259

GRANT_ID = re.compile(r"[0-9a-f]{32}")
_TOKEN = re.compile(r"[^\s\x00-\x1f\x7f]{1,100}")  # MAX_TOKEN
_TEXT = re.compile(r"[^\x00-\x1f\x7f]{1,200}")  # MAX_REFERENCE


class RevokeReason(enum.StrEnum):
    """Why a grant was revoked."""

    SUBJECT_WITHDRAWAL = "subject_withdrawal"  # the person withdrew consent (PIPL art. 15)
    RECIPIENT_RELEASE = "recipient_release"  # the recipient no longer needs it
    REGISTRATION_ERROR = "registration_error"  # registered by mistake


class GrantStatus(enum.StrEnum):
    """Where a grant stands at a given time."""

    PENDING = "pending"  # stored, registration in the ledger not yet confirmed: covers nothing
    NOT_YET_VALID = "not_yet_valid"
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class ConsentEvidence:
    """How the person's consent was obtained, as the registering department attests."""

    method: str
    obtained_at: datetime
    reference: str
    separate: bool
    condition_of_service: bool
    service: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Wire and policy form (times in RFC 3339)."""
        return {
            "method": self.method,
            "obtained_at": rfc3339(self.obtained_at),
            "reference": self.reference,
            "separate": self.separate,
            "condition_of_service": self.condition_of_service,
            "service": self.service,
        }


@dataclass(frozen=True, slots=True)
class GrantTerms:
    """What the person consented to: recipient, purposes, items (and fields), validity, evidence."""

    recipient: str
    purposes: tuple[str, ...]
    items: tuple[str, ...]
    fields: Mapping[str, tuple[str, ...]] | None
    valid_from: datetime
    valid_until: datetime | None
    consent: ConsentEvidence

    def policy_document(self, subject_kind: SubjectKind) -> dict[str, Any]:
        """The ``input.grant`` document of ``data.gateway.grants.registration``."""
        return {
            "recipient": self.recipient,
            "purposes": list(self.purposes),
            "items": list(self.items),
            "fields": _fields_dict(self.fields),
            "valid_from": rfc3339(self.valid_from),
            "valid_until": None if self.valid_until is None else rfc3339(self.valid_until),
            "consent": self.consent.as_dict(),
            "subject_kind": str(subject_kind),
        }


@dataclass(frozen=True, slots=True)
class Revocation:
    """Who revoked a grant, when and why; ``ledger_index`` once the revocation is registered."""

    revoked_at: datetime
    client_id: str
    department: str
    reason: RevokeReason
    ledger_index: int | None = None


@dataclass(frozen=True, slots=True)
class Grant:
    """A stored grant. ``ledger_index`` is None until its registration is durable in the ledger."""

    id: str
    subject_commitment: str
    id_type: IdType
    subject_kind: SubjectKind
    terms: GrantTerms
    registered_by: str
    client_id: str
    created_at: datetime
    ledger_index: int | None = None
    revocation: Revocation | None = None

    @property
    def valid_until(self) -> datetime:
        """The end of validity (a stored grant always has one: the policy refuses grants without)."""
        if self.terms.valid_until is None:
            raise ValueError("a stored grant always has valid_until")
        return self.terms.valid_until

    def status(self, now: datetime) -> GrantStatus:
        """The grant's status at ``now``; revocation wins over everything else."""
        if self.revocation is not None:
            return GrantStatus.REVOKED
        if self.ledger_index is None:
            return GrantStatus.PENDING
        if now < self.terms.valid_from:
            return GrantStatus.NOT_YET_VALID
        if self.terms.valid_until is None or now >= self.terms.valid_until:
            return GrantStatus.EXPIRED
        return GrantStatus.ACTIVE

    def visible_to(self, department: str) -> bool:
        """Only the registering department and the recipient see a grant."""
        return department in (self.registered_by, self.terms.recipient)

    def query_document(self) -> dict[str, Any]:
        """The ``input.grant`` document of the query policy: the grant as stored, never as claimed."""
        return {
            "id": self.id,
            "subject_commitment": self.subject_commitment,
            "recipient": self.terms.recipient,
            "purposes": list(self.terms.purposes),
            "items": list(self.terms.items),
            "fields": _fields_dict(self.terms.fields),
            "valid_from": rfc3339(self.terms.valid_from),
            "valid_until": None if self.terms.valid_until is None else rfc3339(self.terms.valid_until),
            "revoked": self.revocation is not None,
        }


def _fields_dict(fields: Mapping[str, tuple[str, ...]] | None) -> dict[str, list[str]] | None:
    return None if fields is None else {item: list(names) for item, names in fields.items()}


def is_grant_id(value: str) -> bool:
    """True for the shape of the ids this gateway issues (32 lower-case hex digits)."""
    return bool(GRANT_ID.fullmatch(value))


# --- shape validation (the policy decides acceptability; this only makes the input decidable) ---


def _token(value: str, field: str) -> None:
    if not _TOKEN.fullmatch(value):
        raise InvalidRequest(
            "must be a code of 1 to 100 characters without spaces or control characters",
            field=field,
            accepted="a catalog code such as a department, purpose, item or field id",
        )
    if contains_identifier(value):
        raise InvalidRequest("must not contain a personal identifier", field=field, accepted="a catalog code")


def _codes(values: Iterable[str], field: str, maximum: int, what: str) -> None:
    seen: set[str] = set()
    count = 0
    for i, value in enumerate(values):
        _token(value, f"{field}[{i}]")
        if value in seen:
            raise InvalidRequest(f"{what} listed twice", field=f"{field}[{i}]", accepted=f"each {what} once")
        seen.add(value)
        count += 1
    if count == 0:
        raise InvalidRequest(
            f"at least one {what} is required", field=field, accepted=f"1 to {maximum} {what}s"
        )
    if count > maximum:
        raise InvalidRequest(f"too many {what}s", field=field, accepted=f"1 to {maximum} {what}s")


def _time(value: datetime, field: str, *, latest_year: int) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidRequest(
            "time must carry a UTC offset", field=field, accepted="RFC 3339, e.g. 2026-11-22T08:00:00Z"
        )
    try:
        year = value.astimezone(UTC).year
    except OverflowError:  # e.g. 9999-12-31T23:59:59-12:00, in year 10000 once in UTC
        year = 10000
    if not EARLIEST_YEAR <= year <= latest_year:
        raise InvalidRequest(
            "time is out of range", field=field, accepted=f"a time between {EARLIEST_YEAR} and {latest_year}"
        )


def validate_terms(terms: GrantTerms) -> None:
    """Check that a grant is well shaped enough for the policy to decide; raise InvalidRequest if not.

    Deliberately lenient on meaning: "all", "*" or an unknown code pass here so that the policy can
    refuse them with their own codes. Identifier-shaped values are refused everywhere, because grant
    terms are written to the ledger, which must never hold a resident ID or credit code.
    """
    _token(terms.recipient, "recipient")
    _codes(terms.purposes, "purposes", MAX_PURPOSES, "purpose")
    _codes(terms.items, "items", MAX_ITEMS, "item")
    if terms.fields is not None:
        if not terms.fields:
            raise InvalidRequest(
                "fields, when given, must restrict at least one item",
                field="fields",
                accepted="null, or an object from item id to field names",
            )
        for item, names in terms.fields.items():
            _token(item, "fields")
            _codes(names, f"fields.{item}", MAX_FIELDS, "field")
    _time(terms.valid_from, "valid_from", latest_year=LATEST_START_YEAR)
    if terms.valid_until is not None:
        _time(terms.valid_until, "valid_until", latest_year=9999)
    consent = terms.consent
    _token(consent.method, "consent.method")
    if not _TEXT.fullmatch(consent.reference) or not consent.reference.strip():
        raise InvalidRequest(
            "consent reference must be 1 to 200 printable characters",
            field="consent.reference",
            accepted="the number of the consent document or the channel record",
        )
    if contains_identifier(consent.reference):
        raise InvalidRequest(
            "consent reference must not contain a personal identifier",
            field="consent.reference",
            accepted="a document number or channel record id",
        )
    if consent.service is not None:
        _token(consent.service, "consent.service")
    _time(consent.obtained_at, "consent.obtained_at", latest_year=LATEST_START_YEAR)


def require_personal(kind: SubjectKind, field: str = "subject") -> None:
    """Grants are for natural persons and individual businesses; legal persons need none."""
    if not kind.is_personal:
        raise GrantSubjectNotPersonal(
            "authorization grants are given by natural persons (or individual businesses)",
            field=field,
            accepted="a resident ID, or a unified social credit code starting with 92",
        )
