"""Start-up reconciliation of grant changes a crash interrupted, and the atomic grant changes.

Each half-done state is the one a crash leaves in the database between two steps of the
step-by-step path (grant store and ledger not sharing a transaction), built on a real SQLite file
and a real PostgreSQL schema; ``reconcile`` must finish each the documented way, register what it
did, leave changes younger than its cut-off alone, and find nothing to do the second time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from gateway.adapters.key_files import FileKeyStore
from gateway.adapters.policy.regorus import RegorusEngine
from gateway.adapters.sql.grant_changes import SqlGrantChanges
from gateway.adapters.sql.schema import authorization_grants
from gateway.domain.grants import Revocation, RevokeReason
from gateway.domain.ledger.records import RevocationRecord
from gateway.errors import Conflict, GrantNotFound
from gateway.services.grants import RECONCILE_AFTER_S, GrantService
from tests.conftest import FixedClock
from tests.services.test_grant_service import PERSON, REGISTRAR, TERMS
from tests.support.grants_fixtures import GrantDatabase, grant_database, shared_engine, write_policies


@pytest.fixture(params=["sqlite", "postgres"])
def db(
    request: pytest.FixtureRequest, tmp_path: Path, keystore: FileKeyStore, clock: FixedClock
) -> Iterator[GrantDatabase]:
    pg = request.getfixturevalue("postgres_url") if request.param == "postgres" else ""
    with grant_database(request.param, tmp_path, keystore, clock, pg) as database:
        yield database


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> RegorusEngine:
    return shared_engine(write_policies(tmp_path_factory.mktemp("policies")))


def clear(db: GrantDatabase, grant_id: str, column: str) -> None:
    """Set one index column of a grant back to NULL, as a crash before it was written leaves it."""
    table = authorization_grants
    with db.store.engine.begin() as conn:  # the engine's schema translation names the test schema
        conn.execute(sa.update(table).where(table.c.id == grant_id).values({column: None}))


@pytest.mark.parametrize("atomic", [False, True], ids=["step-by-step", "atomic"])
def test_reconcile_finishes_what_a_crash_left_and_registers_it(
    db: GrantDatabase, engine: RegorusEngine, keystore: FileKeyStore, clock: FixedClock, atomic: bool
) -> None:
    changes = SqlGrantChanges(db.ledger, db.store) if atomic else None
    service = GrantService(db.store, engine, db.ledger, keystore, clock, changes)
    step_by_step = GrantService(db.store, engine, db.ledger, keystore, clock)

    # Crash after the registration entry, before the grant was marked registered.
    entry_written = step_by_step.register(REGISTRAR, PERSON, TERMS).grant
    clear(db, entry_written.id, "ledger_index")
    # Crash after the pending grant was stored, before its entry.
    never_entered = replace(entry_written, id="a" * 32, ledger_index=None)
    db.store.insert(never_entered)
    # Crash after the revocation was written, before its entry.
    revoked_only = step_by_step.register(REGISTRAR, PERSON, TERMS).grant
    revocation = Revocation(
        clock.now(), REGISTRAR.client_id, REGISTRAR.department, RevokeReason.SUBJECT_WITHDRAWAL
    )
    db.store.revoke(revoked_only.id, revocation)
    # Crash after the revocation's entry, before its index was noted.
    entry_unnoted = step_by_step.register(REGISTRAR, PERSON, TERMS).grant
    revoke_receipt = step_by_step.revoke(REGISTRAR, entry_unnoted.id, RevokeReason.SUBJECT_WITHDRAWAL).receipt
    clear(db, entry_unnoted.id, "revocation_ledger_index")
    # A complete grant, and the size of the ledger before reconciling.
    complete = step_by_step.register(REGISTRAR, PERSON, TERMS).grant
    size = db.ledger.head().size

    # Nothing is older than the cut-off yet: another process could still be finishing these.
    assert not service.reconcile(db.ledger)
    assert db.ledger.head().size == size

    clock.current += timedelta(seconds=RECONCILE_AFTER_S + 1)
    done = service.reconcile(db.ledger)
    assert done.registered == [entry_written.id]
    assert done.discarded == [never_entered.id]
    assert done.revocations_found == [entry_unnoted.id]
    assert done.revocations_registered == [revoked_only.id]

    store = db.store
    registered = store.get(entry_written.id)
    assert registered is not None
    assert registered.ledger_index == entry_written.ledger_index
    assert store.get(never_entered.id) is None
    noted = store.get(entry_unnoted.id)
    assert noted is not None
    assert noted.revocation is not None
    assert noted.revocation.ledger_index == revoke_receipt.index
    finished = store.get(revoked_only.id)
    assert finished is not None
    assert finished.revocation is not None
    assert finished.revocation.ledger_index is not None
    assert store.get(complete.id) == complete

    records = db.records()
    revocation_entry = records[finished.revocation.ledger_index]
    assert (revocation_entry["action"], revocation_entry["grant_id"]) == ("revoke", revoked_only.id)
    assert revocation_entry["client_id"] == REGISTRAR.client_id  # who revoked, as the request said
    report = records[-1]
    assert (report["kind"], report["action"]) == ("grant", "reconcile")
    assert report["registered"] == [entry_written.id]
    assert report["discarded"] == [never_entered.id]
    assert report["revocations_found"] == [entry_unnoted.id]
    assert report["revocations_registered"] == [revoked_only.id]
    assert len(records) == size + 2  # the revocation entry and the report, nothing else

    assert not service.reconcile(db.ledger)  # nothing left to do: nothing registered either
    assert len(db.records()) == size + 2


def test_atomic_changes_write_the_grant_and_its_entry_together(
    db: GrantDatabase, engine: RegorusEngine, keystore: FileKeyStore, clock: FixedClock
) -> None:
    service = GrantService(db.store, engine, db.ledger, keystore, clock, SqlGrantChanges(db.ledger, db.store))
    outcome = service.register(REGISTRAR, PERSON, TERMS)
    stored = db.store.get(outcome.grant.id)
    assert stored is not None
    assert stored.ledger_index == outcome.receipt.index
    revoked = service.revoke(REGISTRAR, outcome.grant.id, RevokeReason.SUBJECT_WITHDRAWAL)
    stored = db.store.get(outcome.grant.id)
    assert stored is not None
    assert stored.revocation is not None
    assert stored.revocation.ledger_index == revoked.receipt.index
    size = db.ledger.head().size
    # A second revocation is refused and writes nothing: its entry is rolled back with it.
    with pytest.raises(Conflict):
        service.revoke(REGISTRAR, outcome.grant.id, RevokeReason.SUBJECT_WITHDRAWAL)
    with pytest.raises(GrantNotFound):
        SqlGrantChanges(db.ledger, db.store).revoke(
            "b" * 32,
            Revocation(clock.now(), "x", "y", RevokeReason.SUBJECT_WITHDRAWAL),
            revoked_record(db, outcome.grant.id),
        )
    assert db.ledger.head().size == size
    records = db.records()
    assert [(r["action"], r["grant_id"]) for r in records] == [
        ("register", outcome.grant.id),
        ("revoke", outcome.grant.id),
    ]


def revoked_record(db: GrantDatabase, grant_id: str) -> RevocationRecord:
    grant = db.store.get(grant_id)
    assert grant is not None
    return RevocationRecord(grant, "x", "y", RevokeReason.SUBJECT_WITHDRAWAL, "rev")
