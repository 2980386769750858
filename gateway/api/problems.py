"""RFC 9457 problem details: the only place GatewayError meets HTTP."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from gateway.api.schemas.problems import PROBLEM_JSON
from gateway.errors import (
    AuthenticationFailed,
    GatewayError,
    GrantRefused,
    HttpError,
    IdentifierInText,
    InternalError,
    InvalidRequest,
    LedgerError,
    MethodNotAllowed,
    NotFound,
    PolicyDenied,
    RequestTooLarge,
    TokenEndpointBusy,
    TokenThrottled,
)
from gateway.ports import Actor, Principal

TYPE_BASE = "urn:credit-gateway:problem:"
log = logging.getLogger("gateway.api")
T = TypeVar("T")


def problem_response(
    status: int, code: str, title: str, detail: str, extra: dict[str, Any] | None = None
) -> JSONResponse:
    """Build a problem+json response; ``code`` is the stable machine code callers branch on."""
    body: dict[str, Any] = {
        "type": TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    body.update({k: v for k, v in (extra or {}).items() if v is not None})
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = f'Bearer error="invalid_token", error_description="{code}"'
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def error_response(exc: GatewayError) -> JSONResponse:
    """Map a GatewayError to its problem response."""
    extra: dict[str, Any] = {"field": exc.field, "accepted": exc.accepted, "clause": exc.clause, **exc.extra}
    if isinstance(exc, PolicyDenied):
        extra["reasons"] = exc.reasons
        extra["receipt"] = exc.receipt
    status = exc.status
    if isinstance(exc, AuthenticationFailed):
        status = 401
    response = problem_response(status, exc.problem_code, exc.title, exc.detail, extra)
    if isinstance(exc, TokenThrottled | TokenEndpointBusy):
        response.headers["Retry-After"] = str(exc.retry_after_s)  # RFC 9110 §10.2.3, in seconds
    return response


# How pydantic names the member of a union it tried (``str``, ``constrained-str``,
# ``function-after[refuse_identifier(), constrained-str]``): no input in it, and no help to a caller.
_UNION_MEMBER = re.compile(r"(?:function-[a-z]+\[.*\]|constrained-[a-z]+|str|int|float|bool)")
_SOURCES = ("body", "query", "path", "header", "cookie")


def schema_names(app: FastAPI) -> frozenset[str]:
    """Every parameter, property and schema name of the app's OpenAPI document: the only words a field
    path may hold (the document is built once and cached by FastAPI)."""
    document = app.openapi()
    names: set[str] = set()
    for path in document.get("paths", {}).values():
        for operation in path.values():
            if isinstance(operation, dict):
                names.update(p["name"] for p in operation.get("parameters", []) if "name" in p)
    for name, schema in document.get("components", {}).get("schemas", {}).items():
        names.add(name)
        names.add(str(schema.get("title", name)))
        names.update(schema.get("properties", {}))
    return frozenset(names)


def location(loc: Sequence[Any], error_type: str, names: frozenset[str]) -> str:
    """A field path of positions and schema names; what a caller named (a JSON key, a dict key) never.

    An unknown key is reported at the object that holds it; a submitted dict key becomes ``*``.
    """
    parts = list(loc)
    if parts and parts[0] in _SOURCES:
        parts = parts[1:]
    if error_type == "extra_forbidden" and parts:
        parts = parts[:-1]  # the unknown key itself is whatever the caller wrote
    out: list[str] = []
    for part in parts:
        if isinstance(part, int):
            out.append(str(part))
        elif part in names:
            out.append(part)
        elif part == "[key]" or _UNION_MEMBER.fullmatch(str(part)):
            continue
        else:
            out.append("*")
    return ".".join(out) or "body"


def registering_endpoint(request: Request) -> str | None:
    """``METHOD /path/{template}`` of the registering route this request reached, else None.

    The template, never the path sent: a path parameter is whatever the caller wrote.
    """
    from gateway.api.deps import REGISTERING_ENDPOINTS

    route = request.scope.get("route")
    endpoint = getattr(route, "endpoint", None)
    if endpoint is None or endpoint not in REGISTERING_ENDPOINTS:
        return None
    return f"{request.method} {getattr(route, 'path', '')}"


def resolve(request: Request, dependency: Callable[[Any], T]) -> T | None:
    """What a services dependency gives for this request, outside FastAPI's injection: a test's
    ``app.dependency_overrides`` entry if there is one, else the dependency on the app's services."""
    from gateway.api.deps import Services

    override = request.app.dependency_overrides.get(dependency)
    if override is not None:
        return cast(T, override())
    services = getattr(request.app.state, "services", None)
    return dependency(services) if isinstance(services, Services) else None


