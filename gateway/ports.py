"""Protocols the services depend on; adapters implement them.

Everything here is synchronous: request handlers run in FastAPI's thread pool, and the per-thread
policy engine relies on that. The one exception is ``AuthorizationServer.token``: it awaits secret
hashing in its own bounded pool, so a burst of token requests never holds the threads queries use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from gateway.domain.catalog import FieldSpec
from gateway.domain.decision import ItemDecision
from gateway.domain.desensitize.text_scan import Finding
from gateway.domain.grants import Grant, Revocation
from gateway.domain.ledger.envelope import StoredEntry
from gateway.domain.ledger.records import LedgerRecord
from gateway.domain.ledger.terms import EntryFilter
from gateway.domain.lists import ListEntry, ListingStatus
from gateway.domain.policy_bundle import ReplayedDecision
from gateway.domain.query import Condition as Condition  # re-exported for adapters
from gateway.domain.query import SourceQuery as SourceQuery
from gateway.domain.repairs import (
    Notification,
    OutboxTask,
    Recipient,
    RefusalReason,
    Repair,
    RepairEffect,
    Webhook,
)
from gateway.domain.throttle import LockoutPolicy
from gateway.domain.transparency.checkpoint import SignedCheckpoint
from gateway.domain.transparency.witness import Witnessed

JSON = Any  # a JSON-compatible value: dict, list, str, int, float, bool or None


class Clock(Protocol):
    """Where the current time comes from (tests pass a fixed one)."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class PolicyEngine(Protocol):
    """Evaluates Rego entrypoints over the loaded policies and catalog data."""

    @property
    def revision(self) -> str:
        """Digest of every policy source and data file loaded: the policy revision."""
        ...

    def evaluate(self, entrypoint: str, input_document: Mapping[str, JSON]) -> JSON:
        """Evaluate ``data.<entrypoint>`` with ``input``; raise PolicyEngineError on any failure.

        Returns None when the rule is undefined (callers treat that as a refusal).
        """
        ...


@runtime_checkable
class PinnablePolicyEngine(Protocol):
    """A PolicyEngine that can switch bundles while serving: ``pinned`` fixes one for a decision."""

    def pinned(self) -> PolicyEngine:
        """The bundle serving now, as an engine whose ``revision`` is the one its ``evaluate`` uses."""
        ...


class DataSource(Protocol):
    """A departmental database, read-only."""

    def fetch(self, query: SourceQuery) -> list[dict[str, JSON]]:
        """Run the query; rows are keyed by released field name. Raise SourceError on failure."""
        ...


class SourceRegistry(Protocol):
    """Finds the DataSource for a catalog database id."""

    def source(self, database: str) -> DataSource:
        """The source for ``database``; raise SourceError if it is not configured."""
        ...


@dataclass(frozen=True, slots=True)
class Receipt:
    """Proof of registration handed back to the caller."""

    index: int
    leaf_hash: str  # hex

    def as_dict(self) -> dict[str, JSON]:
        """Wire form of the receipt."""
        return {"index": self.index, "leaf_hash": self.leaf_hash}


class Ledger(Protocol):
    """The append-only register of queries, grants, reviews and repairs (clause (13))."""

    def append(self, entry: LedgerRecord) -> Receipt:
        """Durably append one record; return only once it is committed. Raise LedgerError on failure."""
        ...


@runtime_checkable
class QueuedLedger(Protocol):
    """A Ledger that can also queue an append and report its outcome later, without a waiting thread.

    The query path awaits its receipt on the event loop this way (``services.registration``).
    """

    @property
    def append_timeout_s(self) -> float:
        """How long an append may take before its caller fails closed."""
        ...

    def append_soon(
        self, entry: LedgerRecord, done: Callable[[Receipt | None, Exception | None], None]
    ) -> None:
        """Queue ``entry``; ``done(receipt, error)`` is called once, on another thread, after COMMIT
        (or with the LedgerError). Raise LedgerError at once when nothing can be queued."""
        ...


