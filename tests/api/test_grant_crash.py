"""No crash window in grants: a real ``gateway serve`` killed with SIGKILL in the middle of a burst of
grant registrations and revocations, on SQLite and on PostgreSQL, leaves every grant's state equal to
what the ledger says of it.

After each kill, straight from the database: no grant is pending; each registered grant's index is
its own registration entry and each revocation's index its own revocation entry; every registration
and revocation entry in the ledger is reflected in the store; and everything the clients were told
(201 and 200 answers with their indexes) is there. The gateway is then started again on the same
database, burst and killed again; the last start finds nothing to reconcile.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.engine import make_url

from gateway.adapters.key_files import FileKeyStore
from gateway.adapters.sql import migrate
from gateway.adapters.sql.engine import make_engine
from gateway.adapters.sql.ledger_source import open_ledger_source
from gateway.adapters.tokens import TokenIssuer
from gateway.bootstrap import SystemClock
from gateway.domain.ledger.envelope import decode_envelope
from tests.support.gateway_app import AUDIENCE, ISSUER, ROOT, deployment_settings
from tests.support.grants_fixtures import RESIDENT_ID, consent

START_TIMEOUT_S = 240.0
WRITERS = 6
WRITES_BEFORE_KILL = 40
ROUNDS = 2


def grant_body() -> dict[str, Any]:
    return {
        "subject": {"id_type": "resident_id", "value": RESIDENT_ID},
        "recipient": "finance",
        "purposes": ["credit_evaluation"],
        "items": ["court.dishonest_debtor"],
        "valid_from": "2026-11-21T00:00:00Z",
        "valid_until": "2027-05-21T00:00:00Z",
        "consent": consent(),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Told:
    """What the clients were answered before the kill."""

    registered: dict[str, int] = field(default_factory=dict)  # grant id -> ledger index
    revoked: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self) -> int:
        with self.lock:
            return len(self.registered) + len(self.revoked)


class Server:
    """``gateway serve`` as its own process group, so SIGKILL reaches exactly it."""

    def __init__(self, config: Path) -> None:
        self.port = free_port()
        # A file, not a pipe: a pipe nobody reads fills up and stalls the server's logging.
        self.log = (config.parent / f"serve-{self.port}.log").open("wb")
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gateway.cli.main",
                "serve",
                "--config",
                str(config),
                "--port",
                str(self.port),
                "--workers",
                "1",
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway serve exited: {Path(self.log.name).read_text()[-2000:]}")
            try:
                if httpx.get(self.base + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("gateway serve did not start in time")
            time.sleep(0.2)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)
        self.log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(60)
        self.log.close()


def burst_and_kill(server: Server, token: str) -> Told:
    told = Told()
    stop = threading.Event()
    headers = {"Authorization": f"Bearer {token}"}

    def writer() -> None:
        with httpx.Client(base_url=server.base, headers=headers, timeout=30) as http:
            mine: list[str] = []
            while not stop.is_set():
                try:
                    response = http.post("/v1/grants", json=grant_body())
                    if response.status_code == 201:
                        grant = response.json()["grant"]
                        with told.lock:
                            told.registered[grant["id"]] = grant["ledger_index"]
                        mine.append(grant["id"])
                    if len(mine) >= 2:  # revoke every other grant, so both kinds of write are in flight
                        grant_id = mine.pop(0)
                        mine.pop(0)
                        revoked = http.post(f"/v1/grants/{grant_id}/revoke")
                        if revoked.status_code == 200:
                            with told.lock:
                                told.revoked[grant_id] = revoked.json()["receipt"]["index"]
                except httpx.HTTPError:
                    return  # the server is gone

    threads = [threading.Thread(target=writer) for _ in range(WRITERS)]
    for t in threads:
        t.start()
    while told.count() < WRITES_BEFORE_KILL and server.process.poll() is None:
        time.sleep(0.01)
    server.kill()  # in the middle of the burst: every writer has a request in flight
    stop.set()
    for t in threads:
        t.join(60)
    return told


def check_invariants(ledger_url: str, told: Told) -> tuple[int, int]:
    source = open_ledger_source(ledger_url)
    try:
        records = {index: decode_envelope(leaf).record for index, leaf, _ in source.leaves()}
    finally:
        source.close()
    engine = make_engine(ledger_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT id, ledger_index, revoked_at, revocation_ledger_index FROM authorization_grants"
                )
            ).all()
    finally:
        engine.dispose()
    by_id = {row.id: row for row in rows}
    for row in rows:
        assert row.ledger_index is not None, f"grant {row.id} pending after a crash"
        entry = records[row.ledger_index]
        assert (entry["kind"], entry["action"], entry["grant_id"], entry["decision"]) == (
            "grant",
            "register",
            row.id,
            "allow",
        )
        assert (row.revoked_at is None) == (row.revocation_ledger_index is None), row.id
        if row.revocation_ledger_index is not None:
            entry = records[row.revocation_ledger_index]
            assert (entry["kind"], entry["action"], entry["grant_id"]) == ("grant", "revoke", row.id)
    for index, entry in records.items():
        if entry["kind"] != "grant" or entry.get("decision") != "allow":
            continue
        if entry["action"] == "register":
            assert by_id[entry["grant_id"]].ledger_index == index
        elif entry["action"] == "revoke":
            assert by_id[entry["grant_id"]].revocation_ledger_index == index
    for grant_id, index in told.registered.items():
        assert by_id[grant_id].ledger_index == index
    for grant_id, index in told.revoked.items():
        assert by_id[grant_id].revocation_ledger_index == index
    return len(rows), sum(1 for r in rows if r.revoked_at is not None)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    server = request.getfixturevalue("postgres_url")
    schema = f"gw_test_{secrets.token_hex(4)}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(server).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def test_sigkill_during_a_burst_of_grant_writes_leaves_store_and_ledger_equal(
    tmp_path: Path, ledger_url: str
) -> None:
    settings = deployment_settings(tmp_path, ledger_url=ledger_url)
    engine = make_engine(ledger_url)
    try:
        migrate.upgrade(engine)  # what `gateway db upgrade` does for a server database
    finally:
        engine.dispose()
    config = tmp_path / "gateway.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "policies_dir": str(settings.policies_dir),
                "keys_dir": str(settings.keys_dir),
                "clients_file": str(settings.clients_file),
                "ledger_url": ledger_url,
                "ledger_origin": settings.ledger_origin,
                "sources": settings.sources,
                "issuer": ISSUER,
                "audience": AUDIENCE,
            }
        )
    )
    issuer = TokenIssuer(
        FileKeyStore(settings.keys_dir), issuer=ISSUER, audience=AUDIENCE, clock=SystemClock()
    )
    token = issuer.issue("consent-desk", "finance", ("grants:write",)).access_token
    total_told = 0
    for _ in range(ROUNDS):
        server = Server(config)
        told = burst_and_kill(server, token)
        assert told.count() >= WRITES_BEFORE_KILL
        total_told += told.count()
        grants, revoked = check_invariants(ledger_url, told)
        assert grants >= len(told.registered)
        assert revoked >= len(told.revoked)
    # A last start: nothing was left half done, so reconciliation has nothing to register.
    server = Server(config)
    server.stop()
    source = open_ledger_source(ledger_url)
    try:
        actions = [decode_envelope(leaf).record.get("action") for _, leaf, _ in source.leaves()]
    finally:
        source.close()
    assert "reconcile" not in actions
    assert actions.count("register") >= total_told // 2
