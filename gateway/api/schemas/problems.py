"""RFC 9457 problem details as the OpenAPI document describes them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

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
    500: "unexpected error; nothing was returned",
    503: "a dependency failed; nothing was returned",
}


def problems(*statuses: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status as problem+json, described (``s403="..."`` overrides)."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in (*statuses, 500):
        out[status] = {
            "description": descriptions.get(f"s{status}", _DEFAULTS[status]) + " (problem+json)",
            "model": ProblemResponse,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemResponse"}}},
        }
    return out
