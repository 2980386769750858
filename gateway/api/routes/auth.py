"""OAuth 2.0 endpoints: the client-credentials token endpoint, the JWKS and the server metadata.

The token endpoint is authlib's generic ``AuthorizationServer`` with its ``ClientCredentialsGrant``
(RFC 6749 §4.4), adapted to Starlette the way authlib's own Flask and Django integrations are: a
framework request becomes an ``OAuth2Request`` (``create_oauth2_request``) and authlib's
``(status, body, headers)`` triples become responses (``handle_response``). Errors leave in the
RFC 6749 §5.2 JSON shape (``{"error": ..., "error_description": ...}``), not as problem+json, because
OAuth clients parse that shape.

The router reads ``app.state.client_registry`` (ClientRegistry) and ``app.state.token_issuer``
(TokenIssuer), both built in the app's lifespan.
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
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from gateway.adapters.client_files import KNOWN_SCOPES, ClientRecord, ClientRegistry
from gateway.adapters.tokens import TokenIssuer

log = logging.getLogger("gateway.api.routes.auth")

TOKEN_PATH = "/oauth/token"  # noqa: S105 - a URL path, not a secret
JWKS_PATH = "/.well-known/jwks.json"
METADATA_PATH = "/.well-known/oauth-authorization-server"
AUTH_METHODS = ("client_secret_basic", "client_secret_post")
GRANT_TYPE = "client_credentials"
_MAX_BODY = 8192
_FORM = "application/x-www-form-urlencoded"

router = APIRouter(tags=["identity"])


class _Client(ClientMixin):  # type: ignore[misc]  # authlib ships no type hints
    """authlib's view of a client; every secret check goes through the registry (constant cost)."""

    def __init__(self, client_id: str, registry: ClientRegistry) -> None:
        self.client_id = client_id
        self.record: ClientRecord | None = registry.get(client_id)
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
    """A Starlette token request as authlib expects it (body read beforehand: authlib is sync)."""

    def __init__(self, request: Request, params: Mapping[str, Sequence[str]]) -> None:
        super().__init__(method=request.method, uri=str(request.url), headers=request.headers)
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
        record: ClientRecord = self.client.record
        requested = (self.request.payload.scope or "").split()
        if not requested:
            self.granted = record.scopes  # no scope asked: everything the client is registered for
            return
        if not set(requested) <= record.scopes:
            raise InvalidScopeError("The requested scope exceeds the scopes registered for this client.")
        self.granted = frozenset(requested)

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        # Replaces authlib's version, which logs the whole token at debug level.
        record: ClientRecord = self.client.record
        issuer: TokenIssuer = self.server.token_issuer
        issued = issuer.issue(record.client_id, record.department, self.granted)
        log.info(
            "access token issued",
            extra={"client_id": record.client_id, "scope": issued.scope, "jti": issued.token_id},
        )
        headers: list[tuple[str, str]] = self.TOKEN_RESPONSE_HEADER
        return 200, issued.as_response(), headers


class GatewayAuthorizationServer(AuthorizationServer):  # type: ignore[misc]  # authlib ships no type hints
    """authlib's AuthorizationServer wired to the client registry, the token issuer and Starlette."""

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
        return request  # built by ``read_token_request`` before the call

    def handle_response(self, status: int, body: Any, headers: Sequence[tuple[str, str]]) -> Response:
        return JSONResponse(body, status_code=status, headers=dict(headers))

    def error_response(self, error: OAuth2Error) -> Response:
        """An RFC 6749 §5.2 error response."""
        response: Response = self.handle_error_response(None, error)
        return response


async def read_token_request(request: Request) -> _TokenRequest:
    """Parse a token request body strictly (RFC 6749 §3.2); raise authlib errors on a bad one."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != _FORM:
        raise InvalidRequestError(f"The token request body must be {_FORM}.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_BODY:  # stop reading: a token request is a few hundred bytes
            raise InvalidRequestError("The token request body is too large.")
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


@router.post(
    TOKEN_PATH,
    summary="Client-credentials token endpoint (RFC 6749 §4.4)",
    response_class=JSONResponse,
)
async def token(request: Request) -> Response:
    """Exchange client credentials for a JWT access token."""
    server = GatewayAuthorizationServer(request.app.state.client_registry, request.app.state.token_issuer)
    try:
        oauth_request = await read_token_request(request)
    except OAuth2Error as error:
        return server.error_response(error)
    # Secret verification is a deliberately slow scrypt: keep it off the event loop.
    response: Response = await run_in_threadpool(server.create_token_response, oauth_request)
    return response


@router.get(JWKS_PATH, summary="Public keys of the gateway's access tokens (RFC 7517)")
def jwks(request: Request) -> JSONResponse:
    """The token-signing public keys, current first, then previous ones kept after rotation."""
    issuer: TokenIssuer = request.app.state.token_issuer
    return JSONResponse(
        issuer.jwks(), media_type="application/jwk-set+json", headers={"Cache-Control": "max-age=60"}
    )


def authorization_server_metadata(issuer: str) -> dict[str, Any]:
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


@router.get(METADATA_PATH, summary="Authorization server metadata (RFC 8414)")
def metadata(request: Request) -> JSONResponse:
    """Where the token endpoint and keys are, and what the server supports."""
    issuer: TokenIssuer = request.app.state.token_issuer
    return JSONResponse(
        authorization_server_metadata(issuer.issuer), headers={"Cache-Control": "max-age=300"}
    )
