"""Ledger records: one frozen dataclass per kind of entry, each rendering its canonical dict.

A record is what a service registers. It is built once, from everything known at that point, and
never edited afterwards; ``as_dict`` is the only place its schema is written down. The store
encodes that dict (``envelope.canonical_record``) and indexes it (``terms.entry_terms``), so the
bytes in the log and the terms the audit API filters on come from the same definition.

Records of kind ``query`` carry what GB/T 35273-2020 §9.2 asks of every sharing (date, volume,
purpose, recipient) and what an auditor needs::

    kind             "query"
    request_id       correlation id of the request
    client_id        requesting OAuth client (the recipient)
    department       requesting department
    purpose          purpose code;  legal_basis  the legal basis claimed;  measure  or null
    grant_id         authorization grant relied on, or null
    subjects         [{"id_type", "subject_kind", "commitment"}]: keyed commitments, never identifiers
    subject_count    subjects requested (also when their commitments could not be computed)
    items            [{"item", "fields": [...released], "rows": n}]
    rows_total       rows released in total (the volume)
    decision         "allow" | "deny" | "error"
    reason_codes     [code, ...] in order;  reasons  [{"code", "clause", "item"?, "field"?}]
    policy_revision  digest of the policy sources;  catalog_revision  catalog revision
    response_digest  "sha256:<hex>" of the response body sent, or null when nothing was sent

Grant registrations and refusals, revocations (both of kind ``grant``, told apart by ``action``),
reviews (``review``) and subject reports (``subject_report``) follow; repairs (``repair``) are
accepted by the store and the audit filter already, their record comes with the repair use case.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from gateway.domain.decision import Reason
from gateway.domain.grants import Grant, RevokeReason
from gateway.domain.ledger.commitments import SubjectRef
from gateway.domain.times import rfc3339
from gateway.errors import InvalidRequest

Outcome = Literal["allow", "deny", "error"]
REVIEW_STATUSES = frozenset({"reviewed", "flagged"})


class LedgerRecord(ABC):
    """What the Ledger port appends: a record that renders its own canonical dict."""

    __slots__ = ()
    kind: ClassVar[str]

    @abstractmethod
    def as_dict(self) -> dict[str, Any]:
        """The canonical dict of the record (the store encodes and indexes exactly this)."""


@dataclass(frozen=True, slots=True)
class RecordedReason:
    """Why an outcome came out as it did, as the ledger keeps it: code and clause, no prose."""

    code: str
    clause: str
    item: str | None = None
    field: str | None = None

    @classmethod
    def of(cls, reason: Reason) -> RecordedReason:
        """The recorded part of a policy reason."""
        return cls(reason.code, reason.clause, reason.item, reason.field)

    def as_dict(self) -> dict[str, str]:
        """Record form (absent parts left out)."""
        out = {"code": self.code, "clause": self.clause}
        if self.item is not None:
            out["item"] = self.item
        if self.field is not None:
            out["field"] = self.field
        return out


def recorded(reasons: Iterable[Reason]) -> tuple[RecordedReason, ...]:
    """The recorded parts of policy reasons, in order."""
    return tuple(RecordedReason.of(r) for r in reasons)


def _reasons(reasons: tuple[RecordedReason, ...]) -> dict[str, Any]:
    return {
        "reason_codes": list(dict.fromkeys(r.code for r in reasons)),
        "reasons": [r.as_dict() for r in reasons],
    }


@dataclass(frozen=True, slots=True)
class ItemRelease:
    """One catalog item of a query: the fields released and how many rows."""

    item: str
    fields: tuple[str, ...]
    rows: int

    def as_dict(self) -> dict[str, Any]:
        """Record form (fields sorted)."""
        return {"item": self.item, "fields": sorted(self.fields), "rows": self.rows}


@dataclass(frozen=True, slots=True)
class QueryRecord(LedgerRecord):
    """One query, allowed, refused or failed (clause (13), GB/T 35273-2020 §9.2)."""

    kind: ClassVar[str] = "query"

    request_id: str
    client_id: str
    department: str
    purpose: str
    legal_basis: str
    measure: str | None
    grant_id: str | None
    subjects: tuple[SubjectRef, ...]
    subject_count: int
    items: tuple[ItemRelease, ...]  # on a refusal or failure: every requested item, no rows
    decision: Outcome
    reasons: tuple[RecordedReason, ...]
    policy_revision: str
    catalog_revision: str
    response_digest: str | None

    def as_dict(self) -> dict[str, Any]:
        """Record form; ``rows_total`` and ``reason_codes`` are derived here, never stored apart."""
        return {
            "kind": self.kind,
            "request_id": self.request_id,
            "client_id": self.client_id,
            "department": self.department,
            "purpose": self.purpose,
            "legal_basis": self.legal_basis,
            "measure": self.measure,
            "grant_id": self.grant_id,
            "subjects": [s.as_dict() for s in self.subjects],
            "subject_count": self.subject_count,
            "items": [i.as_dict() for i in self.items],
            "rows_total": sum(i.rows for i in self.items),
            "decision": self.decision,
            **_reasons(self.reasons),
            "policy_revision": self.policy_revision,
            "catalog_revision": self.catalog_revision,
            "response_digest": self.response_digest,
        }


def _grant_fields(grant: Grant) -> dict[str, Any]:
    """What every grant entry says of the grant: its subject, recipient, scope, validity, evidence.

    ``purpose`` (every purpose, comma-joined) is the field GB/T 35273 names and the audit filter
    indexes; ``purposes`` keeps them apart for an auditor. Both are derived from the one tuple.
    """
    terms = grant.terms
    fields = None if terms.fields is None else {item: list(names) for item, names in terms.fields.items()}
    return {
        "grant_id": grant.id,
        "subjects": [
            SubjectRef(str(grant.id_type), str(grant.subject_kind), grant.subject_commitment).as_dict()
        ],
        "recipient": terms.recipient,
        "purpose": ",".join(terms.purposes),
        "purposes": list(terms.purposes),
        "items": [{"item": i, "fields": [], "rows": 0} for i in sorted(terms.items)],
        "fields": fields,
        "valid_from": rfc3339(terms.valid_from),
        "valid_until": None if terms.valid_until is None else rfc3339(terms.valid_until),
        "consent": terms.consent.as_dict(),
    }


@dataclass(frozen=True, slots=True)
class GrantRecord(LedgerRecord):
    """A grant registered (no reasons) or refused by the registration policy (clause (14))."""

    kind: ClassVar[str] = "grant"
    action: ClassVar[str] = "register"

    grant: Grant
    client_id: str
    department: str
    reasons: tuple[RecordedReason, ...]
    policy_revision: str

    def as_dict(self) -> dict[str, Any]:
        """Record form: the grant's terms (which passed validate_terms, so hold no identifier)."""
        return {
            "kind": self.kind,
            "action": self.action,
            "client_id": self.client_id,
            "department": self.department,
            **_grant_fields(self.grant),
            "decision": "deny" if self.reasons else "allow",
            **_reasons(self.reasons),
            "policy_revision": self.policy_revision,
        }


