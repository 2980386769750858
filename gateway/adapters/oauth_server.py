"""The client-credentials token endpoint on authlib (RFC 6749 §4.4), behind the AuthorizationServer port.

authlib's generic ``AuthorizationServer`` and ``ClientCredentialsGrant`` are adapted the way authlib's
own Flask and Django integrations adapt them: the HTTP layer's request becomes an ``OAuth2Request``
(built here from a ``TokenHttpRequest``) and authlib's ``(status, body, headers)`` triples become an
``OAuthReply`` the HTTP layer sends as it is. Errors keep the RFC 6749 §5.2 JSON shape
(``{"error": ..., "error_description": ...}``), not problem+json, because OAuth clients parse that shape.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from typing import Any
from urllib.parse import parse_qs, unquote

from anyio import to_thread
from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientCredentialsGrant,
    ClientMixin,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    OAuth2Payload,
    OAuth2Request,
)

from gateway.adapters.client_files import KNOWN_SCOPES, HashingPoolSaturated, SecretHashingPool
from gateway.adapters.token_throttle import TokenThrottle, throttled
from gateway.adapters.tokens import TokenIssuer
from gateway.domain.detector import contains_identifier
from gateway.errors import IdentifierInText
from gateway.ports import JSON, ClientRegistry, OAuthReply, RegisteredClient, TokenHttpRequest

log = logging.getLogger("gateway.adapters.oauth_server")

TOKEN_PATH = "/oauth/token"  # noqa: S105 - a URL path, not a secret
JWKS_PATH = "/.well-known/jwks.json"
AUTH_METHODS = ("client_secret_basic", "client_secret_post")
GRANT_TYPE = "client_credentials"
MAX_BODY_BYTES = 8192  # a token request is a few hundred bytes
_FORM = "application/x-www-form-urlencoded"
# The form fields (and the Basic user name) that reach logs or token claims: checked by the detector.
_GUARDED = ("client_id", "scope", "grant_type")

# The outcome of the secret check already made on the hashing pool for this request: authlib's
# synchronous client authentication reads it instead of hashing again on a shared thread.
_CHECKED: ContextVar[tuple[str, str, bool] | None] = ContextVar("checked_secret", default=None)


class _Client(ClientMixin):  # type: ignore[misc]  # authlib ships no type hints
    """authlib's view of a client; every secret check goes through the registry (constant cost)."""

    def __init__(self, client_id: str, registry: ClientRegistry) -> None:
        self.client_id = client_id
        self.record: RegisteredClient | None = registry.get(client_id)
        self._registry = registry

    def __repr__(self) -> str:
        return f"<client {self.client_id!r}>"

    def get_client_id(self) -> str:
        return self.client_id

    def check_client_secret(self, client_secret: str) -> bool:
        checked = _CHECKED.get()
        if checked is not None and checked[:2] == (self.client_id, client_secret):
            return checked[2]
        # Unknown ids are checked against a decoy hash, so they cost the same as a wrong secret.
        return self._registry.authenticate(self.client_id, client_secret) is not None

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in AUTH_METHODS and self.record is not None

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == GRANT_TYPE


class _Payload(OAuth2Payload):  # type: ignore[misc]  # authlib ships no type hints
    """The urlencoded body of a token request, already parsed."""

    def __init__(self, params: Mapping[str, Sequence[str]]) -> None:
        self._data = {k: v[0] for k, v in params.items()}
        self._datalist = {k: list(v) for k, v in params.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._datalist


class _TokenRequest(OAuth2Request):  # type: ignore[misc]  # authlib ships no type hints
    """A token request as authlib expects it (the body was read by the HTTP layer: authlib is sync)."""

    def __init__(self, request: TokenHttpRequest, params: Mapping[str, Sequence[str]]) -> None:
        super().__init__(method=request.method, uri=request.url, headers=request.headers)
        self.payload = _Payload(params)

    @property
    def args(self) -> dict[str, str]:
        return {}  # parameters in the query string are ignored: secrets do not belong in URLs

    @property
    def form(self) -> dict[str, str]:
        data: dict[str, str] = self.payload.data
        return data


class _Grant(ClientCredentialsGrant):  # type: ignore[misc]  # authlib ships no type hints
    """RFC 6749 §4.4 with our scope rule and our JWT issuer."""

    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)  # noqa: RUF012 - authlib's class attribute

    granted: frozenset[str] = frozenset()

    def validate_requested_scope(self) -> None:
        record: RegisteredClient = self.client.record
        requested = (self.request.payload.scope or "").split()
        if not requested:
            self.granted = record.scopes  # no scope asked: everything the client is registered for
            return
        if not set(requested) <= record.scopes:
            raise InvalidScopeError("The requested scope exceeds the scopes registered for this client.")
        self.granted = frozenset(requested)

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        # Replaces authlib's version, which logs the whole token at debug level.
        record: RegisteredClient = self.client.record
        issuer: TokenIssuer = self.server.token_issuer
        issued = issuer.issue(record.client_id, record.department, self.granted)
        log.info(
            "access token issued",
            extra={"client_id": record.client_id, "scope": issued.scope, "jti": issued.token_id},
        )
        headers: list[tuple[str, str]] = self.TOKEN_RESPONSE_HEADER
        return 200, issued.as_response(), headers


