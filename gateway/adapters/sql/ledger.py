"""The query ledger on SQLAlchemy: SQLite (WAL) embedded, PostgreSQL in production.

Appends go through one *committer thread* per ``SqlLedger``: callers hand over their record and
block; the thread takes everything queued (up to ``max_batch``), encodes it (outside the
transaction), writes it in one transaction and wakes each caller with its receipt only after
COMMIT returned. One fsync serves a whole batch (group commit), and no caller returns before its
entry is durable. An entry that cannot be encoded fails alone; a failed write fails its batch.

Serializing writers across threads, worker processes and replicas:

* PostgreSQL: ``SELECT ... FROM ledger_head WHERE id = 1 FOR UPDATE`` opens every write
  transaction. The head row holds the tree size and frontier, so the next writer waits for the
  lock, then reads the size the previous writer committed: indexes are never reused and the tree
  never forks. The primary key on the index is a second line of defence.
* SQLite: ``BEGIN IMMEDIATE`` takes the database write lock before the head is read (a deferred
  BEGIN could read a stale head and fail later); other processes wait in the busy handler.
  ``journal_mode=WAL`` lets readers (the audit API) run beside the writer. ``synchronous=FULL``:
  in WAL mode NORMAL only syncs at checkpoints, so a power cut could lose commits whose receipts
  already left; FULL syncs the WAL on every commit, and group commit pays that once per batch.

Each entry stores its leaf bytes, its leaf hash and the columns the audit API filters on; every
completed interior node of the tree is stored too, so inclusion and consistency proofs are
O(log n) lookups and an append never recomputes the tree. Checkpoints are signed with the
keystore's Ed25519 ``ledger`` key every ``checkpoint_every`` entries, when ``checkpoint_interval_s``
has passed since the last one, and on demand (``checkpoint()``).
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from gateway.domain.ledger.envelope import StoredEntry, canonical_record, envelope_bytes, format_time
from gateway.domain.ledger.export import parse_export_line
from gateway.domain.ledger.records import LedgerRecord
from gateway.domain.ledger.terms import EntryFilter, EntryTerms, entry_terms
from gateway.domain.transparency import merkle
from gateway.domain.transparency.checkpoint import (
    Checkpoint,
    SignedCheckpoint,
    open_checkpoint,
    sign_checkpoint,
    verifier_key,
)
from gateway.errors import ConfigurationError, GatewayError, InvalidRequest, KeyUnavailable, LedgerError
from gateway.ports import Clock, KeyStore, Receipt

log = logging.getLogger("gateway.ledger")

LEDGER_KEY = "ledger"
_HEAD_ID = 1
_READ_CHUNK = 5000
_ADVISORY_KEY = 0x6C6564676572  # "ledger": serializes schema creation on PostgreSQL

# --- Ed25519 (the only place the ledger touches `cryptography`) ---


def ed25519_public_key(pem: bytes) -> bytes:
    """The raw 32-byte Ed25519 public key of a PEM (SubjectPublicKeyInfo) public key."""
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise KeyUnavailable("the ledger public key is unreadable") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyUnavailable("the ledger key must be Ed25519")
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Ed25519 verification (RFC 8032) over raw key bytes; never raises on a bad signature."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


class Ed25519Signer:
    """Signs with a PEM (PKCS#8) Ed25519 private key."""

    def __init__(self, private_pem: bytes) -> None:
        try:
            key = serialization.load_pem_private_key(private_pem, password=None)
        except (ValueError, TypeError) as exc:
            raise KeyUnavailable("the ledger signing key is unreadable") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyUnavailable("the ledger signing key must be Ed25519")
        self._key = key
        self.public_key = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    def sign(self, message: bytes) -> bytes:
        """An Ed25519 signature of ``message``."""
        return self._key.sign(message)


# --- schema ---

metadata = sa.MetaData()

ledger_head = sa.Table(
    "ledger_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("frontier", sa.LargeBinary, nullable=False),
    sa.Column("root_hash", sa.LargeBinary, nullable=False),
    sa.Column("checkpoint_size", sa.BigInteger, nullable=False),
    sa.Column("checkpoint_at", sa.BigInteger, nullable=False),  # POSIX seconds
)

ledger_entries = sa.Table(
    "ledger_entries",
    metadata,
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("leaf_hash", sa.LargeBinary, nullable=False),
    sa.Column("logged_at_us", sa.BigInteger, nullable=False),  # microseconds since the epoch, UTC
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("client_id", sa.String(200)),
    sa.Column("department", sa.String(200)),
    sa.Column("purpose", sa.String(200)),
    sa.Column("decision", sa.String(16)),
    sa.Column("target_index", sa.BigInteger),
    sa.Column("review_status", sa.String(16)),
    sa.Column("entry", sa.Text, nullable=False),  # the exact leaf bytes (canonical JSON, UTF-8)
    sa.Index("ix_ledger_entries_logged_at", "logged_at_us"),
    sa.Index("ix_ledger_entries_department", "department", "idx"),
    sa.Index("ix_ledger_entries_client", "client_id", "idx"),
    sa.Index("ix_ledger_entries_purpose", "purpose", "idx"),
    sa.Index("ix_ledger_entries_target", "target_index", "idx"),
)

ledger_terms = sa.Table(
    "ledger_terms",
    metadata,
    sa.Column("term", sa.String(16), primary_key=True),  # item | reason | subject
    sa.Column("value", sa.String(200), primary_key=True),
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
)

ledger_nodes = sa.Table(
    "ledger_nodes",
    metadata,
    sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hash", sa.LargeBinary, nullable=False),
)

ledger_checkpoints = sa.Table(
    "ledger_checkpoints",
    metadata,
    sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("root_hash", sa.LargeBinary, nullable=False),
    sa.Column("signed_at", sa.BigInteger, nullable=False),
    sa.Column("note", sa.Text, nullable=False),
)

_ENTRY_COLUMNS = (ledger_entries.c.idx, ledger_entries.c.leaf_hash, ledger_entries.c.entry)


def _is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(
    url: str, *, schema: str | None = None, pool_size: int = 5, read_only: bool = False
) -> Engine:
    """An engine configured for the ledger (SQLite pragmas, explicit BEGIN, schema translation).

    ``read_only`` leaves the database file as it is (no journal-mode switch), for verification.
    """
    is_sqlite = url.startswith("sqlite")
    if is_sqlite:
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30.0, "isolation_level": None},
        )

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            if not read_only:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            # pysqlite's own BEGIN is disabled (isolation_level=None); writers take the write lock
            # up front so the head they read cannot change under them.
            immediate = conn.get_execution_options().get("ledger_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    else:
        engine = sa.create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
    if schema is not None:
        engine = engine.execution_options(schema_translate_map={None: schema})
    return engine


def create_schema(engine: Engine) -> None:
    """Create the ledger tables and the head row if missing; safe to run from several processes."""
    with engine.connect().execution_options(ledger_write=True) as conn:
        if not _is_sqlite(engine):
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_ADVISORY_KEY)))
        metadata.create_all(conn, checkfirst=True)
        values = {
            "id": _HEAD_ID,
            "size": 0,
            "frontier": b"",
            "root_hash": merkle.EMPTY_ROOT,
            "checkpoint_size": -1,
            "checkpoint_at": 0,
        }
        dialect_insert = sqlite.insert if _is_sqlite(engine) else postgresql.insert
        conn.execute(dialect_insert(ledger_head).values(**values).on_conflict_do_nothing())
        conn.commit()


