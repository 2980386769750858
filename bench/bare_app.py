"""The baseline for bench/query_bench.py: a bare FastAPI endpoint doing the gateway's source read.

Same framework, same server, same SQLite file, same statement shape (selected columns, subject IN,
the row filters), but no authentication, policy, desensitization or ledger. Configured by
``BARE_SOURCE_URL``.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI
from sqlalchemy import MetaData, Table, create_engine, select

engine = create_engine(os.environ["BARE_SOURCE_URL"], connect_args={"check_same_thread": False})
penalties = Table("admin_penalties", MetaData(), autoload_with=engine)
COLUMNS = ("uscc", "decision_number", "decided_on", "violation", "penalty", "basis_document")
app = FastAPI()


@app.post("/v1/queries")
def query(body: dict[str, Any]) -> dict[str, Any]:
    subjects = [s["value"] for s in body["subjects"]]
    stmt = (
        select(*(penalties.c[c] for c in COLUMNS))
        .where(penalties.c.uscc.in_(subjects))
        .where(penalties.c.repaired_on.is_(None))
        .where(penalties.c.removed_on.is_(None))
        .order_by(penalties.c.id)
        .limit(1000)
    )
    with engine.connect() as conn:
        rows = [
            {k: (str(v) if v is not None else None) for k, v in r._mapping.items()}
            for r in conn.execute(stmt)
        ]
    return {"results": rows}
