"""RFC 9457 problem details as the OpenAPI document describes them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from gateway.errors import AuthenticationFailed, GatewayError, error_classes

PROBLEM_JSON = "application/problem+json"


class FieldErrorResponse(BaseModel):
    """One invalid field of a request (the submitted value is never echoed)."""

    field: str
    message: str
    type: str


class ProblemResponse(BaseModel):
    """An error: ``code`` is the stable machine code a caller branches on; the rest explains it."""

    model_config = ConfigDict(extra="allow")  # refusals add their reasons and receipt

    type: str
    title: str
    status: int
    detail: str
    code: str
    field: str | None = None
    accepted: str | None = None
    clause: str | None = None
    errors: list[FieldErrorResponse] | None = None
    reasons: list[dict[str, Any]] | None = None
    receipt: dict[str, Any] | None = None


_DEFAULTS = {
    401: "missing or invalid token",
    403: "insufficient scope",
    404: "no such resource",
    409: "conflict with the resource's state",
    422: "invalid request",
    429: "too many requests; see Retry-After",
    500: "unexpected error; nothing was returned",
    503: "a dependency failed; nothing was returned",
}


def codes_with_status(status: int) -> list[str]:
    """The stable codes of every error class answered with ``status`` (from ``gateway.errors``)."""
    return sorted(
        cls.code
        for cls in error_classes()
        if (401 if issubclass(cls, AuthenticationFailed) else cls.status) == status
        and cls is not GatewayError
    )


def problems(*statuses: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status as problem+json, described (``s403="..."`` overrides)
    and listing the codes that status can carry, generated from the error classes."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in (*statuses, 500):
        codes = ", ".join(f"`{c}`" for c in codes_with_status(status))
        policy = " or a policy reason code" if status in (403, 422) else ""
        out[status] = {
            "description": descriptions.get(f"s{status}", _DEFAULTS[status])
            + f" (problem+json; `code`: {codes}{policy})",
            "model": ProblemResponse,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemResponse"}}},
        }
    return out