# --- rows and checkpoints ---


def _stored(row: Any) -> StoredEntry:
    return StoredEntry(index=int(row.idx), leaf_hash=bytes(row.leaf_hash), leaf=row.entry.encode())


def _signed(row: Any) -> SignedCheckpoint:
    return SignedCheckpoint(
        Checkpoint(_origin_of(row.note), int(row.size), bytes(row.root_hash)), int(row.signed_at), row.note
    )


def _origin_of(note: str) -> str:
    return note.split("\n", 1)[0]


def _micros(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _terms_rows(index: int, terms: EntryTerms) -> list[tuple[str, str, int]]:
    # Column order of ledger_terms.
    rows = [("item", v, index) for v in terms.items]
    rows += [("reason", v, index) for v in terms.reasons]
    rows += [("subject", v, index) for v in terms.commitments]
    return rows


def _table_name(engine: Engine, table: sa.Table, schema: str | None) -> str:
    prep = engine.dialect.identifier_preparer
    return (
        prep.quote(table.name) if schema is None else f"{prep.quote_schema(schema)}.{prep.quote(table.name)}"
    )


def _marker(engine: Engine) -> str:
    marker = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(engine.dialect.paramstyle)
    if marker is None:
        raise ConfigurationError(f"unsupported DBAPI parameter style {engine.dialect.paramstyle}")
    return marker


def _insert_sql(engine: Engine, table: sa.Table, schema: str | None) -> str:
    """A plain INSERT for DBAPI executemany: the bulk path skips SQLAlchemy's per-row work."""
    columns = ", ".join(engine.dialect.identifier_preparer.quote(c.name) for c in table.columns)
    placeholders = ", ".join([_marker(engine)] * len(table.columns))
    # Names come from our own table definitions, quoted by the dialect; values are bound parameters.
    return f"INSERT INTO {_table_name(engine, table, schema)} ({columns}) VALUES ({placeholders})"  # noqa: S608


class _Pending:
    """One caller's entry on its way through the committer, and the caller's wait for the outcome."""

    __slots__ = ("_done", "entry", "error", "receipt", "record", "terms")

    def __init__(self, entry: LedgerRecord) -> None:
        self.entry = entry
        self.record = b""
        self.terms: EntryTerms | None = None
        self.receipt: Receipt | None = None
        self.error: LedgerError | None = None
        self._done = threading.Lock()  # held until the outcome is known: the cheapest wake-up there is
        self._done.acquire()

    def resolve(self, receipt: Receipt | None = None, error: LedgerError | None = None) -> None:
        """Hand the outcome to the waiting caller."""
        self.receipt, self.error = receipt, error
        self._done.release()

    def wait(self, timeout: float) -> Receipt:
        """The receipt, once committed; LedgerError on failure or when ``timeout`` passes first."""
        if not self._done.acquire(timeout=timeout):
            # The entry may still commit later; the caller fails closed and sends nothing.
            raise LedgerError("the ledger did not confirm the entry in time")
        if self.error is not None:
            raise self.error
        assert self.receipt is not None  # noqa: S101 - resolve() sets one of the two
        return self.receipt

    def prepare(self) -> None:
        """Canonicalize and index the entry; raise LedgerError when it cannot be registered."""
        try:
            fields = self.entry.as_dict()
            self.record = canonical_record(fields)
            self.terms = entry_terms(fields)
        except InvalidRequest as exc:
            raise LedgerError(f"ledger entry refused: {exc.detail}") from exc


@dataclass(frozen=True, slots=True)
class TreeHead:
    """The current tree size and root (not signed; see checkpoints for that)."""

    size: int
    root_hash: bytes


class SqlLedger:
    """The Ledger port on SQLite or PostgreSQL, with group commit and signed checkpoints."""

    def __init__(
        self,
        url: str,
        keystore: KeyStore,
        origin: str,
        clock: Clock,
        *,
        schema: str | None = None,
        checkpoint_every: int = 1000,
        checkpoint_interval_s: float = 10.0,
        max_batch: int = 1000,
        append_timeout_s: float = 30.0,
        create: bool = True,
        engine: Engine | None = None,
    ) -> None:
        if checkpoint_every < 1 or max_batch < 1:
            raise ConfigurationError("checkpoint_every and max_batch must be at least 1")
        Checkpoint(origin, 0, merkle.EMPTY_ROOT).text()  # validates the origin as a key name
        self.origin = origin
        self.clock = clock
        self.checkpoint_every = checkpoint_every
        self.checkpoint_interval_s = checkpoint_interval_s
        self.max_batch = max_batch
        self.append_timeout_s = append_timeout_s
        self._keystore = keystore
        self._signer = Ed25519Signer(keystore.private_key_pem(LEDGER_KEY))
        self.engine = engine if engine is not None else make_engine(url, schema=schema)
        head_table = _table_name(self.engine, ledger_head, schema)
        mark = _marker(self.engine)
        lock = "" if _is_sqlite(self.engine) else " FOR UPDATE"
        # The hot path in plain SQL (no statement compilation per batch); names are our own.
        self._head_select = (
            f"SELECT size, frontier, checkpoint_size, checkpoint_at FROM {head_table} WHERE id = {mark}{lock}"  # noqa: S608
        )
        self._head_update = (
            f"UPDATE {head_table} SET size = {mark}, frontier = {mark}, root_hash = {mark} WHERE id = {mark}"  # noqa: S608
        )
        self._insert = {
            t.name: _insert_sql(self.engine, t, schema) for t in (ledger_entries, ledger_nodes, ledger_terms)
        }
        if create:
            try:
                create_schema(self.engine)
            except sa.exc.SQLAlchemyError as exc:
                raise LedgerError("the ledger schema cannot be created") from exc
        self._queue: collections.deque[_Pending] = collections.deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._dirty = False  # appended since this process last saw a checkpoint
        if create:
            # The genesis checkpoint (size 0) starts the clock of the time-based checkpoints; only
            # the first process to get here signs it.
            self.checkpoint()

    # --- keys ---

    def public_keys(self) -> list[bytes]:
        """Raw Ed25519 public keys that may have signed checkpoints: current first, then rotated ones."""
        return [ed25519_public_key(pem) for pem in self._keystore.public_keys_pem(LEDGER_KEY)]

    def verifier_keys(self) -> dict[str, str]:
        """The signed-note vkeys of the current key: note signatures and timestamped cosignatures."""
        public = self._signer.public_key
        return {
            "ed25519": verifier_key(self.origin, public),
            "cosignature_v1": verifier_key(self.origin, public, 0x04),
        }

    # --- appends (the Ledger port) ---

    def append(self, entry: LedgerRecord) -> Receipt:
        """Durably append one entry; return once its batch is committed. Raise LedgerError on failure."""
        # The committer thread encodes the entry: callers only wait, so it is not starved of the GIL
        # every time it hands it over for a database call.
        pending = _Pending(entry)
        with self._cond:
            if self._closed:
                raise LedgerError("the ledger is closed")
            self._ensure_thread()
            self._queue.append(pending)
            self._cond.notify()
        return pending.wait(self.append_timeout_s)

    def append_many(self, entries: Sequence[LedgerRecord]) -> list[Receipt]:
        """Append several entries in one transaction (all or none), bypassing the group-commit queue.

        For imports and bulk registration; request handlers use ``append``.
        """
        pending = [_Pending(e) for e in entries]
        for p in pending:
            p.prepare()
        if not pending:
            return []
        try:
            return self._write(pending)
        except sa.exc.SQLAlchemyError as exc:
            raise LedgerError("the ledger could not register the entries") from exc

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="ledger-committer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._queue and not self._closed:
                    self._cond.wait(timeout=self.checkpoint_interval_s)
                if self._closed and not self._queue:
                    return
                batch = [self._queue.popleft() for _ in range(min(self.max_batch, len(self._queue)))]
            if batch:
                self._commit_batch(batch)
            elif self._dirty:
                self._timed_checkpoint()

    def _commit_batch(self, pending: list[_Pending]) -> None:
        batch: list[_Pending] = []
        for p in pending:
            try:
                p.prepare()  # outside the transaction: the write lock is held only for the writes
            except LedgerError as exc:
                p.resolve(error=exc)  # this entry alone fails
            except Exception:  # a malformed mapping must not stop the committer
                p.resolve(error=LedgerError("the ledger could not encode the entry"))
            else:
                batch.append(p)
        if not batch:
            return
        try:
            receipts = self._write(batch)
        except Exception as exc:  # every failure fails the whole batch, closed
            log.error("ledger append failed", extra={"error_type": type(exc).__name__, "batch": len(batch)})
            error = (
                exc
                if isinstance(exc, LedgerError)
                else LedgerError("the ledger could not register the entry")
            )
            for p in batch:
                p.resolve(error=LedgerError(error.detail))  # one exception object per waiting thread
            return
        for p, receipt in zip(batch, receipts, strict=True):
            p.resolve(receipt)

    def _write(self, batch: Sequence[_Pending]) -> list[Receipt]:
        now = self.clock.now()
        logged_at = format_time(now)
        logged_us = _micros(now)
        with self.engine.connect().execution_options(ledger_write=True) as conn:
            head = conn.exec_driver_sql(self._head_select, (_HEAD_ID,)).one_or_none()
            if head is None:
                raise LedgerError("the ledger head row is missing")
            frontier = merkle.Frontier.from_bytes(int(head.size), bytes(head.frontier))
            entries: list[tuple[Any, ...]] = []
            nodes: list[tuple[int, int, bytes]] = []
            terms: list[tuple[str, str, int]] = []
            receipts: list[Receipt] = []
            for pending in batch:
                index = frontier.size
                leaf = envelope_bytes(index, logged_at, pending.record)
                digest = merkle.leaf_hash(leaf)
                nodes.extend(frontier.append(digest))
                t = pending.terms
                assert t is not None  # noqa: S101 - prepared before the write
                # Column order of ledger_entries.
                entries.append(
                    (index, digest, logged_us, t.kind, t.client_id, t.department, t.purpose, t.decision,
                     t.target_index, t.review_status, leaf.decode())
                )  # fmt: skip
                terms.extend(_terms_rows(index, t))
                receipts.append(Receipt(index, digest.hex()))
            conn.exec_driver_sql(self._insert["ledger_entries"], entries)
            if nodes:
                conn.exec_driver_sql(self._insert["ledger_nodes"], nodes)
            if terms:
                conn.exec_driver_sql(self._insert["ledger_terms"], terms)
            root = frontier.root()
            conn.exec_driver_sql(self._head_update, (frontier.size, frontier.to_bytes(), root, _HEAD_ID))
            signed = self._checkpoint_due(head, frontier.size, int(now.timestamp()))
            if signed:
                values = self._insert_checkpoint(conn, frontier.size, root, now)
                conn.execute(sa.update(ledger_head).where(ledger_head.c.id == _HEAD_ID).values(**values))
            conn.commit()
        self._dirty = not signed
        return receipts

    def _lock_head(self, conn: Connection) -> Any:
        stmt = sa.select(ledger_head).where(ledger_head.c.id == _HEAD_ID)
        if not _is_sqlite(self.engine):
            stmt = stmt.with_for_update()
        head = conn.execute(stmt).one_or_none()
        if head is None:
            raise LedgerError("the ledger head row is missing")
        return head

    def _checkpoint_due(self, head: Any, size: int, now_s: int) -> bool:
        last = int(head.checkpoint_size)
        if size <= last:
            return False
        return (
            size - max(last, 0) >= self.checkpoint_every
            or now_s - int(head.checkpoint_at) >= self.checkpoint_interval_s
        )

    def _insert_checkpoint(self, conn: Connection, size: int, root: bytes, now: datetime) -> dict[str, int]:
        timestamp = int(now.timestamp())
        signed = sign_checkpoint(
            Checkpoint(self.origin, size, root),
            public_key=self._signer.public_key,
            sign=self._signer.sign,
            timestamp=timestamp,
        )
        conn.execute(
            ledger_checkpoints.insert().values(
                size=size, root_hash=root, signed_at=timestamp, note=signed.note
            )
        )
        return {"checkpoint_size": size, "checkpoint_at": timestamp}

    def _timed_checkpoint(self) -> None:
        try:
            now = self.clock.now()
            with self.engine.connect().execution_options(ledger_write=True) as conn:
                head = self._lock_head(conn)
                size = int(head.size)
                if self._checkpoint_due(head, size, int(now.timestamp())):
                    values = self._insert_checkpoint(conn, size, bytes(head.root_hash), now)
                    conn.execute(sa.update(ledger_head).where(ledger_head.c.id == _HEAD_ID).values(**values))
                    self._dirty = False
                conn.commit()
        except (sa.exc.SQLAlchemyError, GatewayError) as exc:
            log.warning("timed ledger checkpoint failed", extra={"error_type": type(exc).__name__})

    def checkpoint(self) -> SignedCheckpoint:
        """The checkpoint of the current tree: the latest one if it covers the tree, else a new one.

        Reading first keeps auditors' requests off the write lock unless there is something to sign.
        """
        try:
            with self.engine.connect() as conn:
                head = conn.execute(sa.select(ledger_head.c.size, ledger_head.c.checkpoint_size)).one()
            if int(head.size) != int(head.checkpoint_size):
                now = self.clock.now()
                with self.engine.connect().execution_options(ledger_write=True) as conn:
                    locked = self._lock_head(conn)
                    if int(locked.checkpoint_size) != int(locked.size):
                        values = self._insert_checkpoint(conn, int(locked.size), bytes(locked.root_hash), now)
                        conn.execute(
                            sa.update(ledger_head).where(ledger_head.c.id == _HEAD_ID).values(**values)
                        )
                    conn.commit()
        except sa.exc.SQLAlchemyError as exc:
            raise LedgerError("the ledger could not sign a checkpoint") from exc
        found = self.latest_checkpoint()
        if found is None:  # pragma: no cover - signed just above
            raise LedgerError("the ledger has no checkpoint")
        return found

    def close(self) -> None:
        """Finish queued appends, stop the committer and release the connections."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self.append_timeout_s)
        self.engine.dispose()

    # --- reads (for the audit service) ---

    def _read(self) -> Connection:
        return self.engine.connect()

    def _guard(self, what: str) -> Any:
        return _ReadGuard(what)

    def head(self) -> TreeHead:
        """The current size and root of the tree."""
        with self._guard("read the tree head"), self._read() as conn:
            row = conn.execute(sa.select(ledger_head.c.size, ledger_head.c.root_hash)).one()
            return TreeHead(int(row.size), bytes(row.root_hash))

    def latest_checkpoint(self) -> SignedCheckpoint | None:
        """The checkpoint of the largest size, or None before the first one."""
        with self._guard("read checkpoints"), self._read() as conn:
            row = conn.execute(
                sa.select(ledger_checkpoints).order_by(ledger_checkpoints.c.size.desc()).limit(1)
            ).one_or_none()
            return _signed(row) if row is not None else None

    def checkpoint_at(self, size: int) -> SignedCheckpoint | None:
        """The checkpoint of exactly ``size``, if one was signed."""
        with self._guard("read checkpoints"), self._read() as conn:
            row = conn.execute(
                sa.select(ledger_checkpoints).where(ledger_checkpoints.c.size == size)
            ).one_or_none()
            return _signed(row) if row is not None else None

    def checkpoints(self, up_to: int | None = None) -> list[SignedCheckpoint]:
        """Every checkpoint (of at most ``up_to`` entries), smallest first."""
        stmt = sa.select(ledger_checkpoints).order_by(ledger_checkpoints.c.size)
        if up_to is not None:
            stmt = stmt.where(ledger_checkpoints.c.size <= up_to)
        with self._guard("read checkpoints"), self._read() as conn:
            return [_signed(row) for row in conn.execute(stmt)]

    def entry(self, index: int) -> StoredEntry | None:
        """One entry, or None when the index is not in the log."""
        with self._guard("read an entry"), self._read() as conn:
            row = conn.execute(sa.select(*_ENTRY_COLUMNS).where(ledger_entries.c.idx == index)).one_or_none()
            return _stored(row) if row is not None else None

    def entries(self, query: EntryFilter) -> list[StoredEntry]:
        """Entries matching ``query``, in index order (ascending or descending), at most ``limit``."""
        stmt = self._filtered(sa.select(*_ENTRY_COLUMNS), query).limit(query.limit)
        with self._guard("list entries"), self._read() as conn:
            return [_stored(row) for row in conn.execute(stmt)]

    def iter_entries(self, query: EntryFilter, up_to: int | None = None) -> Iterator[StoredEntry]:
        """Every entry matching ``query`` (ignoring its limit and cursor), ascending, read in chunks."""
        after = -1
        while True:
            chunk_query = query.with_page(after=after, limit=_READ_CHUNK, descending=False)
            stmt = self._filtered(sa.select(*_ENTRY_COLUMNS), chunk_query).limit(_READ_CHUNK)
            if up_to is not None:
                stmt = stmt.where(ledger_entries.c.idx < up_to)
            with self._guard("export entries"), self._read() as conn:
                rows = [_stored(row) for row in conn.execute(stmt)]
            yield from rows
            if len(rows) < _READ_CHUNK:
                return
            after = rows[-1].index

    def reviews_of(self, index: int) -> list[StoredEntry]:
        """The review entries that target ``index``, oldest first."""
        stmt = (
            sa.select(*_ENTRY_COLUMNS)
            .where(ledger_entries.c.target_index == index, ledger_entries.c.kind == "review")
            .order_by(ledger_entries.c.idx)
        )
        with self._guard("read reviews"), self._read() as conn:
            return [_stored(row) for row in conn.execute(stmt)]

    def _filtered(self, stmt: Any, q: EntryFilter) -> Any:
        e = ledger_entries
        conditions: list[Any] = []
        if q.since is not None:
            conditions.append(e.c.logged_at_us >= _micros(q.since))
        if q.until is not None:
            conditions.append(e.c.logged_at_us < _micros(q.until))
        for column, value in (
            (e.c.kind, q.kind),
            (e.c.client_id, q.client_id),
            (e.c.department, q.department),
            (e.c.purpose, q.purpose),
            (e.c.decision, q.decision),
        ):
            if value is not None:
                conditions.append(column == value)
        for term, value in (("item", q.item), ("reason", q.reason), ("subject", q.subject)):
            if value is not None:
                t = ledger_terms.alias(f"t_{term}")
                conditions.append(sa.exists().where(t.c.term == term, t.c.value == value, t.c.idx == e.c.idx))
        if q.review is not None:
            r = ledger_entries.alias("r")
            latest = (
                sa.select(r.c.review_status)
                .where(r.c.target_index == e.c.idx, r.c.kind == "review")
                .order_by(r.c.idx.desc())
                .limit(1)
                .scalar_subquery()
            )
            conditions.append(latest.is_(None) if q.review == "unreviewed" else latest == q.review)
        if q.after is not None:
            conditions.append(e.c.idx < q.after if q.descending else e.c.idx > q.after)
        order = e.c.idx.desc() if q.descending else e.c.idx
        return stmt.where(*conditions).order_by(order)

    def _nodes(self, conn: Connection, ids: Iterable[merkle.NodeId]) -> dict[merkle.NodeId, bytes]:
        wanted = list(dict.fromkeys(ids))
        leaves = [pos for level, pos in wanted if level == 0]
        inner = [(level, pos) for level, pos in wanted if level > 0]
        found: dict[merkle.NodeId, bytes] = {}
        for i in range(0, len(leaves), 500):
            rows = conn.execute(
                sa.select(ledger_entries.c.idx, ledger_entries.c.leaf_hash).where(
                    ledger_entries.c.idx.in_(leaves[i : i + 500])
                )
            )
            found.update({(0, int(r.idx)): bytes(r.leaf_hash) for r in rows})
        for i in range(0, len(inner), 500):
            rows = conn.execute(
                sa.select(ledger_nodes).where(
                    sa.tuple_(ledger_nodes.c.level, ledger_nodes.c.position).in_(inner[i : i + 500])
                )
            )
            found.update({(int(r.level), int(r.position)): bytes(r.hash) for r in rows})
        missing = [n for n in wanted if n not in found]
        if missing:
            raise LedgerError(f"the ledger is missing {len(missing)} tree node(s)")
        return found

    def _check_size(self, conn: Connection, size: int) -> None:
        current = int(conn.execute(sa.select(ledger_head.c.size)).scalar_one())
        if size > current:
            raise InvalidRequest(
                f"the log has only {current} entries", field="tree_size", accepted=f"at most {current}"
            )

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """PATH(index, D[size]) from stored nodes."""
        if not 0 <= index < size:
            raise InvalidRequest(f"a tree of size {size} does not contain entry {index}", field="tree_size")
        with self._guard("build an inclusion proof"), self._read() as conn:
            self._check_size(conn, size)
            nodes = self._nodes(conn, merkle.inclusion_nodes(index, size))
        return merkle.inclusion_proof(index, size, merkle.lookup_in(nodes))

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """PROOF(first, D[second]) from stored nodes."""
        if not 0 <= first <= second:
            raise InvalidRequest(
                "first must not exceed second", field="first", accepted="0 <= first <= second"
            )
        with self._guard("build a consistency proof"), self._read() as conn:
            self._check_size(conn, second)
            nodes = self._nodes(conn, merkle.consistency_nodes(first, second))
        return merkle.consistency_proof(first, second, merkle.lookup_in(nodes))

    def root_at(self, size: int) -> bytes:
        """MTH of the first ``size`` entries, from stored nodes."""
        with self._guard("compute a root"), self._read() as conn:
            self._check_size(conn, size)
            nodes = self._nodes(conn, merkle.root_nodes(size))
        return merkle.tree_root(size, merkle.lookup_in(nodes))


class _ReadGuard:
    """Turns database errors on the read path into LedgerError (503), keeping GatewayErrors."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if isinstance(exc, sa.exc.SQLAlchemyError):
            raise LedgerError(f"the ledger could not {self.what}") from exc


# --- sources for the offline verifier ---


class SqlLedgerSource:
    """Reads a ledger database for ``gateway ledger verify`` (read-only; no keys needed)."""

    fully_signed = False  # a live log may have entries appended after its latest checkpoint

    def __init__(self, url: str, *, schema: str | None = None, chunk: int = 20000) -> None:
        self.engine = make_engine(url, schema=schema, read_only=True)
        self.chunk = chunk
        self.location = url
        # The leaf bytes as bytes, straight from the driver: this loop reads millions of rows.
        as_bytes = "CAST(entry AS BLOB)" if _is_sqlite(self.engine) else "convert_to(entry, 'UTF8')"
        marker = _marker(self.engine)
        self._leaves_sql = (
            f"SELECT idx, leaf_hash, {as_bytes} FROM {_table_name(self.engine, ledger_entries, schema)} "  # noqa: S608
            f"WHERE idx > {marker} ORDER BY idx LIMIT {marker}"
        )

    def checkpoint_notes(self) -> list[str]:
        """Every stored checkpoint note, smallest size first."""
        with self.engine.connect() as conn:
            return [
                row.note
                for row in conn.execute(
                    sa.select(ledger_checkpoints.c.note).order_by(ledger_checkpoints.c.size)
                )
            ]

    def size_hint(self) -> int | None:
        """The number of entries the head row records (unsigned; a cross-check, not proof)."""
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(ledger_head.c.size)).scalar_one_or_none()
        return int(value) if value is not None else None

    def leaves(self) -> Iterator[tuple[int | None, bytes, bytes | None]]:
        """(stored index, leaf bytes, stored leaf hash) in index order."""
        after = -1
        while True:
            with self.engine.connect() as conn:
                cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]  # open above
                try:
                    cursor.execute(self._leaves_sql, (after, self.chunk))
                    rows = cursor.fetchall()
                finally:
                    cursor.close()
            for index, leaf_hash, leaf in rows:
                yield index, bytes(leaf), bytes(leaf_hash)
            if len(rows) < self.chunk:
                return
            after = rows[-1][0]

    def close(self) -> None:
        """Release the connections."""
        self.engine.dispose()


