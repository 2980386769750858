"""A tiny app for the ledger load test: one ledger entry per request, 200 only after the append.

Run under uvicorn with several workers (``--factory tests.support.ledger_app:create_app``); every
worker opens its own SqlLedger on the database named by the environment:

    LEDGER_TEST_URL     database URL
    LEDGER_TEST_SCHEMA  PostgreSQL schema (empty for none)
    LEDGER_TEST_KEYS    keystore directory
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from gateway.adapters.key_files import FileKeyStore
from gateway.adapters.sql.ledger import SqlLedger
from gateway.api.problems import install_problem_handlers
from tests.support.ledger import ORIGIN, sample_record


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class QueryRequest(BaseModel):
    n: int


def create_app() -> FastAPI:
    keystore = FileKeyStore(Path(os.environ["LEDGER_TEST_KEYS"]))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.ledger = SqlLedger(
            os.environ["LEDGER_TEST_URL"],
            keystore,
            ORIGIN,
            SystemClock(),
            schema=os.environ.get("LEDGER_TEST_SCHEMA") or None,
            checkpoint_every=100,
        )
        yield
        app.state.ledger.close()

    app = FastAPI(lifespan=lifespan)
    install_problem_handlers(app)
    secret = keystore.secret("commitment")

    @app.get("/pid")
    def pid() -> dict[str, int]:
        return {"pid": os.getpid()}

    @app.post("/query")
    def query(body: QueryRequest) -> dict[str, Any]:
        record = replace(sample_record(body.n, secret), request_id=f"load-{body.n}")
        receipt = app.state.ledger.append(record)  # LedgerError -> 503, nothing else is sent
        return {**receipt.as_dict(), "pid": os.getpid()}

    return app
