"""RFC 9457 problem details: the only place GatewayError meets HTTP."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.api.schemas.problems import PROBLEM_JSON
from gateway.errors import (
    AuthenticationFailed,
    GatewayError,
    HttpError,
    IdentifierInText,
    InternalError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PolicyDenied,
    TokenEndpointBusy,
    TokenThrottled,
)

TYPE_BASE = "urn:credit-gateway:problem:"
log = logging.getLogger("gateway.api")


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


def install_problem_handlers(app: FastAPI) -> None:
    """Register handlers so every error leaves as problem+json, never as a stack trace."""

    async def gateway_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, GatewayError)  # noqa: S101 - registered for GatewayError only
        log.info("request refused", extra={"code": exc.problem_code, "status": exc.status})
        return error_response(exc)

    names: list[frozenset[str]] = []  # computed on first use, once every router is included

    async def validation_error(_: Request, exc: Exception) -> JSONResponse:
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
        first = errors[0] if errors else {"field": "body", "message": "invalid"}
        return problem_response(
            InvalidRequest.status,
            InvalidRequest.code,
            InvalidRequest.title,
            f"{first['field']}: {first['message']}",
            {"field": first["field"], "errors": errors},
        )

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)  # noqa: S101
        code = {404: NotFound.code, 405: MethodNotAllowed.code}.get(exc.status_code, HttpError.code)
        return problem_response(exc.status_code, code, str(exc.detail), str(exc.detail))

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
