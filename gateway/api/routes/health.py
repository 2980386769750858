"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from gateway.api.deps import ReadinessDep
from gateway.api.schemas.health import LivenessResponse, ReadinessResponse
from gateway.api.schemas.problems import problems

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=LivenessResponse, responses=problems())
def healthz() -> LivenessResponse:
    """The process is up."""
    return LivenessResponse(status="ok")


@router.get(
    "/readyz",
    response_model=ReadinessResponse,
    responses={
        **problems(),
        503: {"model": ReadinessResponse, "description": "a dependency does not answer"},
    },
)
def readyz(readiness: ReadinessDep) -> JSONResponse:
    """Ready when the policy engine answers and the ledger is reachable; 503 otherwise."""
    checks = readiness()
    ok = all(checks.values())
    body = ReadinessResponse(status="ready" if ok else "not_ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
