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
The schema comes from the migrations: the ledger refuses a database that is not migrated to the
newest revision.

No unsigned tail. The head row carries a checkpoint note, signed with the keystore's Ed25519
``ledger`` key, of exactly its size and root; every batch replaces it in the batch's own
transaction, so each committed batch is covered by a signed checkpoint before any of its callers is
released. Before it writes (or publishes a checkpoint) the ledger checks that the head it is about
to build on is covered by such a note and that the stored frontier yields that root. Anyone who can
write the database but not sign can append entries and recompute the head and nodes, but cannot
produce that note: the ledger then refuses to append (fails closed), logs it, and reports not ready.
The ledger never signs a head it did not build. The notes published as checkpoints
(``ledger_checkpoints``) are these head notes, kept every ``checkpoint_every`` entries, when
``checkpoint_interval_s`` has passed since the last one, and on demand (``checkpoint()``).

Identity. The origin (the checkpoint's log name) is stored in the head row when the ledger is
created; a ledger opened with another origin refuses to start, naming both. Entry times are taken
under the write lock and never run backwards against the index (a later index never gets an
earlier time, whatever the clocks of several writers say).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, Row

from gateway.adapters.crypto.ed25519 import Ed25519Signer, ed25519_public_key, ed25519_verify
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
from gateway.domain.ledger.envelope import envelope_bytes, format_time
from gateway.domain.ledger.records import LedgerRecord
from gateway.domain.ledger.terms import EntryTerms
from gateway.domain.transparency import merkle
from gateway.domain.transparency.checkpoint import (
    Checkpoint,
    SignedCheckpoint,
    open_checkpoint,
    sign_checkpoint,
    verifier_key,
)
from gateway.errors import ConfigurationError, GatewayError, LedgerError
from gateway.ports import Clock, KeyStore, Receipt

log = logging.getLogger("gateway.ledger")

LEDGER_KEY = "ledger"
_HEAD_ID = 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def stored_origin(conn: Connection) -> str | None:
    """The origin the ledger was created with; None for a ledger not created yet.

    A ledger created before the origin was stored gives the origin of its latest checkpoint.
    """
    origin = conn.execute(sa.select(ledger_head.c.origin).where(ledger_head.c.id == _HEAD_ID)).scalar()
    if origin is not None:
        return str(origin)
    note = conn.execute(
        sa.select(ledger_checkpoints.c.note).order_by(ledger_checkpoints.c.size.desc()).limit(1)
    ).scalar()
    return None if note is None else str(note).split("\n", 1)[0]


def require_origin(engine: Engine, origin: str) -> None:
    """Refuse (ConfigurationError) a ledger that was created with another origin than ``origin``."""
    with map_sql_errors(LedgerError, "the ledger could not read its origin"), engine.connect() as conn:
        found = stored_origin(conn)
    if found is not None and found != origin:
        raise ConfigurationError(
            f"the ledger was created with origin {found!r} but this gateway is configured with "
            f"ledger_origin {origin!r}",
            field="ledger_origin",
            accepted=repr(found),
        )


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
        self._signer_pem = keystore.private_key_pem(LEDGER_KEY)
        self._signer_cached = Ed25519Signer(self._signer_pem)
        self._public_cache: tuple[tuple[bytes, ...], list[bytes]] | None = None
        super().__init__(engine if engine is not None else make_engine(url, schema=schema))
        head_table = qualified_name(self.engine, ledger_head)
        mark = param_marker(self.engine)
        lock = "" if is_sqlite(self.engine) else " FOR UPDATE"
        # The hot path in plain SQL (no statement compilation per batch); names are our own.
        self._head_select = (
            "SELECT size, frontier, root_hash, checkpoint_size, checkpoint_at, signed_note "  # noqa: S608
            f"FROM {head_table} WHERE id = {mark}{lock}"
        )
        self._head_update = (
            f"UPDATE {head_table} SET size = {mark}, frontier = {mark}, root_hash = {mark}, "  # noqa: S608
            f"signed_note = {mark} WHERE id = {mark}"
        )
        entries_table = qualified_name(self.engine, ledger_entries)
        self._time_select = f"SELECT logged_at_us FROM {entries_table} WHERE idx = {mark}"  # noqa: S608
        self._covered: tuple[str, int, bytes, bytes] | None = None  # the last head this process found covered
        self._insert = {
            t.name: insert_sql(self.engine, t) for t in (ledger_entries, ledger_nodes, ledger_terms)
        }
        try:
            migrate.require_current(self.engine)
            self._create_head()
            require_origin(self.engine, origin)
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
        # first process to get here publishes it. A head no signed note covers is not published:
        # the ledger still opens (its reads are evidence), but reports not ready and refuses appends.
        if self.covered():
            self.checkpoint()
        else:
            log.error(
                "ledger head not covered by a signed checkpoint: entries were written without the "
                "signing key; appends and checkpoints are refused"
            )

    @property
    def max_batch(self) -> int:
        """The most entries one transaction writes."""
        return self._committer.max_batch

    @property
    def append_timeout_s(self) -> float:
        """How long ``append`` waits for its batch to commit."""
        return self._committer.timeout_s

    def _create_head(self) -> None:
        """The head row of an empty tree with its origin and signed note, unless it exists already.

        A head from before revision 0002 gets the origin of its checkpoints (or this one).
        """
        genesis = self._sign(0, merkle.EMPTY_ROOT, self.clock.now())
        values = {
            "id": _HEAD_ID,
            "size": 0,
            "frontier": b"",
            "root_hash": merkle.EMPTY_ROOT,
            "checkpoint_size": -1,
            "checkpoint_at": 0,
            "origin": self.origin,
            "signed_note": genesis.note,
        }
        dialect_insert = sqlite.insert if is_sqlite(self.engine) else postgresql.insert
        with (
            map_sql_errors(LedgerError, "the ledger could not create its head"),
            write_connection(self.engine) as conn,
            conn.begin(),
        ):
            conn.execute(dialect_insert(ledger_head).values(**values).on_conflict_do_nothing())
            origin = stored_origin(conn) or self.origin
            conn.execute(
                sa.update(ledger_head)
                .where(ledger_head.c.id == _HEAD_ID, ledger_head.c.origin.is_(None))
                .values(origin=origin)
            )

    @property
    def _signer(self) -> Ed25519Signer:
        """The current signing key: ``gateway keys rotate`` takes effect here within a second or so,
        in every worker, without a restart (the keystore re-checks the key file)."""
        pem = self._keystore.private_key_pem(LEDGER_KEY)
        if pem != self._signer_pem:
            self._signer_cached, self._signer_pem = Ed25519Signer(pem), pem
        return self._signer_cached

    def _sign(self, size: int, root: bytes, now: datetime) -> SignedCheckpoint:
        signer = self._signer
        return sign_checkpoint(
            Checkpoint(self.origin, size, root),
            public_key=signer.public_key,
            sign=signer.sign,
            timestamp=int(now.timestamp()),
        )

    # --- no unsigned tail ---

    def _covering_note(self, conn: Connection, head: Row[Any]) -> str | None:
        if head.signed_note is not None:
            return str(head.signed_note)
        # A head from before revision 0002: the checkpoint of exactly its size covers it.
        note = conn.execute(
            sa.select(ledger_checkpoints.c.note).where(ledger_checkpoints.c.size == head.size)
        ).scalar()
        return None if note is None else str(note)

    def _is_covered(self, conn: Connection, head: Row[Any]) -> bool:
        """True when a note signed with the ledger key covers the head's size and root, and the
        stored frontier (what the next entries build on) yields that root."""
        size, root = int(head.size), bytes(head.root_hash)
        note = self._covering_note(conn, head)
        if note is None:
            return False
        frontier = bytes(head.frontier)
        if self._covered == (note, size, root, frontier):
            return True
        try:
            signed = open_checkpoint(
                note, public_keys=self.public_keys(), verify=ed25519_verify, name=self.origin
            )
        except (GatewayError, ValueError):
            return False
        if signed.size != size or signed.root_hash != root:
            return False
        if merkle.Frontier.from_bytes(size, frontier).root() != root:
            return False
        self._covered = (note, size, root, frontier)
        return True

    def _require_covered(self, conn: Connection, head: Row[Any]) -> None:
        if self._is_covered(conn, head):
            return
        log.error(
            "ledger head not covered by a signed checkpoint: entries were written without the "
            "signing key; appends and checkpoints are refused",
            extra={"tree_size": int(head.size)},
        )
        raise LedgerError(
            "the ledger holds entries that no signed checkpoint covers (written without the signing "
            "key); it refuses to append or sign on top of them"
        )

    def covered(self) -> bool:
        """Readiness: the head is covered by a signed checkpoint, so appends can go on."""
        with map_sql_errors(LedgerError, "the ledger could not read its head"), self.engine.connect() as conn:
            return self._is_covered(conn, self._read_head(conn))

    # --- keys ---

    def public_keys(self) -> list[bytes]:
        """Raw Ed25519 public keys that may have signed checkpoints: current first, then rotated ones.

        Read through the keystore on every call (it re-checks the files), so a key rotated by another
        process is accepted at once; parsed again only when the files changed.
        """
        pems = tuple(self._keystore.public_keys_pem(LEDGER_KEY))
        cached = self._public_cache
        if cached is None or cached[0] != pems:
            cached = (pems, [ed25519_public_key(pem) for pem in pems])
            self._public_cache = cached
        return list(cached[1])

    def verifier_keys(self) -> dict[str, str]:
        """The signed-note vkeys of the current key (note signatures and timestamped cosignatures),
        then ``ed25519_previous_<n>`` for each rotated key: checkpoints they signed stay verifiable."""
        public = self._signer.public_key
        keys = {
            "ed25519": verifier_key(self.origin, public),
            "cosignature_v1": verifier_key(self.origin, public, 0x04),
        }
        previous = [key for key in self.public_keys() if key != public]
        for n, key in enumerate(previous, start=1):
            keys[f"ed25519_previous_{n}"] = verifier_key(self.origin, key)
        return keys

    # --- appends (the Ledger port) ---

    def append(self, entry: LedgerRecord) -> Receipt:
        """Durably append one entry; return once its batch is committed. Raise LedgerError on failure."""
        return self._committer.submit(entry)

    def append_soon(
        self, entry: LedgerRecord, done: Callable[[Receipt | None, LedgerError | None], None]
    ) -> None:
        """Queue one entry for the next group commit; ``done`` gets its outcome on the committer thread."""
        self._committer.submit_nowait(entry, done)

    def append_many(self, entries: Sequence[LedgerRecord]) -> list[Receipt]:
        """Append several entries in one transaction (all or none), bypassing the group-commit queue.

        For imports and bulk registration; request handlers use ``append``.
        """
        pending = [Pending(e) for e in entries]
        for p in pending:
            p.prepare()
        if not pending:
            return []
        return self._write(pending)

    def append_within(
        self, entries: Sequence[LedgerRecord], within: Callable[[Connection, list[Receipt]], None]
    ) -> list[Receipt]:
        """Append ``entries`` and run ``within`` in the very same transaction, all or nothing.

        ``within`` gets the transaction's connection and the entries' receipts (their indexes) and
        writes what must never exist without these entries, or they without it (a grant and its
        registration); whatever it raises rolls the entries back too. Bypasses the group-commit
        queue, as ``append_many`` does: such writes are rare.
        """
        pending = [Pending(e) for e in entries]
        for p in pending:
            p.prepare()
        with map_sql_errors(LedgerError, "the ledger could not register the entries"):
            return self._write_batch(pending, within)

    def _write(self, batch: Sequence[Pending]) -> list[Receipt]:
        with map_sql_errors(LedgerError, "the ledger could not register the entries"):
            return self._write_batch(batch)

    def _entry_time(self, conn: Connection, size: int) -> datetime:
        """Now, or the time of the entry before if a writer's clock is behind it: never backwards."""
        now = self.clock.now()
        if size == 0:
            return now
        last = conn.exec_driver_sql(self._time_select, (size - 1,)).scalar()
        if last is not None and micros(now) < int(last):
            return _EPOCH + timedelta(microseconds=int(last))
        return now

    def _write_batch(
        self,
        batch: Sequence[Pending],
        within: Callable[[Connection, list[Receipt]], None] | None = None,
    ) -> list[Receipt]:
        with write_connection(self.engine) as conn:
            head = conn.exec_driver_sql(self._head_select, (_HEAD_ID,)).one_or_none()
            if head is None:
                raise LedgerError("the ledger head row is missing")
            self._require_covered(conn, head)
            # Under the write lock: the next writer's time cannot be taken before this one's.
            now = self._entry_time(conn, int(head.size))
            logged_at = format_time(now)
            logged_us = micros(now)
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
            if within is not None:
                within(conn, receipts)
            root = frontier.root()
            note = self._sign(frontier.size, root, now)
            conn.exec_driver_sql(
                self._head_update, (frontier.size, frontier.to_bytes(), root, note.note, _HEAD_ID)
            )
            published = self._checkpoint_due(head, frontier.size, int(now.timestamp()))
            if published:
                self._publish(conn, note)
            conn.commit()
        self._covered = (note.note, frontier.size, root, frontier.to_bytes())
        self._dirty = not published
        return receipts

    # --- checkpoints ---

    def _read_head(self, conn: Connection, *, lock: bool = False) -> Row[Any]:
        stmt = sa.select(ledger_head).where(ledger_head.c.id == _HEAD_ID)
        if lock and not is_sqlite(self.engine):
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

    def _publish(self, conn: Connection, signed: SignedCheckpoint) -> None:
        """Keep ``signed`` (a head note) as a published checkpoint and note it in the head."""
        conn.execute(
            ledger_checkpoints.insert().values(
                size=signed.size, root_hash=signed.root_hash, signed_at=signed.timestamp, note=signed.note
            )
        )
        conn.execute(
            sa.update(ledger_head)
            .where(ledger_head.c.id == _HEAD_ID)
            .values(checkpoint_size=signed.size, checkpoint_at=signed.timestamp)
        )

    def _publish_head(self, conn: Connection, *, only_if_due: bool) -> bool:
        """Publish the head's own note as a checkpoint (never a new signature over a head)."""
        head = self._read_head(conn, lock=True)
        size = int(head.size)
        if int(head.checkpoint_size) == size:
            return False
        if only_if_due and not self._checkpoint_due(head, size, int(self.clock.now().timestamp())):
            return False
        self._require_covered(conn, head)
        note = self._covering_note(conn, head)
        assert note is not None  # noqa: S101 - covered just above
        self._publish(conn, open_checkpoint(note, public_keys=self.public_keys(), verify=ed25519_verify))
        return True

    def _timed_checkpoint(self) -> None:
        if not self._dirty:
            return
        try:
            with (
                map_sql_errors(LedgerError, "the ledger could not publish a timed checkpoint"),
                write_connection(self.engine) as conn,
            ):
                if self._publish_head(conn, only_if_due=True):
                    self._dirty = False
                conn.commit()
        except GatewayError as exc:
            log.warning("timed ledger checkpoint failed", extra={"error_type": type(exc).__name__})

    def checkpoint(self) -> SignedCheckpoint:
        """The checkpoint of the current tree: the latest one if it covers the tree, else a new one.

        Reading first keeps auditors' requests off the write lock unless there is something to sign.
        """
        with map_sql_errors(LedgerError, "the ledger could not publish a checkpoint"):
            with self.engine.connect() as conn:
                head = conn.execute(sa.select(ledger_head.c.size, ledger_head.c.checkpoint_size)).one()
            if int(head.size) != int(head.checkpoint_size):
                with write_connection(self.engine) as conn:
                    self._publish_head(conn, only_if_due=False)
                    conn.commit()
        found = self.latest_checkpoint()
        if found is None:  # pragma: no cover - signed just above
            raise LedgerError("the ledger has no checkpoint")
        return found

    def close(self) -> None:
        """Finish queued appends, stop the committer and release the connections."""
        self._committer.close()
        self.engine.dispose()
