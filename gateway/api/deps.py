"""Typed dependencies of the routes: the services, the authenticated principal and scope checks.

The composition root builds one ``Services`` at startup; the app's lifespan keeps it on the app and
``services`` is the only reader of it. Every route reaches what it needs through the ``...Dep``
aliases below, so a test can replace any one of them with ``app.dependency_overrides[query_service]``
(or ``[authenticator]``, ...) without building the rest of a deployment.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import OAuth2

from gateway.domain.catalog import Catalog
from gateway.errors import ConfigurationError, InsufficientScope, MissingToken
from gateway.ports import Authenticator as Authenticator
from gateway.ports import AuthorizationServer
from gateway.ports import Principal as Principal
from gateway.services.audit import AuditService
from gateway.services.console_auth import ConsoleAuth
from gateway.services.disclosure import DisclosureService
from gateway.services.grants import GrantService
from gateway.services.lists import ListService
from gateway.services.query import QueryService


@dataclass(frozen=True, slots=True)
class QueryLimits:
    """Request limits the deployment sets (subjects per query)."""

    max_subjects: int


@dataclass(frozen=True, slots=True)
class Services:
    """Everything the routes serve with, built once by the composition root."""

    catalog: Catalog
    queries: QueryService
    grants: GrantService
    audit: AuditService
    authenticator: Authenticator
    authorization_server: AuthorizationServer
    readiness: Callable[[], dict[str, bool]]
    limits: QueryLimits
    console_auth: ConsoleAuth | None = None
    console_views: object | None = None  # gateway.console.views.ConsoleViews (the console sits above the api)
    lists: ListService | None = None
    disclosure: DisclosureService | None = None


def services(request: Request) -> Services:
    """The services the app was started with; fail closed when it was started without any."""
    found = getattr(request.app.state, "services", None)
    if not isinstance(found, Services):
        raise ConfigurationError("the gateway was started without its services")
    return found


ServicesDep = Annotated[Services, Depends(services)]


def catalog(s: ServicesDep) -> Catalog:
    """The published catalog."""
    return s.catalog


def query_service(s: ServicesDep) -> QueryService:
    """The query use case."""
    return s.queries


def grant_service(s: ServicesDep) -> GrantService:
    """The grant use cases."""
    return s.grants


def audit_service(s: ServicesDep) -> AuditService:
    """The auditor's use cases."""
    return s.audit


def authenticator(s: ServicesDep) -> Authenticator:
    """Turns bearer tokens into principals."""
    return s.authenticator


def authorization_server(s: ServicesDep) -> AuthorizationServer:
    """The token endpoint, its keys and its metadata."""
    return s.authorization_server


def query_limits(s: ServicesDep) -> QueryLimits:
    """The deployment's request limits."""
    return s.limits


def list_service(s: ServicesDep) -> ListService:
    """The listing procedure's use cases; fail closed when the gateway was built without them."""
    if s.lists is None:
        raise ConfigurationError("the gateway was started without the listing procedure")
    return s.lists


def readiness(s: ServicesDep) -> Callable[[], dict[str, bool]]:
    """The readiness checks."""
    return s.readiness


CatalogDep = Annotated[Catalog, Depends(catalog)]
QueryServiceDep = Annotated[QueryService, Depends(query_service)]
GrantServiceDep = Annotated[GrantService, Depends(grant_service)]
AuditServiceDep = Annotated[AuditService, Depends(audit_service)]
AuthenticatorDep = Annotated[Authenticator, Depends(authenticator)]
AuthorizationServerDep = Annotated[AuthorizationServer, Depends(authorization_server)]
QueryLimitsDep = Annotated[QueryLimits, Depends(query_limits)]


def disclosure_service(s: ServicesDep) -> DisclosureService:
    """Public disclosure; fail closed when the gateway was built without it."""
    if s.disclosure is None:
        raise ConfigurationError("the gateway was started without public disclosure")
    return s.disclosure


DisclosureServiceDep = Annotated[DisclosureService, Depends(disclosure_service)]
ListServiceDep = Annotated[ListService, Depends(list_service)]
ReadinessDep = Annotated[Callable[[], dict[str, bool]], Depends(readiness)]


SCOPES = {
    "query": "run queries (POST /v1/queries)",
    "grants:read": "read authorization grants",
    "grants:write": "register and revoke authorization grants (includes grants:read)",
    "records:repair": "register credit repairs",
    "lists:write": "take the steps of the listing procedure for a department's seriously-untrustworthy lists",
    "audit:read": "browse, prove and export the ledger; subject reports",
    "audit:review": "review ledger entries",
    "policy:admin": "administer policies",
}
"""The scopes the OpenAPI document offers; a test holds them equal to the scopes clients may be given."""

oauth2_scheme = OAuth2(
    flows=OAuthFlows(clientCredentials=OAuthFlowClientCredentials(tokenUrl="/oauth/token", scopes=SCOPES)),
    scheme_name="oauth2",
    description="Client credentials (RFC 6749 §4.4) for a bearer JWT access token.",
    auto_error=False,  # a missing token is our own 401 problem, not FastAPI's
)


def bearer_token(authorization: Annotated[str | None, Depends(oauth2_scheme)]) -> str:
    """Extract the bearer token from the Authorization header (RFC 6750 §2.1)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise MissingToken("a bearer token is required")
    return token.strip()


def current_principal(
    token: Annotated[str, Depends(bearer_token)], authenticator: AuthenticatorDep
) -> Principal:
    """Authenticate the request with the authenticator built at startup."""
    return authenticator.authenticate(token)


def require_scope(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that authenticates and then insists on ``scope``."""

    # A default, not an Annotated type: the annotation is a string and could not see ``scope``.
    authenticated = Security(current_principal, scopes=[scope])

    async def check(principal: Principal = authenticated) -> Principal:
        # async: a set lookup needs no thread-pool hop (current_principal stays sync: JWKS fetches block)
        if scope not in principal.scopes:
            raise InsufficientScope(f"this endpoint needs scope {scope!r}", accepted=scope)
        return principal

    return check


PrincipalDep = Annotated[Principal, Depends(current_principal)]
