"""Liveness and readiness."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class LivenessResponse(BaseModel):
    """The process is up."""

    status: Literal["ok"]


class ReadinessResponse(BaseModel):
    """Whether every dependency answers, check by check."""

    status: Literal["ready", "not_ready"]
    checks: dict[str, bool]