class ExportFileSource:
    """Reads a JSON Lines export (see ``gateway.domain.ledger.export`` for the line format)."""

    fully_signed = True  # an export ends with a checkpoint of its own size

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.location = str(path)
        self._notes: list[str] = []
        self._size: int | None = None
        self._entries_offset = 0
        self._scan_head()

    def _scan_head(self) -> None:
        with self.path.open("rb") as fh:
            while True:
                offset = fh.tell()
                line = fh.readline()
                if not line:
                    break
                kind, value = parse_export_line(line.rstrip(b"\n"))
                if kind == "entry":
                    break
                if kind == "header" and isinstance(value, Mapping):
                    size = value.get("size")
                    self._size = size if isinstance(size, int) else None
                elif kind == "checkpoint" and isinstance(value, str):
                    self._notes.append(value)
            self._entries_offset = offset

    def checkpoint_notes(self) -> list[str]:
        """The checkpoint notes at the head of the export."""
        return list(self._notes)

    def size_hint(self) -> int | None:
        """The entry count the export header states (unsigned)."""
        return self._size

    def leaves(self) -> Iterator[tuple[int | None, bytes, bytes | None]]:
        """(None, leaf bytes, None) per entry line; exports carry no separate index or hash."""
        with self.path.open("rb") as fh:
            fh.seek(self._entries_offset)
            for raw in fh:
                # Anything but an entry line after the entries began fails as "not an envelope".
                yield None, (raw[:-1] if raw.endswith(b"\n") else raw), None

    def close(self) -> None:
        """Nothing to release."""


def open_ledger_source(location: str, *, schema: str | None = None) -> SqlLedgerSource | ExportFileSource:
    """A database URL (``sqlite:///...``, ``postgresql+psycopg://...``) or the path of a JSONL export."""
    if "://" in location:
        return SqlLedgerSource(location, schema=schema)
    path = Path(location)
    if not path.is_file():
        raise ConfigurationError(f"no ledger export at {location}")
    return ExportFileSource(path)


def verify_note(note: str, public_keys: Sequence[bytes], origin: str | None = None) -> SignedCheckpoint:
    """Verify one checkpoint note with the given raw Ed25519 keys (raises InvalidRequest)."""
    return open_checkpoint(note, public_keys=public_keys, verify=ed25519_verify, name=origin)
