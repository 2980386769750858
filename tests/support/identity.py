"""Identity test support: a minimal app with the auth router, real clients, hand-made JWTs.

The hand-made tokens are signed with ``cryptography`` directly, not with joserfc, so the tests check
that the gateway verifies what any other JOSE implementation would produce.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Protocol

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from fastapi import Depends, FastAPI
from joserfc.jwk import ECKey, OKPKey

from gateway.adapters.client_files import ClientRecord, ClientRegistry, new_client
from gateway.adapters.key_files import FileKeyStore
from gateway.adapters.oauth_server import OAuthServer
from gateway.adapters.tokens import ExternalIssuer, JwtAuthenticator, TokenIssuer
from gateway.api import deps
from gateway.api.deps import Principal, authorization_server, require_scope
from gateway.api.problems import install_problem_handlers
from gateway.api.routes.auth import router
from gateway.ports import Clock
from tests.support.http_server import serve_app

AUDIENCE = "urn:credit-gateway:test"
# Cheap scrypt parameters for the HTTP tests (4 ms instead of 200 ms a check); the production
# parameters are exercised in tests/services/test_identity.py. Verification reads them from the hash.
FAST_SCRYPT = {"n": 2**12, "r": 8, "p": 1}


# --- clocks ---


class MutableClock(Protocol):
    """The shape of the root conftest's ``clock`` fixture: a Clock whose time a test can move."""

    current: datetime

    def now(self) -> datetime: ...


class StaticClock:
    """A Clock fixed at ``current`` (for issuing tokens from another moment than the server's)."""

    def __init__(self, current: datetime) -> None:
        self.current = current

    def now(self) -> datetime:
        return self.current


# --- clients ---


@dataclass(frozen=True)
class Client:
    """A registered test client and its clear secret."""

    record: ClientRecord
    secret: str

    @property
    def client_id(self) -> str:
        return self.record.client_id


def make_clients() -> dict[str, Client]:
    """Three clients: a querying department, an auditor, and one allowed both."""
    specs = {
        "regulator": ("market_regulation", ["query", "grants:write"]),
        "auditor": ("audit_office", ["audit:read", "audit:review"]),
        "platform": ("national_platform", ["query", "audit:read"]),
    }
    clients = {}
    for client_id, (department, scopes) in specs.items():
        record, secret = new_client(client_id, department, scopes, **FAST_SCRYPT)
        clients[client_id] = Client(record, secret)
    return clients


# --- the app ---


def build_identity_app() -> FastAPI:
    """The auth router, the problem handlers and two protected routes; the caller overrides the
    authorization server and authenticator dependencies with real ones."""
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router)

    def describe(principal: Principal) -> dict[str, Any]:
        return {
            "client_id": principal.client_id,
            "department": principal.department,
            "scopes": sorted(principal.scopes),
            "issuer": principal.issuer,
            "token_id": principal.token_id,
        }

    @app.get("/protected")
    def protected(principal: Annotated[Principal, Depends(require_scope("query"))]) -> dict[str, Any]:
        return describe(principal)

    @app.get("/audit")
    def audit(principal: Annotated[Principal, Depends(require_scope("audit:read"))]) -> dict[str, Any]:
        return describe(principal)

    return app


@dataclass
class IdentityServer:
    """A running identity app and what the tests need to talk to it."""

    base_url: str
    app: FastAPI
    keystore: FileKeyStore
    clients: dict[str, Client]
    issuer: TokenIssuer
    authenticator: JwtAuthenticator
    http: httpx.Client = field(repr=False)

    def token(self, client: str, scope: str | None = None) -> str:
        """A real access token from the token endpoint (client_secret_basic)."""
        data = {"grant_type": "client_credentials"}
        if scope is not None:
            data["scope"] = scope
        c = self.clients[client]
        response = self.http.post("/oauth/token", data=data, auth=(c.client_id, c.secret))
        response.raise_for_status()
        token: str = response.json()["access_token"]
        return token


