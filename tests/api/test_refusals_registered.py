"""Every authenticated request to a registering endpoint is registered, validation refusals included.

A whole deployment over real HTTP (real tokens, real SQLite ledger): each refusal below is answered
422 (or 403/404/409) only after an ``invalid`` entry naming the endpoint, the requester, the code and
the field path is in the ledger, and the submitted value is in neither the answer nor the ledger.
An unauthenticated request is not registered; a refusal that cannot be registered is a 503.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from gateway.adapters.sql.ledger_source import open_ledger_source
from tests.support.gateway_app import Deployment, deployment_settings, running_gateway
from tests.support.grants_fixtures import grant_body

ID = "110105199003073410"  # checksum-valid resident ID
SPACED = "110105 19900307 3410"  # the same, as a person might type it
LICENSING = "admin_licensing_law_34"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    settings = deployment_settings(tmp_path_factory.mktemp("refusals"))
    with running_gateway(settings) as deployment:
        yield deployment


def leaves(gateway: Deployment) -> bytes:
    source = open_ledger_source(gateway.settings.ledger_url)
    try:
        return b"".join(leaf for _, leaf, _ in source.leaves())
    finally:
        source.close()


def query(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "purpose": "admin_licensing_review",
        "legal_basis": LICENSING,
        "items": ["market.admin_penalty"],
        "subjects": [{"id_type": "uscc", "value": "91330106MA2B0XXXX0"}],
    }
    body.update(changes)
    return body


def post(
    gateway: Deployment, path: str, client: str | None, headers: dict[str, str] | None = None, **kwargs: Any
) -> httpx.Response:
    sent = dict(headers or {})
    if client is not None:
        sent["Authorization"] = f"Bearer {gateway.token(client)}"
    return httpx.post(gateway.base_url + path, headers=sent, timeout=30, **kwargs)


# (name, path, client, request kwargs, status, code, field recorded)
CASES: list[tuple[str, str, str, dict[str, Any], int, str, str]] = [
    (
        "id in purpose",
        "/v1/queries",
        "platform",
        {"json": query(purpose=f"p{ID}")},
        422,
        "identifier_in_text",
        "purpose",
    ),
    (
        "id in item code",
        "/v1/queries",
        "platform",
        {"json": query(items=[f"market.x{ID}"])},
        422,
        "identifier_in_text",
        "items.0",
    ),
    (
        "id in field code",
        "/v1/queries",
        "platform",
        {"json": query(items=[{"id": "market.admin_penalty", "fields": [f"f{ID}"]}])},
        422,
        "identifier_in_text",
        "items.0.ItemFieldsRequest.fields.0",
    ),
    (
        "id in grant_id",
        "/v1/queries",
        "platform",
        {"json": query(grant_id=f"g{ID}")},
        422,
        "identifier_in_text",
        "grant_id",
    ),
    (
        "spaced id in legal basis",
        "/v1/queries",
        "platform",
        {"json": query(legal_basis=f"依据{SPACED}")},
        422,
        "identifier_in_text",
        "legal_basis",
    ),
    (
        "unknown key in a subject",
        "/v1/queries",
        "platform",
        {"json": query(subjects=[{"id_type": "uscc", "value": "91330106MA2B0XXXX0", ID: 1}])},
        422,
        "invalid_request",
        "subjects.0",
    ),
    (
        "missing field",
        "/v1/queries",
        "platform",
        {"json": {"purpose": "admin_licensing_review"}},
        422,
        "invalid_request",
        "legal_basis",
    ),
    (
        "body not json",
        "/v1/queries",
        "platform",
        {"content": f'{{"purpose": "{ID}"', "headers_extra": {"content-type": "application/json"}},
        422,
        "invalid_request",
        "",  # the position of the bad character: no name at all
    ),
    (
        "bad checksum",
        "/v1/queries",
        "platform",
        {"json": query(subjects=[{"id_type": "resident_id", "value": ID[:-1] + "1"}])},
        422,
        "invalid_identifier",
        "subjects[0].value",
    ),
    (
        "id in consent reference",
        "/v1/grants",
        "consent-desk",
        {"json": grant_body(consent={**grant_body()["consent"], "reference": f"REF-{ID}"})},
        422,
        "identifier_in_text",
        "consent.reference",
    ),
    (
        "id as the grant to revoke",
        f"/v1/grants/{ID}/revoke",
        "consent-desk",
        {},
        404,
        "grant_not_found",
        "grant_id",
    ),
    (
        "query without the query scope",
        "/v1/queries",
        "auditor",
        {"json": query(purpose=f"p{ID}")},
        403,
        "insufficient_scope",
        "",
    ),
    (
        "id in a review comment",
        "/v1/ledger/entries/0/review",
        "auditor",
        {"json": {"status": "flagged", "comment": f"看 {ID}"}},
        422,
        "identifier_in_text",
        "comment",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_refusal_is_registered_without_the_value(
    gateway: Deployment, case: tuple[str, str, str, dict[str, Any], int, str, str]
) -> None:
    _, path, client, kwargs, status, code, field = case
    kwargs = dict(kwargs)
    extra = kwargs.pop("headers_extra", {})
    before = len(gateway.ledger_records())
    headers = {"Authorization": f"Bearer {gateway.token(client)}", **extra}
    response = httpx.post(gateway.base_url + path, headers=headers, timeout=30, **kwargs)
    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    new = gateway.ledger_records()[before:]
    assert len(new) == 1, new
    record = new[0]
    assert record["kind"] == "invalid"
    assert record["decision"] == "invalid"
    assert record["endpoint"] == "POST " + path.replace(ID, "{grant_id}").replace("/0/", "/{index}/")
    assert record["client_id"] == client
    assert record["reason_codes"] == [code]
    if field:
        assert record["reasons"][0]["field"] == field
    text = json.dumps(record, ensure_ascii=False)
    for written in (ID, SPACED, ID[:-1] + "1"):
        assert written not in text
        assert written not in response.text
    assert ID.encode() not in leaves(gateway)


def test_invalid_entries_are_found_by_the_auditor_filters(gateway: Deployment) -> None:
    post(gateway, "/v1/queries", "platform", json=query(purpose=f"p{ID}"))
    auditor = {"Authorization": f"Bearer {gateway.token('auditor')}"}
    for params in ({"kind": "invalid"}, {"decision": "invalid"}, {"reason": "identifier_in_text"}):
        page = httpx.get(f"{gateway.base_url}/v1/ledger/entries", params=params, headers=auditor).json()
        assert page["entries"], params
        assert all(e["record"]["kind"] == "invalid" for e in page["entries"]), params


def test_unauthenticated_requests_are_not_registered(gateway: Deployment) -> None:
    before = len(gateway.ledger_records())
    missing = post(gateway, "/v1/queries", None, json=query(purpose=f"p{ID}"))
    assert missing.status_code == 401
    not_json = post(gateway, "/v1/queries", None, content="{", headers={"content-type": "application/json"})
    assert not_json.status_code == 422
    forged = httpx.post(
        gateway.base_url + "/v1/queries",
        content="{",
        headers={"Authorization": "Bearer not.a.token", "content-type": "application/json"},
        timeout=30,
    )
    assert forged.status_code == 422
    assert len(gateway.ledger_records()) == before


def test_a_refusal_that_cannot_be_registered_is_a_503(tmp_path: Path) -> None:
    settings = deployment_settings(tmp_path)
    with running_gateway(settings) as gateway:
        # Break the ledger the way a database writer without the key would: appends are refused.
        engine = sa.create_engine(settings.ledger_url)
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE ledger_head SET signed_note = 'forged'"))
        engine.dispose()
        response = post(gateway, "/v1/queries", "platform", json=query(purpose=f"p{ID}"))
        assert (response.status_code, response.json()["code"]) == (503, "ledger_unavailable")
        assert ID not in response.text
        assert "purpose" not in response.text
        assert all(r["kind"] != "invalid" for r in gateway.ledger_records())
