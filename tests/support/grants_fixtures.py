"""Grant test support: a pinned catalog, a policies directory built from the real grant rules
(for gateway.adapters.policy.regorus.RegorusEngine), the store and ledger in one database, and
request builders.

The catalog is pinned here (not the shipped one) so that the grant tests mean the same thing when
the real catalog is edited; the grant rules and the grant settings are the real files.
"""

from __future__ import annotations

import copy
import shutil
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from gateway.adapters.policy.regorus import RegorusEngine
from gateway.adapters.sql.grants import SqlGrantStore
from gateway.adapters.sql.ledger import SqlLedger
from gateway.ports import Clock, KeyStore
from tests.support.ledger import migrate_database

REPO = Path(__file__).resolve().parents[2]
POLICIES = REPO / "policies"

# A resident ID with a valid check character (GB 11643-1999), born 1990-03-07, and a second one.
RESIDENT_ID = "110105199003073410"
OTHER_RESIDENT_ID = "33010619851212002X"
# An individual business (92...) and a legal person, both with valid check characters.
INDIVIDUAL_BUSINESS = "92330106MA2CXXXX00"
LEGAL_PERSON = "91330100MA2B3C4D5N"

TEST_CATALOG: dict[str, Any] = {
    "kind": "national",
    "revision": "grants-test-1",
    "departments": {
        "court": {"name": "Court"},
        "housing": {"name": "Housing"},
        "tax": {"name": "Tax"},
        "social_security": {"name": "Social security"},
    },
    "purposes": {
        "admin_licensing": {"name": "Licensing", "statutory_duty": False, "applies_measure": False},
        "talent_program": {"name": "Talent program", "statutory_duty": False, "applies_measure": False},
        "tax_enforcement": {"name": "Tax enforcement", "statutory_duty": True, "applies_measure": True},
    },
    "items": {
        "judgment_debtors": {
            "subject_kinds": ["natural_person", "legal_person", "individual_business"],
            "share_scope": {"mode": "unconditional"},
            "purpose_fields": {"admin_licensing": ["name", "case_no"], "talent_program": ["case_no"]},
            "fields": {
                "name": {"class": "name"},
                "case_no": {"class": "public"},
                "id_number": {"class": "resident_id"},
            },
        },
        "tax_arrears": {
            "subject_kinds": ["natural_person"],
            "share_scope": {
                "mode": "conditional",
                "departments": ["housing"],
                "purposes": ["admin_licensing"],
            },
            "purpose_fields": {"admin_licensing": ["amount"], "talent_program": ["amount"]},
            "fields": {"amount": {"class": "public"}},
        },
        "sealed_records": {
            "subject_kinds": ["natural_person"],
            "share_scope": {"mode": "not_shared"},
            "purpose_fields": {"admin_licensing": ["summary"]},
            "fields": {"summary": {"class": "free_text"}},
        },
        "company_penalties": {
            "subject_kinds": ["legal_person"],
            "share_scope": {"mode": "unconditional"},
            "purpose_fields": {"admin_licensing": ["decision_no"]},
            "fields": {"decision_no": {"class": "public"}},
        },
        "social_arrears": {
            "subject_kinds": ["natural_person"],
            "share_scope": {"mode": "unconditional"},
            "purpose_fields": {"admin_licensing": ["amount"], "talent_program": ["amount"]},
            "fields": {"amount": {"class": "public"}},
        },
        "utility_arrears": {
            "subject_kinds": ["natural_person"],
            "share_scope": {"mode": "unconditional"},
            "purpose_fields": {"admin_licensing": ["amount"]},
            "fields": {"amount": {"class": "public"}},
        },
        "fund_arrears": {
            "subject_kinds": ["natural_person"],
            "share_scope": {"mode": "unconditional"},
            "purpose_fields": {"admin_licensing": ["amount"]},
            "fields": {"amount": {"class": "public"}},
        },
        "water_arrears": {
            "subject_kinds": ["natural_person"],
            "share_scope": {"mode": "unconditional"},
            "purpose_fields": {"admin_licensing": ["amount"]},
            "fields": {"amount": {"class": "public"}},
        },
        "gas_arrears": {
            "subject_kinds": ["natural_person"],
            "share_scope": {"mode": "unconditional"},
            "purpose_fields": {"admin_licensing": ["amount"]},
            "fields": {"amount": {"class": "public"}},
        },
    },
}


