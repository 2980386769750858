"""OAuth 2.0 endpoints: the client-credentials token endpoint, the JWKS and the server metadata.

The OAuth work (client authentication, scope rules, token minting, RFC 6749 error bodies) is the
AuthorizationServer port's; this router only reads the request body, bounded, and sends the reply.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from gateway.api.deps import AuthorizationServerDep
from gateway.api.schemas.problems import problems
from gateway.api.schemas.tokens import (
    AuthorizationServerMetadataResponse,
    JwkSetResponse,
    OAuthErrorResponse,
    TokenResponse,
)
from gateway.ports import TokenHttpRequest

TOKEN_PATH = "/oauth/token"  # noqa: S105 - a URL path, not a secret
JWKS_PATH = "/.well-known/jwks.json"
METADATA_PATH = "/.well-known/oauth-authorization-server"
MAX_TOKEN_BODY = 8192  # a token request is a few hundred bytes
_FORM = "application/x-www-form-urlencoded"

router = APIRouter(tags=["identity"])


async def _bounded_body(request: Request) -> bytes | None:
    """The request body, or None as soon as it grows past MAX_TOKEN_BODY (stop reading then)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_TOKEN_BODY:
            return None
    return body


@router.post(
    TOKEN_PATH,
    summary="Client-credentials token endpoint (RFC 6749 §4.4)",
    response_model=TokenResponse,
    responses={
        400: {
            "model": OAuthErrorResponse,
            "description": "invalid request, grant type or scope (RFC 6749 §5.2)",
        },
        401: {"model": OAuthErrorResponse, "description": "client authentication failed (RFC 6749 §5.2)"},
        **problems(
            422,
            429,
            503,
            s422="a form field holds a personal identifier",
            s429="the client or the address is locked out after failures; see Retry-After",
            s503="every secret-hashing slot is taken, or the throttle is unreachable; see Retry-After",
        ),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                _FORM: {
                    "schema": {
                        "type": "object",
                        "required": ["grant_type"],
                        "properties": {
                            "grant_type": {"type": "string", "enum": ["client_credentials"]},
                            "scope": {"type": "string"},
                            "client_id": {"type": "string"},
                            "client_secret": {"type": "string"},
                        },
                    }
                }
            },
        }
    },
)
async def token(request: Request, server: AuthorizationServerDep) -> JSONResponse:
    """Exchange client credentials for a JWT access token."""
    http_request = TokenHttpRequest(
        method=request.method,
        url=str(request.url),
        headers=request.headers,
        body=await _bounded_body(request),
        client_address=request.client.host if request.client else None,
    )
    # The server hashes secrets on its own bounded pool, never on the threads queries use.
    reply = await server.token(http_request)
    return JSONResponse(reply.body, status_code=reply.status, headers=dict(reply.headers))


@router.get(
    JWKS_PATH,
    summary="Public keys of the gateway's access tokens (RFC 7517)",
    response_model=JwkSetResponse,
    responses={200: {"content": {"application/jwk-set+json": {}}}},
)
def jwks(server: AuthorizationServerDep) -> JSONResponse:
    """The token-signing public keys, current first, then previous ones kept after rotation."""
    return JSONResponse(
        server.jwks(), media_type="application/jwk-set+json", headers={"Cache-Control": "max-age=60"}
    )


@router.get(
    METADATA_PATH,
    summary="Authorization server metadata (RFC 8414)",
    response_model=AuthorizationServerMetadataResponse,
)
def metadata(server: AuthorizationServerDep) -> JSONResponse:
    """Where the token endpoint and keys are, and what the server supports."""
    return JSONResponse(server.metadata(), headers={"Cache-Control": "max-age=300"})