class KeyStore(Protocol):
    """Access to the gateway's keys; private material never leaves the adapter unasked."""

    def secret(self, name: str) -> bytes:
        """A named 32-byte symmetric secret (e.g. "commitment", "pseudonym", "encryption")."""
        ...

    def private_key_pem(self, name: str) -> bytes:
        """The current private key named ``name`` ("token", "ledger") in PEM."""
        ...

    def public_keys_pem(self, name: str) -> Sequence[bytes]:
        """Public keys for ``name``, current first, then previous ones kept after rotation."""
        ...


class Desensitizer(Protocol):
    """Applies a decision's obligations to rows before they leave."""

    def desensitize(
        self,
        rows: Sequence[Mapping[str, JSON]],
        item: ItemDecision,
        fields: Mapping[str, FieldSpec],
        recipient: str,
    ) -> list[dict[str, JSON]]:
        """Return desensitized copies; raise DesensitizationError if anything would leak."""
        ...


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the OAuth client, its department and the scopes its token grants."""

    client_id: str
    department: str
    scopes: frozenset[str]
    issuer: str
    token_id: str | None = None


class Authenticator(Protocol):
    """Turns a bearer token into a Principal or raises AuthenticationFailed."""

    def authenticate(self, token: str) -> Principal:
        """The principal the token names; raise AuthenticationFailed otherwise."""
        ...


class GrantStore(Protocol):
    """Where grants live (the ledger's database). Reads are never cached."""

    def insert(self, grant: Grant) -> None:
        """Store a new, still unregistered grant."""
        ...

    def mark_registered(self, grant_id: str, ledger_index: int) -> None:
        """Record the ledger index of the grant's registration."""
        ...

    def discard(self, grant_id: str) -> None:
        """Delete a grant whose registration failed."""
        ...

    def revoke(self, grant_id: str, revocation: Revocation) -> Grant:
        """Revoke atomically: NotFound if absent or unregistered, Conflict(grant_already_revoked) if so."""
        ...

    def mark_revocation_registered(self, grant_id: str, ledger_index: int) -> None:
        """Record the ledger index of the grant's revocation."""
        ...

    def mark_revocation_unregistered(self, grant_id: str) -> None:
        """The revocation stands but could not be registered; a retry may complete it."""
        ...

    def claim_revocation_retry(self, grant_id: str) -> bool:
        """Atomically claim a failed revocation registration; True for exactly one caller."""
        ...

    def get(self, grant_id: str) -> Grant | None:
        """The grant, read from the store now."""
        ...

    def find(
        self,
        *,
        subject_commitment: str | None = None,
        recipient: str | None = None,
        visible_to: str | None = None,
        limit: int = 100,
    ) -> Sequence[Grant]:
        """Grants matching every filter given."""
        ...

    def unfinished(self, older_than: datetime) -> Sequence[Grant]:
        """Grants left half-changed before ``older_than``: still pending (no registration index), or
        revoked without a revocation index; what start-up reconciliation looks at."""
        ...


class GrantChanges(Protocol):
    """Writes each grant change in one transaction with its ledger entry.

    Available when the grant store and the ledger share a database: a crash then leaves either both
    or neither, never a grant pending after its entry was written, nor a revocation without its entry.
    """

    def register(self, grant: Grant, record: LedgerRecord) -> Receipt:
        """Append ``record`` and store ``grant`` as registered at its index, all or nothing."""
        ...

    def revoke(self, grant_id: str, revocation: Revocation, record: LedgerRecord) -> Receipt:
        """Revoke a registered, unrevoked grant and append ``record``, all or nothing; NotFound or
        Conflict(grant_already_revoked) with nothing written otherwise."""
        ...

    def complete_revocation(self, grant_id: str, record: LedgerRecord) -> Receipt:
        """Append ``record`` for a revocation that has no entry yet and note its index, all or
        nothing; Conflict when another request or process registered it meanwhile."""
        ...


@dataclass(frozen=True, slots=True)
class Actor:
    """The authenticated client acting on grants, and the department it acts for."""

    client_id: str
    department: str


class GrantLookup(Protocol):
    """Reads a stored grant for the query path; always from the store, never from a cache."""

    def grant_for_query(self, grant_id: str, department: str) -> Mapping[str, Any] | None:
        """The grant as the policy input expects it, or None if there is no such grant."""
        ...


class AuditStore(Protocol):
    """What the audit service needs from the ledger store (``SqlLedger`` implements it)."""

    origin: str

    def append(self, entry: LedgerRecord) -> Receipt:
        """Durably append one record."""
        ...

    def checkpoint(self) -> SignedCheckpoint:
        """The latest checkpoint, signed now if the log has grown since."""
        ...

    def checkpoint_at(self, size: int) -> SignedCheckpoint | None:
        """The checkpoint of exactly ``size``."""
        ...

    def checkpoints(self, up_to: int | None = None) -> list[SignedCheckpoint]:
        """Checkpoints of at most ``up_to`` entries, smallest first."""
        ...

    def entry(self, index: int) -> StoredEntry | None:
        """One entry."""
        ...

    def entries(self, query: EntryFilter) -> list[StoredEntry]:
        """One page of matching entries."""
        ...

    def iter_entries(self, query: EntryFilter, up_to: int | None = None) -> Iterator[StoredEntry]:
        """Every matching entry below ``up_to``, ascending."""
        ...

    def reviews_of(self, index: int) -> list[StoredEntry]:
        """Review entries targeting ``index``."""
        ...

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 inclusion path."""
        ...

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """RFC 9162 consistency path."""
        ...

    def root_at(self, size: int) -> bytes:
        """Root of the first ``size`` entries."""
        ...

    def verifier_keys(self) -> dict[str, str]:
        """Signed-note vkeys of the current checkpoint key."""
        ...


class LedgerSource(Protocol):
    """What the verifier reads: checkpoint notes, an unsigned entry count, and the leaves in order."""

    fully_signed: bool  # True when every entry must be covered by a checkpoint (exports)

    def checkpoint_notes(self) -> list[str]:
        """Every checkpoint note the source holds."""
        ...

    def size_hint(self) -> int | None:
        """How many entries the source says it has (not trusted; a cross-check)."""
        ...

    def leaves(self) -> Iterator[tuple[int | None, bytes, bytes | None]]:
        """(stored index or None, leaf bytes, stored leaf hash or None), in log order."""
        ...

    def signed_head(self) -> tuple[int, str | None] | None:
        """(size the head records, the signed note covering it or None); None for a source without one."""
        ...


class LedgerIndexSource(Protocol):
    """What the verifier reads of a ledger database's index: what the audit filters and reports rely on."""

    def indexed_entries(self) -> Iterator[tuple[int, bytes, Mapping[str, object]]]:
        """(index, leaf bytes, indexed columns by name) of every entry, in index order."""
        ...

    def terms_rows(self) -> Iterator[tuple[int, str, str]]:
        """(index, term, value) of every terms row, ordered by index, term and value."""
        ...


class TextScanner(Protocol):
    """Finds entities in free text (the fast scanner here, or the Presidio analyzer adapter)."""

    def scan(self, text: str) -> list[Finding]:
        """All findings in ``text``, before overlaps between entities are resolved."""
        ...


class RegisteredClient(Protocol):
    """An OAuth client as registered: who it is, whom it acts for, which scopes it may be granted."""

    @property
    def client_id(self) -> str:
        """The client's identifier."""
        ...

    @property
    def department(self) -> str:
        """The department the client acts for."""
        ...

    @property
    def scopes(self) -> frozenset[str]:
        """Every scope the client may be granted."""
        ...


class ClientRegistry(Protocol):
    """The registered OAuth clients (the clients file implements it)."""

    def get(self, client_id: str) -> RegisteredClient | None:
        """The client registered as ``client_id``, or None."""
        ...

    def authenticate(self, client_id: str, secret: str) -> RegisteredClient | None:
        """The client if ``secret`` is its secret; the same cost whether or not the client exists."""
        ...


@dataclass(frozen=True, slots=True)
class TokenHttpRequest:
    """A token request as it reached the HTTP layer; ``body`` is None when it was too large to read.

    ``client_address`` is the peer's IP address (as uvicorn reports it, proxy headers applied), the
    key of per-address throttling.
    """

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None
    client_address: str | None = None


class TokenThrottleStore(Protocol):
    """Failure counts and lockouts of the token endpoint, shared by every worker and replica."""

    def locked_until_ms(self, keys: Sequence[str]) -> dict[str, int]:
        """The lockout end (epoch ms) of each key that has one recorded."""
        ...

    def record_failure(self, key: str, now_ms: int, policy: LockoutPolicy) -> int:
        """Count one failure of ``key`` under ``policy``; return its lockout end (0: none)."""
        ...

    def clear(self, key: str) -> None:
        """Forget the failures and lockout of ``key``."""
        ...


@dataclass(frozen=True, slots=True)
class OAuthReply:
    """What the token endpoint answers: status, JSON body and headers (RFC 6749 §5.1 or §5.2)."""

    status: int
    body: dict[str, JSON]
    headers: Sequence[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class WrappedFieldKey:
    """A recipient's field-decryption key wrapped to a public key it presented (never in clear)."""

    recipient: str
    algorithm: str  # the field cipher the key opens (aes-256-gcm, sm4-gcm)
    key_id: str
    wrapping: str  # how it is wrapped (X25519-HKDF-SHA256-AES-256-GCM)
    recipient_key: str  # fingerprint of the public key it was wrapped to
    ephemeral_public_key: str
    nonce: str
    wrapped_key: str


class FieldKeyWrapper(Protocol):
    """Wraps the key a recipient decrypts its ``encrypt``-obligation fields with."""

    def wrap_for(self, recipient: str, public_key: str) -> WrappedFieldKey:
        """``recipient``'s field key wrapped to ``public_key`` (base64url X25519); InvalidRequest
        when the public key is not one."""
        ...


class AuthorizationServer(Protocol):
    """The gateway's OAuth 2.0 authorization server: client-credentials tokens, keys and metadata."""

    @property
    def issuer(self) -> str:
        """The issuer identifier written into every token."""
        ...

    async def token(self, request: TokenHttpRequest) -> OAuthReply:
        """Answer one token request; an OAuth refusal is an RFC 6749 §5.2 error reply. Throttling,
        a saturated hashing pool and an identifier in a form field raise GatewayError instead
        (problem+json: ``token_throttled``, ``token_endpoint_busy``, ``identifier_in_text``)."""
        ...

    def jwks(self) -> dict[str, JSON]:
        """The token-verification public keys as a JWK Set (RFC 7517), current first."""
        ...

    def metadata(self) -> dict[str, JSON]:
        """The RFC 8414 authorization server metadata."""
        ...


# --- the console: people, not OAuth clients ---


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    """A person who signs in to the console: their department, role and the scopes that role carries."""

    username: str
    display_name: str
    department: str
    role: str
    scopes: frozenset[str]
    totp_digest: str  # a digest of the current TOTP seed, so a reset seed is known to need enrolment

    @property
    def actor(self) -> Actor:
        """How the person appears in ledger records: ``console:<username>`` for their department."""
        return Actor(f"console:{self.username}", self.department)


class ConsoleUserDirectory(Protocol):
    """The configured console users (a file beside the clients file)."""

    def get(self, username: str) -> ConsoleUser | None:
        """The enabled user named ``username``, or None (unknown or disabled)."""
        ...

    def check_password(self, username: str, password: str) -> ConsoleUser | None:
        """The enabled user if ``password`` is theirs; unknown names cost what a wrong password costs."""
        ...

    def totp_step(self, username: str, code: str, now: datetime) -> int | None:
        """The TOTP time step ``code`` is valid for at ``now`` (one step of drift allowed), or None."""
        ...

    def enrolment_uri(self, username: str) -> str:
        """The otpauth:// URI an authenticator app enrols from."""
        ...


class ConsoleSessionStore(Protocol):
    """Sessions, failure counts and used TOTP steps, shared by every worker process."""

    def locked_until(self, account: str, now: datetime) -> datetime | None:
        """When the lockout of ``account`` ends, or None when it is not locked."""
        ...

    def record_failure(self, account: str, now: datetime, *, limit: int, lock_for_s: int) -> bool:
        """Count one failed attempt; True when this attempt locked the account."""
        ...

    def clear_failures(self, account: str) -> None:
        """Forget failed attempts after a successful login."""
        ...

    def claim_totp_step(self, account: str, step: int) -> bool:
        """True once per account and step, and only for steps later than every step claimed before."""
        ...

    def is_enrolled(self, account: str, totp_digest: str) -> bool:
        """True when the person confirmed this TOTP seed with a code."""
        ...

    def mark_enrolled(self, account: str, totp_digest: str) -> None:
        """Record that the person confirmed this TOTP seed."""
        ...

    def create(self, username: str, stage: str, now: datetime) -> str:
        """A new session (``stage``: enrol | full); returns the token, only its digest is stored."""
        ...

    def touch(self, token: str, now: datetime, *, idle_s: int, absolute_s: int) -> tuple[str, str] | None:
        """(username, stage) of a live session, refreshing its idle timer; None if gone or expired."""
        ...

    def revoke(self, token: str) -> None:
        """End one session (logout)."""
        ...


# --- observability ---


class Metrics(Protocol):
    """Counters and timings for Prometheus; every label value is checked against a known set."""

    def stage(self, name: str) -> AbstractContextManager[None]:
        """Time the block as one observation of ``name`` (decide, read, desensitize, register)."""
        ...

    def count_query(self, *, department: str, purpose: str, decision: str, reason: str) -> None:
        """Count one query outcome; values outside the catalog's codes are counted as ``other``."""
        ...

    def count_request(self, route: str, status: int) -> None:
        """Count one HTTP response by route template (never the raw path) and status."""
        ...

    def count_throttled(self, reason: str) -> None:
        """Count one token request refused by the token endpoint's throttle (client, address, busy)."""
        ...

    def exposition(self) -> tuple[bytes, str]:
        """The scrape body over every worker process, and its content type."""
        ...


class LedgerObservation(Protocol):
    """What the ledger gauges read at scrape time."""

    def size(self) -> int:
        """Entries in the log."""
        ...

    def latest_checkpoint_time(self) -> int | None:
        """POSIX seconds of the latest signed checkpoint, or None before the first."""
        ...

    def latest_cosignature_time(self) -> int | None:
        """POSIX seconds of the latest witness cosignature, or None when there is none."""
        ...


# --- the policy workbench ---


@dataclass(frozen=True, slots=True)
class PolicyBundle:
    """A stored bundle: the base one the gateway started with, or a draft pushed by someone."""

    id: int
    revision: str
    content_digest: str
    parent_revision: str | None
    author: str
    department: str
    created_at: datetime
    files: Mapping[str, bytes]
    diff: str
    status: str  # base | draft | approved | active | retired
    approver: str | None = None
    check_ok: bool | None = None
    check_report: Mapping[str, Any] | None = None
    replay_report: Mapping[str, Any] | None = None
    replay_digest: str | None = None


@dataclass(frozen=True, slots=True)
class PolicyHistoryEntry:
    """One activation or rollback, as the store keeps it (the ledger entry is at ``ledger_index``)."""

    seq: int
    action: str
    bundle_id: int
    revision: str
    parent_revision: str
    author: str
    approver: str
    at: datetime
    ledger_index: int


class PolicyBundleStore(Protocol):
    """Bundles and drafts, the active one, and the history of activations."""

    def add(self, bundle: PolicyBundle) -> int:
        """Store a bundle (its ``id`` is ignored) and return its new id."""
        ...

    def get(self, bundle_id: int) -> PolicyBundle | None:
        """The bundle with this id."""
        ...

    def recent(self, limit: int = 100) -> list[PolicyBundle]:
        """The latest bundles, newest first."""
        ...

    def save_check(self, bundle_id: int, ok: bool, report: Mapping[str, Any]) -> None:
        """Keep the outcome of a draft's checks."""
        ...

    def save_replay(self, bundle_id: int, report: Mapping[str, Any], digest: str) -> None:
        """Keep a draft's latest replay report."""
        ...

    def set_status(self, bundle_id: int, status: str, approver: str | None = None) -> None:
        """Change a bundle's status (and its approver, when given)."""
        ...

    def active(self) -> tuple[int, str] | None:
        """(bundle id, revision) of the active bundle, or None before the first is set."""
        ...

    def set_active(self, bundle_id: int, revision: str, now: datetime) -> bool:
        """Make the bundle active only if none is (the first start); whether it was set."""
        ...

    def switch(self, entry: PolicyHistoryEntry, previous_bundle: int | None) -> None:
        """Make ``entry``'s bundle the active one and record ``entry``, in one transaction."""
        ...

    def history(self, limit: int = 100) -> list[PolicyHistoryEntry]:
        """Activations and rollbacks, newest first."""
        ...


class PolicyInputStore(Protocol):
    """The identifier-free policy input of each query, kept by ledger index for what-if and replay."""

    def keep(self, ledger_index: int, digest: str, input_json: str) -> None:
        """Keep one input beside its ledger entry."""
        ...

    def get_input(self, ledger_index: int) -> str | None:
        """The input kept with this entry, as JSON text."""
        ...

    def select(
        self, *, last: int | None = None, first_index: int | None = None, last_index: int | None = None
    ) -> list[tuple[int, str]]:
        """(ledger index, input JSON) of the last ``last`` inputs, or of a window of indexes, ascending."""
        ...


class PolicyLab(Protocol):
    """Engines built from bundles that are not serving: compile, test, evaluate and replay them."""

    def revision_of(self, files: Mapping[str, bytes]) -> str:
        """The revision the engine reports for these files."""
        ...

    def check(self, files: Mapping[str, bytes]) -> dict[str, Any]:
        """Compile (embedded engine; OPA's library where installed), test with coverage, check the catalog."""
        ...

    def evaluate(self, files: Mapping[str, bytes], input_document: Mapping[str, Any]) -> Any:
        """The decision document of the query entrypoint for one input (None if undefined)."""
        ...

    def replay(
        self,
        base: Mapping[str, bytes],
        draft: Mapping[str, bytes],
        inputs: Sequence[tuple[int, str]],
        progress: Callable[[int], None] | None = None,
    ) -> list[ReplayedDecision]:
        """Evaluate every input on both bundles, on every core."""
        ...


# --- credit repair (clauses (11)(12)) ---


class RepairStore(Protocol):
    """Applications, notifications, the outbox and webhooks, in the gateway database (never cached)."""

    def insert(self, repair: Repair) -> None:
        """Store a new application."""
        ...

    def discard(self, repair_id: str) -> None:
        """Delete an application whose registration failed."""
        ...

    def mark_registered(self, repair_id: str, ledger_index: int) -> None:
        """Record the ledger index of the application's entry."""
        ...

    def mark_decision_registered(self, repair_id: str, ledger_index: int) -> None:
        """Record the ledger index of the decision's entry."""
        ...

    def get(self, repair_id: str) -> Repair | None:
        """One application."""
        ...

    def find(
        self,
        *,
        department: str | None = None,
        status: str | None = None,
        overdue_at: datetime | None = None,
        limit: int = 100,
    ) -> list[Repair]:
        """Applications matching every filter."""
        ...

    def open_for_record(self, item: str, record_key: str) -> Repair | None:
        """An application for the record that is applied or effective."""
        ...

    def count_overdue(self, now: datetime) -> int:
        """Applications undecided past their time limit."""
        ...

    def refuse(self, repair_id: str, decided_at: datetime, reasons: Sequence[RefusalReason]) -> Repair:
        """Refuse atomically; RepairAlreadyDecided when decided already."""
        ...

    def accept(
        self, repair_id: str, decided_at: datetime, settle_at: datetime, lease_until: datetime
    ) -> tuple[Repair, list[OutboxTask]]:
        """Make effective and write its outbox tasks in one transaction; return those leased to the caller."""
        ...

    def effective_for(self, items: Sequence[str], subject_commitments: Sequence[str]) -> list[Repair]:
        """Effective repairs of these items about these subjects."""
        ...

    def effective_of_department(self, department: str, since: datetime | None = None) -> list[Repair]:
        """Effective repairs of one source department."""
        ...

    def add_notifications(self, repair_id: str, recipients: Sequence[Recipient], now: datetime) -> int:
        """Create missing notifications and their tasks in one transaction."""
        ...

    def notification(self, notification_id: str) -> Notification | None:
        """One notification."""
        ...

    def notifications(
        self,
        *,
        department: str | None = None,
        unacknowledged: bool = False,
        repair_id: str | None = None,
        limit: int = 100,
    ) -> list[Notification]:
        """Notifications matching every filter."""
        ...

    def acknowledge(
        self, notification_id: str, department: str, by: str, now: datetime
    ) -> Notification | None:
        """Acknowledge once; None if already acknowledged or not the department's."""
        ...

    def set_notification(self, notification_id: str, **values: Any) -> None:
        """Record a ledger index or delivery time."""
        ...

    def due_tasks(self, now: datetime, limit: int = 50, repair_id: str | None = None) -> list[OutboxTask]:
        """Tasks due and not leased."""
        ...

    def pending_tasks(self) -> int:
        """Tasks not done."""
        ...

    def claim(self, task_id: str, now: datetime, lease_s: float) -> bool:
        """Lease a task; True for exactly one claimant."""
        ...

    def complete(self, task_id: str, now: datetime) -> None:
        """Mark a task done."""
        ...

    def retry_later(self, task_id: str, at: datetime, error: str) -> None:
        """Release a task for a later attempt."""
        ...

    def set_webhook(self, webhook: Webhook, now: datetime) -> None:
        """Register or replace a department's webhook."""
        ...

    def webhook(self, department: str) -> Webhook | None:
        """A department's webhook."""
        ...


class RepairedListings(Protocol):
    """What a repair taking effect does to the lists (``ListService`` implements it, clause (11))."""

    def remove_on_repair(
        self, caller: Actor, subject_commitment: str, item: str | None = None
    ) -> Sequence[object]:
        """Take the subject off the lists ``item``'s records found; each removal a ledger entry."""
        ...


class RepairObservation(Protocol):
    """What the repair gauge reads at scrape time (``RepairService`` implements it)."""

    def overdue_count(self) -> int:
        """Applications undecided past their time limit (clause (12))."""
        ...


class RepairView(Protocol):
    """What the query path reads of repairs (``RepairService`` implements it)."""

    def effects_for(
        self, items: Sequence[str], subject_commitments: Sequence[str]
    ) -> Mapping[str, Mapping[str, RepairEffect]]:
        """item -> record key -> effect, read now; RepairStoreError when the store cannot be read."""
        ...

    def record_commitment(self, item: str, record_key: str) -> str:
        """The keyed commitment of one record."""
        ...

    def recipient_ref(self, department: str, commitment: str) -> str:
        """A recipient's own reference to a record."""
        ...


class ReceiptSearch(Protocol):
    """Reads the ledger's allowed query entries (``SqlLedger`` implements it through ``iter_entries``)."""

    def iter_entries(self, query: EntryFilter, up_to: int | None = None) -> Iterator[StoredEntry]:
        """Every matching entry, ascending."""
        ...

    def entry(self, index: int) -> StoredEntry | None:
        """One entry."""
        ...


@dataclass(frozen=True, slots=True)
class WebhookReply:
    """What a webhook receiver answered: its status, or None when it could not be reached."""

    status: int | None
    error: str | None = None


class WebhookSender(Protocol):
    """Posts one signed notification to a department's webhook."""

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> WebhookReply:
        """POST ``body``; never raises for a receiver's failure (the reply says it)."""
        ...


class WitnessState(Protocol):
    """A witness's own storage: per log origin, the latest checkpoint it cosigned."""

    def latest(self, origin: str) -> Witnessed | None:
        """The latest checkpoint cosigned for ``origin``, or None."""
        ...

    def advance(self, origin: str, old_size: int, cosigned: Witnessed) -> bool:
        """Record ``cosigned`` if the stored size still is ``old_size`` (0: none), atomically; False if
        another request moved it first."""
        ...


class WitnessClient(Protocol):
    """One configured witness, reached over c2sp.org/tlog-witness ``add-checkpoint``."""

    name: str  # the witness's key name
    public_key: bytes  # its raw Ed25519 cosigning key

    def add_checkpoint(self, old_size: int, proof: Sequence[bytes], note: str) -> list[str]:
        """The witness's signature lines; WitnessError (``known_size`` set on a 409) otherwise."""
        ...

    def close(self) -> None:
        """Release its connections."""
        ...


class CosignatureStore(Protocol):
    """The cosigned checkpoints the gateway collected from its witnesses."""

    def add(self, witness: str, cosigned: Witnessed) -> None:
        """Keep a checkpoint note with ``witness``'s cosignature."""
        ...

    def latest(self, witness: str) -> Witnessed | None:
        """The largest checkpoint ``witness`` cosigned for this log, or None."""
        ...

    def latest_cosignature_at(self) -> datetime | None:
        """When the newest cosignature of any witness was made (for the cosignature-age metric)."""
        ...


class CheckpointSource(Protocol):
    """What the witness submitter reads of the ledger: its latest checkpoint and consistency proofs."""

    def checkpoint(self) -> SignedCheckpoint:
        """The checkpoint of the current tree."""
        ...

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """The RFC 9162 consistency proof between two tree sizes."""
        ...


class ListMemberships(Protocol):
    """The seriously-untrustworthy lists subjects are currently on (clauses (6)-(10)), by commitment."""

    def current_lists(self, commitments: Sequence[str]) -> list[frozenset[str]]:
        """Per commitment, in order, the ids of the lists its subject is on now (listed, not removed)."""
        ...


class ListStore(Protocol):
    """Where list entries and their place in the listing procedure are kept (clauses (6)-(8))."""

    def insert(self, entry: ListEntry) -> None:
        """Store a new proposal."""
        ...

    def replace(self, entry: ListEntry, expected: ListingStatus) -> None:
        """Write ``entry`` over the stored one if that one is still ``expected``; Conflict otherwise."""
        ...

    def get(self, entry_id: str) -> ListEntry | None:
        """The entry with this id, or None."""
        ...

    def current_lists(self, commitments: Sequence[str]) -> list[frozenset[str]]:
        """For each commitment, the ids of the lists its subject is on now."""
        ...

    def listed(self, list_id: str) -> list[ListEntry]:
        """Every entry currently on ``list_id``."""
        ...

    def listed_for_subject(self, commitment: str) -> list[ListEntry]:
        """Every entry the subject with this commitment is currently listed under."""
        ...
