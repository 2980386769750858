"""JWT access tokens (RFC 9068) with joserfc: issued by the gateway, verified on every request.

The gateway signs with the keystore's Ed25519 ``token`` key (``alg: EdDSA``, ``kid`` = RFC 7638
thumbprint). Verification accepts the gateway's current and previous public keys, and optionally
tokens from external issuers whose JWKS is fetched over HTTP and cached. Every refusal is an
AuthenticationFailed with its own code:

    missing_token, malformed_token, wrong_token_type, unsigned_token, disallowed_algorithm,
    wrong_issuer, bad_signature, wrong_audience, token_expired, token_not_yet_valid

Only EdDSA and ES256 are accepted; ``none`` and every HMAC algorithm are refused before any key is
looked at, so a public key can never be used as an HMAC secret.
"""

from __future__ import annotations

import base64
import binascii
import copy
import ipaddress
import json
import logging
import secrets
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyCurveError,
    InvalidKeyIdError,
    JoseError,
    KeyParameterError,
)
from joserfc.jwk import JWKRegistry, Key, OKPKey
from joserfc.jws import JWSRegistry

from gateway.errors import (
    AuthenticationFailed,
    BadSignature,
    ConfigurationError,
    DisallowedAlgorithm,
    KeyUnavailable,
    MalformedToken,
    MissingToken,
    TokenExpired,
    TokenNotYetValid,
    UnsignedToken,
    WrongAudience,
    WrongIssuer,
    WrongTokenType,
)
from gateway.ports import Clock, KeyStore, Principal

log = logging.getLogger("gateway.tokens")

TOKEN_KEY = "token"  # noqa: S105 - the keystore name of the signing key, not a secret
SIGNING_ALGORITHM = "EdDSA"
ACCEPTED_ALGORITHMS = ("EdDSA", "ES256")
ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - RFC 9068 media type
DEFAULT_LIFETIME_S = 300
DEFAULT_LEEWAY_S = 30
_MAX_TOKEN_BYTES = 8192
_MAX_JWKS_BYTES = 256 * 1024

_eddsa = copy.copy(JWSRegistry.algorithms["EdDSA"])
# RFC 9864 deprecates the polymorphic "EdDSA" name in favour of "Ed25519", and joserfc warns on every
# use. We keep "EdDSA" on purpose (most verifiers do not know "Ed25519" yet); the key is always
# Ed25519, so the ambiguity the RFC removes does not arise here.
_eddsa.security_warning = None


class _GatewayJWSRegistry(JWSRegistry):
    """A JWS registry that knows only the algorithms the gateway accepts."""

    algorithms = {"EdDSA": _eddsa, "ES256": JWSRegistry.algorithms["ES256"]}  # noqa: RUF012
    recommended = list(ACCEPTED_ALGORITHMS)  # noqa: RUF012


# Headers outside the JOSE registry are tolerated (external issuers add their own); "crit" is refused
# earlier, so nothing unknown can change how a token is processed.
_REGISTRY = _GatewayJWSRegistry(algorithms=ACCEPTED_ALGORITHMS, strict_check_header=False)


_REFUSALS: dict[str, type[AuthenticationFailed]] = {
    cls.code: cls
    for cls in (
        MissingToken,
        MalformedToken,
        UnsignedToken,
        DisallowedAlgorithm,
        BadSignature,
        WrongIssuer,
        WrongAudience,
        WrongTokenType,
        TokenExpired,
        TokenNotYetValid,
    )
}


def _refuse(code: str, detail: str) -> AuthenticationFailed:
    """The refusal class for ``code`` (every token failure has its own stable code)."""
    return _REFUSALS[code](detail)


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _b64_json(segment: str) -> Any:
    raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    return json.loads(raw)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """An access token and what the token response says about it."""

    access_token: str
    token_type: str
    expires_in: int
    scope: str
    token_id: str
    expires_at: datetime

    def as_response(self) -> dict[str, Any]:
        """The RFC 6749 §5.1 token response body."""
        return {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "scope": self.scope,
        }


