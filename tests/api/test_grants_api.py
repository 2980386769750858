"""The grant API over real HTTP: uvicorn in a thread, real signed tokens, the real grant rules on
regorus, the real ledger and store (SQLite file; the lifecycle also on PostgreSQL).

The table registers every accepted shape and provokes every refusal, asserting the exact code of
each outcome and that each registration or refusal is in the ledger with that code.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway.adapters.key_files import FileKeyStore
from gateway.adapters.tokens import JwtAuthenticator, TokenIssuer
from gateway.api import deps
from gateway.api.problems import PROBLEM_JSON, install_problem_handlers
from gateway.api.routes import grants as grants_api
from gateway.services.grants import GrantService
from gateway.services.refusals import RefusalRegistry
from tests.conftest import FixedClock
from tests.support.grants_fixtures import (
    ABSENT,
    INDIVIDUAL_BUSINESS,
    LEGAL_PERSON,
    OTHER_RESIDENT_ID,
    POLICIES,
    RESIDENT_ID,
    GrantDatabase,
    consent,
    grant_body,
    grant_database,
    shared_engine,
    write_policies,
)
from tests.support.http_server import serve_app
from tests.support.metrics import catalog_metrics

ISSUER = "https://gateway.test"
AUDIENCE = "urn:credit-gateway:grants-test"
WRITE = ("grants:write",)
READ = ("grants:read",)


@dataclass
class GrantApi:
    """A running grant API and what the tests need to talk to it."""

    http: httpx.Client
    db: GrantDatabase
    issuer: TokenIssuer
    service: GrantService

    def token(self, client_id: str, department: str, scopes: tuple[str, ...] = WRITE) -> dict[str, str]:
        token = self.issuer.issue(client_id, department, scopes).access_token
        return {"Authorization": f"Bearer {token}"}

    def registrar(self) -> dict[str, str]:
        return self.token("ss-app", "social_security")

    def recipient(self, scopes: tuple[str, ...] = READ) -> dict[str, str]:
        return self.token("housing-app", "housing", scopes)

    def post(self, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.http.post(
            "/v1/grants", json=body, headers=self.registrar() if headers is None else headers
        )


@contextmanager
def running_api(
    db: GrantDatabase, policies: Path, keystore: FileKeyStore, clock: FixedClock
) -> Iterator[GrantApi]:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(grants_api.router)
    authenticator = JwtAuthenticator(keystore, issuer=ISSUER, audience=AUDIENCE, clock=clock)
    service = GrantService(db.store, shared_engine(policies), db.ledger, keystore, clock)
    app.dependency_overrides[deps.authenticator] = lambda: authenticator
    app.dependency_overrides[deps.grant_service] = lambda: service
    refusals = RefusalRegistry(db.ledger)
    app.dependency_overrides[deps.refusal_registry] = lambda: refusals
    issuer = TokenIssuer(keystore, issuer=ISSUER, audience=AUDIENCE, clock=clock)
    try:
        with serve_app(app) as base_url, httpx.Client(base_url=base_url, timeout=30.0) as http:
            yield GrantApi(http, db, issuer, service)
    finally:
        authenticator.close()


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_policies(tmp_path_factory.mktemp("policies"))


@pytest.fixture
def api(tmp_path: Path, keystore: FileKeyStore, clock: FixedClock, policies: Path) -> Iterator[GrantApi]:
    with (
        grant_database("sqlite", tmp_path, keystore, clock) as db,
        running_api(db, policies, keystore, clock) as a,
    ):
        yield a


@pytest.fixture(params=["sqlite", "postgres"])
def any_api(
    request: pytest.FixtureRequest, tmp_path: Path, keystore: FileKeyStore, clock: FixedClock, policies: Path
) -> Iterator[GrantApi]:
    pg = request.getfixturevalue("postgres_url") if request.param == "postgres" else ""
    with (
        grant_database(request.param, tmp_path, keystore, clock, pg) as db,
        running_api(db, policies, keystore, clock) as a,
    ):
        yield a


# --- the table ------------------------------------------------------------------------------------

ADMIN_ITEMS = ["judgment_debtors", "tax_arrears", "social_arrears", "utility_arrears", "fund_arrears"]


@dataclass(frozen=True)
class Case:
    """One registration attempt and its exact outcome."""

    name: str
    body: dict[str, Any]
    status: int
    code: str | None = None  # problem code for refusals; None when registered
    field: str | None = None
    clause: str | None = None


CASES = [
    # Accepted shapes.
    Case("specific grant", grant_body(), 201),
    Case("field restriction", grant_body(fields={"judgment_debtors": ["case_no"]}), 201),
    Case(
        "two purposes over two catalogs' items",
        grant_body(purposes=["admin_licensing", "talent_program"], items=["tax_arrears", "social_arrears"]),
        201,
    ),
    Case(
        "consent conditional on the granted service itself",
        grant_body(consent=consent(condition_of_service=True, service="admin_licensing")),
        201,
    ),
    Case(
        "exactly the maximum validity (366 days from consent)",
        grant_body(valid_from="2026-11-20T09:30:00Z", valid_until="2027-11-21T09:30:00Z"),
        201,
    ),
    Case("starts in the future", grant_body(valid_from="2026-12-01T00:00:00Z"), 201),
    Case("starts at the consent", grant_body(valid_from="2026-11-20T09:30:00Z"), 201),
    Case(
        "times with an offset",
        grant_body(valid_from="2026-11-21T08:00:00+08:00", valid_until="2027-05-21T08:00:00.5+08:00"),
        201,
    ),
    Case("as many items as the purpose justifies", grant_body(items=ADMIN_ITEMS), 201),
    Case(
        "individual business",
        {
            **grant_body(items=["judgment_debtors"]),
            "subject": {"id_type": "uscc", "value": INDIVIDUAL_BUSINESS},
        },
        201,
    ),
    # Blanket.
    Case("recipient all", grant_body(recipient="all"), 422, "grant_blanket_recipient", "recipient", "(14)"),
    Case(
        "recipient wildcard", grant_body(recipient="*"), 422, "grant_blanket_recipient", "recipient", "(14)"
    ),
    Case("purpose ALL", grant_body(purposes=["ALL"]), 422, "grant_blanket_purpose", "purposes", "(14)"),
    Case("purpose 全部", grant_body(purposes=["全部"]), 422, "grant_blanket_purpose", "purposes", "(14)"),
    Case("item wildcard", grant_body(items=["*"]), 422, "grant_blanket_items", "items", "(14)"),
    Case("item pattern", grant_body(items=["judgment_*"]), 422, "grant_blanket_items", "items", "(14)"),
    Case(
        "field wildcard",
        grant_body(fields={"judgment_debtors": ["*"]}),
        422,
        "grant_blanket_fields",
        "fields",
        "(14)",
    ),
    Case(
        "more items than the purpose justifies",
        grant_body(items=[*ADMIN_ITEMS, "water_arrears"]),
        422,
        "grant_too_many_items",
        "items",
        "(14)",
    ),
    # Catalog.
    Case(
        "unknown recipient", grant_body(recipient="bank"), 422, "grant_unknown_recipient", "recipient", "(3)"
    ),
    Case(
        "unknown purpose",
        grant_body(purposes=["admin_licensing", "marketing"]),
        422,
        "grant_unknown_purpose",
        "purposes",
        "(1)",
    ),
    Case(
        "unknown item",
        grant_body(items=["judgment_debtors", "phone_bills"]),
        422,
        "grant_unknown_item",
        "items",
        "(1)",
    ),
    Case(
        "unknown field",
        grant_body(fields={"judgment_debtors": ["phone"]}),
        422,
        "grant_unknown_field",
        "fields",
        "(1)",
    ),
    Case(
        "item about companies only",
        grant_body(items=["company_penalties"]),
        422,
        "grant_item_wrong_subject_kind",
        "items",
        "(1)",
    ),
    # Share scope and necessity.
    Case(
        "recipient outside the item's share scope",
        grant_body(recipient="tax"),
        422,
        "grant_recipient_out_of_scope",
        "items",
        "(3)",
    ),
    Case(
        "item that is never shared",
        grant_body(items=["sealed_records"]),
        422,
        "grant_recipient_out_of_scope",
        "items",
        "(3)",
    ),
    Case(
        "no stated purpose needs the item",
        grant_body(purposes=["talent_program"], items=["tax_arrears"]),
        422,
        "grant_purpose_not_for_item",
        "items",
        "(14)",
    ),
    Case(
        "a purpose that needs none of the items",
        grant_body(purposes=["admin_licensing", "tax_enforcement"]),
        422,
        "grant_purpose_without_item",
        "purposes",
        "(14)",
    ),
    # Lifetime.
    Case("no end (absent)", grant_body(valid_until=ABSENT), 422, "grant_lifetime", "valid_until", "(14)"),
    Case("no end (null)", grant_body(valid_until=None), 422, "grant_lifetime", "valid_until", "(14)"),
    Case(
        "end 9999-12-31",
        grant_body(valid_until="9999-12-31T23:59:59Z"),
        422,
        "grant_lifetime_sentinel",
        "valid_until",
        "(14)",
    ),
    Case(
        "end 2099-12-31",
        grant_body(valid_until="2099-12-31T00:00:00Z"),
        422,
        "grant_lifetime_sentinel",
        "valid_until",
        "(14)",
    ),
    Case(
        "one day longer than a year",
        grant_body(valid_from="2026-11-20T09:30:00Z", valid_until="2027-11-22T09:30:00Z"),
        422,
        "grant_validity_too_long",
        "valid_until",
        "(14)",
    ),
    Case(
        "ends before it starts",
        grant_body(valid_from="2026-12-01T00:00:00Z", valid_until="2026-11-30T00:00:00Z"),
        422,
        "grant_ends_before_start",
        "valid_until",
        "(14)",
    ),
    Case(
        "already expired",
        grant_body(valid_from="2026-11-20T10:00:00Z", valid_until="2026-11-22T07:59:59Z"),
        422,
        "grant_already_expired",
        "valid_until",
        "(14)",
    ),
    # Mandatory and consent.
    Case(
        "consent was a condition of an unrelated service",
        grant_body(consent=consent(condition_of_service=True, service="mobile_app_signup")),
        422,
        "grant_mandatory",
        "consent.condition_of_service",
        "(14)",
    ),
    Case(
        "bundled, not separate, consent",
        grant_body(consent=consent(separate=False)),
        422,
        "grant_not_separate",
        "consent.separate",
        "(14)",
    ),
    Case(
        "implied consent",
        grant_body(consent=consent(method="implied")),
        422,
        "grant_consent_method_not_accepted",
        "consent.method",
        "(14)",
    ),
    Case(
        "consent dated in the future",
        grant_body(valid_from="2026-11-23T00:00:00Z", consent=consent(obtained_at="2026-11-23T00:00:00Z")),
        422,
        "grant_consent_in_future",
        "consent.obtained_at",
        "(14)",
    ),
    Case(
        "retroactive",
        grant_body(valid_from="2026-11-19T00:00:00Z"),
        422,
        "grant_retroactive",
        "valid_from",
        "(14)",
    ),
    # Shape, refused before the policy (not registered).
    Case("no purpose", grant_body(purposes=[]), 422, "invalid_request", "purposes"),
    Case("item twice", grant_body(items=["tax_arrears", "tax_arrears"]), 422, "invalid_request", "items[1]"),
    Case(
        "time without offset",
        grant_body(valid_from="2026-11-21T00:00:00"),
        422,
        "invalid_request",
        "valid_from",
    ),
    Case(
        "separate as a string",
        grant_body(consent=consent(separate="yes")),
        422,
        "invalid_request",
        "consent.separate",
    ),
    # The unknown key is not echoed (it could be an identifier): the object holding it is named.
    Case("unknown body field", grant_body(scope="everything"), 422, "invalid_request", "body"),
    Case("identifier as an item", grant_body(items=[RESIDENT_ID]), 422, "identifier_in_text", "items.0"),
    Case(
        "resident ID with a wrong check character",
        grant_body(subject=RESIDENT_ID[:17] + "9"),
        422,
        "invalid_identifier",
        "subject.value",
    ),
    Case(
        "a legal person gives no grant",
        {**grant_body(), "subject": {"id_type": "uscc", "value": LEGAL_PERSON}},
        422,
        "grant_subject_not_personal",
        "subject",
    ),
]
POLICY_REFUSALS = [c for c in CASES if c.status == 422 and c.clause is not None]
ACCEPTED = [c for c in CASES if c.status == 201]


def test_the_table_covers_every_registration_code() -> None:
    codes = {c.code for c in POLICY_REFUSALS}
    # grant_malformed cannot come through the API: the API's own validation catches it first.
    assert codes == {
        "grant_blanket_recipient",
        "grant_blanket_purpose",
        "grant_blanket_items",
        "grant_blanket_fields",
        "grant_too_many_items",
        "grant_unknown_recipient",
        "grant_unknown_purpose",
        "grant_unknown_item",
        "grant_unknown_field",
        "grant_item_wrong_subject_kind",
        "grant_recipient_out_of_scope",
        "grant_purpose_not_for_item",
        "grant_purpose_without_item",
        "grant_lifetime",
        "grant_lifetime_sentinel",
        "grant_validity_too_long",
        "grant_ends_before_start",
        "grant_already_expired",
        "grant_mandatory",
        "grant_not_separate",
        "grant_consent_method_not_accepted",
        "grant_consent_in_future",
        "grant_retroactive",
    }
    assert len(ACCEPTED) >= 10
    assert len(CASES) >= 40


def test_registration_table(api: GrantApi) -> None:
    """Every case through one server, in order; then the ledger holds exactly the registrations,
    the policy refusals and the validation refusals (kind ``invalid``), each under its code."""
    expected_records: list[tuple[str, str | None]] = []
    failures: list[str] = []
    for case in CASES:
        response = api.post(case.body)
        body = response.json()
        got = (response.status_code, body.get("code") if response.status_code != 201 else None)
        if got != (case.status, case.code):
            failures.append(f"{case.name}: expected {(case.status, case.code)}, got {got}: {body}")
            continue
        if case.status == 201:
            assert response.headers["location"] == f"/v1/grants/{body['grant']['id']}"
            assert body["grant"]["ledger_index"] == body["receipt"]["index"]
            assert body["grant"]["status"] in {"active", "not_yet_valid"}
            expected_records.append(("allow", None))
            continue
        assert response.headers["content-type"].startswith(PROBLEM_JSON), case.name
        assert body["type"] == f"urn:credit-gateway:problem:{case.code}"
        assert body.get("field") == case.field, f"{case.name}: field {body.get('field')}"
        if case.clause is not None:
            assert body["clause"] == case.clause, case.name
            assert body["reasons"][0]["code"] == case.code
            assert body["receipt"]["index"] == len(expected_records)
            expected_records.append(("deny", case.code))
        else:
            expected_records.append(("invalid", case.code))
        assert RESIDENT_ID not in response.text
    assert not failures, "\n".join(failures)
    records = api.db.records()
    assert [
        (r["decision"], r["reasons"][0]["code"] if r["reasons"] else None) for r in records
    ] == expected_records
    for r in records:
        if r["decision"] == "invalid":
            assert r["kind"] == "invalid"
            assert r["endpoint"] == "POST /v1/grants"
            assert (r["client_id"], r["department"]) == ("ss-app", "social_security")
        else:
            assert r["kind"] == "grant"
            assert r["action"] == "register"
    invalid_fields = [r["reasons"][0].get("field") for r in records if r["kind"] == "invalid"]
    assert invalid_fields == [c.field for c in CASES if c.status == 422 and c.clause is None]
    assert RESIDENT_ID.encode() not in api.db.leaves()


# --- authentication and scopes ---


def test_registration_needs_a_token(api: GrantApi) -> None:
    response = api.post(grant_body(), headers={})
    assert (response.status_code, response.json()["code"]) == (401, "missing_token")


def test_registration_needs_the_write_scope(api: GrantApi) -> None:
    response = api.post(grant_body(), headers=api.token("ss-app", "social_security", READ))
    assert (response.status_code, response.json()["code"]) == (403, "insufficient_scope")
    # Authenticated, so the refusal is registered, with no more than who asked and why not.
    [record] = api.db.records()
    assert (record["kind"], record["endpoint"], record["reason_codes"]) == (
        "invalid",
        "POST /v1/grants",
        ["insufficient_scope"],
    )


def test_reading_needs_a_grants_scope(api: GrantApi) -> None:
    response = api.http.get("/v1/grants", headers=api.token("housing-app", "housing", ("query",)))
    assert (response.status_code, response.json()["code"]) == (403, "insufficient_scope")


# --- lifecycle ---


def test_lifecycle_register_read_list_search_revoke(any_api: GrantApi) -> None:
    api = any_api
    created = api.post(grant_body())
    assert created.status_code == 201, created.text
    grant = created.json()["grant"]
    grant_id = grant["id"]
    assert grant["subject"]["kind"] == "natural_person"
    assert len(grant["subject"]["commitment"]) == 64
    assert RESIDENT_ID not in created.text

    # The recipient reads it with grants:read; a stranger cannot see it.
    got = api.http.get(f"/v1/grants/{grant_id}", headers=api.recipient())
    assert got.status_code == 200
    assert got.json() == grant
    stranger = api.http.get(f"/v1/grants/{grant_id}", headers=api.token("tax-app", "tax", READ))
    assert (stranger.status_code, stranger.json()["code"]) == (404, "grant_not_found")

    # Listing by recipient and by commitment; searching by identifier in the body.
    other = api.post(grant_body(subject=OTHER_RESIDENT_ID)).json()["grant"]
    listed = api.http.get("/v1/grants", params={"recipient": "housing"}, headers=api.recipient()).json()
    assert {g["id"] for g in listed["grants"]} == {grant_id, other["id"]}
    by_subject = api.http.get(
        "/v1/grants", params={"subject_commitment": grant["subject"]["commitment"]}, headers=api.recipient()
    ).json()
    assert [g["id"] for g in by_subject["grants"]] == [grant_id]
    searched = api.http.post(
        "/v1/grants/search",
        json={"subject": {"id_type": "resident_id", "value": RESIDENT_ID}},
        headers=api.recipient(),
    ).json()
    assert [g["id"] for g in searched["grants"]] == [grant_id]
    assert api.http.get("/v1/grants", headers=api.token("tax-app", "tax", READ)).json() == {"grants": []}

    # Revocation: read scope is not enough, write is; the second revocation is a conflict.
    denied = api.http.post(f"/v1/grants/{grant_id}/revoke", headers=api.recipient())
    assert (denied.status_code, denied.json()["code"]) == (403, "insufficient_scope")
    revoked = api.http.post(
        f"/v1/grants/{grant_id}/revoke", json={"reason": "subject_withdrawal"}, headers=api.registrar()
    )
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["grant"]["status"] == "revoked"
    assert revoked.json()["grant"]["revocation"]["reason"] == "subject_withdrawal"
    again = api.http.post(f"/v1/grants/{grant_id}/revoke", headers=api.recipient(WRITE))
    assert (again.status_code, again.json()["code"]) == (409, "grant_already_revoked")
    assert api.http.get(f"/v1/grants/{grant_id}", headers=api.recipient()).json()["status"] == "revoked"

    actions = [(r["action"], r["grant_id"]) for r in api.db.records() if r["kind"] == "grant"]
    assert actions == [("register", grant_id), ("register", other["id"]), ("revoke", grant_id)]
    refused = [(r["endpoint"], r["reason_codes"]) for r in api.db.records() if r["kind"] == "invalid"]
    revoke = "POST /v1/grants/{grant_id}/revoke"
    assert (revoke, ["insufficient_scope"]) in refused
    assert (revoke, ["grant_already_revoked"]) in refused


def test_unknown_and_malformed_ids_are_not_found(api: GrantApi) -> None:
    for grant_id in ("f" * 32, "NOT-AN-ID"):
        response = api.http.get(f"/v1/grants/{grant_id}", headers=api.recipient())
        assert (response.status_code, response.json()["code"]) == (404, "grant_not_found")
        revoke = api.http.post(f"/v1/grants/{grant_id}/revoke", headers=api.registrar())
        assert (revoke.status_code, revoke.json()["code"]) == (404, "grant_not_found")


def test_bad_commitment_filter_is_invalid(api: GrantApi) -> None:
    response = api.http.get("/v1/grants", params={"subject_commitment": RESIDENT_ID}, headers=api.recipient())
    assert (response.status_code, response.json()["code"]) == (422, "invalid_request")
    assert RESIDENT_ID not in response.text


def test_unknown_revocation_reason_is_invalid(api: GrantApi) -> None:
    grant_id = api.post(grant_body()).json()["grant"]["id"]
    response = api.http.post(
        f"/v1/grants/{grant_id}/revoke", json={"reason": "bored"}, headers=api.registrar()
    )
    assert (response.status_code, response.json()["code"]) == (422, "invalid_request")


def test_concurrent_revocations_over_http(any_api: GrantApi) -> None:
    api = any_api
    grant_id = api.post(grant_body()).json()["grant"]["id"]
    headers = api.registrar()
    start = threading.Barrier(4)
    statuses: list[int] = []
    lock = threading.Lock()

    def revoke() -> None:
        start.wait()
        status = api.http.post(f"/v1/grants/{grant_id}/revoke", headers=headers).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=revoke) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(statuses) == [200, 409, 409, 409]
    assert [r["action"] for r in api.db.records() if r["kind"] == "grant"] == ["register", "revoke"]
    refused = [r["reason_codes"] for r in api.db.records() if r["kind"] == "invalid"]
    assert refused == [["grant_already_revoked"]] * 3


# --- the query path, end to end through the gateway app -----------------------------------------


def grant_query_flow(
    policies: Path, tmp_path: Path, keystore: FileKeyStore, clock: FixedClock
) -> dict[str, Any]:
    """Through the real query service and the grant service, on the real catalog, the demo
    databases, regorus, one ledger: register a grant for the demo debtor, query under it, revoke
    it, query again. Returns the three responses and every ledger record."""

    from gateway.adapters.desensitizer import CatalogDesensitizer
    from gateway.adapters.policy.catalog_files import load_catalog
    from gateway.adapters.presidio import PresidioScanner
    from gateway.adapters.sql.sources import SqlSourceRegistry
    from gateway.api.routes import queries as queries_api
    from gateway.demo.data import demo_manifest, write_demo_sqlite
    from gateway.services.query import QueryService

    debtor = demo_manifest().natural_person_debtor
    engine = shared_engine(policies)
    sources = SqlSourceRegistry(write_demo_sqlite(tmp_path / "data"))
    subject = {"id_type": str(debtor.id_type), "value": debtor.value}
    query = {
        "purpose": "credit_evaluation",
        "legal_basis": "pipl_13_23",
        "items": ["court.dishonest_debtor"],
        "subjects": [subject],
    }
    out: dict[str, Any] = {}
    with grant_database("sqlite", tmp_path, keystore, clock) as db:
        grants = GrantService(db.store, engine, db.ledger, keystore, clock)
        app = FastAPI()
        install_problem_handlers(app)
        app.include_router(grants_api.router)
        app.include_router(queries_api.router)
        authenticator = JwtAuthenticator(keystore, issuer=ISSUER, audience=AUDIENCE, clock=clock)
        catalog = load_catalog(policies)
        queries = QueryService(
            catalog=catalog,
            engine=engine,
            sources=sources,
            desensitizer=CatalogDesensitizer(keystore, PresidioScanner(), clock),
            ledger=db.ledger,
            commit=grants.commitment,
            clock=clock,
            metrics=catalog_metrics(catalog, policies),
            grants=grants,
        )
        app.dependency_overrides[deps.authenticator] = lambda: authenticator
        app.dependency_overrides[deps.grant_service] = lambda: grants
        app.dependency_overrides[deps.query_service] = lambda: queries
        refusals = RefusalRegistry(db.ledger)
        app.dependency_overrides[deps.refusal_registry] = lambda: refusals
        app.dependency_overrides[deps.query_limits] = lambda: deps.QueryLimits(max_subjects=10)
        token = TokenIssuer(keystore, issuer=ISSUER, audience=AUDIENCE, clock=clock).issue(
            "consent-desk", "finance", ["grants:write", "query"]
        )
        headers = {"Authorization": f"Bearer {token.access_token}"}
        try:
            with serve_app(app) as base_url, httpx.Client(base_url=base_url, timeout=60.0) as http:
                body = grant_body(
                    recipient="finance", purposes=["credit_evaluation"], items=["court.dishonest_debtor"]
                )
                created = http.post("/v1/grants", headers=headers, json={**body, "subject": subject})
                assert created.status_code == 201, created.text
                grant_id = created.json()["grant"]["id"]
                out["grant_id"] = grant_id
                out["allowed"] = http.post(
                    "/v1/queries", headers=headers, json={**query, "grant_id": grant_id}
                )
                out["revoked"] = http.post(f"/v1/grants/{grant_id}/revoke", headers=headers)
                out["refused"] = http.post(
                    "/v1/queries", headers=headers, json={**query, "grant_id": grant_id}
                )
        finally:
            authenticator.close()
            sources.close()
        out["records"] = db.records()
        out["leaves"] = db.leaves()
        out["subject"] = debtor.value
    return out


@pytest.fixture(scope="module")
def query_flow(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp_path = tmp_path_factory.mktemp("flow")
    keystore = FileKeyStore(tmp_path / "keys")
    keystore.init()
    return grant_query_flow(POLICIES, tmp_path, keystore, FixedClock())


def test_query_under_a_grant_returns_data_and_after_revocation_is_refused(query_flow: dict[str, Any]) -> None:
    allowed, revoked, refused = query_flow["allowed"], query_flow["revoked"], query_flow["refused"]
    assert allowed.status_code == 200, allowed.text
    assert [r["code"] for r in allowed.json()["decision"]["reasons"]] == ["legal_basis_listed", "grant"]
    rows = [row for result in allowed.json()["results"] for row in result["rows"]]
    assert rows, "the query under the grant returned no data"
    assert revoked.status_code == 200, revoked.text
    assert refused.status_code == 403, refused.text
    assert "grant_revoked" in [r["code"] for r in refused.json()["reasons"]]
    assert "rows" not in refused.text
    queries = [r for r in query_flow["records"] if r["kind"] == "query"]
    assert [(q["decision"], q["grant_id"]) for q in queries] == [
        ("allow", query_flow["grant_id"]),
        ("deny", query_flow["grant_id"]),
    ]
    assert "grant_revoked" in queries[1]["reason_codes"]
    grants = [(r["action"], r["decision"]) for r in query_flow["records"] if r["kind"] == "grant"]
    assert grants == [("register", "allow"), ("revoke", "allow")]
    assert query_flow["subject"].encode() not in query_flow["leaves"]


def test_refusal_after_revocation_has_its_own_code(query_flow: dict[str, Any]) -> None:
    refused = query_flow["refused"]
    assert (refused.status_code, refused.json()["code"], refused.json()["clause"]) == (
        403,
        "grant_revoked",
        "(14)",
    )
    queries = [r for r in query_flow["records"] if r["kind"] == "query"]
    assert queries[1]["reason_codes"] == ["grant_revoked"]
