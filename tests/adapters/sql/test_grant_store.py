"""The grant store on real SQLite files and a real PostgreSQL, including concurrent revoke and read."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from gateway.adapters.sql.grants import SqlGrantStore
from gateway.domain.grants import ConsentEvidence, Grant, GrantTerms, Revocation, RevokeReason
from gateway.domain.identifiers import IdType, SubjectKind
from gateway.errors import ConfigurationError, Conflict, NotFound, Unavailable
from tests.support.ledger import migrate_database

T0 = datetime(2026, 11, 21, tzinfo=UTC)


def make_grant(
    *, subject: str = "a" * 64, recipient: str = "housing", registered_by: str = "social_security", n: int = 0
) -> Grant:
    return Grant(
        id=uuid.uuid4().hex,
        subject_commitment=subject,
        id_type=IdType.RESIDENT_ID,
        subject_kind=SubjectKind.NATURAL_PERSON,
        terms=GrantTerms(
            recipient=recipient,
            purposes=("admin_licensing", "talent_program"),
            items=("judgment_debtors", "tax_arrears"),
            fields={"judgment_debtors": ("case_no", "name")},
            valid_from=T0,
            valid_until=T0 + timedelta(days=180, microseconds=250),
            consent=ConsentEvidence(
                method="written",
                obtained_at=T0 - timedelta(hours=3),
                reference="HF-2026-000123",
                separate=True,
                condition_of_service=True,
                service="admin_licensing",
            ),
        ),
        registered_by=registered_by,
        client_id="ss-app",
        created_at=T0 + timedelta(seconds=n),
    )


def revocation(department: str = "social_security") -> Revocation:
    return Revocation(T0 + timedelta(days=1), "ss-app", department, RevokeReason.SUBJECT_WITHDRAWAL)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlGrantStore]:
    if request.param == "sqlite":
        migrate_database(f"sqlite:///{tmp_path / 'gateway.db'}")
        s = SqlGrantStore(f"sqlite:///{tmp_path / 'gateway.db'}")
        yield s
        s.close()
        return
    url: str = request.getfixturevalue("postgres_url")
    schema = f"grants_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    migrate_database(url, schema)
    s = SqlGrantStore(url, schema=schema)
    try:
        yield s
    finally:
        s.close()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def registered(store: SqlGrantStore, grant: Grant, index: int = 1) -> Grant:
    store.insert(grant)
    store.mark_registered(grant.id, index)
    return replace(grant, ledger_index=index)


# --- round trip ---


def test_insert_and_get_round_trip(store: SqlGrantStore) -> None:
    grant = make_grant()
    store.insert(grant)
    assert store.get(grant.id) == grant


def test_times_come_back_timezone_aware_utc(store: SqlGrantStore) -> None:
    grant = registered(store, make_grant())
    got = store.get(grant.id)
    assert got is not None
    assert got.terms.valid_from.tzinfo is not None
    assert got.terms.valid_until == T0 + timedelta(days=180, microseconds=250)
    assert got.terms.consent.obtained_at == T0 - timedelta(hours=3)


def test_unknown_grant_is_none(store: SqlGrantStore) -> None:
    assert store.get("f" * 32) is None


def test_grant_is_pending_until_registered(store: SqlGrantStore) -> None:
    grant = make_grant()
    store.insert(grant)
    assert store.get(grant.id).ledger_index is None  # type: ignore[union-attr]
    store.mark_registered(grant.id, 42)
    assert store.get(grant.id).ledger_index == 42  # type: ignore[union-attr]


def test_discard_removes_only_unregistered_grants(store: SqlGrantStore) -> None:
    pending, done = make_grant(), registered(store, make_grant())
    store.insert(pending)
    store.discard(pending.id)
    store.discard(done.id)
    assert store.get(pending.id) is None
    assert store.get(done.id) is not None


def test_duplicate_id_is_refused(store: SqlGrantStore) -> None:
    grant = make_grant()
    store.insert(grant)
    with pytest.raises(Unavailable) as caught:
        store.insert(grant)
    assert caught.value.code == "grant_store_unavailable"
    assert "HF-2026" not in caught.value.detail


# --- listing ---


def test_find_by_subject_recipient_and_visibility(store: SqlGrantStore) -> None:
    a = registered(store, make_grant(subject="a" * 64, recipient="housing", n=1))
    b = registered(store, make_grant(subject="a" * 64, recipient="tax", n=2))
    c = registered(store, make_grant(subject="b" * 64, recipient="housing", registered_by="court", n=3))
    assert [g.id for g in store.find(subject_commitment="a" * 64)] == [a.id, b.id]
    assert [g.id for g in store.find(recipient="housing")] == [a.id, c.id]
    assert [g.id for g in store.find(subject_commitment="a" * 64, recipient="tax")] == [b.id]
    assert [g.id for g in store.find(visible_to="court")] == [c.id]
    assert [g.id for g in store.find(visible_to="social_security")] == [a.id, b.id]
    assert [g.id for g in store.find(limit=1)] == [a.id]
    assert store.find(subject_commitment="c" * 64) == []


# --- revocation ---


def test_revoke_records_who_when_and_why(store: SqlGrantStore) -> None:
    grant = registered(store, make_grant())
    revoked = store.revoke(grant.id, revocation())
    assert revoked.revocation == revocation()
    assert store.get(grant.id) == revoked
    store.mark_revocation_registered(grant.id, 9)
    assert store.get(grant.id).revocation.ledger_index == 9  # type: ignore[union-attr]


def test_failed_revocation_registration_is_claimed_once(store: SqlGrantStore) -> None:
    grant = registered(store, make_grant())
    store.revoke(grant.id, revocation())
    assert not store.claim_revocation_retry(grant.id)  # being registered by the revoking request
    store.mark_revocation_unregistered(grant.id)
    assert store.claim_revocation_retry(grant.id)
    assert not store.claim_revocation_retry(grant.id)
    store.mark_revocation_registered(grant.id, 3)
    store.mark_revocation_unregistered(grant.id)
    assert not store.claim_revocation_retry(grant.id)  # registered: nothing left to claim


def test_second_revoke_is_a_conflict(store: SqlGrantStore) -> None:
    grant = registered(store, make_grant())
    store.revoke(grant.id, revocation())
    with pytest.raises(Conflict) as caught:
        store.revoke(grant.id, revocation("housing"))
    assert caught.value.code == "grant_already_revoked"
    assert store.get(grant.id).revocation.department == "social_security"  # type: ignore[union-attr]


def test_revoking_unknown_or_pending_grant_is_not_found(store: SqlGrantStore) -> None:
    pending = make_grant()
    store.insert(pending)
    for grant_id in ("f" * 32, pending.id):
        with pytest.raises(NotFound) as caught:
            store.revoke(grant_id, revocation())
        assert caught.value.code == "grant_not_found"
    assert store.get(pending.id).revocation is None  # type: ignore[union-attr]


def test_concurrent_revocations_exactly_one_wins(store: SqlGrantStore) -> None:
    grant = registered(store, make_grant())
    start = threading.Barrier(6)
    outcomes: list[str] = []
    lock = threading.Lock()

    def revoke(i: int) -> None:
        start.wait()
        try:
            store.revoke(grant.id, revocation(f"dept_{i}"))
            result = "revoked"
        except Conflict as exc:
            result = exc.code
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=revoke, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["grant_already_revoked"] * 5 + ["revoked"]


def test_reads_see_a_revocation_as_soon_as_it_returns(store: SqlGrantStore) -> None:
    """Readers race a revocation: every read that starts after revoke() returned sees it, and no
    reader ever sees a revoked grant come back (the store has no cache to go stale)."""
    grant = registered(store, make_grant())
    clock_lock = threading.Lock()
    ticks = [0]
    revoked_at_tick: list[int] = []
    observations: dict[int, list[tuple[int, bool]]] = {}
    stop = threading.Event()
    start = threading.Barrier(4)

    def tick() -> int:
        with clock_lock:
            ticks[0] += 1
            return ticks[0]

    def read(reader: int) -> None:
        seen: list[tuple[int, bool]] = []
        start.wait()
        deadline = time.monotonic() + 60  # bounded: stops by itself
        after_stop = 0
        while time.monotonic() < deadline and after_stop < 20:
            began = tick()
            current = store.get(grant.id)
            assert current is not None
            seen.append((began, current.revocation is not None))
            after_stop += stop.is_set()
        observations[reader] = seen

    readers = [threading.Thread(target=read, args=(i,)) for i in range(3)]
    for t in readers:
        t.start()
    start.wait()
    for _ in range(10):
        store.get(grant.id)  # let the readers get going before the revocation
    store.revoke(grant.id, revocation())
    revoked_at_tick.append(tick())
    stop.set()
    for t in readers:
        t.join(60)
    assert len(observations) == 3
    for seen in observations.values():
        flags = [revoked for _, revoked in seen]
        assert flags == sorted(flags), "a reader saw the revocation undone"
        assert all(revoked for began, revoked in seen if began > revoked_at_tick[0])
        assert any(began > revoked_at_tick[0] for began, _ in seen)


# --- configuration ---


def test_sqlite_store_uses_wal(tmp_path: Path) -> None:
    migrate_database(f"sqlite:///{tmp_path / 'g.db'}")
    store = SqlGrantStore(f"sqlite:///{tmp_path / 'g.db'}")
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    finally:
        store.close()


def test_in_memory_sqlite_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        SqlGrantStore("sqlite://")


def test_store_failure_is_unavailable_without_details(tmp_path: Path) -> None:
    migrate_database(f"sqlite:///{tmp_path / 'g.db'}")
    store = SqlGrantStore(f"sqlite:///{tmp_path / 'g.db'}")
    try:
        with store.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE authorization_grants")
        with pytest.raises(Unavailable) as caught:
            store.get("f" * 32)
        assert caught.value.code == "grant_store_unavailable"
    finally:
        store.close()
