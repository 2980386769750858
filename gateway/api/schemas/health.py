"""Liveness and readiness."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class LivenessResponse(BaseModel):
    """The process is up."""

    status: Literal["ok"]


class ReadinessResponse(BaseModel):
    """Whether every dependency answers, check by check; what failed is named by a stable code only."""

    status: Literal["ready", "not_ready"]
    checks: dict[str, bool] = Field(
        description="policy_engine, ledger, grant_store and source:<catalog database id>: true if it answers"
    )
    failed: dict[str, str] = Field(
        default_factory=dict,
        description="each failing dependency and the error code of its failure (never a message)",
    )
