"""Typed dependencies of the routes: the services, the authenticated principal and scope checks.

The composition root builds one ``Services`` at startup; the app's lifespan keeps it on the app and
``services`` is the only reader of it. Every route reaches what it needs through the ``...Dep``
aliases below, so a test can replace any one of them with ``app.dependency_overrides[query_service]``
(or ``[authenticator]``, ...) without building the rest of a deployment.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Request, Security
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import OAuth2

from gateway.domain.catalog import Catalog
from gateway.errors import ConfigurationError, InsufficientScope, MissingToken
from gateway.ports import Authenticator as Authenticator
from gateway.ports import AuthorizationServer, Metrics
from gateway.ports import Principal as Principal
from gateway.services.audit import AuditService
from gateway.services.console_auth import ConsoleAuth
from gateway.services.disclosure import DisclosureService
from gateway.services.grants import GrantService
from gateway.services.key_handover import KeyHandoverService
from gateway.services.lists import ListService
from gateway.services.notifications import NotificationService
from gateway.services.policy_workbench import PolicyWorkbench
from gateway.services.query import QueryService
from gateway.services.refusals import RefusalRegistry
from gateway.services.repairs import RepairService


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
    readiness: Callable[[], dict[str, str | None]]  # check -> None when it passes, else an error code
    limits: QueryLimits
    console_auth: ConsoleAuth | None = None
    console_views: object | None = None  # gateway.console.views.ConsoleViews (the console sits above the api)
    # Registers the refusals of registering endpoints that no use case registered; without it such a
    # refusal is answered 503 ledger_unavailable (fail closed).
    refusals: RefusalRegistry | None = None
    key_handover: KeyHandoverService | None = None
    metrics: Metrics | None = None  # read by the metrics middleware; the token throttle counts through it
    workbench: PolicyWorkbench | None = None
    repairs: RepairService | None = None
    notifications: NotificationService | None = None
    lists: ListService | None = None
    disclosure: DisclosureService | None = None


def services(request: Request) -> Services:
    """The services the app was started with; fail closed when it was started without any."""
    found = getattr(request.app.state, "services", None)
    if not isinstance(found, Services):
        raise ConfigurationError("the gateway was started without its services")
    return found


async def _services(request: Request) -> Services:
    # The lookups below are async: FastAPI runs a plain ``def`` dependency on the thread pool, and a
    # hop there and back costs more than these lookups many times over. authenticator and
    # refusal_registry stay plain: gateway.api.problems.resolve calls them directly.
    return services(request)


ServicesDep = Annotated[Services, Depends(_services)]


async def catalog(s: ServicesDep) -> Catalog:
    """The published catalog."""
    return s.catalog


async def query_service(s: ServicesDep) -> QueryService:
    """The query use case."""
    return s.queries


async def grant_service(s: ServicesDep) -> GrantService:
    """The grant use cases."""
    return s.grants


async def audit_service(s: ServicesDep) -> AuditService:
    """The auditor's use cases."""
    return s.audit


def authenticator(s: ServicesDep) -> Authenticator:
    """Turns bearer tokens into principals."""
    return s.authenticator


async def authorization_server(s: ServicesDep) -> AuthorizationServer:
    """The token endpoint, its keys and its metadata."""
    return s.authorization_server


async def query_limits(s: ServicesDep) -> QueryLimits:
    """The deployment's request limits."""
    return s.limits


def refusal_registry(s: ServicesDep) -> RefusalRegistry | None:
    """Registers refusals of registering endpoints (read by the problem handlers, which run outside
    FastAPI's dependency injection: ``gateway.api.problems.resolve`` honours overrides of it)."""
    return s.refusals


async def list_service(s: ServicesDep) -> ListService:
    """The listing procedure's use cases; fail closed when the gateway was built without them."""
    if s.lists is None:
        raise ConfigurationError("the gateway was started without the listing procedure")
    return s.lists


async def readiness(s: ServicesDep) -> Callable[[], dict[str, str | None]]:
    """The readiness checks."""
    return s.readiness


async def key_handover_service(s: ServicesDep) -> KeyHandoverService:
    """The field-key hand-over; fail closed when the deployment has none."""
    if s.key_handover is None:
        raise ConfigurationError("the gateway was started without the field-key hand-over")
    return s.key_handover


async def policy_workbench(s: ServicesDep) -> PolicyWorkbench:
    """The policy workbench use cases."""
    if s.workbench is None:
        raise ConfigurationError("the gateway was started without the policy workbench")
    return s.workbench


async def repair_service(s: ServicesDep) -> RepairService:
    """The credit repair use cases; fail closed when the gateway was built without them."""
    if s.repairs is None:
        raise ConfigurationError("credit repair is not configured on this gateway")
    return s.repairs


async def notification_service(s: ServicesDep) -> NotificationService:
    """The repair notifications (feed, acknowledgements, webhooks, the outbox)."""
    if s.notifications is None:
        raise ConfigurationError("repair notifications are not configured on this gateway")
    return s.notifications


CatalogDep = Annotated[Catalog, Depends(catalog)]
PolicyWorkbenchDep = Annotated[PolicyWorkbench, Depends(policy_workbench)]
QueryServiceDep = Annotated[QueryService, Depends(query_service)]
GrantServiceDep = Annotated[GrantService, Depends(grant_service)]
AuditServiceDep = Annotated[AuditService, Depends(audit_service)]
AuthenticatorDep = Annotated[Authenticator, Depends(authenticator)]
AuthorizationServerDep = Annotated[AuthorizationServer, Depends(authorization_server)]
QueryLimitsDep = Annotated[QueryLimits, Depends(query_limits)]
ReadinessDep = Annotated[Callable[[], dict[str, str | None]], Depends(readiness)]
KeyHandoverDep = Annotated[KeyHandoverService, Depends(key_handover_service)]
RepairServiceDep = Annotated[RepairService, Depends(repair_service)]
NotificationServiceDep = Annotated[NotificationService, Depends(notification_service)]


async def disclosure_service(s: ServicesDep) -> DisclosureService:
    """Public disclosure; fail closed when the gateway was built without it."""
    if s.disclosure is None:
        raise ConfigurationError("the gateway was started without public disclosure")
    return s.disclosure


DisclosureServiceDep = Annotated[DisclosureService, Depends(disclosure_service)]
ListServiceDep = Annotated[ListService, Depends(list_service)]


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


async def bearer_token(authorization: Annotated[str | None, Depends(oauth2_scheme)]) -> str:
    """Extract the bearer token from the Authorization header (RFC 6750 §2.1)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise MissingToken("a bearer token is required")
    return token.strip()


def current_principal(
    request: Request, token: Annotated[str, Depends(bearer_token)], authenticator: AuthenticatorDep
) -> Principal:
    """Authenticate the request with the authenticator built at startup.

    The principal is kept on the request so that a refusal raised after this point (an invalid
    body, a missing scope) can be registered under its requester (``gateway.api.problems``).
    """
    principal = authenticator.authenticate(token)
    request.state.principal = principal
    return principal


REGISTERING_ENDPOINTS: set[Callable[..., object]] = set()
"""Route functions whose outcome is registered in the ledger; their refusals are registered too."""

F = TypeVar("F", bound=Callable[..., object])


def registering(endpoint: F) -> F:
    """Mark a route function as registering: every refusal of an authenticated request to it is
    registered (kind ``invalid``) before it is answered, validation refusals included."""
    REGISTERING_ENDPOINTS.add(endpoint)
    return endpoint


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
