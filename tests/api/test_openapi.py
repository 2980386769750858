"""The OpenAPI document tells the truth: every route declares its responses and security, and the bodies
a real deployment sends (successes and problem+json errors alike) validate against the declared schemas."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from joserfc.jwk import ECKey

from gateway.adapters.client_files import KNOWN_SCOPES
from gateway.adapters.key_files import FileKeyStore
from gateway.adapters.policy.workbench import read_bundle
from gateway.api.deps import SCOPES
from gateway.api.schemas.problems import PROBLEM_JSON, codes_with_status
from gateway.errors import GatewayError, error_classes
from tests.support.gateway_app import ROOT, Deployment, deployment_settings, running_gateway
from tests.support.grants_fixtures import grant_body
from tests.support.identity import MutableClock, identity_server
from tests.support.openapi import OpenApiChecker
from tests.support.repairs import apply_body, query_body, record_key

LICENSING = "admin_licensing_law_34"
PUBLIC = {
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/v1/catalog"),
    ("get", "/v1/catalog/items/{item_id}"),
    ("post", "/public/v1/disclosures"),
}
OAUTH = {
    ("post", "/oauth/token"),
    ("get", "/.well-known/jwks.json"),
    ("get", "/.well-known/oauth-authorization-server"),
}


@pytest.fixture(scope="module")
def checker() -> OpenApiChecker:
    return OpenApiChecker()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with running_gateway(deployment_settings(tmp_path_factory.mktemp("openapi"))) as deployment:
        yield deployment


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def test_every_operation_declares_its_success_body_and_its_errors(checker: OpenApiChecker) -> None:
    for method, path, operation in _operations(checker.document):
        responses = operation["responses"]
        success = next(s for s in responses if s.startswith("2"))
        assert responses[success].get("content"), (method, path)
        if (method, path) in OAUTH:
            continue  # the token endpoint answers RFC 6749 errors; JWKS and metadata cannot fail
        assert PROBLEM_JSON in responses["500"]["content"], (method, path)
        for status, response in responses.items():
            if status[0] in "45" and (method, path, status) != ("get", "/readyz", "503"):
                assert set(response["content"]) == {PROBLEM_JSON}, (method, path, status)
        if operation.get("parameters") or operation.get("requestBody"):
            assert "422" in responses, (method, path)
        if (method, path) not in PUBLIC:
            assert {"401", "403"} <= set(responses), (method, path)


def test_protected_operations_name_the_oauth2_scheme_and_their_scope(checker: OpenApiChecker) -> None:
    scheme = checker.document["components"]["securitySchemes"]["oauth2"]
    flow = scheme["flows"]["clientCredentials"]
    assert scheme["type"] == "oauth2"
    assert flow["tokenUrl"] == "/oauth/token"
    assert set(flow["scopes"]) == set(SCOPES) == KNOWN_SCOPES
    for method, path, operation in _operations(checker.document):
        if (method, path) in PUBLIC | OAUTH:
            assert "security" not in operation, (method, path)
            continue
        [requirement] = operation["security"]
        assert set(requirement) == {"oauth2"}, (method, path)
        [scope] = requirement["oauth2"]
        assert scope in KNOWN_SCOPES, (method, path)


def test_the_token_endpoints_answer_as_documented(
    checker: OpenApiChecker, keystore: FileKeyStore, clock: MutableClock
) -> None:
    with identity_server(keystore, clock) as server:
        client = server.clients["regulator"]
        grant = {"grant_type": "client_credentials"}
        checker.check(server.http.post("/oauth/token", data=grant, auth=(client.client_id, client.secret)))
        checker.check(server.http.post("/oauth/token", data=grant, auth=(client.client_id, "wrong")))
        checker.check(server.http.post("/oauth/token", data={"grant_type": "password"}))
        checker.check(server.http.get("/.well-known/jwks.json"))
        checker.check(server.http.get("/.well-known/oauth-authorization-server"))
    assert {("POST", "/oauth/token", s) for s in ("200", "400", "401")} <= checker.seen


def _x25519_public() -> str:
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    raw = (
        X25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_a_deployment_answers_as_documented(checker: OpenApiChecker, gateway: Deployment) -> None:
    http = httpx.Client(base_url=gateway.base_url, timeout=30)

    def as_(client_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {gateway.token(client_id)}"}

    m = gateway.manifest
    query = {
        "purpose": "admin_licensing_review",
        "legal_basis": LICENSING,
        "items": ["market.enterprise_registration", "market.admin_penalty"],
        "subjects": [{"id_type": "uscc", "value": m.legal_person.value}],
    }
    debtor = {"id_type": "resident_id", "value": m.natural_person_debtor.value}
    grant = {
        **grant_body(recipient="finance", purposes=["credit_evaluation"], items=["court.dishonest_debtor"]),
        "subject": debtor,
    }
    responses = [
        http.get("/healthz"),
        http.get("/readyz"),
        http.get("/v1/catalog"),
        http.get("/v1/catalog/items/market.admin_penalty"),
        http.get("/v1/catalog/items/market.nothing"),
        http.post("/v1/queries", json=query, headers=as_("platform")),
        http.post("/v1/queries", json={**query, "items": ["tax.credit_rating"]}, headers=as_("housing")),
        http.post("/v1/queries", json={**query, "everything": True}, headers=as_("platform")),
        http.post("/v1/queries", json=query),
        http.post("/v1/queries", json=query, headers=as_("auditor")),
    ]
    created = http.post("/v1/grants", json=grant, headers=as_("consent-desk"))
    grant_id = created.json()["grant"]["id"]
    responses += [
        created,
        http.post("/v1/grants", json={**grant, "valid_until": None}, headers=as_("consent-desk")),
        http.get(f"/v1/grants/{grant_id}", headers=as_("consent-desk")),
        http.get("/v1/grants/no-such-grant", headers=as_("consent-desk")),
        http.get("/v1/grants", params={"recipient": "finance"}, headers=as_("consent-desk")),
        http.post("/v1/grants/search", json={"subject": debtor}, headers=as_("consent-desk")),
        http.post(f"/v1/grants/{grant_id}/revoke", headers=as_("consent-desk")),
        http.post(f"/v1/grants/{grant_id}/revoke", headers=as_("consent-desk")),
    ]
    market = as_("market")
    basis = {
        "type": "penalty_decision",
        "number": "杭西市监处罚〔2026〕7号",
        "issuer": "西湖区市场监督管理局",
    }
    proposal = {
        "list": "market_serious_illegal",
        "subject": {"id_type": "uscc", "value": m.legal_person.value},
        "basis_document": {**basis, "issued_on": "2026-07-02"},
    }
    proposed = http.post("/v1/lists/entries", json=proposal, headers=market)
    entry = f"/v1/lists/entries/{proposed.json()['entry']['id']}"
    decision = {
        "reason": "拒不履行",
        "basis": "第九条",
        "measures": ["restrict_market_access"],
        "removal_conditions": "满三年",
        "remedies": "行政复议",
    }
    responses += [
        proposed,
        http.get(entry, headers=market),
        http.get("/v1/lists/entries/nothing", headers=market),
        http.post(f"{entry}/decision", json=decision, headers=market),
        http.post(f"{entry}/notice", json={"channel": "mail"}, headers=market),
        http.post(f"{entry}/objection", headers=market),
        http.post(f"{entry}/verification", json={"upheld": False, "result": "异议不成立"}, headers=market),
    ]
    gateway.clock.current += timedelta(days=6)
    market = as_("market")  # a token of the moved clock's time
    responses += [
        http.post(f"{entry}/decision", json=decision, headers=market),
        http.post(f"{entry}/removal", json={"cause": "decision"}, headers=market),
        http.post(
            "/public/v1/disclosures",
            json={"item": "market.admin_penalty", "subject": query["subjects"][0]},
        ),
        http.post(
            "/public/v1/disclosures",
            json={"item": "tax.credit_rating", "subject": query["subjects"][0]},
        ),
    ]
    gateway.clock.current -= timedelta(days=6)
    auditor = as_("auditor")
    responses += [
        http.get("/v1/ledger/entries", params={"limit": 2}, headers=auditor),
        http.get("/v1/ledger/entries", params={"since": "2026-11-22T07:00:00"}, headers=auditor),
        http.get("/v1/ledger/entries", headers=as_("platform")),
        http.get("/v1/ledger/entries/0", headers=auditor),
        http.get("/v1/ledger/entries/100000", headers=auditor),
        http.get("/v1/ledger/checkpoint", params={"format": "json"}, headers=auditor),
        http.get("/v1/ledger/checkpoint", headers=auditor),
        http.get("/v1/ledger/consistency", params={"first": 1, "second": 2}, headers=auditor),
        http.get("/v1/ledger/export", headers=auditor),
        http.get("/v1/ledger/export", params={"format": "csv", "kind": "query"}, headers=auditor),
        http.post("/v1/ledger/subject-report", json=debtor, headers=auditor),
        http.post("/v1/ledger/entries/0/review", json={"status": "reviewed"}, headers=auditor),
        http.post("/v1/keys/field-key", json={"public_key": _x25519_public()}, headers=as_("platform")),
        http.post("/v1/keys/field-key", json={"public_key": "A" * 20}, headers=as_("platform")),
    ]
    # The workbench, as two people of the security team use it (the draft is the deployed files).
    alice, bob = as_("sec-alice"), as_("sec-bob")
    files = {k: v.decode() for k, v in read_bundle(ROOT / "policies").items()}
    pushed = http.post("/v1/policy/drafts", json={"files": files}, headers=alice, timeout=120)
    draft = f"/v1/policy/drafts/{pushed.json()['id']}"
    responses += [
        pushed,
        http.get("/v1/policy/drafts", headers=alice),
        http.get(draft, headers=alice),
        http.get("/v1/policy/drafts/100000", headers=alice),
        http.post(f"{draft}/approve", headers=bob),
        http.post(f"{draft}/check", headers=alice, timeout=120),
        http.post(f"{draft}/what-if", json={"input": {}}, headers=alice),
        http.post(f"{draft}/replay", json={"last": 100}, headers=alice, timeout=120),
        http.post(f"{draft}/approve", headers=bob),
        http.post(f"{draft}/activate", headers=bob),
        http.get("/v1/policy/active", headers=alice),
        http.get("/v1/policy/history", headers=alice),
        http.post("/v1/policy/rollback", headers=bob),
    ]
    # The OPA sidecar's download: the deployment is given a P-256 bundle signing key first.
    key_file = gateway.settings.keys_dir / "private" / "opa_bundle.pem"
    key_file.write_bytes(ECKey.generate_key("P-256").as_pem(private=True))
    responses.append(http.get("/v1/policy/bundles/gateway.tar.gz", headers=alice))
    responses += _repair_calls(http, gateway, as_)
    http.close()
    for response in responses:
        checker.check(response)
    statuses = {status for _, _, status in checker.seen}
    assert {"200", "201", "401", "403", "404", "409", "422"} <= statuses
    # Every operation of the document was seen succeeding at least once.
    succeeded = {(m.lower(), p) for m, p, s in checker.seen if s.startswith("2")}
    assert succeeded >= {(m, p) for m, p, _ in _operations(checker.document)} - OAUTH


def _repair_calls(http: httpx.Client, gateway: Deployment, as_: Any) -> list[httpx.Response]:
    """Apply, list, read, accept, refuse; the recipient's feed, its ack, a webhook, the auditors' view."""
    subject = gateway.manifest.legal_person
    item = "market.admin_penalty"
    rows = http.post("/v1/queries", json=query_body(item, subject), headers=as_("platform")).json()
    numbers = [r["decision_number"] for r in rows["results"][0]["rows"]]
    keys = [record_key(gateway.settings.sources, item, subject, n) for n in numbers[:2]]
    desk = as_("market-desk")
    first = http.post("/v1/repairs", json=apply_body(item, keys[0], subject), headers=desk)
    second = http.post("/v1/repairs", json=apply_body(item, keys[1], subject), headers=desk)
    first_id, second_id = first.json()["repair"]["id"], second.json()["repair"]["id"]
    out = [
        first,
        second,
        http.post(
            "/v1/repairs", json=apply_body("tax.major_violation", "1", subject), headers=as_("tax-desk")
        ),
        http.get("/v1/repairs", headers=desk),
        http.get(f"/v1/repairs/{first_id}", headers=desk),
        http.get("/v1/repairs/nothing", headers=desk),
        http.post(f"/v1/repairs/{first_id}/accept", headers=desk),
        http.post(f"/v1/repairs/{first_id}/accept", headers=desk),
        http.post(
            f"/v1/repairs/{second_id}/refuse", json={"reasons": ["evidence_insufficient"]}, headers=desk
        ),
        http.put(
            "/v1/notifications/webhook", json={"url": "http://127.0.0.1:9/hook"}, headers=as_("housing")
        ),
        http.get("/v1/notifications/unacknowledged", headers=as_("auditor")),
    ]
    feed = http.get("/v1/notifications", headers=as_("platform"))
    notification_id = feed.json()["notifications"][0]["notification_id"]
    return [*out, feed, http.post(f"/v1/notifications/{notification_id}/ack", headers=as_("platform"))]


def test_error_responses_list_the_codes_of_the_error_classes(checker: OpenApiChecker) -> None:
    # Generated from gateway.errors: a code added there shows up in the document without an edit here.
    described = {
        (status, response["description"])
        for _, _, operation in _operations(checker.document)
        for status, response in operation["responses"].items()
        if status[0] in "45" and PROBLEM_JSON in response.get("content", {})
    }
    assert described
    for status, description in described:
        for code in codes_with_status(int(status)):
            assert f"`{code}`" in description, (status, code)
    everywhere = " ".join(d for _, d in described)
    for cls in error_classes():
        if cls.status in (401, 403, 404, 409, 422, 500, 503) and cls is not GatewayError:
            assert f"`{cls.code}`" in everywhere, cls.code
