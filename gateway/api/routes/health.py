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
    """Ready when the policy engine, the ledger, the grant store and every source answer; 503 otherwise."""
    report = readiness()
    failed = {name: code for name, code in report.items() if code is not None}
    ok = not failed
    body = ReadinessResponse(
        status="ready" if ok else "not_ready",
        checks={name: code is None for name, code in report.items()},
        failed=failed,
    )
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
