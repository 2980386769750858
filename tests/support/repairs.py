"""Helpers for the credit repair tests: find a record's key in a demo source, apply, decide, query."""

from __future__ import annotations

import functools
import hashlib
import hmac
import http.server
import json
import secrets
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import sqlalchemy as sa

from gateway.adapters.policy.catalog_files import load_catalog
from gateway.demo.data import DemoSubject
from tests.support.gateway_app import ROOT, Deployment

# item -> (source database, table, subject column, released field that names the record, purpose)
RECORDS = {
    "market.admin_penalty": (
        "market",
        "admin_penalties",
        "uscc",
        "decision_number",
        "admin_licensing_review",
    ),
    "court.dishonest_debtor": (
        "court",
        "dishonest_debtors",
        "subject_id",
        "case_number",
        "admin_licensing_review",
    ),
    "local.court.consumption_restriction": (
        "court",
        "consumption_restrictions",
        "subject_id",
        "case_number",
        "credit_supervision",
    ),
    "tax.credit_rating": ("tax", "credit_ratings", "uscc", "year", "admin_licensing_review"),
}
DESKS = {
    "market.admin_penalty": "market-desk",
    "court.dishonest_debtor": "court-desk",
    "local.court.consumption_restriction": "court-desk",
    "tax.credit_rating": "tax-desk",
    "tax.major_violation": "tax-desk",
    "market.enterprise_registration": "market-desk",
}
EVIDENCE = [{"kind": "penalty_paid", "reference": "缴款凭证 2026-0042", "issued_on": "2026-11-01"}]


def call(gw: Deployment, method: str, path: str, client: str, body: Any = None) -> httpx.Response:
    """One authenticated request to the deployment."""
    return httpx.request(
        method,
        f"{gw.base_url}{path}",
        json=body,
        headers={"Authorization": f"Bearer {gw.token(client)}"},
        timeout=30,
    )


@functools.cache
def legal_basis(purpose: str) -> str:
    """The code of the purpose's first legal basis in the demo catalog (a query cites a code)."""
    return str(next(iter(load_catalog(ROOT / "policies").purposes[purpose]["legal_bases"])))


def query_body(item: str, subject: DemoSubject) -> dict[str, Any]:
    """A query of one item about one subject, for the purpose the item is shared for."""
    return {
        "purpose": RECORDS[item][4],
        "legal_basis": legal_basis(RECORDS[item][4]),
        "items": [item],
        "subjects": [{"id_type": str(subject.id_type), "value": subject.value}],
    }


def rows_of(gw: Deployment, client: str, item: str, subject: DemoSubject) -> list[dict[str, Any]]:
    """The rows ``client`` receives for ``item`` about ``subject`` (the query must be allowed)."""
    response = gw.query(client, query_body(item, subject))
    assert response.status_code == 200, response.text
    return list(response.json()["results"][0]["rows"])


def record_key(sources: Mapping[str, str], item: str, subject: DemoSubject, released_value: Any) -> str:
    """The source's key of the record whose naming field has ``released_value`` (read from the source)."""
    database, table, subject_column, name_field, _ = RECORDS[item]
    engine = sa.create_engine(sources[database])
    try:
        with engine.connect() as conn:
            t = sa.Table(table, sa.MetaData(), autoload_with=conn)
            return str(
                conn.execute(
                    sa.select(t.c.id).where(
                        t.c[subject_column] == subject.value, t.c[name_field] == released_value
                    )
                ).scalar_one()
            )
    finally:
        engine.dispose()


def apply_body(
    item: str, key: str, subject: DemoSubject, evidence: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    """An application."""
    return {
        "item": item,
        "record_key": key,
        "subject": {"id_type": str(subject.id_type), "value": subject.value},
        "evidence": evidence or EVIDENCE,
    }


def apply(gw: Deployment, item: str, key: str, subject: DemoSubject) -> httpx.Response:
    """POST /v1/repairs as the item's source department."""
    return call(gw, "POST", "/v1/repairs", DESKS[item], apply_body(item, key, subject))


def verify_signature(secret_hex: str, headers: dict[str, str], body: bytes) -> bool:
    """Check ``Gateway-Signature`` as a receiver would."""
    parts = dict(p.split("=", 1) for p in headers["gateway-signature"].split(","))
    expected = hmac.new(
        bytes.fromhex(secret_hex), parts["t"].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


@dataclass
class Receiver:
    """A real HTTP webhook receiver on a fixed port; ``up`` says whether it is listening."""

    port: int
    deliveries: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    server: http.server.ThreadingHTTPServer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/repairs"

    def start(self) -> None:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.deliveries.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(body) for _, body in self.deliveries]


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def receiver_down() -> Iterator[Receiver]:
    """A receiver that is down (nothing listens on its port) until ``start`` is called."""
    receiver = Receiver(free_port())
    try:
        yield receiver
    finally:
        receiver.stop()


def random_schema() -> str:
    """A fresh schema name."""
    return f"gw_test_{secrets.token_hex(4)}_repairs"
