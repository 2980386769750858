"""The token endpoint, JWKS, metadata and bearer authentication, over real HTTP (uvicorn + httpx)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from datetime import timedelta

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.adapters.key_files import FileKeyStore
from gateway.adapters.tokens import ExternalIssuer, TokenIssuer
from tests.support.http_server import serve_app
from tests.support.identity import (
    AUDIENCE,
    EcIssuer,
    IdentityServer,
    JwksServerApp,
    MutableClock,
    StaticClock,
    access_claims,
    gateway_kid,
    gateway_private_key,
    identity_server,
    sign_ed25519,
    sign_hs256,
    unsigned,
)

GRANT = {"grant_type": "client_credentials"}
PROBLEM = "application/problem+json"


@pytest.fixture
def server(keystore: FileKeyStore, clock: MutableClock) -> Iterator[IdentityServer]:
    with identity_server(keystore, clock) as running:
        yield running


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def _oauth_error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["error"] == error
    assert set(response.json()) <= {"error", "error_description", "error_uri"}


def _problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["type"].endswith(code)


# --- the token endpoint ---


def test_client_secret_basic(server: IdentityServer) -> None:
    client = server.clients["regulator"]
    response = server.http.post("/oauth/token", data=GRANT, auth=(client.client_id, client.secret))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 300
    assert body["scope"] == "grants:write query"

    protected = server.http.get("/protected", headers=_bearer(body["access_token"]))
    assert protected.status_code == 200, protected.text
    assert protected.json()["client_id"] == "regulator"
    assert protected.json()["department"] == "market_regulation"
    assert protected.json()["issuer"] == server.base_url


def test_client_secret_post(server: IdentityServer) -> None:
    client = server.clients["platform"]
    data = {**GRANT, "client_id": client.client_id, "client_secret": client.secret}
    response = server.http.post("/oauth/token", data=data)
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert server.http.get("/protected", headers=_bearer(token)).json()["department"] == "national_platform"


def test_basic_credentials_are_form_urlencoded(server: IdentityServer) -> None:
    # RFC 6749 §2.3.1: id and secret are form-urlencoded before Base64; a plain value still works.
    client = server.clients["auditor"]
    raw = base64.b64encode(f"{client.client_id}:{client.secret}".encode()).decode()
    response = server.http.post("/oauth/token", data=GRANT, headers={"authorization": f"Basic {raw}"})
    assert response.status_code == 200, response.text


def test_wrong_secret_and_unknown_client_look_the_same(server: IdentityServer) -> None:
    client = server.clients["regulator"]
    wrong = server.http.post("/oauth/token", data=GRANT, auth=(client.client_id, client.secret + "x"))
    unknown = server.http.post("/oauth/token", data=GRANT, auth=("stranger", client.secret))
    for response in (wrong, unknown):
        _oauth_error(response, 401, "invalid_client")
        assert response.headers["www-authenticate"].startswith('Basic error="invalid_client"')
        assert "access_token" not in response.text
    assert wrong.json() == unknown.json()


def test_wrong_secret_by_post_and_no_credentials(server: IdentityServer) -> None:
    client = server.clients["regulator"]
    data = {**GRANT, "client_id": client.client_id, "client_secret": "nope"}
    _oauth_error(server.http.post("/oauth/token", data=data), 401, "invalid_client")
    _oauth_error(server.http.post("/oauth/token", data=GRANT), 401, "invalid_client")


def test_unsupported_grant_type(server: IdentityServer) -> None:
    client = server.clients["regulator"]
    data = {"grant_type": "password", "username": "u", "password": "p"}
    response = server.http.post("/oauth/token", data=data, auth=(client.client_id, client.secret))
    _oauth_error(response, 400, "unsupported_grant_type")


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b"", {"content-type": "application/x-www-form-urlencoded"}),
        (b'{"grant_type": "client_credentials"}', {"content-type": "application/json"}),
        (b"grant_type=client_credentials&grant_type=client_credentials", {}),
        (b"scope=query", {}),
    ],
    ids=["empty", "json-body", "repeated-parameter", "no-grant-type"],
)
def test_invalid_request(server: IdentityServer, content: bytes, headers: dict[str, str]) -> None:
    client = server.clients["regulator"]
    headers = {"content-type": "application/x-www-form-urlencoded", **headers}
    response = server.http.post(
        "/oauth/token", content=content, headers=headers, auth=(client.client_id, client.secret)
    )
    _oauth_error(response, 400, "invalid_request")


def test_two_authentication_methods_at_once_is_invalid(server: IdentityServer) -> None:
    client = server.clients["regulator"]
    data = {**GRANT, "client_id": client.client_id, "client_secret": client.secret}
    response = server.http.post("/oauth/token", data=data, auth=(client.client_id, client.secret))
    _oauth_error(response, 400, "invalid_request")


def test_scope_subset_is_granted_and_escalation_refused(server: IdentityServer) -> None:
    client = server.clients["regulator"]
    auth = (client.client_id, client.secret)
    narrowed = server.http.post("/oauth/token", data={**GRANT, "scope": "query"}, auth=auth)
    assert narrowed.status_code == 200, narrowed.text
    assert narrowed.json()["scope"] == "query"
    token = narrowed.json()["access_token"]
    assert server.http.get("/protected", headers=_bearer(token)).json()["scopes"] == ["query"]

    for scope in ("query audit:read", "policy:admin", "query superuser"):
        escalated = server.http.post("/oauth/token", data={**GRANT, "scope": scope}, auth=auth)
        _oauth_error(escalated, 400, "invalid_scope")


# --- bearer authentication on a protected route ---


def test_insufficient_scope_is_403_problem(server: IdentityServer) -> None:
    token = server.token("auditor")
    response = server.http.get("/protected", headers=_bearer(token))
    _problem(response, 403, "insufficient_scope")
    assert response.json()["accepted"] == "query"
    assert server.http.get("/audit", headers=_bearer(token)).status_code == 200


def test_missing_token_is_401_problem(server: IdentityServer) -> None:
    response = server.http.get("/protected")
    _problem(response, 401, "missing_token")
    assert response.headers["www-authenticate"].startswith("Bearer")
    _problem(server.http.get("/protected", headers={"authorization": "Basic abc"}), 401, "missing_token")


TokenFactory = Callable[[IdentityServer, FileKeyStore, MutableClock], str]


def _expired(s: IdentityServer, keystore: FileKeyStore, clock: MutableClock) -> str:
    past = StaticClock(clock.current - timedelta(seconds=300 + 31))
    return (
        TokenIssuer(keystore, issuer=s.base_url, audience=AUDIENCE, clock=past)
        .issue("r", "d", ["query"])
        .access_token
    )


def _future(s: IdentityServer, keystore: FileKeyStore, clock: MutableClock) -> str:
    ahead = StaticClock(clock.current + timedelta(seconds=120))
    return (
        TokenIssuer(keystore, issuer=s.base_url, audience=AUDIENCE, clock=ahead)
        .issue("r", "d", ["query"])
        .access_token
    )


def _wrong_aud(s: IdentityServer, keystore: FileKeyStore, clock: MutableClock) -> str:
    issuer = TokenIssuer(keystore, issuer=s.base_url, audience="urn:somebody-else", clock=clock)
    return issuer.issue("r", "d", ["query"]).access_token


def _wrong_iss(s: IdentityServer, keystore: FileKeyStore, clock: MutableClock) -> str:
    issuer = TokenIssuer(keystore, issuer="https://impostor.example", audience=AUDIENCE, clock=clock)
    return issuer.issue("r", "d", ["query"]).access_token


def _alg_none(s: IdentityServer, keystore: FileKeyStore, clock: MutableClock) -> str:
    return unsigned({"typ": "at+jwt", "kid": gateway_kid(keystore)}, access_claims(s.base_url, clock.current))


def _other_key(s: IdentityServer, keystore: FileKeyStore, clock: MutableClock) -> str:
    header = {"typ": "at+jwt", "kid": gateway_kid(keystore)}
    return sign_ed25519(header, access_claims(s.base_url, clock.current), Ed25519PrivateKey.generate())


def _hs256_public_key(s: IdentityServer, keystore: FileKeyStore, clock: MutableClock) -> str:
    header = {"typ": "at+jwt", "kid": gateway_kid(keystore)}
    public_pem = keystore.public_keys_pem("token")[0]
    return sign_hs256(header, access_claims(s.base_url, clock.current), public_pem)


def _garbage(s: IdentityServer, keystore: FileKeyStore, clock: MutableClock) -> str:
    return "eyJhbGciOiJFZERTQSJ9.not-base64-json.c2ln"


def _untyped(s: IdentityServer, keystore: FileKeyStore, clock: MutableClock) -> str:
    header = {"kid": gateway_kid(keystore)}
    return sign_ed25519(header, access_claims(s.base_url, clock.current), gateway_private_key(keystore))


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (_expired, "token_expired"),
        (_future, "token_not_yet_valid"),
        (_wrong_aud, "wrong_audience"),
        (_wrong_iss, "wrong_issuer"),
        (_alg_none, "unsigned_token"),
        (_other_key, "bad_signature"),
        (_hs256_public_key, "disallowed_algorithm"),
        (_garbage, "malformed_token"),
        (_untyped, "wrong_token_type"),
    ],
    ids=lambda v: v if isinstance(v, str) else v.__name__.strip("_"),
)
def test_refused_tokens_are_401_problems(
    server: IdentityServer, keystore: FileKeyStore, clock: MutableClock, make: TokenFactory, code: str
) -> None:
    response = server.http.get("/protected", headers=_bearer(make(server, keystore, clock)))
    _problem(response, 401, code)
    assert response.headers["www-authenticate"] == f'Bearer error="invalid_token", error_description="{code}"'


def test_hand_signed_token_with_the_gateway_key_is_accepted(
    server: IdentityServer, keystore: FileKeyStore, clock: MutableClock
) -> None:
    # The control for the refusals above: the same construction with the right key, alg and claims passes.
    header = {"typ": "at+jwt", "kid": gateway_kid(keystore)}
    token = sign_ed25519(header, access_claims(server.base_url, clock.current), gateway_private_key(keystore))
    assert server.http.get("/protected", headers=_bearer(token)).status_code == 200


def test_token_expires_on_the_server_clock(server: IdentityServer, clock: MutableClock) -> None:
    token = server.token("regulator")
    assert server.http.get("/protected", headers=_bearer(token)).status_code == 200
    clock.current += timedelta(seconds=300 + 31)
    _problem(server.http.get("/protected", headers=_bearer(token)), 401, "token_expired")


# --- keys and metadata ---


def test_jwks_and_rotation(server: IdentityServer, keystore: FileKeyStore) -> None:
    before = server.token("regulator")
    first = server.http.get("/.well-known/jwks.json")
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/jwk-set+json"
    old_kid = gateway_kid(keystore)
    assert [k["kid"] for k in first.json()["keys"]] == [old_kid]
    assert "d" not in first.json()["keys"][0]

    keystore.rotate("token")
    after = server.token("regulator")
    keys = server.http.get("/.well-known/jwks.json").json()["keys"]
    assert [k["kid"] for k in keys] == [gateway_kid(keystore), old_kid]
    assert all(k["alg"] == "EdDSA" and k["crv"] == "Ed25519" and "d" not in k for k in keys)
    for token in (before, after):
        assert server.http.get("/protected", headers=_bearer(token)).status_code == 200


def test_authorization_server_metadata(server: IdentityServer) -> None:
    response = server.http.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    meta = response.json()
    assert meta["issuer"] == server.base_url
    assert meta["token_endpoint"] == server.base_url + "/oauth/token"
    assert meta["jwks_uri"] == server.base_url + "/.well-known/jwks.json"
    assert meta["grant_types_supported"] == ["client_credentials"]
    assert meta["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post"]
    assert set(meta["scopes_supported"]) == {
        "query",
        "grants:read",
        "grants:write",
        "records:repair",
        "lists:write",
        "audit:read",
        "audit:review",
        "policy:admin",
    }
    assert meta["response_types_supported"] == []
    # The advertised endpoints are the real ones.
    client = server.clients["regulator"]
    token = httpx.post(meta["token_endpoint"], data=GRANT, auth=(client.client_id, client.secret)).json()
    assert httpx.get(meta["jwks_uri"]).json()["keys"][0]["kid"] == gateway_kid(server.keystore)
    assert server.http.get("/protected", headers=_bearer(token["access_token"])).status_code == 200


# --- an external issuer, end to end ---


def test_external_issuer_token_over_http(keystore: FileKeyStore, clock: MutableClock) -> None:
    idp = EcIssuer.generate("idp-1")
    jwks_app = JwksServerApp([idp.jwk()])
    with serve_app(jwks_app) as idp_url:
        config = ExternalIssuer(issuer=idp_url, audience=AUDIENCE, jwks_url=idp_url + "/jwks.json")
        with identity_server(keystore, clock, external=[config]) as server:
            iat = int(clock.current.timestamp())
            claims = {
                "iss": idp_url,
                "sub": "platform-service",
                "client_id": "national-platform",
                "aud": AUDIENCE,
                "iat": iat,
                "exp": iat + 300,
                "scope": "query",
                "department": "national_platform",
            }
            response = server.http.get("/protected", headers=_bearer(idp.sign(claims)))
            assert response.status_code == 200, response.text
            assert response.json()["issuer"] == idp_url
            assert response.json()["department"] == "national_platform"

            stranger = {**claims, "iss": "https://unknown-idp.example"}
            _problem(server.http.get("/protected", headers=_bearer(idp.sign(stranger))), 401, "wrong_issuer")
            assert jwks_app.hits == 1


def test_plain_http_to_a_non_loopback_host_is_refused(server: IdentityServer) -> None:
    # authlib refuses to hand out tokens over plain HTTP except on loopback: behind a TLS-terminating
    # proxy the server must trust X-Forwarded-Proto (uvicorn --proxy-headers) so the URL reads https.
    client = server.clients["regulator"]
    auth = (client.client_id, client.secret)
    response = server.http.post("/oauth/token", data=GRANT, auth=auth, headers={"host": "gateway.internal"})
    _oauth_error(response, 400, "insecure_transport")
    loopback = server.http.post("/oauth/token", data=GRANT, auth=auth, headers={"host": "localhost"})
    assert loopback.status_code == 200


def test_oversized_token_request_is_refused(server: IdentityServer) -> None:
    client = server.clients["regulator"]
    data = {**GRANT, "padding": "x" * 20_000}
    response = server.http.post("/oauth/token", data=data, auth=(client.client_id, client.secret))
    _oauth_error(response, 400, "invalid_request")
