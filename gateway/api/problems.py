"""RFC 9457 problem details: the only place GatewayError meets HTTP."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.errors import (
    AuthenticationFailed,
    GatewayError,
    HttpError,
    InternalError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PolicyDenied,
)

PROBLEM_JSON = "application/problem+json"
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
    return problem_response(status, exc.problem_code, exc.title, exc.detail, extra)


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


def install_problem_handlers(app: FastAPI) -> None:
    """Register handlers so every error leaves as problem+json, never as a stack trace."""

    async def gateway_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, GatewayError)  # noqa: S101 - registered for GatewayError only
        log.info("request refused", extra={"code": exc.problem_code, "status": exc.status})
        return error_response(exc)

    async def validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)  # noqa: S101
        errors = [
            # Never echo the submitted value: it may be a personal identifier.
            {"field": _location(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
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