class _AuthlibServer(AuthorizationServer):  # type: ignore[misc]  # authlib ships no type hints
    """authlib's AuthorizationServer wired to the client registry and the token issuer."""

    def __init__(self, registry: ClientRegistry, token_issuer: TokenIssuer) -> None:
        super().__init__(scopes_supported=sorted(KNOWN_SCOPES))
        self.registry = registry
        self.token_issuer = token_issuer
        self.register_grant(_Grant)

    def query_client(self, client_id: str) -> _Client:
        return _Client(client_id, self.registry)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Access tokens are self-contained JWTs: nothing to store."""

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No signal system here."""

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        return request  # built by ``_parse`` before the call

    def handle_response(self, status: int, body: Any, headers: Sequence[tuple[str, str]]) -> OAuthReply:
        return OAuthReply(status, dict(body), list(headers))

    def error_reply(self, error: OAuth2Error) -> OAuthReply:
        """An RFC 6749 §5.2 error reply."""
        reply: OAuthReply = self.handle_error_response(None, error)
        return reply


def _parse(request: TokenHttpRequest) -> _TokenRequest:
    """Parse a token request body strictly (RFC 6749 §3.2); raise authlib errors on a bad one."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != _FORM:
        raise InvalidRequestError(f"The token request body must be {_FORM}.")
    if request.body is None:
        raise InvalidRequestError("The token request body is too large.")
    body = request.body
    try:
        params = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequestError("The token request body is not valid form data.") from exc
    repeated = sorted(name for name, values in params.items() if len(values) > 1)
    if repeated:
        raise InvalidRequestError("Parameters must not be repeated: " + ", ".join(repeated)[:100] + ".")
    if not params.get("grant_type", [""])[0]:
        raise InvalidRequestError("The grant_type parameter is required.")
    has_basic = request.headers.get("authorization", "").lower().startswith("basic ")
    if has_basic and "client_secret" in params:
        raise InvalidRequestError("Use exactly one client authentication method.")
    return _TokenRequest(request, params)


def _credentials(request: _TokenRequest) -> tuple[str | None, str | None]:
    """The client id and secret the request presents (Basic, RFC 6749 §2.3.1, or the form)."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        if ":" not in decoded:
            return None, None
        client_id, secret = decoded.split(":", 1)
        return unquote(client_id), unquote(secret)
    form = request.form
    return form.get("client_id"), form.get("client_secret")


def _refuse_identifiers(request: _TokenRequest, client_id: str | None) -> None:
    """Refuse (before anything is logged or counted) a form field that holds an identifier."""
    values = {name: request.form.get(name) for name in _GUARDED}
    values["client_id"] = client_id
    for name, value in values.items():
        if value and contains_identifier(value):
            raise IdentifierInText("a token request field holds a personal identifier", field=name)


def authorization_server_metadata(issuer: str) -> dict[str, JSON]:
    """RFC 8414 metadata for a gateway whose base URL is its issuer identifier."""
    base = issuer.rstrip("/")
    return {
        "issuer": issuer,
        "token_endpoint": base + TOKEN_PATH,
        "jwks_uri": base + JWKS_PATH,
        "grant_types_supported": [GRANT_TYPE],
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "scopes_supported": sorted(KNOWN_SCOPES),
        "response_types_supported": [],
    }


class OAuthServer:
    """The AuthorizationServer port on authlib, the clients registry and the gateway's token issuer."""

    def __init__(
        self,
        registry: ClientRegistry,
        token_issuer: TokenIssuer,
        *,
        throttle: TokenThrottle | None = None,
        hashing: SecretHashingPool | None = None,
    ) -> None:
        self._registry = registry
        self._server = _AuthlibServer(registry, token_issuer)
        self._issuer = token_issuer
        self._throttle = throttle
        self._owns_hashing = hashing is None
        self._hashing = hashing or SecretHashingPool()

    def close(self) -> None:
        """Stop the secret-hashing threads (when this server created them)."""
        if self._owns_hashing:
            self._hashing.close()

    @property
    def issuer(self) -> str:
        return self._issuer.issuer

    async def token(self, request: TokenHttpRequest) -> OAuthReply:
        """Answer one token request.

        In order: parse; refuse an identifier in a form field; refuse a locked client or address
        (before any hashing); check the secret on the hashing pool (refused at once when it is
        full); let authlib answer with that outcome; count a failure or clear the counters.
        """
        try:
            oauth_request = _parse(request)
        except OAuth2Error as error:
            return self._server.error_reply(error)
        client_id, secret = _credentials(oauth_request)
        _refuse_identifiers(oauth_request, client_id)
        address = request.client_address
        # Only a registered client has a counter of its own (see gateway.adapters.token_throttle).
        client = client_id if client_id is not None and self._registry.get(client_id) else None
        recorded: frozenset[str] = frozenset()
        if self._throttle is not None:
            recorded = await to_thread.run_sync(self._throttle.check, client, address)
        checked = None
        if client_id is not None and secret is not None:
            try:
                found = await self._hashing.authenticate(self._registry, client_id, secret)
            except HashingPoolSaturated:
                if self._throttle is not None:
                    raise self._throttle.refuse("busy", 1) from None
                raise throttled("busy", 1) from None
            checked = (client_id, secret, found is not None)
        reply = await to_thread.run_sync(self._answer, oauth_request, checked)
        if self._throttle is not None:
            if reply.status == 401:
                await to_thread.run_sync(self._throttle.failed, client, address)
            elif reply.status == 200 and client is not None and recorded:
                await to_thread.run_sync(self._throttle.succeeded, client, address, recorded)
        return reply

    def _answer(self, oauth_request: _TokenRequest, checked: tuple[str, str, bool] | None) -> OAuthReply:
        token = _CHECKED.set(checked)
        try:
            reply: OAuthReply = self._server.create_token_response(oauth_request)
        finally:
            _CHECKED.reset(token)
        return reply

    def jwks(self) -> dict[str, JSON]:
        return dict(self._issuer.jwks())

    def metadata(self) -> dict[str, JSON]:
        return authorization_server_metadata(self._issuer.issuer)
