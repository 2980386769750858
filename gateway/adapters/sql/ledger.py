"""The query ledger on SQLAlchemy: SQLite (WAL) embedded, PostgreSQL in production.

Appends go through the group committer (``committer.py``): one transaction and one fsync per
batch, no caller released before its entry is durable. This module holds what a batch write does.

Serializing writers across threads, worker processes and replicas:

* PostgreSQL: ``SELECT ... FROM ledger_head WHERE id = 1 FOR UPDATE`` opens every write
  transaction. The head row holds the tree size and frontier, so the next writer waits for the
  lock, then reads the size the previous writer committed: indexes are never reused and the tree
  never forks. The primary key on the index is a second line of defence.
* SQLite: the write connection's ``BEGIN IMMEDIATE`` takes the database write lock before the head
  is read (see ``engine.py``); other processes wait in the busy handler.

Each entry stores its leaf bytes, its leaf hash and the columns the audit API filters on; every
completed interior node of the tree is stored too, so an append never recomputes the tree.
Checkpoints are signed with the keystore's Ed25519 ``ledger`` key every ``checkpoint_every``
entries, when ``checkpoint_interval_s`` has passed since the last one, and on demand
(``checkpoint()``). The schema comes from the migrations: the ledger refuses a database that is not
migrated to the newest revision.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, Row

from gateway.adapters.crypto.ed25519 import Ed25519Signer, ed25519_public_key
from gateway.adapters.sql import migrate
from gateway.adapters.sql.committer import GroupCommitter, Pending
from gateway.adapters.sql.engine import (
    insert_sql,
    is_sqlite,
    make_engine,
    param_marker,
    qualified_name,
    row_values,
    write_connection,
)
from gateway.adapters.sql.errors import map_sql_errors
from gateway.adapters.sql.reads import SqlLedgerReader, micros
from gateway.adapters.sql.schema import (
    ledger_checkpoints,
    ledger_entries,
    ledger_head,
    ledger_nodes,
    ledger_terms,
)
from gateway.domain.ledger.entry import EntryTerms, envelope_bytes, format_time
from gateway.domain.transparency import merkle
from gateway.domain.transparency.checkpoint import Checkpoint, SignedCheckpoint, sign_checkpoint, verifier_key
from gateway.errors import ConfigurationError, GatewayError, LedgerError
from gateway.ports import JSON, Clock, KeyStore, Receipt

log = logging.getLogger("gateway.ledger")

LEDGER_KEY = "ledger"
_HEAD_ID = 1


def _terms_rows(index: int, terms: EntryTerms) -> list[tuple[Any, ...]]:
    rows = [{"term": "item", "value": v} for v in terms.items]
    rows += [{"term": "reason", "value": v} for v in terms.reasons]
    rows += [{"term": "subject", "value": v} for v in terms.commitments]
    return [row_values(ledger_terms, {**row, "idx": index}) for row in rows]


class SqlLedger(SqlLedgerReader):
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
        engine: Engine | None = None,
    ) -> None:
        if checkpoint_every < 1 or max_batch < 1:
            raise ConfigurationError("checkpoint_every and max_batch must be at least 1")
        Checkpoint(origin, 0, merkle.EMPTY_ROOT).text()  # validates the origin as a key name
        self.origin = origin
        self.clock = clock
        self.checkpoint_every = checkpoint_every
        self.checkpoint_interval_s = checkpoint_interval_s
        self._keystore = keystore
        self._signer = Ed25519Signer(keystore.private_key_pem(LEDGER_KEY))
        super().__init__(engine if engine is not None else make_engine(url, schema=schema))
        head_table = qualified_name(self.engine, ledger_head)
        mark = param_marker(self.engine)
        lock = "" if is_sqlite(self.engine) else " FOR UPDATE"
        # The hot path in plain SQL (no statement compilation per batch); names are our own.
        self._head_select = (
            f"SELECT size, frontier, checkpoint_size, checkpoint_at FROM {head_table} WHERE id = {mark}{lock}"  # noqa: S608
        )
        self._head_update = (
            f"UPDATE {head_table} SET size = {mark}, frontier = {mark}, root_hash = {mark} WHERE id = {mark}"  # noqa: S608
        )
        self._insert = {
            t.name: insert_sql(self.engine, t) for t in (ledger_entries, ledger_nodes, ledger_terms)
        }
        try:
            migrate.require_current(self.engine)
            self._create_head()
        except GatewayError:
            self.engine.dispose()
            raise
        self._dirty = False  # appended since this process last saw a checkpoint
        # ``_write`` is looked up on each batch, so an instrumented one (bench/ledger_bench.py) is used.
        self._committer = GroupCommitter(
            lambda batch: self._write(batch),
            max_batch=max_batch,
            timeout_s=append_timeout_s,
            idle_s=checkpoint_interval_s,
            on_idle=self._timed_checkpoint,
        )
        # The genesis checkpoint (size 0) starts the clock of the time-based checkpoints; only the
        # first process to get here signs it.
        self.checkpoint()

    @property
    def max_batch(self) -> int:
        """The most entries one transaction writes."""
        return self._committer.max_batch

    @property
    def append_timeout_s(self) -> float:
        """How long ``append`` waits for its batch to commit."""
        return self._committer.timeout_s

    def _create_head(self) -> None:
        """The head row of an empty tree, unless another process wrote it first."""
        values = {
            "id": _HEAD_ID,
            "size": 0,
            "frontier": b"",
            "root_hash": merkle.EMPTY_ROOT,
            "checkpoint_size": -1,
            "checkpoint_at": 0,
        }
        dialect_insert = sqlite.insert if is_sqlite(self.engine) else postgresql.insert
        with map_sql_errors(LedgerError, "the ledger could not create its head"), self.engine.begin() as conn:
            conn.execute(dialect_insert(ledger_head).values(**values).on_conflict_do_nothing())

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

    def append(self, entry: Mapping[str, JSON]) -> Receipt:
        """Durably append one entry; return once its batch is committed. Raise LedgerError on failure."""
        return self._committer.submit(entry)

    def append_many(self, entries: Sequence[Mapping[str, JSON]]) -> list[Receipt]:
        """Append several entries in one transaction (all or none), bypassing the group-commit queue.

        For imports and bulk registration; request handlers use ``append``.
        """
        pending = [Pending(e) for e in entries]
        for p in pending:
            p.prepare()
        if not pending:
            return []
        return self._write(pending)

    def _write(self, batch: Sequence[Pending]) -> list[Receipt]:
        with map_sql_errors(LedgerError, "the ledger could not register the entries"):
            return self._write_batch(batch)

    def _write_batch(self, batch: Sequence[Pending]) -> list[Receipt]:
        now = self.clock.now()
        logged_at = format_time(now)
        logged_us = micros(now)
        with write_connection(self.engine) as conn:
            head = conn.exec_driver_sql(self._head_select, (_HEAD_ID,)).one_or_none()
            if head is None:
                raise LedgerError("the ledger head row is missing")
            frontier = merkle.Frontier.from_bytes(int(head.size), bytes(head.frontier))
            entries: list[tuple[Any, ...]] = []
            nodes: list[tuple[Any, ...]] = []
            terms: list[tuple[Any, ...]] = []
            receipts: list[Receipt] = []
            for pending in batch:
                index = frontier.size
                leaf = envelope_bytes(index, logged_at, pending.record)
                digest = merkle.leaf_hash(leaf)
                nodes.extend(
                    row_values(ledger_nodes, {"level": level, "position": position, "hash": node})
                    for level, position, node in frontier.append(digest)
                )
                t = pending.terms
                assert t is not None  # noqa: S101 - prepared before the write
                row = {
                    "idx": index,
                    "leaf_hash": digest,
                    "logged_at_us": logged_us,
                    "kind": t.kind,
                    "client_id": t.client_id,
                    "department": t.department,
                    "purpose": t.purpose,
                    "decision": t.decision,
                    "target_index": t.target_index,
                    "review_status": t.review_status,
                    "entry": leaf.decode(),
                }
                entries.append(row_values(ledger_entries, row))
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

    # --- checkpoints ---

    def _lock_head(self, conn: Connection) -> Row[Any]:
        stmt = sa.select(ledger_head).where(ledger_head.c.id == _HEAD_ID)
        if not is_sqlite(self.engine):
            stmt = stmt.with_for_update()
        head = conn.execute(stmt).one_or_none()
        if head is None:
            raise LedgerError("the ledger head row is missing")
        return head

    def _checkpoint_due(self, head: Row[Any], size: int, now_s: int) -> bool:
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
        if not self._dirty:
            return
        try:
            now = self.clock.now()
            with (
                map_sql_errors(LedgerError, "the ledger could not sign a timed checkpoint"),
                write_connection(self.engine) as conn,
            ):
                head = self._lock_head(conn)
                size = int(head.size)
                if self._checkpoint_due(head, size, int(now.timestamp())):
                    values = self._insert_checkpoint(conn, size, bytes(head.root_hash), now)
                    conn.execute(sa.update(ledger_head).where(ledger_head.c.id == _HEAD_ID).values(**values))
                    self._dirty = False
                conn.commit()
        except GatewayError as exc:
            log.warning("timed ledger checkpoint failed", extra={"error_type": type(exc).__name__})

    def checkpoint(self) -> SignedCheckpoint:
        """The checkpoint of the current tree: the latest one if it covers the tree, else a new one.

        Reading first keeps auditors' requests off the write lock unless there is something to sign.
        """
        with map_sql_errors(LedgerError, "the ledger could not sign a checkpoint"):
            with self.engine.connect() as conn:
                head = conn.execute(sa.select(ledger_head.c.size, ledger_head.c.checkpoint_size)).one()
            if int(head.size) != int(head.checkpoint_size):
                now = self.clock.now()
                with write_connection(self.engine) as conn:
                    locked = self._lock_head(conn)
                    if int(locked.checkpoint_size) != int(locked.size):
                        values = self._insert_checkpoint(conn, int(locked.size), bytes(locked.root_hash), now)
                        conn.execute(
                            sa.update(ledger_head).where(ledger_head.c.id == _HEAD_ID).values(**values)
                        )
                    conn.commit()
        found = self.latest_checkpoint()
        if found is None:  # pragma: no cover - signed just above
            raise LedgerError("the ledger has no checkpoint")
        return found

    def close(self) -> None:
        """Finish queued appends, stop the committer and release the connections."""
        self._committer.close()
        self.engine.dispose()
