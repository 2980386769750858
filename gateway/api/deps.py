"""Dependencies shared by the routers: the authenticated principal and scope checks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from gateway.errors import InsufficientScope, MissingToken
from gateway.ports import Authenticator as Authenticator
from gateway.ports import Principal as Principal


def bearer_token(request: Request) -> str:
    """Extract the bearer token from the Authorization header (RFC 6750 §2.1)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise MissingToken("a bearer token is required")
    return token.strip()


def current_principal(request: Request) -> Principal:
    """Authenticate the request with the authenticator built in the app's lifespan."""
    authenticator: Authenticator = request.app.state.authenticator
    return authenticator.authenticate(bearer_token(request))


def require_scope(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that authenticates and then insists on ``scope``."""

    async def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        # async: a set lookup needs no thread-pool hop (current_principal stays sync: JWKS fetches block)
        if scope not in principal.scopes:
            raise InsufficientScope(f"this endpoint needs scope {scope!r}", accepted=scope)
        return principal

    return check


PrincipalDep = Annotated[Principal, Depends(current_principal)]