@contextmanager
def identity_server(
    keystore: FileKeyStore,
    clock: Clock,
    *,
    external: Sequence[ExternalIssuer] = (),
    lifetime_s: int = 300,
    verify_clock: Clock | None = None,
) -> Iterator[IdentityServer]:
    """Serve the identity app over real HTTP; its issuer identifier is its own base URL."""
    app = build_identity_app()
    clients = make_clients()
    with serve_app(app) as base_url:
        issuer = TokenIssuer(keystore, issuer=base_url, audience=AUDIENCE, clock=clock, lifetime_s=lifetime_s)
        authenticator = JwtAuthenticator(
            keystore, issuer=base_url, audience=AUDIENCE, clock=verify_clock or clock, external=external
        )
        server = OAuthServer(ClientRegistry(c.record for c in clients.values()), issuer)
        app.dependency_overrides[authorization_server] = lambda: server
        app.dependency_overrides[deps.authenticator] = lambda: authenticator
        with httpx.Client(base_url=base_url, timeout=10.0) as http:
            try:
                yield IdentityServer(base_url, app, keystore, clients, issuer, authenticator, http)
            finally:
                authenticator.close()


# --- hand-made JWTs ---


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _segment(obj: Mapping[str, Any]) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def signing_input(header: Mapping[str, Any], claims: Mapping[str, Any]) -> bytes:
    return f"{_segment(header)}.{_segment(claims)}".encode("ascii")


def sign_ed25519(header: Mapping[str, Any], claims: Mapping[str, Any], key: Ed25519PrivateKey) -> str:
    message = signing_input({"alg": "EdDSA", **header}, claims)
    return f"{message.decode()}.{b64url(key.sign(message))}"


def sign_es256(header: Mapping[str, Any], claims: Mapping[str, Any], key: ec.EllipticCurvePrivateKey) -> str:
    message = signing_input({"alg": "ES256", **header}, claims)
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
    return f"{message.decode()}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def sign_hs256(header: Mapping[str, Any], claims: Mapping[str, Any], secret: bytes) -> str:
    message = signing_input({"alg": "HS256", **header}, claims)
    return f"{message.decode()}.{b64url(hmac.new(secret, message, hashlib.sha256).digest())}"


def unsigned(header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
    return f"{signing_input({'alg': 'none', **header}, claims).decode()}."


def access_claims(
    issuer: str, now: datetime, *, audience: str | list[str] = AUDIENCE, lifetime_s: int = 300, **extra: Any
) -> dict[str, Any]:
    """RFC 9068 claims like the gateway's own, for a client of department market_regulation."""
    iat = int(now.timestamp())
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": "regulator",
        "aud": audience,
        "exp": iat + lifetime_s,
        "iat": iat,
        "nbf": iat,
        "jti": "test-jti",
        "client_id": "regulator",
        "scope": "query",
        "department": "market_regulation",
    }
    claims.update(extra)
    return claims


def gateway_kid(keystore: FileKeyStore) -> str:
    """The kid (RFC 7638 thumbprint) of the keystore's current token key."""
    return OKPKey.import_key(keystore.public_keys_pem("token")[0]).thumbprint()


def gateway_private_key(keystore: FileKeyStore) -> Ed25519PrivateKey:
    key = OKPKey.import_key(keystore.private_key_pem("token")).private_key
    assert isinstance(key, Ed25519PrivateKey)
    return key


@dataclass
class EcIssuer:
    """An external issuer's ES256 key and its public JWK."""

    private_key: ec.EllipticCurvePrivateKey
    kid: str

    @classmethod
    def generate(cls, kid: str) -> EcIssuer:
        return cls(ec.generate_private_key(ec.SECP256R1()), kid)

    def jwk(self) -> dict[str, Any]:
        public = ECKey.import_key(self.private_key.public_key()).as_dict(private=False)
        return {**public, "kid": self.kid, "use": "sig", "alg": "ES256"}

    def sign(self, claims: Mapping[str, Any], **header: Any) -> str:
        merged = {"typ": "JWT", "kid": self.kid, **header}
        return sign_es256({k: v for k, v in merged.items() if v is not None}, claims, self.private_key)


class JwksServerApp:
    """A tiny external issuer: serves ``document`` at /jwks.json and counts the requests."""

    def __init__(self, keys: Sequence[dict[str, Any]] = ()) -> None:
        self.document: dict[str, Any] = {"keys": list(keys)}
        self.status = 200
        self.hits = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.hits += 1
        body = json.dumps(self.document).encode() if self.status == 200 else b"{}"
        await send(
            {
                "type": "http.response.start",
                "status": self.status if scope["path"] == "/jwks.json" else 404,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})
