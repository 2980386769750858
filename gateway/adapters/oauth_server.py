"""The client-credentials token endpoint on authlib (RFC 6749 §4.4), behind the AuthorizationServer port.

authlib's generic ``AuthorizationServer`` and ``ClientCredentialsGrant`` are adapted the way authlib's
own Flask and Django integrations adapt them: the HTTP layer's request becomes an ``OAuth2Request``
(built here from a ``TokenHttpRequest``) and authlib's ``(status, body, headers)`` triples become an
``OAuthReply`` the HTTP layer sends as it is. Errors keep the RFC 6749 §5.2 JSON shape
(``{"error": ..., "error_description": ...}``), not problem+json, because OAuth clients parse that shape.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs

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

from gateway.adapters.client_files import KNOWN_SCOPES
from gateway.adapters.tokens import TokenIssuer
from gateway.ports import JSON, ClientRegistry, OAuthReply, RegisteredClient, TokenHttpRequest

log = logging.getLogger("gateway.adapters.oauth_server")

TOKEN_PATH = "/oauth/token"  # noqa: S105 - a URL path, not a secret
JWKS_PATH = "/.well-known/jwks.json"
AUTH_METHODS = ("client_secret_basic", "client_secret_post")
GRANT_TYPE = "client_credentials"
MAX_BODY_BYTES = 8192  # a token request is a few hundred bytes
_FORM = "application/x-www-form-urlencoded"


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

    def __init__(self, registry: ClientRegistry, token_issuer: TokenIssuer) -> None:
        self._server = _AuthlibServer(registry, token_issuer)
        self._issuer = token_issuer

    @property
    def issuer(self) -> str:
        return self._issuer.issuer

    def token(self, request: TokenHttpRequest) -> OAuthReply:
        """Answer one token request; secret checks are a deliberately slow scrypt (call off the loop)."""
        try:
            oauth_request = _parse(request)
        except OAuth2Error as error:
            return self._server.error_reply(error)
        reply: OAuthReply = self._server.create_token_response(oauth_request)
        return reply

    def jwks(self) -> dict[str, JSON]:
        return dict(self._issuer.jwks())

    def metadata(self) -> dict[str, JSON]:
        return authorization_server_metadata(self._issuer.issuer)
