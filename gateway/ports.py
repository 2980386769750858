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