@dataclass(frozen=True, slots=True)
class RevocationRecord(LedgerRecord):
    """A grant revoked; kind ``grant`` with action ``revoke``, as the logs in use have it."""

    kind: ClassVar[str] = "grant"
    action: ClassVar[str] = "revoke"

    grant: Grant
    client_id: str
    department: str
    reason: RevokeReason
    policy_revision: str

    def as_dict(self) -> dict[str, Any]:
        """Record form: the grant as it was, and why it was revoked."""
        return {
            "kind": self.kind,
            "action": self.action,
            "client_id": self.client_id,
            "department": self.department,
            **_grant_fields(self.grant),
            "decision": "allow",
            **_reasons(()),
            "policy_revision": self.policy_revision,
            "revoke_reason": str(self.reason),
        }


@dataclass(frozen=True, slots=True)
class ReviewRecord(LedgerRecord):
    """An auditor's review of an entry (``status``: reviewed | flagged)."""

    kind: ClassVar[str] = "review"

    target_index: int
    target_leaf_hash: str
    status: str
    comment: str
    client_id: str
    department: str

    def __post_init__(self) -> None:
        if self.status not in REVIEW_STATUSES:
            raise InvalidRequest(
                "review status must be reviewed or flagged", field="status", accepted="reviewed, flagged"
            )

    def as_dict(self) -> dict[str, Any]:
        """Record form."""
        return {
            "kind": self.kind,
            "target_index": self.target_index,
            "target_leaf_hash": self.target_leaf_hash,
            "status": self.status,
            "comment": self.comment,
            "client_id": self.client_id,
            "department": self.department,
        }


@dataclass(frozen=True, slots=True)
class SubjectReportRecord(LedgerRecord):
    """An auditor looking up one subject's entries (itself visible to that subject, PIPL art. 45)."""

    kind: ClassVar[str] = "subject_report"

    subject: SubjectRef
    client_id: str
    department: str
    entries_found: int

    def as_dict(self) -> dict[str, Any]:
        """Record form."""
        return {
            "kind": self.kind,
            "client_id": self.client_id,
            "department": self.department,
            "subjects": [self.subject.as_dict()],
            "entries_found": self.entries_found,
        }


@dataclass(frozen=True, slots=True)
class ConsoleRecord(LedgerRecord):
    """Something a person did in the console: sign-in, failed sign-in, enrolment, sign-out, export.

    ``client_id`` is ``console:<username>`` when the account is known, else None (the typed name of
    an unknown account is never recorded); ``details`` never hold a password or a one-time code.
    """

    kind: ClassVar[str] = "console"

    event: str
    client_id: str | None
    department: str | None
    details: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Record form."""
        return {
            **dict(self.details),
            "kind": self.kind,
            "event": self.event,
            "client_id": self.client_id,
            "department": self.department,
        }


@dataclass(frozen=True, slots=True)
class ListingRecord(LedgerRecord):
    """One step of the listing procedure, taken or refused (clauses (6)-(8)).

    ``step`` is propose | notify | object | verify | decide | remove; ``details`` are the step's own
    statements (the basis document, the notice channel, the verification result, the decision's
    reason, basis, measures, removal conditions and remedies, the removal cause). The subject is a
    commitment; the free texts are refused at the API when they hold an identifier.
    """

    kind: ClassVar[str] = "listing"

    step: str
    entry_id: str
    list_id: str
    subject: SubjectRef
    client_id: str
    department: str
    decision: Outcome
    reasons: tuple[RecordedReason, ...]
    policy_revision: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Record form."""
        return {
            "kind": self.kind,
            "step": self.step,
            "entry_id": self.entry_id,
            "list": self.list_id,
            "subjects": [self.subject.as_dict()],
            "client_id": self.client_id,
            "department": self.department,
            "decision": self.decision,
            **_reasons(self.reasons),
            "policy_revision": self.policy_revision,
            "details": dict(self.details),
        }


RECORD_TYPES: tuple[type[LedgerRecord], ...] = (
    QueryRecord,
    GrantRecord,
    RevocationRecord,
    ReviewRecord,
    SubjectReportRecord,
    ConsoleRecord,
    ListingRecord,
)
# Every kind the store accepts: those written above, and ``repair`` (see the module docstring).
KINDS = frozenset({t.kind for t in RECORD_TYPES} | {"repair"})
