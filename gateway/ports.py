"""Protocols the services depend on; adapters implement them.

Everything here is synchronous: request handlers run in FastAPI's thread pool, and the per-thread
policy engine relies on that.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from gateway.domain.catalog import FieldSpec
from gateway.domain.decision import ItemDecision
from gateway.domain.desensitize.text_scan import Finding
from gateway.domain.grants import Grant, Revocation
from gateway.domain.ledger.envelope import StoredEntry
from gateway.domain.ledger.records import LedgerRecord
from gateway.domain.ledger.terms import EntryFilter
from gateway.domain.lists import ListEntry, ListingStatus
from gateway.domain.query import Condition as Condition  # re-exported for adapters
from gateway.domain.query import SourceQuery as SourceQuery
from gateway.domain.transparency.checkpoint import SignedCheckpoint

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
    """A token request as it reached the HTTP layer; ``body`` is None when it was too large to read."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None


@dataclass(frozen=True, slots=True)
class OAuthReply:
    """What the token endpoint answers: status, JSON body and headers (RFC 6749 §5.1 or §5.2)."""

    status: int
    body: dict[str, JSON]
    headers: Sequence[tuple[str, str]]


class AuthorizationServer(Protocol):
    """The gateway's OAuth 2.0 authorization server: client-credentials tokens, keys and metadata."""

    @property
    def issuer(self) -> str:
        """The issuer identifier written into every token."""
        ...

    def token(self, request: TokenHttpRequest) -> OAuthReply:
        """Answer one token request; a refusal is an RFC 6749 §5.2 error reply, never an exception."""
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