async def _requester(request: Request) -> Principal | None:
    """Who sent the request: the principal the route's dependencies authenticated, or (when the
    request was refused before they ran, e.g. a body that is not JSON) its bearer token checked now."""
    from gateway.api import deps

    found = getattr(request.state, "principal", None)
    if isinstance(found, Principal):
        return found
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    authenticator = resolve(request, deps.authenticator)
    if authenticator is None or scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        principal: Principal = await run_in_threadpool(authenticator.authenticate, token.strip())
    except Exception:  # not authenticated: such requests are not registered
        return None
    return principal


async def register_refusal(request: Request, code: str, field: str | None) -> JSONResponse | None:
    """Register a refusal of an authenticated request to a registering endpoint.

    None when it is registered (or need not be); otherwise the 503 to send instead of the refusal,
    since a refusal that could not be registered is not answered (fail closed).
    """
    from gateway.api import deps

    endpoint = registering_endpoint(request)
    if endpoint is None:
        return None
    principal = await _requester(request)
    if principal is None:
        return None
    failure = LedgerError("the refused request could not be registered; nothing else was done")
    try:
        refusals = resolve(request, deps.refusal_registry)
        if refusals is None:
            raise LedgerError("no refusal registry")
        actor = Actor(principal.client_id, principal.department)
        await run_in_threadpool(refusals.register_invalid, actor, endpoint, code, field)
    except Exception as exc:
        log.error("refusal not registered", extra={"code": code, "error_type": type(exc).__name__})
        return error_response(failure)
    return None


def _registered_by_its_use_case(exc: GatewayError) -> bool:
    # Policy refusals are registered (with their reasons) before they are raised, and so is any
    # error the query path registered as a failure; an authentication failure has no requester.
    return (
        isinstance(exc, (PolicyDenied, GrantRefused, AuthenticationFailed))
        or exc.registered
        or exc.status >= 500
    )


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Every method some route of the app serves at the request's path, found by asking the router
    as it would route that method (included routers do not list their routes' methods)."""
    allowed = []
    for method in _METHODS:
        scope = {**request.scope, "type": "http", "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in app.router.routes):
            allowed.append(method)
    return allowed


def install_problem_handlers(app: FastAPI) -> None:
    """Register handlers so every error leaves as problem+json, never as a stack trace."""

    async def gateway_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, GatewayError)  # noqa: S101 - registered for GatewayError only
        if not _registered_by_its_use_case(exc):
            failed = await register_refusal(request, exc.problem_code, exc.field)
            if failed is not None:
                return failed
        log.info("request refused", extra={"code": exc.problem_code, "status": exc.status})
        return error_response(exc)

    names: list[frozenset[str]] = []  # computed on first use, once every router is included

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)  # noqa: S101
        if not names:
            names.append(schema_names(app))
        errors = [
            # Never echo the submitted value (it may be a personal identifier), nor a key it used.
            {
                "field": location(e.get("loc", ()), e.get("type", ""), names[0]),
                "message": e.get("msg", ""),
                "type": e.get("type", ""),
            }
            for e in exc.errors()
        ]
        found = [e for e in errors if e["type"] == IdentifierInText.code]
        first = found[0] if found else errors[0] if errors else {"field": "body", "message": "invalid"}
        code = IdentifierInText.code if found else InvalidRequest.code
        failed = await register_refusal(request, code, first["field"])
        if failed is not None:
            return failed
        if found:
            # The refusal that matters: the field would have carried an identifier into a record or log.
            log.info("request refused", extra={"code": IdentifierInText.code, "status": 422})
            return problem_response(
                IdentifierInText.status,
                IdentifierInText.code,
                IdentifierInText.title,
                f"{found[0]['field']}: {found[0]['message']}",
                {"field": found[0]["field"], "errors": found},
            )
        return problem_response(
            InvalidRequest.status,
            InvalidRequest.code,
            InvalidRequest.title,
            f"{first['field']}: {first['message']}",
            {"field": first["field"], "errors": errors},
        )

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)  # noqa: S101
        code = {404: NotFound.code, 405: MethodNotAllowed.code, 413: RequestTooLarge.code}.get(
            exc.status_code, HttpError.code
        )
        response = problem_response(exc.status_code, code, str(exc.detail), str(exc.detail))
        if exc.status_code == 405:
            # RFC 9110 §15.5.6: a 405 lists what the path does accept. Starlette names the methods of
            # the one route it matched; a path served by several routes accepts all of theirs.
            allowed = allowed_methods(app, request)
            fallback = (exc.headers or {}).get("Allow", "")
            response.headers["Allow"] = ", ".join(allowed) if allowed else fallback
        return response

    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error", extra={"error_type": type(exc).__name__})
        return problem_response(
            InternalError.status,
            InternalError.code,
            InternalError.title,
            "the request could not be completed",
        )

    app.add_exception_handler(GatewayError, gateway_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
