"""Reads and proofs over a ledger database: entries, filters, checkpoints, inclusion and consistency.

Every completed interior node of the tree is stored (see ``ledger.py``), so inclusion and
consistency proofs are O(log n) lookups. Every read runs inside ``map_sql_errors``: a database
failure is a LedgerError (503), never an answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from gateway.adapters.sql.errors import map_sql_errors
from gateway.adapters.sql.schema import (
    ledger_checkpoints,
    ledger_entries,
    ledger_head,
    ledger_nodes,
    ledger_terms,
)
from gateway.domain.ledger.envelope import StoredEntry
from gateway.domain.ledger.terms import EntryFilter
from gateway.domain.transparency import merkle
from gateway.domain.transparency.checkpoint import Checkpoint, SignedCheckpoint
from gateway.errors import InvalidRequest, LedgerError

_READ_CHUNK = 5000
_ENTRY_COLUMNS = (ledger_entries.c.idx, ledger_entries.c.leaf_hash, ledger_entries.c.entry)


@dataclass(frozen=True, slots=True)
class TreeHead:
    """The current tree size and root (not signed; see checkpoints for that)."""

    size: int
    root_hash: bytes


def micros(moment: datetime) -> int:
    """``moment`` as whole microseconds since the epoch (the ``logged_at_us`` column)."""
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def stored_entry(row: Any) -> StoredEntry:
    """A row with the columns idx, leaf_hash and entry, as a StoredEntry."""
    return StoredEntry(index=int(row.idx), leaf_hash=bytes(row.leaf_hash), leaf=row.entry.encode())


def signed_checkpoint(row: Any) -> SignedCheckpoint:
    """A ``ledger_checkpoints`` row as a SignedCheckpoint."""
    origin = row.note.split("\n", 1)[0]
    return SignedCheckpoint(
        Checkpoint(origin, int(row.size), bytes(row.root_hash)), int(row.signed_at), row.note
    )


class SqlLedgerReader:
    """The read side of the ledger (the audit service's ``LedgerReader``); needs no key."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _reading(self, what: str) -> AbstractContextManager[None]:
        return map_sql_errors(LedgerError, f"the ledger could not {what}")

    def head(self) -> TreeHead:
        """The current size and root of the tree."""
        with self._reading("read the tree head"), self.engine.connect() as conn:
            row = conn.execute(sa.select(ledger_head.c.size, ledger_head.c.root_hash)).one()
            return TreeHead(int(row.size), bytes(row.root_hash))

    def latest_checkpoint(self) -> SignedCheckpoint | None:
        """The checkpoint of the largest size, or None before the first one."""
        with self._reading("read checkpoints"), self.engine.connect() as conn:
            row = conn.execute(
                sa.select(ledger_checkpoints).order_by(ledger_checkpoints.c.size.desc()).limit(1)
            ).one_or_none()
            return signed_checkpoint(row) if row is not None else None

    def checkpoint_at(self, size: int) -> SignedCheckpoint | None:
        """The checkpoint of exactly ``size``, if one was signed."""
        with self._reading("read checkpoints"), self.engine.connect() as conn:
            row = conn.execute(
                sa.select(ledger_checkpoints).where(ledger_checkpoints.c.size == size)
            ).one_or_none()
            return signed_checkpoint(row) if row is not None else None

    def checkpoints(self, up_to: int | None = None) -> list[SignedCheckpoint]:
        """Every checkpoint (of at most ``up_to`` entries), smallest first."""
        stmt = sa.select(ledger_checkpoints).order_by(ledger_checkpoints.c.size)
        if up_to is not None:
            stmt = stmt.where(ledger_checkpoints.c.size <= up_to)
        with self._reading("read checkpoints"), self.engine.connect() as conn:
            return [signed_checkpoint(row) for row in conn.execute(stmt)]

    def entry(self, index: int) -> StoredEntry | None:
        """One entry, or None when the index is not in the log."""
        with self._reading("read an entry"), self.engine.connect() as conn:
            row = conn.execute(sa.select(*_ENTRY_COLUMNS).where(ledger_entries.c.idx == index)).one_or_none()
            return stored_entry(row) if row is not None else None

    def entries(self, query: EntryFilter) -> list[StoredEntry]:
        """Entries matching ``query``, in index order (ascending or descending), at most ``limit``."""
        stmt = self._filtered(sa.select(*_ENTRY_COLUMNS), query).limit(query.limit)
        with self._reading("list entries"), self.engine.connect() as conn:
            return [stored_entry(row) for row in conn.execute(stmt)]

    def iter_entries(self, query: EntryFilter, up_to: int | None = None) -> Iterator[StoredEntry]:
        """Every entry matching ``query`` (ignoring its limit and cursor), ascending, read in chunks."""
        after = -1
        while True:
            chunk_query = query.with_page(after=after, limit=_READ_CHUNK, descending=False)
            stmt = self._filtered(sa.select(*_ENTRY_COLUMNS), chunk_query).limit(_READ_CHUNK)
            if up_to is not None:
                stmt = stmt.where(ledger_entries.c.idx < up_to)
            with self._reading("export entries"), self.engine.connect() as conn:
                rows = [stored_entry(row) for row in conn.execute(stmt)]
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
        with self._reading("read reviews"), self.engine.connect() as conn:
            return [stored_entry(row) for row in conn.execute(stmt)]

    def _filtered(self, stmt: Any, q: EntryFilter) -> Any:
        e = ledger_entries
        conditions: list[Any] = []
        if q.since is not None:
            conditions.append(e.c.logged_at_us >= micros(q.since))
        if q.until is not None:
            conditions.append(e.c.logged_at_us < micros(q.until))
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

    # --- proofs ---

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
        with self._reading("build an inclusion proof"), self.engine.connect() as conn:
            self._check_size(conn, size)
            nodes = self._nodes(conn, merkle.inclusion_nodes(index, size))
        return merkle.inclusion_proof(index, size, merkle.lookup_in(nodes))

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """PROOF(first, D[second]) from stored nodes."""
        if not 0 <= first <= second:
            raise InvalidRequest(
                "first must not exceed second", field="first", accepted="0 <= first <= second"
            )
        with self._reading("build a consistency proof"), self.engine.connect() as conn:
            self._check_size(conn, second)
            nodes = self._nodes(conn, merkle.consistency_nodes(first, second))
        return merkle.consistency_proof(first, second, merkle.lookup_in(nodes))

    def root_at(self, size: int) -> bytes:
        """MTH of the first ``size`` entries, from stored nodes."""
        with self._reading("compute a root"), self.engine.connect() as conn:
            self._check_size(conn, size)
            nodes = self._nodes(conn, merkle.root_nodes(size))
        return merkle.tree_root(size, merkle.lookup_in(nodes))
