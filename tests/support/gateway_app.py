"""A whole gateway deployment in a temporary folder, served over real HTTP.

Real demo SQLite databases, real keys, a real clients file, the real policies on regorus, the real
SQLite ledger; tokens are signed by the deployment's own key.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from gateway.adapters.client_files import ClientRegistry, new_client
from gateway.adapters.key_files import FileKeyStore
from gateway.adapters.sql.ledger_source import open_ledger_source
from gateway.adapters.tokens import TokenIssuer
from gateway.bootstrap import create_gateway_app
from gateway.demo.data import DemoManifest, demo_manifest, write_demo_sqlite
from gateway.domain.ledger.envelope import decode_envelope
from gateway.settings import Settings, load_settings
from tests.conftest import FixedClock
from tests.support.http_server import serve_app
from tests.support.identity import FAST_SCRYPT

ROOT = Path(__file__).resolve().parents[2]
ISSUER = "http://gateway.test"
AUDIENCE = "credit-gateway"

CLIENTS = (
    ("platform", "development_reform", ("query",)),
    ("housing", "housing", ("query",)),
    ("consent-desk", "finance", ("query", "grants:write")),
    ("auditor", "audit_office", ("audit:read", "audit:review")),
    ("sec-alice", "security_team", ("policy:admin",)),
    ("sec-bob", "security_team", ("policy:admin",)),
    # Source departments registering credit repairs of their own items.
    ("market-desk", "market_regulation", ("records:repair",)),
    ("court-desk", "court", ("records:repair",)),
    ("tax-desk", "taxation", ("records:repair",)),
    ("market", "market_regulation", ("query", "lists:write")),
)


@dataclass
class Deployment:
    """A running gateway and what a test needs to talk to it and to inspect it."""

    base_url: str
    settings: Settings
    keystore: FileKeyStore
    manifest: DemoManifest
    clock: FixedClock

    def token(self, client_id: str) -> str:
        """A real access token for one of CLIENTS, signed with the deployment's token key."""
        _, department, scopes = next(c for c in CLIENTS if c[0] == client_id)
        issuer = TokenIssuer(self.keystore, issuer=ISSUER, audience=AUDIENCE, clock=self.clock)
        return issuer.issue(client_id, department, scopes).access_token

    def query(self, client_id: str, body: dict[str, Any]) -> httpx.Response:
        """POST /v1/queries as ``client_id``."""
        return httpx.post(
            f"{self.base_url}/v1/queries",
            json=body,
            headers={"Authorization": f"Bearer {self.token(client_id)}"},
            timeout=30,
        )

    def post(self, client_id: str | None, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        """POST ``path`` as ``client_id`` (None: without a token)."""
        headers = {} if client_id is None else {"Authorization": f"Bearer {self.token(client_id)}"}
        return httpx.post(f"{self.base_url}{path}", json=body, headers=headers, timeout=30)

    def ledger_records(self) -> list[dict[str, Any]]:
        """Every record in the ledger, read straight from its database."""
        source = open_ledger_source(self.settings.ledger_url)
        try:
            return [decode_envelope(leaf).record for _, leaf, _ in source.leaves()]
        finally:
            source.close()


def deployment_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Databases, keys and clients under ``tmp_path``; settings pointing at them."""
    urls = write_demo_sqlite(tmp_path / "data")
    FileKeyStore(tmp_path / "keys").init()
    records = [new_client(cid, dept, scopes, **FAST_SCRYPT)[0] for cid, dept, scopes in CLIENTS]
    clients_file = tmp_path / "clients.yaml"
    clients_file.write_text(yaml.safe_dump(ClientRegistry(records).to_document()))
    values: dict[str, Any] = {
        "policies_dir": ROOT / "policies",
        "keys_dir": tmp_path / "keys",
        "clients_file": clients_file,
        "ledger_url": f"sqlite:///{tmp_path / 'ledger.db'}",
        "ledger_origin": "gateway.test/ledger",
        "sources": urls,
        "issuer": ISSUER,
        "audience": AUDIENCE,
    }
    values.update(overrides)
    return load_settings(None, **values)


@contextmanager
def running_gateway(settings: Settings, clock: FixedClock | None = None) -> Iterator[Deployment]:
    """Serve ``settings`` on a free loopback port for the duration of the block."""
    clock = clock or FixedClock()
    app = create_gateway_app(settings, clock)
    with serve_app(app) as base_url:
        yield Deployment(base_url, settings, FileKeyStore(settings.keys_dir), demo_manifest(), clock)
