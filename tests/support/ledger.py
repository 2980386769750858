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