def _okp_public_key(pem: bytes) -> OKPKey:
    try:
        key = OKPKey.import_key(pem)
    except (JoseError, ValueError) as exc:
        raise KeyUnavailable("a public token key is unreadable") from exc
    if key.curve_name != "Ed25519":
        raise KeyUnavailable("token keys must be Ed25519")
    return key


class GatewayKeys:
    """The gateway's token keys from the keystore: the current private key, all public keys by kid."""

    def __init__(self, keystore: KeyStore, name: str = TOKEN_KEY) -> None:
        self._keystore = keystore
        self._name = name
        self._lock = threading.Lock()
        self._private: tuple[bytes, OKPKey, str] | None = None
        self._public: tuple[tuple[bytes, ...], tuple[tuple[str, OKPKey], ...]] | None = None

    def signing_key(self) -> tuple[OKPKey, str]:
        """The current private key and its kid; re-read after a rotation."""
        pem = self._keystore.private_key_pem(self._name)
        cached = self._private
        if cached is not None and cached[0] == pem:
            return cached[1], cached[2]
        try:
            key = OKPKey.import_key(pem)
        except (JoseError, ValueError) as exc:
            raise KeyUnavailable("the token signing key is unreadable") from exc
        if not key.is_private or key.curve_name != "Ed25519":
            raise KeyUnavailable("the token signing key must be a private Ed25519 key")
        kid = key.thumbprint()
        with self._lock:
            self._private = (pem, key, kid)
        return key, kid

    def public_keys(self) -> tuple[tuple[str, OKPKey], ...]:
        """(kid, key) for the current public key first, then the previous ones kept after rotation."""
        pems = tuple(self._keystore.public_keys_pem(self._name))
        cached = self._public
        if cached is not None and cached[0] == pems:
            return cached[1]
        keys = tuple((key.thumbprint(), key) for key in map(_okp_public_key, pems))
        with self._lock:
            self._public = (pems, keys)
        return keys

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The public JWK set (RFC 7517), current key first."""
        return {
            "keys": [
                {**key.as_dict(private=False), "kid": kid, "use": "sig", "alg": SIGNING_ALGORITHM}
                for kid, key in self.public_keys()
            ]
        }


class TokenIssuer:
    """Mints RFC 9068 JWT access tokens signed with the keystore's current Ed25519 token key."""

    def __init__(
        self,
        keystore: KeyStore,
        *,
        issuer: str,
        audience: str,
        clock: Clock,
        lifetime_s: int = DEFAULT_LIFETIME_S,
    ) -> None:
        if not issuer or not audience:
            raise ConfigurationError("token issuer and audience must be set")
        if not 0 < lifetime_s <= 24 * 3600:
            raise ConfigurationError("token lifetime must be between 1 s and 24 h", field="lifetime_s")
        self.issuer = issuer
        self.audience = audience
        self.lifetime_s = lifetime_s
        self.keys = GatewayKeys(keystore)
        self._clock = clock

    def issue(self, client_id: str, department: str, scopes: Iterable[str]) -> IssuedToken:
        """Sign an access token for ``client_id`` acting for ``department`` with ``scopes``."""
        key, kid = self.keys.signing_key()
        now = self._clock.now()
        issued_at = _epoch(now)
        scope = " ".join(sorted(set(scopes)))
        token_id = secrets.token_urlsafe(16)
        claims = {
            "iss": self.issuer,
            "sub": client_id,
            "aud": self.audience,
            "exp": issued_at + self.lifetime_s,
            "iat": issued_at,
            "nbf": issued_at,
            "jti": token_id,
            "client_id": client_id,
            "scope": scope,
            "department": department,
        }
        header = {"alg": SIGNING_ALGORITHM, "typ": ACCESS_TOKEN_TYPE, "kid": kid}
        token = jwt.encode(header, claims, key, registry=_REGISTRY)
        return IssuedToken(
            access_token=token,
            token_type="Bearer",  # noqa: S106 - RFC 6750 token type
            expires_in=self.lifetime_s,
            scope=scope,
            token_id=token_id,
            expires_at=now + timedelta(seconds=self.lifetime_s),
        )

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The public keys tokens may be verified with, current first."""
        return self.keys.jwks()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class ExternalIssuer:
    """A trusted external token issuer: its ``iss``, its keys (JWKS URL or document), its audience."""

    issuer: str
    audience: str
    jwks_url: str | None = None
    jwks: Mapping[str, Any] | None = None
    department_claim: str = "department"

    def __post_init__(self) -> None:
        if not self.issuer or not self.audience:
            raise ConfigurationError("an external issuer needs an issuer and an audience")
        if (self.jwks_url is None) == (self.jwks is None):
            raise ConfigurationError(f"external issuer {self.issuer!r}: give exactly one of jwks_url, jwks")
        if self.jwks_url is not None:
            parts = urlsplit(self.jwks_url)
            loopback = parts.scheme == "http" and _is_loopback(parts.hostname or "")
            if parts.scheme != "https" and not loopback:
                raise ConfigurationError(
                    f"external issuer {self.issuer!r}: jwks_url must use https", field="jwks_url"
                )


def _import_jwks(document: Any, source: str) -> dict[str, Key]:
    """Public signing keys of a JWK set by kid (a key without kid is named by its thumbprint)."""
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise KeyUnavailable(f"JWKS of {source} is not a JWK set")
    keys: dict[str, Key] = {}
    for raw in document["keys"]:
        if not isinstance(raw, Mapping) or raw.get("use", "sig") != "sig":
            continue
        if raw.get("kty") not in ("EC", "OKP"):
            continue  # RFC 7517 §5: skip keys we do not understand; RSA and oct are never accepted
        public = {k: v for k, v in raw.items() if k != "d"}
        try:
            key = JWKRegistry.import_key(dict(public))
        except (JoseError, ValueError, TypeError):
            continue
        kid = raw.get("kid")
        keys[kid if isinstance(kid, str) and kid else key.thumbprint()] = key
    if not keys:
        raise KeyUnavailable(f"JWKS of {source} holds no usable signing key")
    return keys


class _ExternalKeys:
    """One external issuer's keys: a fixed document, or a URL fetched with a TTL and refreshed on
    an unknown kid at most once per ``refetch_interval_s``."""

    def __init__(
        self,
        config: ExternalIssuer,
        http: httpx.Client,
        clock: Clock,
        ttl_s: float,
        refetch_interval_s: float,
    ) -> None:
        self.config = config
        self._http = http
        self._clock = clock
        self._ttl = timedelta(seconds=ttl_s)
        self._refetch_interval = timedelta(seconds=refetch_interval_s)
        self._lock = threading.Lock()
        self._keys: dict[str, Key] = {}
        self._fetched_at: datetime | None = None
        self._attempted_at: datetime | None = None
        self.fetches = 0
        if config.jwks is not None:
            try:
                self._keys = _import_jwks(config.jwks, config.issuer)
            except KeyUnavailable as exc:
                raise ConfigurationError(exc.detail) from exc

    def _fetch(self, now: datetime) -> None:
        assert self.config.jwks_url is not None  # noqa: S101 - only called for URL issuers
        self.fetches += 1
        self._attempted_at = now
        try:
            response = self._http.get(self.config.jwks_url, headers={"accept": "application/json"})
            response.raise_for_status()
            if len(response.content) > _MAX_JWKS_BYTES:
                raise ValueError("JWKS too large")
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("jwks fetch failed", extra={"issuer": self.config.issuer})
            raise KeyUnavailable(f"keys of issuer {self.config.issuer} cannot be fetched") from exc
        self._keys = _import_jwks(document, self.config.issuer)
        self._fetched_at = now

    def find(self, kid: str | None) -> Key | None:
        """The key named ``kid`` (or the only key when the token names none)."""
        if self.config.jwks_url is not None:
            with self._lock:
                now = self._clock.now()
                may_fetch = self._attempted_at is None or now - self._attempted_at >= self._refetch_interval
                if self._fetched_at is None or now - self._fetched_at >= self._ttl:
                    # Fail closed: a key set past its TTL is not used, even if the issuer is unreachable.
                    if not may_fetch:
                        raise KeyUnavailable(f"keys of issuer {self.config.issuer} are unavailable")
                    self._fetch(now)
                elif self._lookup(kid) is None and may_fetch:
                    self._fetch(now)
        return self._lookup(kid)

    def _lookup(self, kid: str | None) -> Key | None:
        keys = self._keys
        if kid is None:
            return next(iter(keys.values())) if len(keys) == 1 else None
        return keys.get(kid)


@dataclass(frozen=True, slots=True)
class _Trust:
    issuer: str
    audience: str
    department_claim: str
    require_at_jwt: bool


class JwtAuthenticator:
    """The Authenticator of gateway.api.deps: verifies a bearer JWT and returns its Principal."""

    def __init__(
        self,
        keystore: KeyStore,
        *,
        issuer: str,
        audience: str,
        clock: Clock,
        external: Sequence[ExternalIssuer] = (),
        leeway_s: int = DEFAULT_LEEWAY_S,
        jwks_ttl_s: float = 300.0,
        jwks_refetch_interval_s: float = 60.0,
        http_client: httpx.Client | None = None,
    ) -> None:
        if not 0 <= leeway_s <= 300:
            raise ConfigurationError("token leeway must be between 0 and 300 s", field="leeway_s")
        self.issuer = issuer
        self.audience = audience
        self.leeway_s = leeway_s
        self._clock = clock
        self._own = GatewayKeys(keystore)
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(timeout=5.0, follow_redirects=False)
        self._external: dict[str, _ExternalKeys] = {}
        for config in external:
            if config.issuer == issuer or config.issuer in self._external:
                raise ConfigurationError(f"issuer {config.issuer!r} is configured twice")
            self._external[config.issuer] = _ExternalKeys(
                config, self._http, clock, jwks_ttl_s, jwks_refetch_interval_s
            )

    def close(self) -> None:
        """Release the HTTP client used for external JWKS (if this authenticator created it)."""
        if self._owns_http:
            self._http.close()

    def jwks_fetches(self, issuer: str) -> int:
        """How many times the JWKS of an external issuer has been fetched (for operators and tests)."""
        return self._external[issuer].fetches

    def authenticate(self, token: str) -> Principal:
        """Verify ``token`` and map it to a Principal; raise AuthenticationFailed with a precise code."""
        if not token:
            raise _refuse("missing_token", "a bearer token is required")
        header, unverified = self._parse(token)
        trust, key = self._trust_and_key(header, unverified)
        try:
            claims = jwt.decode(token, key, registry=_REGISTRY).claims
        except BadSignatureError as exc:
            raise _refuse("bad_signature", "the token signature does not verify") from exc
        except (KeyParameterError, InvalidKeyIdError, InvalidKeyCurveError) as exc:
            raise _refuse("bad_signature", "the token's key does not fit its algorithm") from exc
        except JoseError as exc:
            raise _refuse("malformed_token", "the token is not a valid JWS") from exc
        self._check_claims(claims, trust)
        return self._principal(claims, trust)

    # --- steps ---

    def _parse(self, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        if len(token) > _MAX_TOKEN_BYTES:
            raise _refuse("malformed_token", "the token is too long")
        parts = token.split(".")
        if len(parts) != 3:
            raise _refuse("malformed_token", "the token is not a compact JWS (three dot-separated parts)")
        try:
            header, claims = _b64_json(parts[0]), _b64_json(parts[1])
        except (binascii.Error, ValueError) as exc:
            raise _refuse("malformed_token", "the token's header or payload is not base64url JSON") from exc
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise _refuse("malformed_token", "the token's header and payload must be JSON objects")
        alg = header.get("alg")
        if not isinstance(alg, str):
            raise _refuse("malformed_token", "the token header names no algorithm")
        if alg.lower() == "none":
            raise _refuse("unsigned_token", "unsigned tokens (alg none) are refused")
        if alg not in ACCEPTED_ALGORITHMS:
            raise DisallowedAlgorithm(
                f"algorithm {alg[:20]!r} is not accepted",
                accepted=" ".join(ACCEPTED_ALGORITHMS),
            )
        if "crit" in header or "b64" in header or "jku" in header or "x5u" in header or "jwk" in header:
            # Keys come only from our configuration, never from the token itself.
            raise _refuse("malformed_token", "the token header carries parameters that are not accepted")
        return header, claims

    def _trust_and_key(self, header: Mapping[str, Any], claims: Mapping[str, Any]) -> tuple[_Trust, Key]:
        iss = claims.get("iss")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise _refuse("malformed_token", "the token's kid must be a string")
        if iss == self.issuer:
            trust = _Trust(self.issuer, self.audience, "department", require_at_jwt=True)
            self._check_type(header, trust)
            own = dict(self._own.public_keys())
            key: Key | None = own.get(kid) if kid is not None else None
        elif isinstance(iss, str) and iss in self._external:
            remote = self._external[iss]
            config = remote.config
            trust = _Trust(config.issuer, config.audience, config.department_claim, require_at_jwt=False)
            self._check_type(header, trust)
            key = remote.find(kid)
        else:
            raise _refuse("wrong_issuer", "the token was not issued by a trusted issuer")
        if key is None:
            raise _refuse("bad_signature", "the token was not signed by a known key of its issuer")
        return trust, key

    @staticmethod
    def _check_type(header: Mapping[str, Any], trust: _Trust) -> None:
        typ = header.get("typ")
        if typ is not None and not isinstance(typ, str):
            raise _refuse("malformed_token", "the token's typ must be a string")
        normalized = (typ or "").lower().removeprefix("application/")
        if trust.require_at_jwt and normalized != ACCESS_TOKEN_TYPE:
            # RFC 9068 §4: the gateway's own tokens are typed, so no other JWT can pass for one.
            raise _refuse("wrong_token_type", "the token is not an access token (typ at+jwt)")
        if not trust.require_at_jwt and normalized not in ("", "jwt", ACCESS_TOKEN_TYPE):
            raise _refuse("wrong_token_type", "the token is not an access token")

    def _check_claims(self, claims: Mapping[str, Any], trust: _Trust) -> None:
        now = _epoch(self._clock.now())
        registry = jwt.JWTClaimsRegistry(
            now=now,
            leeway=self.leeway_s,
            iss={"essential": True, "value": trust.issuer},
            aud={"essential": True, "value": trust.audience},
        )
        # A fixed order, so a token with several faults is always refused under the same code.
        checks = (
            ("iss", "wrong_issuer", "the token's issuer is not trusted"),
            ("aud", "wrong_audience", "the token is not meant for this gateway"),
            ("exp", "token_expired", "the token has expired"),
            ("nbf", "token_not_yet_valid", "the token is not valid yet"),
            ("iat", "token_not_yet_valid", "the token was issued in the future"),
        )
        for claim, code, detail in checks:
            value = claims.get(claim)
            if value is None:
                if claim in ("iss", "aud", "exp"):
                    raise _refuse("malformed_token", f"the token has no {claim!r} claim")
                continue
            try:
                getattr(registry, f"validate_{claim}")(value)
            except ExpiredTokenError as exc:
                raise _refuse(code, detail) from exc
            except InvalidClaimError as exc:
                if claim in ("exp", "nbf", "iat") and not isinstance(value, int | float):
                    raise _refuse("malformed_token", f"the token's {claim!r} is not a NumericDate") from exc
                raise _refuse(code, detail) from exc

    @staticmethod
    def _principal(claims: Mapping[str, Any], trust: _Trust) -> Principal:
        client_id = claims.get("client_id") or claims.get("azp") or claims.get("sub")
        if not isinstance(client_id, str) or not client_id:
            raise _refuse("malformed_token", "the token names no client (client_id or sub)")
        department = claims.get(trust.department_claim)
        if not isinstance(department, str) or not department:
            raise _refuse("malformed_token", f"the token has no {trust.department_claim!r} claim")
        raw_scope = claims.get("scope", claims.get("scp", ""))
        if isinstance(raw_scope, str):
            scopes = frozenset(raw_scope.split())
        elif isinstance(raw_scope, list) and all(isinstance(s, str) for s in raw_scope):
            scopes = frozenset(raw_scope)
        else:
            raise _refuse("malformed_token", "the token's scope must be a string or a list of strings")
        jti = claims.get("jti")
        return Principal(
            client_id=client_id,
            department=department,
            scopes=scopes,
            issuer=trust.issuer,
            token_id=jti if isinstance(jti, str) else None,
        )