def write_policies(directory: Path, settings: Mapping[str, Any] | None = None) -> Path:
    """A policies directory: the real policy modules and grant settings, and the pinned test catalog."""
    # Every policy module, not only the grant packages: registration reads the merged catalog and the
    # shared helpers, and coverage reads the request facts and the one definition of "needs a grant".
    shutil.copytree(POLICIES / "gateway", directory / "gateway", ignore=shutil.ignore_patterns("*_test.rego"))
    (directory / "grant_settings").mkdir(exist_ok=True)
    if settings is None:
        shutil.copy(POLICIES / "grant_settings" / "data.yaml", directory / "grant_settings" / "data.yaml")
    else:
        (directory / "grant_settings" / "data.yaml").write_text(yaml.safe_dump(dict(settings)))
    (directory / "catalog" / "test").mkdir(parents=True, exist_ok=True)
    (directory / "catalog" / "test" / "data.yaml").write_text(
        yaml.safe_dump(copy.deepcopy(TEST_CATALOG), allow_unicode=True)
    )
    return directory


def consent(**changes: Any) -> dict[str, Any]:
    """Consent evidence that passes every rule: written, separate, not a condition of a service."""
    body = {
        "method": "written",
        "obtained_at": "2026-11-20T09:30:00Z",
        "reference": "HF-2026-000123",
        "separate": True,
        "condition_of_service": False,
    }
    body.update(changes)
    return body


def grant_body(subject: str = RESIDENT_ID, **changes: Any) -> dict[str, Any]:
    """A POST /v1/grants body that the test catalog and the shipped settings accept."""
    body: dict[str, Any] = {
        "subject": {"id_type": "resident_id", "value": subject},
        "recipient": "housing",
        "purposes": ["admin_licensing"],
        "items": ["judgment_debtors", "tax_arrears"],
        "fields": None,
        "valid_from": "2026-11-21T00:00:00Z",
        "valid_until": "2027-05-21T00:00:00Z",
        "consent": consent(),
    }
    for key, value in changes.items():
        if value is _ABSENT:
            body.pop(key, None)
        else:
            body[key] = value
    return body


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()
_ABSENT = ABSENT


# --- databases: the grant store and the ledger in one database, as deployed ---

LEDGER_ORIGIN = "gateway.test/grants"


@dataclass
class GrantDatabase:
    """A grant store and a ledger sharing one database (a SQLite file or a PostgreSQL schema)."""

    url: str
    schema: str | None
    store: SqlGrantStore
    ledger: SqlLedger

    def records(self) -> list[dict[str, Any]]:
        """Every ledger record, in order."""
        out = []
        for index in range(self.ledger.head().size):
            entry = self.ledger.entry(index)
            assert entry is not None
            out.append(entry.envelope().record)
        return out

    def leaves(self) -> bytes:
        """Every ledger leaf, concatenated (to check that no identifier was written)."""
        return b"\n".join(
            entry.leaf for i in range(self.ledger.head().size) if (entry := self.ledger.entry(i)) is not None
        )

    def new_ledger(self, keystore: KeyStore, clock: Clock) -> SqlLedger:
        """Another ledger on the same database (to replace a closed one)."""
        self.ledger = SqlLedger(self.url, keystore, LEDGER_ORIGIN, clock, schema=self.schema)
        return self.ledger


@contextmanager
def grant_database(
    kind: str, tmp_path: Path, keystore: KeyStore, clock: Clock, postgres_url: str = ""
) -> Iterator[GrantDatabase]:
    """A fresh store and ledger on SQLite (``kind="sqlite"``) or in a new PostgreSQL schema."""
    schema: str | None = None
    admin = None
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'gateway.db'}"
    else:
        url = postgres_url
        schema = f"grants_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(url)
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    migrate_database(url, schema)
    store = SqlGrantStore(url, schema=schema)
    ledger = SqlLedger(url, keystore, LEDGER_ORIGIN, clock, schema=schema)
    db = GrantDatabase(url, schema, store, ledger)
    try:
        yield db
    finally:
        db.ledger.close()
        store.close()
        if admin is not None:
            with admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


_ENGINES: dict[Path, RegorusEngine] = {}
_ENGINES_LOCK = threading.Lock()


def shared_engine(policies: Path) -> RegorusEngine:
    """One RegorusEngine per policies directory for the whole test process.

    RegorusEngine keeps its per-thread regorus engines in an instance ``threading.local``; if the
    instance is garbage-collected while a server's worker threads are alive, those engines are
    dropped on the collecting thread and regorus panics ("unsendable ... dropped on another
    thread"). Engines used from server threads therefore live as long as the process.
    """
    with _ENGINES_LOCK:
        engine = _ENGINES.get(policies)
        if engine is None:
            engine = _ENGINES[policies] = RegorusEngine(policies)
        return engine
