"""The baseline for bench/query_bench.py: a bare FastAPI endpoint doing the gateway's source reads.

Same framework, same server (served by ``gateway.cli.serve`` like the gateway), same SQLite file, and
for each requested item the statement the gateway runs for the demo's query (the columns released for
``admin_licensing_review``, ``subject IN``, the row filters), answered in the gateway's result shape;
but no authentication, policy, desensitization or ledger. Configured by ``BARE_SOURCE_URL``.
"""

from __future__ import annotations

import os
from datetime import date
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import MetaData, Table, create_engine, select

engine = create_engine(os.environ["BARE_SOURCE_URL"], connect_args={"check_same_thread": False})
metadata = MetaData()
ITEMS: dict[str, tuple[Table, tuple[str, ...], bool]] = {
    # item -> (table, released columns, whether repaired/removed/old decisions are filtered out)
    "market.enterprise_registration": (
        Table("enterprises", metadata, autoload_with=engine),
        ("uscc", "name", "legal_rep_name", "registered_address", "established_on", "status"),
        False,
    ),
    "market.admin_penalty": (
        Table("admin_penalties", metadata, autoload_with=engine),
        ("uscc", "decision_number", "decided_on", "violation", "penalty", "basis_document"),
        True,
    ),
}
DISCLOSURE_YEARS = 3
app = FastAPI()


def _read(item_id: str, subjects: list[str]) -> list[dict[str, Any]]:
    table, columns, filtered = ITEMS[item_id]
    stmt = select(table.c.uscc.label("_subject"), *(table.c[c] for c in columns)).where(
        table.c.uscc.in_(subjects)
    )
    if filtered:
        today = date.today()
        cutoff = today.replace(year=today.year - DISCLOSURE_YEARS, day=min(today.day, 28))
        stmt = stmt.where(
            table.c.repaired_on.is_(None), table.c.removed_on.is_(None), table.c.decided_on >= cutoff
        )
    with engine.connect() as conn:
        return [
            {k: (str(v) if v is not None else None) for k, v in r._mapping.items()}
            for r in conn.execute(stmt.order_by(*table.primary_key.columns).limit(1000))
        ]


@app.post("/v1/queries")
def query(body: dict[str, Any]) -> JSONResponse:
    subjects = [str(s["value"]).upper() for s in body["subjects"]]
    results: list[dict[str, Any]] = []
    for item in body["items"]:
        item_id = item if isinstance(item, str) else item["id"]
        rows = _read(item_id, subjects)
        for i, subject in enumerate(subjects):
            mine = [r for r in rows if r["_subject"] == subject]
            for r in mine:
                del r["_subject"]
            results.append({"item": item_id, "subject": i, "rows": mine})
    return JSONResponse({"results": results})
