"""The HTTP edges over a real server: body limit (413, counted on the stream), ``Allow`` on every
405, out-of-range times refused as 422 naming the field, and a slow source cut off by its statement
timeout as a registered 503.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa

from tests.support.gateway_app import Deployment, deployment_settings, running_gateway
from tests.support.grants_fixtures import grant_body

LICENSING = "admin_licensing_law_34"
LIMIT = 4096


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    settings = deployment_settings(tmp_path_factory.mktemp("edges"), max_body_bytes=LIMIT)
    with running_gateway(settings) as deployment:
        yield deployment


def auth(gateway: Deployment, client: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {gateway.token(client)}"}


def query_body(gateway: Deployment, **changes: Any) -> dict[str, Any]:
    body = {
        "purpose": "admin_licensing_review",
        "legal_basis": LICENSING,
        "items": ["market.admin_penalty"],
        "subjects": [{"id_type": "uscc", "value": gateway.manifest.legal_person.value}],
    }
    body.update(changes)
    return body


# --- body limit ---


def test_a_declared_length_over_the_limit_is_refused_unread(gateway: Deployment) -> None:
    response = httpx.post(
        gateway.base_url + "/v1/queries",
        content=b" " * (LIMIT + 1),
        headers={**auth(gateway, "platform"), "content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "request_too_large"


def test_a_chunked_body_is_counted_as_it_streams(gateway: Deployment) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(LIMIT // 512 + 2):
            yield b" " * 512

    response = httpx.post(
        gateway.base_url + "/v1/queries",
        content=chunks(),  # no Content-Length: Transfer-Encoding chunked
        headers={**auth(gateway, "platform"), "content-type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"


def test_a_body_longer_than_its_declared_length_cannot_pass(gateway: Deployment) -> None:
    # A lying Content-Length: the server reads only what was declared, so the rest is never the body.
    url = urlsplit(gateway.base_url)
    body = b'{"purpose": "x"}' + b" " * (LIMIT * 2)
    head = (
        f"POST /v1/queries HTTP/1.1\r\nHost: {url.hostname}\r\nContent-Type: application/json\r\n"
        f"Authorization: {auth(gateway, 'platform')['Authorization']}\r\nContent-Length: 10\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(head + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    assert status in (400, 413, 422)  # never served: the 10 declared bytes are not valid JSON


def test_a_body_under_the_limit_is_served(gateway: Deployment) -> None:
    response = httpx.post(
        gateway.base_url + "/v1/queries", json=query_body(gateway), headers=auth(gateway, "platform")
    )
    assert response.status_code == 200, response.text


# --- 405 ---


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/v1/queries", {"POST"}),
        ("DELETE", "/v1/grants", {"GET", "POST"}),
        ("PUT", "/v1/ledger/entries", {"GET"}),
        ("POST", "/v1/catalog", {"GET"}),
        ("GET", "/oauth/token", {"POST"}),
    ],
)
def test_every_405_says_what_is_allowed(
    gateway: Deployment, method: str, path: str, allowed: set[str]
) -> None:
    response = httpx.request(method, gateway.base_url + path)
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert {m.strip() for m in response.headers["allow"].split(",")} == allowed


# --- out-of-range times ---

FAR = ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+01:00"]
UNPARSABLE = [
    "0000-01-01T00:00:00Z",
    "10000-01-01T00:00:00Z",
    "2026-01-01T00:00:00+24:00",
    "2026-01-01T00:00:00-25:30",
]


@pytest.mark.parametrize("value", FAR + UNPARSABLE)
@pytest.mark.parametrize("field", ["valid_from", "valid_until", "consent.obtained_at"])
def test_an_out_of_range_grant_time_is_a_422_naming_the_field(
    gateway: Deployment, field: str, value: str
) -> None:
    body = grant_body()
    if field == "consent.obtained_at":
        body["consent"] = {**body["consent"], "obtained_at": value}
    else:
        body[field] = value
    response = httpx.post(gateway.base_url + "/v1/grants", json=body, headers=auth(gateway, "consent-desk"))
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


@pytest.mark.parametrize("value", FAR + UNPARSABLE)
@pytest.mark.parametrize("field", ["since", "until"])
@pytest.mark.parametrize("path", ["/v1/ledger/entries", "/v1/ledger/export?format=csv"])
def test_an_out_of_range_ledger_filter_is_a_422_not_an_empty_answer(
    gateway: Deployment, path: str, field: str, value: str
) -> None:
    response = httpx.get(gateway.base_url + path, params={field: value}, headers=auth(gateway, "auditor"))
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


def test_the_last_representable_times_still_work(gateway: Deployment) -> None:
    response = httpx.get(
        gateway.base_url + "/v1/ledger/entries",
        params={"since": "2000-01-01T00:00:00Z", "until": "9999-12-31T23:59:59+12:00"},
        headers=auth(gateway, "auditor"),
    )
    assert response.status_code == 200, response.text


# --- a slow source ---


def test_a_slow_source_is_a_registered_503(tmp_path: Path) -> None:
    settings = deployment_settings(tmp_path, source_statement_timeout_s=0.5)
    with running_gateway(settings) as gw:
        # The table becomes a view whose every read takes minutes of SQLite work.
        market = sa.create_engine(gw.settings.sources["market"])
        with market.begin() as conn:
            conn.execute(sa.text("ALTER TABLE admin_penalties RENAME TO admin_penalties_base"))
            conn.execute(
                sa.text(
                    "CREATE VIEW admin_penalties AS SELECT * FROM admin_penalties_base WHERE (WITH "
                    "RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) "
                    "SELECT max(x) FROM c) > 0"
                )
            )
        market.dispose()
        response = httpx.post(
            gw.base_url + "/v1/queries", json=query_body(gw), headers=auth(gw, "platform"), timeout=120
        )
        assert response.status_code == 503, response.text
        assert response.json()["code"] == "source_timeout"
        assert gw.manifest.legal_person.value not in response.text
        record = gw.ledger_records()[-1]
    assert (record["decision"], record["reason_codes"]) == ("error", ["source_timeout"])
