"""TokenIssuer and JwtAuthenticator: real keys, real signatures, a real JWKS server for external issuers."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.adapters.key_files import FileKeyStore
from gateway.adapters.tokens import ExternalIssuer, JwtAuthenticator, TokenIssuer
from gateway.errors import AuthenticationFailed, ConfigurationError, KeyUnavailable
from tests.support.http_server import serve_app
from tests.support.identity import (
    AUDIENCE,
    EcIssuer,
    JwksServerApp,
    MutableClock,
    StaticClock,
    access_claims,
    gateway_kid,
    gateway_private_key,
    sign_ed25519,
    sign_hs256,
    unsigned,
)

ISSUER = "https://gateway.example"
EXTERNAL = "https://idp.example/realms/credit"


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    def decode(segment: str) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
        return value

    header, payload, _ = token.split(".")
    return decode(header), decode(payload)


@pytest.fixture
def issuer(keystore: FileKeyStore, clock: MutableClock) -> TokenIssuer:
    return TokenIssuer(keystore, issuer=ISSUER, audience=AUDIENCE, clock=clock)


@pytest.fixture
def authenticator(keystore: FileKeyStore, clock: MutableClock) -> Iterator[JwtAuthenticator]:
    auth = JwtAuthenticator(keystore, issuer=ISSUER, audience=AUDIENCE, clock=clock)
    yield auth
    auth.close()


def _refused(auth: JwtAuthenticator, token: str) -> str:
    with pytest.raises(AuthenticationFailed) as caught:
        auth.authenticate(token)
    assert caught.value.status == 401
    return caught.value.code


# --- issuing ---


def test_issued_token_is_an_rfc9068_access_token(issuer: TokenIssuer, keystore: FileKeyStore) -> None:
    issued = issuer.issue("regulator", "market_regulation", ["query", "grants:write", "query"])
    header, claims = _parts(issued.access_token)
    assert header == {"typ": "at+jwt", "alg": "EdDSA", "kid": gateway_kid(keystore)}
    assert claims["iss"] == ISSUER
    assert claims["sub"] == claims["client_id"] == "regulator"
    assert claims["aud"] == AUDIENCE
    assert claims["department"] == "market_regulation"
    assert claims["scope"] == "grants:write query"
    assert claims["exp"] - claims["iat"] == 300
    assert claims["nbf"] == claims["iat"]
    assert claims["jti"] == issued.token_id
    assert len(issued.token_id) >= 16
    assert issued.as_response() == {
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "grants:write query",
    }


def test_token_ids_are_unique(issuer: TokenIssuer) -> None:
    ids = {issuer.issue("regulator", "market_regulation", ["query"]).token_id for _ in range(20)}
    assert len(ids) == 20


def test_lifetime_is_configurable(keystore: FileKeyStore, clock: MutableClock) -> None:
    short = TokenIssuer(keystore, issuer=ISSUER, audience=AUDIENCE, clock=clock, lifetime_s=60)
    _, claims = _parts(short.issue("regulator", "market_regulation", ["query"]).access_token)
    assert claims["exp"] - claims["iat"] == 60
    with pytest.raises(ConfigurationError):
        TokenIssuer(keystore, issuer=ISSUER, audience=AUDIENCE, clock=clock, lifetime_s=0)


def test_missing_signing_key_is_key_unavailable(tmp_path: Any, clock: MutableClock) -> None:
    empty = FileKeyStore(tmp_path / "nokeys")
    with pytest.raises(KeyUnavailable):
        TokenIssuer(empty, issuer=ISSUER, audience=AUDIENCE, clock=clock).issue("a", "b", ["query"])


# --- verifying the gateway's own tokens ---


def test_own_token_maps_to_a_principal(issuer: TokenIssuer, authenticator: JwtAuthenticator) -> None:
    issued = issuer.issue("regulator", "market_regulation", ["query", "grants:write"])
    principal = authenticator.authenticate(issued.access_token)
    assert principal.client_id == "regulator"
    assert principal.department == "market_regulation"
    assert principal.scopes == frozenset({"query", "grants:write"})
    assert principal.issuer == ISSUER
    assert principal.token_id == issued.token_id


def test_expiry_follows_the_injected_clock_with_leeway(
    issuer: TokenIssuer, authenticator: JwtAuthenticator, clock: MutableClock
) -> None:
    token = issuer.issue("regulator", "market_regulation", ["query"]).access_token
    clock.current += timedelta(seconds=300 + 29)  # inside the 30 s leeway
    authenticator.authenticate(token)
    clock.current += timedelta(seconds=2)
    assert _refused(authenticator, token) == "token_expired"


def test_token_from_the_future_is_not_yet_valid(
    keystore: FileKeyStore, authenticator: JwtAuthenticator, clock: MutableClock
) -> None:
    ahead = StaticClock(clock.current + timedelta(minutes=2))
    token = TokenIssuer(keystore, issuer=ISSUER, audience=AUDIENCE, clock=ahead).issue("r", "d", ["query"])
    assert _refused(authenticator, token.access_token) == "token_not_yet_valid"
    clock.current = ahead.current
    authenticator.authenticate(token.access_token)


def test_wrong_audience_and_wrong_issuer(
    keystore: FileKeyStore, clock: MutableClock, authenticator: JwtAuthenticator
) -> None:
    other_aud = TokenIssuer(keystore, issuer=ISSUER, audience="urn:other", clock=clock)
    assert _refused(authenticator, other_aud.issue("r", "d", ["query"]).access_token) == "wrong_audience"
    other_iss = TokenIssuer(keystore, issuer="https://evil.example", audience=AUDIENCE, clock=clock)
    assert _refused(authenticator, other_iss.issue("r", "d", ["query"]).access_token) == "wrong_issuer"


def test_audience_may_be_a_list(
    keystore: FileKeyStore, clock: MutableClock, authenticator: JwtAuthenticator
) -> None:
    key = gateway_private_key(keystore)
    kid = gateway_kid(keystore)
    good = access_claims(ISSUER, clock.current, audience=[AUDIENCE, "urn:other"])
    assert authenticator.authenticate(sign_ed25519({"typ": "at+jwt", "kid": kid}, good, key)).client_id
    bad = access_claims(ISSUER, clock.current, audience=["urn:other"])
    assert _refused(authenticator, sign_ed25519({"typ": "at+jwt", "kid": kid}, bad, key)) == "wrong_audience"


def test_refused_token_kinds(
    keystore: FileKeyStore, clock: MutableClock, authenticator: JwtAuthenticator
) -> None:
    kid = gateway_kid(keystore)
    key = gateway_private_key(keystore)
    claims = access_claims(ISSUER, clock.current)
    header = {"typ": "at+jwt", "kid": kid}
    stranger = Ed25519PrivateKey.generate()
    public_pem = keystore.public_keys_pem("token")[0]
    good = sign_ed25519(header, claims, key)
    tampered_claims = base64.urlsafe_b64encode(
        json.dumps({**claims, "scope": "query policy:admin"}).encode()
    ).rstrip(b"=")
    cases = {
        "": "missing_token",
        "not-a-jwt": "malformed_token",
        "a.b.c": "malformed_token",
        good + ".extra.parts": "malformed_token",
        unsigned(header, claims): "unsigned_token",
        unsigned({**header, "alg": "NONE"}, claims): "unsigned_token",
        sign_ed25519(header, claims, stranger): "bad_signature",
        sign_ed25519({"typ": "at+jwt", "kid": "unknown-kid"}, claims, stranger): "bad_signature",
        sign_ed25519({"typ": "at+jwt"}, claims, key): "bad_signature",  # no kid: own tokens always name one
        good.split(".")[0] + "." + tampered_claims.decode() + "." + good.split(".")[2]: "bad_signature",
        sign_hs256(header, claims, public_pem): "disallowed_algorithm",
        sign_ed25519({"kid": kid}, claims, key): "wrong_token_type",
        sign_ed25519({"typ": "JWT", "kid": kid}, claims, key): "wrong_token_type",
        sign_ed25519({**header, "crit": ["exp"]}, claims, key): "malformed_token",
        sign_ed25519({**header, "jku": "https://evil.example/jwks"}, claims, key): "malformed_token",
        sign_ed25519(header, {k: v for k, v in claims.items() if k != "exp"}, key): "malformed_token",
        sign_ed25519(header, {**claims, "exp": "tomorrow"}, key): "malformed_token",
        sign_ed25519(header, {k: v for k, v in claims.items() if k != "department"}, key): "malformed_token",
    }
    codes = {token[:40]: _refused(authenticator, token) for token in cases}
    assert codes == {token[:40]: code for token, code in cases.items()}
    assert authenticator.authenticate(good).client_id == "regulator"


@pytest.mark.parametrize("alg", ["HS256", "HS512", "RS256", "PS256", "ES512", "Ed25519", "dir"])
def test_only_eddsa_and_es256_are_accepted(
    alg: str, keystore: FileKeyStore, authenticator: JwtAuthenticator
) -> None:
    token = sign_ed25519(
        {"typ": "at+jwt", "kid": gateway_kid(keystore), "alg": alg},
        {"iss": ISSUER},
        Ed25519PrivateKey.generate(),
    )
    assert _refused(authenticator, token) == "disallowed_algorithm"


def test_rotation_keeps_old_tokens_valid_and_jwks_lists_both(
    keystore: FileKeyStore, issuer: TokenIssuer, authenticator: JwtAuthenticator
) -> None:
    before = issuer.issue("regulator", "market_regulation", ["query"]).access_token
    old_kid = gateway_kid(keystore)
    keystore.rotate("token")
    new_kid = gateway_kid(keystore)
    after = issuer.issue("regulator", "market_regulation", ["query"]).access_token
    assert new_kid != old_kid
    assert _parts(after)[0]["kid"] == new_kid
    assert authenticator.authenticate(before).client_id == "regulator"
    assert authenticator.authenticate(after).client_id == "regulator"
    assert [k["kid"] for k in issuer.jwks()["keys"]] == [new_kid, old_kid]
    assert all(set(k) == {"kty", "crv", "x", "kid", "use", "alg"} for k in issuer.jwks()["keys"])

    # Once the previous public key is retired, tokens it signed no longer verify.
    (keystore.public_dir / "token.1.pem").unlink()
    assert _refused(authenticator, before) == "bad_signature"
    authenticator.authenticate(after)


# --- external issuers ---


@pytest.fixture
def idp_key() -> EcIssuer:
    return EcIssuer.generate("idp-key-1")


@pytest.fixture
def jwks_server(idp_key: EcIssuer) -> Iterator[tuple[JwksServerApp, str]]:
    app = JwksServerApp([idp_key.jwk()])
    with serve_app(app) as base_url:
        yield app, base_url + "/jwks.json"


def _external_auth(
    keystore: FileKeyStore, clock: MutableClock, jwks_url: str, **kwargs: Any
) -> JwtAuthenticator:
    config = ExternalIssuer(
        issuer=EXTERNAL, audience="credit-gateway", jwks_url=jwks_url, department_claim="dept"
    )
    return JwtAuthenticator(
        keystore, issuer=ISSUER, audience=AUDIENCE, clock=clock, external=[config], **kwargs
    )


def _external_claims(clock: MutableClock, **extra: Any) -> dict[str, Any]:
    iat = int(clock.current.timestamp())
    claims = {
        "iss": EXTERNAL,
        "sub": "svc-platform",
        "azp": "national-platform",
        "aud": "credit-gateway",
        "exp": iat + 600,
        "iat": iat,
        "jti": "ext-1",
        "scope": "query audit:read",
        "dept": "national_platform",
    }
    claims.update(extra)
    return claims


def test_external_issuer_token_verified_through_its_jwks(
    keystore: FileKeyStore, clock: MutableClock, idp_key: EcIssuer, jwks_server: tuple[JwksServerApp, str]
) -> None:
    app, url = jwks_server
    auth = _external_auth(keystore, clock, url)
    try:
        principal = auth.authenticate(idp_key.sign(_external_claims(clock)))
        assert principal.client_id == "national-platform"
        assert principal.department == "national_platform"
        assert principal.scopes == frozenset({"query", "audit:read"})
        assert principal.issuer == EXTERNAL
        for _ in range(5):
            auth.authenticate(idp_key.sign(_external_claims(clock)))
        assert app.hits == 1  # cached
        assert _refused(auth, idp_key.sign(_external_claims(clock, aud="someone-else"))) == "wrong_audience"
        assert (
            _refused(auth, idp_key.sign(_external_claims(clock, iss="https://other-idp"))) == "wrong_issuer"
        )
        assert _refused(auth, idp_key.sign(_external_claims(clock, exp=1))) == "token_expired"
        impostor = EcIssuer.generate("idp-key-1")  # same kid, different key
        assert _refused(auth, impostor.sign(_external_claims(clock))) == "bad_signature"
    finally:
        auth.close()


def test_unknown_kid_refetches_at_most_once_per_interval(
    keystore: FileKeyStore, clock: MutableClock, idp_key: EcIssuer, jwks_server: tuple[JwksServerApp, str]
) -> None:
    app, url = jwks_server
    auth = _external_auth(keystore, clock, url, jwks_refetch_interval_s=60)
    try:
        auth.authenticate(idp_key.sign(_external_claims(clock)))
        assert app.hits == 1
        rotated = EcIssuer.generate("idp-key-2")
        clock.current += timedelta(seconds=61)
        # Not published yet: one refetch, then refused; further tries in the interval do not refetch.
        for _ in range(3):
            assert _refused(auth, rotated.sign(_external_claims(clock))) == "bad_signature"
        assert app.hits == 2
        app.document = {"keys": [idp_key.jwk(), rotated.jwk()]}
        assert _refused(auth, rotated.sign(_external_claims(clock))) == "bad_signature"
        assert app.hits == 2
        clock.current += timedelta(seconds=61)
        assert auth.authenticate(rotated.sign(_external_claims(clock))).department == "national_platform"
        assert app.hits == 3
        assert auth.jwks_fetches(EXTERNAL) == 3
    finally:
        auth.close()


def test_jwks_expires_after_ttl_and_fails_closed_when_unreachable(
    keystore: FileKeyStore, clock: MutableClock, idp_key: EcIssuer, jwks_server: tuple[JwksServerApp, str]
) -> None:
    app, url = jwks_server
    auth = _external_auth(keystore, clock, url, jwks_ttl_s=300, jwks_refetch_interval_s=60)
    try:
        auth.authenticate(idp_key.sign(_external_claims(clock)))
        clock.current += timedelta(seconds=301)
        auth.authenticate(idp_key.sign(_external_claims(clock)))
        assert app.hits == 2
        app.status = 503
        clock.current += timedelta(seconds=301)
        with pytest.raises(KeyUnavailable):
            auth.authenticate(idp_key.sign(_external_claims(clock)))
        with pytest.raises(KeyUnavailable):  # no hammering: refused without a new fetch
            auth.authenticate(idp_key.sign(_external_claims(clock)))
        assert app.hits == 3
        app.status = 200
        clock.current += timedelta(seconds=61)
        auth.authenticate(idp_key.sign(_external_claims(clock)))
        assert app.hits == 4
    finally:
        auth.close()


def test_external_issuer_with_an_inline_jwks_document(keystore: FileKeyStore, clock: MutableClock) -> None:
    idp = EcIssuer.generate("inline")
    config = ExternalIssuer(
        issuer=EXTERNAL, audience="credit-gateway", jwks={"keys": [idp.jwk()]}, department_claim="dept"
    )
    auth = JwtAuthenticator(keystore, issuer=ISSUER, audience=AUDIENCE, clock=clock, external=[config])
    try:
        assert auth.authenticate(idp.sign(_external_claims(clock))).client_id == "national-platform"
        no_kid = idp.sign(_external_claims(clock), kid=None)
        assert auth.authenticate(no_kid).department == "national_platform"  # the only key
        assert _refused(auth, idp.sign(_external_claims(clock), typ="id_token+jwt")) == "wrong_token_type"
        # A gateway-signed token claiming to come from the external issuer does not verify.
        forged = sign_ed25519(
            {"kid": gateway_kid(keystore)}, _external_claims(clock), gateway_private_key(keystore)
        )
        assert _refused(auth, forged) == "bad_signature"
    finally:
        auth.close()


def test_external_issuer_configuration_is_checked(keystore: FileKeyStore, clock: MutableClock) -> None:
    jwks = {"keys": [EcIssuer.generate("k").jwk()]}
    with pytest.raises(ConfigurationError):
        ExternalIssuer(issuer=EXTERNAL, audience="a")
    with pytest.raises(ConfigurationError):
        ExternalIssuer(issuer=EXTERNAL, audience="a", jwks_url="https://idp/jwks", jwks=jwks)
    with pytest.raises(ConfigurationError, match="https"):
        ExternalIssuer(issuer=EXTERNAL, audience="a", jwks_url="http://idp.example/jwks")
    secret_only = ExternalIssuer(
        issuer=EXTERNAL, audience="a", jwks={"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}
    )
    with pytest.raises(ConfigurationError, match="no usable signing key"):
        JwtAuthenticator(keystore, issuer=ISSUER, audience=AUDIENCE, clock=clock, external=[secret_only])
    with pytest.raises(ConfigurationError, match="twice"):
        JwtAuthenticator(
            keystore,
            issuer=ISSUER,
            audience=AUDIENCE,
            clock=clock,
            external=[ExternalIssuer(issuer=ISSUER, audience="a", jwks=jwks)],
        )


def test_unreachable_jwks_url_is_key_unavailable(keystore: FileKeyStore, clock: MutableClock) -> None:
    idp = EcIssuer.generate("k")
    with serve_app(JwksServerApp()) as base_url:
        dead_url = base_url + "/jwks.json"
    auth = _external_auth(keystore, clock, dead_url)
    try:
        with pytest.raises(KeyUnavailable):
            auth.authenticate(idp.sign(_external_claims(clock)))
    finally:
        auth.close()
