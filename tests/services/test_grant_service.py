"""GrantService with the real grant rules on regorus, the real ledger and the real store.

Each scenario runs on SQLite and on PostgreSQL: the store and the ledger share one database.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.adapters.key_files import FileKeyStore
from gateway.adapters.policy.regorus import RegorusEngine
from gateway.domain.grants import ConsentEvidence, GrantTerms, RevokeReason
from gateway.domain.identifiers import SubjectId, parse_subject
from gateway.domain.ledger.commitments import subject_commitment
from gateway.domain.query import ItemRequest, QuerySpec, build_policy_input
from gateway.errors import Conflict, GrantRefused, InvalidRequest, LedgerError, NotFound, PolicyEngineError
from gateway.ports import Actor
from gateway.services.grants import GrantService
from tests.conftest import FixedClock
from tests.support.grants_fixtures import (
    INDIVIDUAL_BUSINESS,
    LEGAL_PERSON,
    OTHER_RESIDENT_ID,
    POLICIES,
    RESIDENT_ID,
    GrantDatabase,
    grant_database,
    shared_engine,
    write_policies,
)

REGISTRAR = Actor("ss-app", "social_security")
RECIPIENT = Actor("housing-app", "housing")
STRANGER = Actor("tax-app", "tax")
PERSON = parse_subject("resident_id", RESIDENT_ID)
OTHER_PERSON = parse_subject("resident_id", OTHER_RESIDENT_ID)
T0 = datetime(2026, 11, 21, tzinfo=UTC)

TERMS = GrantTerms(
    recipient="housing",
    purposes=("admin_licensing",),
    items=("judgment_debtors", "tax_arrears"),
    fields=None,
    valid_from=T0,
    valid_until=T0 + timedelta(days=180),
    consent=ConsentEvidence(
        method="written",
        obtained_at=datetime(2026, 11, 20, 9, 30, tzinfo=UTC),
        reference="HF-2026-000123",
        separate=True,
        condition_of_service=False,
    ),
)


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


@pytest.fixture
def service(
    db: GrantDatabase, engine: RegorusEngine, keystore: FileKeyStore, clock: FixedClock
) -> GrantService:
    return GrantService(db.store, engine, db.ledger, keystore, clock)


def query_input(
    service: GrantService,
    grant: dict[str, Any] | None,
    *,
    subject: SubjectId = PERSON,
    department: str = "housing",
    purpose: str = "admin_licensing",
    items: tuple[str, ...] = ("judgment_debtors",),
) -> dict[str, Any]:
    """The query policy input exactly as the query service builds it."""
    spec = QuerySpec(purpose, "test", tuple(ItemRequest(i) for i in items), (subject,), grant_id=None)
    return build_policy_input(
        spec,
        client_id="housing-app",
        department=department,
        now=service.clock.now(),
        catalog_revision="test",
        commitments=[service.commitment(subject)],
        grant=grant,
    )


def covered(service: GrantService, grant_id: str, **query: Any) -> tuple[set[str], set[str]]:
    """Ask the real policy what the stored grant covers now, and why not."""
    document = service.grant_for_query(grant_id, query.get("department", "housing"))
    policy_input = query_input(service, document, **query)
    items = service.engine.evaluate("gateway.coverage.covered_items", policy_input)
    reasons = service.engine.evaluate("gateway.coverage.query_reasons", policy_input)
    return set(items), {r["code"] for r in reasons}


# --- registration ---


def test_register_stores_and_registers(service: GrantService, db: GrantDatabase) -> None:
    outcome = service.register(REGISTRAR, PERSON, TERMS)
    grant = outcome.grant
    assert grant.ledger_index == outcome.receipt.index
    assert db.store.get(grant.id) == grant
    assert grant.subject_commitment == subject_commitment(
        service.keystore.secret("commitment"), "resident_id", RESIDENT_ID
    )
    [record] = db.records()
    assert record["kind"] == "grant"
    assert record["action"] == "register"
    assert record["decision"] == "allow"
    assert record["grant_id"] == grant.id
    assert record["recipient"] == "housing"
    assert record["purposes"] == ["admin_licensing"]
    assert record["client_id"] == "ss-app"
    assert record["department"] == "social_security"
    assert record["fields"] is None
    assert record["consent"]["reference"] == "HF-2026-000123"
    assert record["consent"]["separate"] is True
    assert record["subjects"] == [
        {"id_type": "resident_id", "subject_kind": "natural_person", "commitment": grant.subject_commitment}
    ]
    assert RESIDENT_ID.encode() not in db.leaves()


def test_refusal_is_registered_and_nothing_stored(service: GrantService, db: GrantDatabase) -> None:
    with pytest.raises(GrantRefused) as caught:
        service.register(REGISTRAR, PERSON, replace(TERMS, valid_until=None))
    refused = caught.value
    assert refused.problem_code == "grant_lifetime"
    assert refused.clause == "(14)"
    assert refused.field == "valid_until"
    assert [r["code"] for r in refused.extra["reasons"]] == ["grant_lifetime"]
    [record] = db.records()
    assert record["decision"] == "deny"
    assert record["reasons"] == [{"code": "grant_lifetime", "clause": "(14)", "field": "valid_until"}]
    assert refused.extra["receipt"]["index"] == 0
    assert db.store.get(record["grant_id"]) is None
    assert db.store.find() == []


def test_refusal_reports_the_first_reason_in_policy_order(service: GrantService) -> None:
    with pytest.raises(GrantRefused) as caught:
        service.register(
            REGISTRAR, PERSON, replace(TERMS, recipient="all", consent=replace(TERMS.consent, separate=False))
        )
    assert caught.value.problem_code == "grant_blanket_recipient"
    assert [r["code"] for r in caught.value.extra["reasons"]] == [
        "grant_blanket_recipient",
        "grant_not_separate",
    ]


def test_bad_shape_is_refused_before_the_policy_and_not_registered(
    service: GrantService, db: GrantDatabase
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        service.register(REGISTRAR, PERSON, replace(TERMS, items=("a", "a")))
    assert caught.value.field == "items[1]"
    assert db.records() == []


def test_legal_person_gives_no_grant(service: GrantService, db: GrantDatabase) -> None:
    with pytest.raises(InvalidRequest) as caught:
        service.register(REGISTRAR, parse_subject("uscc", LEGAL_PERSON), TERMS)
    assert caught.value.code == "grant_subject_not_personal"
    assert db.records() == []


def test_individual_business_gives_a_grant(service: GrantService) -> None:
    outcome = service.register(
        REGISTRAR, parse_subject("uscc", INDIVIDUAL_BUSINESS), replace(TERMS, items=("judgment_debtors",))
    )
    assert str(outcome.grant.subject_kind) == "individual_business"


def test_ledger_failure_on_registration_leaves_no_grant(
    service: GrantService, db: GrantDatabase, keystore: FileKeyStore, clock: FixedClock
) -> None:
    db.ledger.close()
    with pytest.raises(LedgerError):
        service.register(REGISTRAR, PERSON, TERMS)
    assert db.store.find() == []
    service.ledger = db.new_ledger(keystore, clock)
    assert db.records() == []


def test_missing_rules_fail_closed(
    db: GrantDatabase, keystore: FileKeyStore, clock: FixedClock, tmp_path: Path
) -> None:
    policies = write_policies(tmp_path / "empty")
    (policies / "gateway" / "grants" / "grants.rego").write_text("package gateway.grants\n")
    service = GrantService(db.store, RegorusEngine(policies), db.ledger, keystore, clock)
    with pytest.raises(PolicyEngineError):
        service.register(REGISTRAR, PERSON, TERMS)
    assert db.store.find() == []


def test_maximum_validity_is_tuned_in_policy_data(
    db: GrantDatabase, keystore: FileKeyStore, clock: FixedClock, tmp_path: Path
) -> None:
    strict = RegorusEngine(write_policies(tmp_path / "strict", settings={"max_validity_days": 30}))
    service = GrantService(db.store, strict, db.ledger, keystore, clock)
    with pytest.raises(GrantRefused) as caught:
        service.register(REGISTRAR, PERSON, TERMS)
    assert caught.value.problem_code == "grant_validity_too_long"
    service.register(REGISTRAR, PERSON, replace(TERMS, valid_until=T0 + timedelta(days=20)))


def test_real_catalog_accepts_a_specific_grant(
    db: GrantDatabase, keystore: FileKeyStore, clock: FixedClock
) -> None:
    service = GrantService(db.store, RegorusEngine(POLICIES), db.ledger, keystore, clock)
    terms = replace(
        TERMS, recipient="finance", purposes=("credit_evaluation",), items=("court.dishonest_debtor",)
    )
    assert service.register(REGISTRAR, PERSON, terms).grant.ledger_index == 0
    with pytest.raises(GrantRefused) as caught:
        service.register(
            REGISTRAR, PERSON, replace(terms, recipient="market_regulation", items=("tax.major_violation",))
        )
    assert caught.value.problem_code == "grant_purpose_not_for_item"


# --- reading ---


def test_only_registrant_and_recipient_see_a_grant(service: GrantService) -> None:
    grant = service.register(REGISTRAR, PERSON, TERMS).grant
    assert service.get(REGISTRAR, grant.id) == grant
    assert service.get(RECIPIENT, grant.id) == grant
    for actor, grant_id in ((STRANGER, grant.id), (REGISTRAR, "f" * 32), (REGISTRAR, "not-an-id")):
        with pytest.raises(NotFound):
            service.get(actor, grant_id)


def test_list_and_search(service: GrantService) -> None:
    mine = service.register(REGISTRAR, PERSON, TERMS).grant
    other = service.register(REGISTRAR, OTHER_PERSON, TERMS).grant
    assert [g.id for g in service.search(RECIPIENT, PERSON)] == [mine.id]
    assert [g.id for g in service.list_grants(RECIPIENT, subject_commitment=other.subject_commitment)] == [
        other.id
    ]
    assert {g.id for g in service.list_grants(REGISTRAR, recipient="housing")} == {mine.id, other.id}
    assert service.list_grants(STRANGER) == []


# --- revocation and the query path ---


def test_revocation_is_registered_and_seen_by_the_next_query(
    service: GrantService, db: GrantDatabase
) -> None:
    grant = service.register(REGISTRAR, PERSON, TERMS).grant
    assert covered(service, grant.id) == ({"judgment_debtors"}, set())
    outcome = service.revoke(REGISTRAR, grant.id, RevokeReason.SUBJECT_WITHDRAWAL)
    assert outcome.grant.revocation is not None
    assert outcome.grant.revocation.reason is RevokeReason.SUBJECT_WITHDRAWAL
    assert covered(service, grant.id) == (set(), {"grant_revoked"})
    register, revoke = db.records()
    assert (register["action"], revoke["action"]) == ("register", "revoke")
    assert revoke["revoke_reason"] == "subject_withdrawal"
    assert db.store.get(grant.id).revocation.ledger_index == outcome.receipt.index  # type: ignore[union-attr]


def test_second_revocation_is_a_conflict(service: GrantService, db: GrantDatabase) -> None:
    grant = service.register(REGISTRAR, PERSON, TERMS).grant
    service.revoke(RECIPIENT, grant.id, RevokeReason.RECIPIENT_RELEASE)
    with pytest.raises(Conflict) as caught:
        service.revoke(REGISTRAR, grant.id, RevokeReason.SUBJECT_WITHDRAWAL)
    assert caught.value.code == "grant_already_revoked"
    assert len(db.records()) == 2


def test_stranger_cannot_revoke(service: GrantService) -> None:
    grant = service.register(REGISTRAR, PERSON, TERMS).grant
    with pytest.raises(NotFound):
        service.revoke(STRANGER, grant.id, RevokeReason.SUBJECT_WITHDRAWAL)


def test_revocation_stands_when_the_ledger_fails_and_a_retry_registers_it(
    service: GrantService, db: GrantDatabase, keystore: FileKeyStore, clock: FixedClock
) -> None:
    grant = service.register(REGISTRAR, PERSON, TERMS).grant
    db.ledger.close()
    with pytest.raises(LedgerError):
        service.revoke(REGISTRAR, grant.id, RevokeReason.SUBJECT_WITHDRAWAL)
    assert covered(service, grant.id) == (set(), {"grant_revoked"})  # withdrawal is effective anyway
    service.ledger = db.new_ledger(keystore, clock)
    outcome = service.revoke(REGISTRAR, grant.id, RevokeReason.SUBJECT_WITHDRAWAL)
    assert outcome.receipt.index == 1
    with pytest.raises(Conflict):
        service.revoke(REGISTRAR, grant.id, RevokeReason.SUBJECT_WITHDRAWAL)


def test_expiry_takes_effect_on_the_next_query(service: GrantService, clock: FixedClock) -> None:
    grant = service.register(REGISTRAR, PERSON, TERMS).grant
    clock.current = grant.valid_until - timedelta(seconds=1)
    assert covered(service, grant.id)[0] == {"judgment_debtors"}
    clock.current = grant.valid_until
    assert covered(service, grant.id) == (set(), {"grant_expired"})


def test_grant_covers_only_its_subject_recipient_purpose_and_items(service: GrantService) -> None:
    grant = service.register(REGISTRAR, PERSON, TERMS).grant
    assert covered(service, grant.id, subject=OTHER_PERSON) == (set(), {"grant_subject_mismatch"})
    assert covered(service, grant.id, purpose="talent_program") == (set(), {"grant_purpose_mismatch"})
    assert covered(service, grant.id, items=("judgment_debtors", "social_arrears")) == (
        {"judgment_debtors"},
        {"grant_item_not_covered"},
    )


def test_grant_for_query_hides_other_departments_grants(service: GrantService) -> None:
    grant = service.register(REGISTRAR, PERSON, TERMS).grant
    document = service.grant_for_query(grant.id, "housing")
    assert document == grant.query_document()
    assert service.grant_for_query(grant.id, "social_security") == document
    assert service.grant_for_query(grant.id, "tax") is None
    assert service.grant_for_query("f" * 32, "housing") is None
    assert service.grant_for_query("'; DROP TABLE authorization_grants; --", "housing") is None


def test_registrant_presenting_the_grant_is_not_its_recipient(service: GrantService) -> None:
    grant = service.register(REGISTRAR, PERSON, TERMS).grant
    assert covered(service, grant.id, department="social_security") == (set(), {"grant_recipient_mismatch"})


def test_queries_racing_a_revocation_never_use_it_afterwards(service: GrantService) -> None:
    """Query-path reads (store + policy) in threads while the grant is revoked: every query that
    starts after revoke() returned is refused with grant_revoked, and none flips back."""
    grant = service.register(REGISTRAR, PERSON, TERMS).grant
    lock = threading.Lock()
    ticks = [0]
    done_at: list[int] = []
    results: dict[int, list[tuple[int, bool]]] = {}
    start = threading.Barrier(4)
    stop = threading.Event()

    def tick() -> int:
        with lock:
            ticks[0] += 1
            return ticks[0]

    def query(worker: int) -> None:
        seen: list[tuple[int, bool]] = []
        start.wait()
        deadline = time.monotonic() + 60  # bounded: stops by itself
        after_stop = 0
        while time.monotonic() < deadline and after_stop < 5:
            began = tick()
            items, _ = covered(service, grant.id)
            seen.append((began, items == {"judgment_debtors"}))
            after_stop += stop.is_set()
        results[worker] = seen

    workers = [threading.Thread(target=query, args=(i,)) for i in range(3)]
    for w in workers:
        w.start()
    start.wait()
    service.revoke(REGISTRAR, grant.id, RevokeReason.SUBJECT_WITHDRAWAL)
    done_at.append(tick())
    stop.set()
    for w in workers:
        w.join(120)
    assert len(results) == 3
    for seen in results.values():
        flags = [ok for _, ok in seen]
        assert flags == sorted(flags, reverse=True), "a query used the grant again after a refusal"
        assert not any(ok for began, ok in seen if began > done_at[0])
        assert any(began > done_at[0] for began, _ in seen)
