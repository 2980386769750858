"""Ledger test support: sample records, real stores on SQLite files and PostgreSQL schemas."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import sqlalchemy as sa

from gateway.adapters.crypto.ed25519 import ed25519_public_key
from gateway.adapters.key_files import FileKeyStore
from gateway.adapters.sql import migrate
from gateway.adapters.sql.engine import make_engine
from gateway.adapters.sql.ledger import SqlLedger
from gateway.domain.identifiers import resident_id_check_char, uscc_check_char
from gateway.domain.ledger.commitments import SubjectRef, subject_commitment
from gateway.domain.ledger.records import ItemRelease, LedgerRecord, QueryRecord, RecordedReason
from gateway.ports import Clock

ORIGIN = "ledger.credit-gateway.test/log"
DEPARTMENTS = ("market_regulation", "tax_bureau", "court")
PURPOSES = ("administrative_licensing", "public_procurement")
ITEMS = ("court_judgment_dishonest", "tax_violation", "admin_penalty")


def resident_id(n: int) -> str:
    """A checksum-valid resident ID (Beijing Dongcheng, born 1990-03-07), sequence n."""
    first17 = f"11010119900307{n % 1000:03d}"
    return first17 + resident_id_check_char(first17)


def uscc(n: int) -> str:
    """A checksum-valid unified social credit code of a legal person."""
    first17 = f"91110000{n % 10**9:09d}"
    return first17 + uscc_check_char(first17)


def sample_record(i: int, secret: bytes, *, subject: str | None = None) -> QueryRecord:
    """A realistic query record, varying department, purpose, items and decision with ``i``."""
    value = subject or resident_id(i % 7)
    ref = SubjectRef("resident_id", "natural_person", subject_commitment(secret, "resident_id", value))
    allow = i % 5 != 4
    item = ITEMS[i % 3]
    return QueryRecord(
        request_id=f"req-{i}",
        client_id=f"client-{i % 4}",
        department=DEPARTMENTS[i % 3],
        purpose=PURPOSES[i % 2],
        legal_basis="《社会信用体系建设法》第十二条",
        measure=None,
        grant_id=f"grant-{i}" if allow else None,
        subjects=(ref,),
        subject_count=1,
        items=(ItemRelease(item, ("name", "case_no"), (i % 3) + 1 if allow else 0),),
        decision="allow" if allow else "deny",
        reasons=() if allow else (RecordedReason("purpose_not_allowed", "(3)", item),),
        policy_revision="sha256:" + "a" * 64,
        catalog_revision="national@2026-11-01",
        response_digest=("sha256:" + "b" * 64) if allow else None,
    )


@dataclass(frozen=True)
class RawRecord(LedgerRecord):
    """A record given as a bare dict: what no record kind writes, to prove the store refuses it."""

    kind: ClassVar[str] = "raw"
    fields: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return self.fields


def public_keys(keystore: FileKeyStore) -> list[bytes]:
    """Raw ledger public keys of a keystore, current first."""
    return [ed25519_public_key(pem) for pem in keystore.public_keys_pem("ledger")]


def sqlite_url(path: Path) -> str:
    """A SQLite URL for a file."""
    return f"sqlite:///{path}"


@contextmanager
def pg_schema(postgres_url: str) -> Iterator[str]:
    """A fresh PostgreSQL schema, dropped afterwards."""
    name = f"ledger_test_{secrets.token_hex(6)}"
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
    try:
        yield name
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        engine.dispose()


def migrate_database(url: str, schema: str | None = None) -> None:
    """Create (or migrate) the gateway schema, as `gateway db upgrade` does."""
    engine = make_engine(url, schema=schema)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()


@contextmanager
def open_ledger(
    url: str, keystore: FileKeyStore, clock: Clock, *, schema: str | None = None, **options: Any
) -> Iterator[SqlLedger]:
    """A SqlLedger on a migrated database, closed afterwards."""
    migrate_database(url, schema)
    ledger = SqlLedger(url, keystore, ORIGIN, clock, schema=schema, **options)
    try:
        yield ledger
    finally:
        ledger.close()


@contextmanager
def ledger_target(kind: str, tmp_path: Path, postgres_url: str | None) -> Iterator[tuple[str, str | None]]:
    """(url, schema) of a fresh ledger database: a SQLite file or a PostgreSQL schema."""
    if kind == "sqlite":
        yield sqlite_url(tmp_path / "ledger.db"), None
        return
    assert postgres_url is not None
    with pg_schema(postgres_url) as schema:
        yield postgres_url, schema


# --- what a database writer without the signing key can do --------------------------------------


def _frontier_of(conn: sa.Connection, size: int) -> Any:
    from gateway.adapters.sql.schema import ledger_entries
    from gateway.domain.transparency import merkle

    frontier = merkle.Frontier()
    hashes = conn.execute(
        sa.select(ledger_entries.c.leaf_hash)
        .where(ledger_entries.c.idx < size)
        .order_by(ledger_entries.c.idx)
    )
    nodes = [node for (digest,) in hashes for node in frontier.append(bytes(digest))]
    return frontier, nodes


def truncate_as_a_writer(conn: sa.Connection, size: int) -> None:
    """Cut the log back to ``size`` and leave nothing inside the database that contradicts it: the
    entries, terms, nodes and checkpoints past it deleted, the head rebuilt, and the head's note replaced
    by the published checkpoint of exactly that size (a note the gateway really signed)."""
    from gateway.adapters.sql.schema import (
        ledger_checkpoints,
        ledger_entries,
        ledger_head,
        ledger_nodes,
        ledger_terms,
    )

    note = conn.execute(
        sa.select(ledger_checkpoints.c.note).where(ledger_checkpoints.c.size == size)
    ).scalar_one()
    conn.execute(sa.delete(ledger_entries).where(ledger_entries.c.idx >= size))
    conn.execute(sa.delete(ledger_terms).where(ledger_terms.c.idx >= size))
    conn.execute(sa.delete(ledger_checkpoints).where(ledger_checkpoints.c.size > size))
    conn.execute(sa.delete(ledger_nodes))
    frontier, nodes = _frontier_of(conn, size)
    if nodes:
        conn.execute(ledger_nodes.insert(), [{"level": lv, "position": p, "hash": h} for lv, p, h in nodes])
    conn.execute(
        sa.update(ledger_head).values(
            size=size,
            frontier=frontier.to_bytes(),
            root_hash=frontier.root(),
            signed_note=note,
            checkpoint_size=size,
        )
    )


def forge_tail(conn: sa.Connection, copy_of: int) -> int:
    """Append an entry as the ledger would (index, time, leaf hash, indexed columns, terms), then
    recompute the head and the nodes; only the head's signed note stays as it was. Returns its index."""
    from gateway.adapters.sql.schema import ledger_entries, ledger_head, ledger_nodes, ledger_terms
    from gateway.domain.ledger.envelope import decode_envelope, envelope_bytes
    from gateway.domain.ledger.terms import entry_terms
    from gateway.domain.transparency import merkle

    size = int(conn.execute(sa.select(ledger_head.c.size)).scalar_one())
    source = conn.execute(sa.select(ledger_entries).where(ledger_entries.c.idx == copy_of)).one()
    envelope = decode_envelope(source.entry.encode())
    record = dict(envelope.record)
    record["request_id"] = "forged-request"
    import json

    record_bytes = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    leaf = envelope_bytes(size, envelope.logged_at, record_bytes)
    terms = entry_terms(record)
    conn.execute(
        ledger_entries.insert().values(
            idx=size,
            leaf_hash=merkle.leaf_hash(leaf),
            logged_at_us=source.logged_at_us,
            kind=terms.kind,
            client_id=terms.client_id,
            department=terms.department,
            purpose=terms.purpose,
            decision=terms.decision,
            target_index=terms.target_index,
            review_status=terms.review_status,
            entry=leaf.decode(),
        )
    )
    rows = [("item", v) for v in terms.items] + [("reason", v) for v in terms.reasons]
    rows += [("subject", v) for v in terms.commitments]
    if rows:
        conn.execute(ledger_terms.insert(), [{"term": t, "value": v, "idx": size} for t, v in rows])
    frontier, nodes = _frontier_of(conn, size + 1)
    conn.execute(sa.delete(ledger_nodes))
    conn.execute(ledger_nodes.insert(), [{"level": lv, "position": p, "hash": h} for lv, p, h in nodes])
    conn.execute(
        sa.update(ledger_head).values(size=size + 1, frontier=frontier.to_bytes(), root_hash=frontier.root())
    )
    return size
