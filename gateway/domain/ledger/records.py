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
    input_digest     "sha256:<hex>" of the policy input kept beside the entry (for replay); absent
                     in entries written before inputs were kept, so their bytes do not move
    record_commitments  [hex, ...] keyed commitments of (item, record key) of every released row of a
                    repairable item; present only when there is one (older entries keep their bytes)

Grant registrations and refusals, revocations (both of kind ``grant``, told apart by ``action``),
reviews (``review``), subject reports (``subject_report``), requests refused before any use case
ran (``invalid``: the endpoint, the requester, the code and the field path, never a value), credit
repairs (``repair``: apply, accept, refuse) and repair notifications (``notification``: issued,
delivered, acknowledged) and the steps of the listing procedure (``listing``) follow.
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
    input_digest: str | None = None
    record_commitments: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Record form; ``rows_total`` and ``reason_codes`` are derived here, never stored apart."""
        out = {
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
        if self.input_digest is not None:
            out["input_digest"] = self.input_digest
        if self.record_commitments:
            out["record_commitments"] = sorted(set(self.record_commitments))
        return out


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
class GrantReconciliationRecord(LedgerRecord):
    """What start-up reconciliation finished of grant changes a crash interrupted (kind ``grant``,
    action ``reconcile``): grant ids by what was done, so an auditor sees every repair of the store.

    The ids are the gateway's own random hex ids; no client, department or subject is involved.
    """

    kind: ClassVar[str] = "grant"
    action: ClassVar[str] = "reconcile"

    registered: tuple[str, ...]  # pending grants whose registration entry was found
    discarded: tuple[str, ...]  # pending grants without one: deleted, never answered
    revocations_found: tuple[str, ...]  # revocations whose entry was found
    revocations_registered: tuple[str, ...]  # revocations without one: registered now

    def as_dict(self) -> dict[str, Any]:
        """Record form."""
        return {
            "kind": self.kind,
            "action": self.action,
            "client_id": None,
            "department": None,
            "decision": "allow",
            **_reasons(()),
            "registered": list(self.registered),
            "discarded": list(self.discarded),
            "revocations_found": list(self.revocations_found),
            "revocations_registered": list(self.revocations_registered),
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
class InvalidRecord(LedgerRecord):
    """An authenticated request to a registering endpoint refused as invalid (clause (13)).

    ``endpoint`` is the route's method and path template (``POST /v1/grants/{grant_id}/revoke``),
    never the path sent, which may carry anything; ``field`` is a path of positions and schema names.
    Nothing the caller submitted is kept. ``decision`` is ``invalid`` and the code is the one reason,
    so the audit filters by decision and by reason find these entries like any other refusal.
    """

    kind: ClassVar[str] = "invalid"

    request_id: str
    endpoint: str
    client_id: str
    department: str
    code: str
    field: str | None

    def as_dict(self) -> dict[str, Any]:
        """Record form."""
        return {
            "kind": self.kind,
            "request_id": self.request_id,
            "endpoint": self.endpoint,
            "client_id": self.client_id,
            "department": self.department,
            "decision": "invalid",
            **_reasons((RecordedReason(self.code, "(13)", field=self.field),)),
        }


@dataclass(frozen=True, slots=True)
class KeyHandoverRecord(LedgerRecord):
    """A recipient department given its key for ``encrypt``-obligation fields, wrapped to a public key
    it presented: who received which key (by id, never the key) wrapped to which key (by fingerprint)."""

    kind: ClassVar[str] = "key_handover"

    client_id: str
    department: str
    algorithm: str
    key_id: str
    wrapping: str
    recipient_key: str

    def as_dict(self) -> dict[str, Any]:
        """Record form."""
        return {
            "kind": self.kind,
            "client_id": self.client_id,
            "department": self.department,
            "algorithm": self.algorithm,
            "key_id": self.key_id,
            "wrapping": self.wrapping,
            "recipient_key": self.recipient_key,
        }


@dataclass(frozen=True, slots=True)
class PolicyChangeRecord(LedgerRecord):
    """A policy bundle activated or rolled back (``action``), under the two-person rule.

    ``revision`` is what serves from now on, ``parent_revision`` what served before; ``draft_id``
    names the exact files (tests included); ``replay_digest`` is the digest of the replay report the
    approver saw (null on a rollback to a bundle that served before).
    """

    kind: ClassVar[str] = "policy"

    action: Literal["activate", "rollback"]
    revision: str
    parent_revision: str
    draft_id: str
    author: str
    approver: str
    department: str
    replay_digest: str | None
    replay_summary: Mapping[str, int] = field(default_factory=dict)
    actor: str = ""  # who made the switch (the activator, who may differ from the approver)

    def as_dict(self) -> dict[str, Any]:
        """Record form."""
        return {
            "kind": self.kind,
            "action": self.action,
            "revision": self.revision,
            "policy_revision": self.revision,
            "parent_revision": self.parent_revision,
            "draft_id": self.draft_id,
            "author": self.author,
            "approver": self.approver,
            "client_id": self.actor or self.approver,
            "department": self.department,
            "replay_digest": self.replay_digest,
            "replay_summary": dict(self.replay_summary),
        }


RepairAction = Literal["apply", "accept", "refuse"]
NotificationAction = Literal["issued", "delivered", "acknowledged"]


@dataclass(frozen=True, slots=True)
class RepairRecord(LedgerRecord):
    """One step of a credit repair (clauses (11)(12)): applied, accepted (effective) or refused.

    The subject is a commitment and the record a keyed record commitment; the record key itself and
    the evidence stay in the repair store (the evidence as its digest here). ``free_of_charge`` is
    always true: the model has no fee.
    """

    kind: ClassVar[str] = "repair"

    action: RepairAction
    repair_id: str
    item: str
    record_commitment: str
    subject: SubjectRef
    client_id: str
    department: str
    mode: str
    decision: Outcome
    reasons: tuple[RecordedReason, ...]
    evidence_kinds: tuple[str, ...]
    evidence_digest: str
    due_at: str  # RFC 3339: the time limit for deciding
    effective_at: str | None = None
    overdue: bool = False  # decided after the time limit
    recipients: int | None = None  # on accept: departments to be told

    def as_dict(self) -> dict[str, Any]:
        """Record form."""
        return {
            "kind": self.kind,
            "action": self.action,
            "repair_id": self.repair_id,
            "items": [{"item": self.item, "fields": [], "rows": 0}],
            "record_commitment": self.record_commitment,
            "subjects": [self.subject.as_dict()],
            "client_id": self.client_id,
            "department": self.department,
            "mode": self.mode,
            "decision": self.decision,
            **_reasons(self.reasons),
            "evidence_kinds": sorted(self.evidence_kinds),
            "evidence_digest": self.evidence_digest,
            "due_at": self.due_at,
            "effective_at": self.effective_at,
            "overdue": self.overdue,
            "recipients": self.recipients,
            "free_of_charge": True,
        }


@dataclass(frozen=True, slots=True)
class NotificationRecord(LedgerRecord):
    """A recipient department told of a repair: issued, delivered by webhook, or acknowledged."""

    kind: ClassVar[str] = "notification"

    action: NotificationAction
    notification_id: str
    repair_id: str
    item: str
    record_commitment: str
    recipient: str  # the department told
    received_index: int  # the ledger index of the query through which it received the record
    client_id: str | None = None  # who acknowledged (acknowledged only)
    attempts: int | None = None  # webhook attempts (delivered only)

    def as_dict(self) -> dict[str, Any]:
        """Record form; ``department`` is the recipient, so auditors filter on it."""
        return {
            "kind": self.kind,
            "action": self.action,
            "notification_id": self.notification_id,
            "repair_id": self.repair_id,
            "items": [{"item": self.item, "fields": [], "rows": 0}],
            "record_commitment": self.record_commitment,
            "department": self.recipient,
            "received_index": self.received_index,
            "client_id": self.client_id,
            "attempts": self.attempts,
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
    KeyHandoverRecord,
    InvalidRecord,
    GrantReconciliationRecord,
    PolicyChangeRecord,
    RepairRecord,
    NotificationRecord,
    ListingRecord,
)
# Every kind the store accepts: exactly those written above.
KINDS = frozenset(t.kind for t in RECORD_TYPES)
