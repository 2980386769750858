"""Credit repair against `gateway serve` processes: a repair racing queries on two workers, and a
SIGKILL between a repair and its webhook delivery. Real processes, real clock, real HTTP receiver."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select

from gateway.adapters.key_files import FileKeyStore
from gateway.adapters.sql.engine import make_engine
from gateway.adapters.sql.ledger_source import open_ledger_source
from gateway.adapters.sql.schema import repair_outbox
from gateway.adapters.tokens import TokenIssuer
from gateway.bootstrap import SystemClock
from gateway.demo.data import demo_manifest
from gateway.domain.ledger.envelope import decode_envelope
from gateway.settings import Settings
from tests.api.test_repairs_api import gateway_database
from tests.support.gateway_app import AUDIENCE, CLIENTS, ISSUER, deployment_settings
from tests.support.repairs import (
    DESKS,
    RECORDS,
    apply_body,
    free_port,
    query_body,
    receiver_down,
    record_key,
    verify_signature,
)

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="SO_REUSEPORT workers need Linux")


@dataclass
class Served:
    """A `gateway serve` process group and how to talk to it with real, currently valid tokens."""

    settings: Settings
    config: Path
    port: int
    workers: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [sys.executable, "-m", "gateway.cli.main", "serve", "--config", str(self.config)]
        command += ["--port", str(self.port), "--workers", str(self.workers)]
        env = dict(os.environ, PYTHONPATH=str(ROOT), GATEWAY_LOG_LEVEL="WARNING")
        self.proc = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
        wait_for(self._ready, "the gateway to serve", limit_s=120)

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            pytest.fail(f"gateway serve exited with {self.proc.returncode}")
        try:
            return httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """SIGKILL the supervisor and its workers (one process group, ours)."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
            self.proc = None

    def token(self, client_id: str) -> str:
        _, department, scopes = next(c for c in CLIENTS if c[0] == client_id)
        issuer = TokenIssuer(
            FileKeyStore(self.settings.keys_dir), issuer=ISSUER, audience=AUDIENCE, clock=SystemClock()
        )
        return issuer.issue(client_id, department, scopes).access_token

    def call(self, method: str, path: str, client: str, body: Any = None) -> httpx.Response:
        return httpx.request(
            method,
            f"{self.base_url}{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.token(client)}"},
            timeout=60,
        )

    def records(self, kind: str) -> list[dict[str, Any]]:
        source = open_ledger_source(self.settings.ledger_url)
        try:
            out = [decode_envelope(leaf).record for _, leaf, _ in source.leaves()]
        finally:
            source.close()
        return [r for r in out if r["kind"] == kind]


def wait_for(condition: Callable[[], bool], what: str, limit_s: float = 60.0) -> None:
    """Wait until ``condition`` holds (the deadline only turns a hang into a failure)."""
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    postgres_url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    with gateway_database(postgres_url, tmp_path) as url:
        yield url


@contextmanager
def serving(tmp_path: Path, ledger_url: str, workers: int) -> Iterator[Served]:
    settings = deployment_settings(
        tmp_path,
        ledger_url=ledger_url,
        notification_poll_s=0.1,
        notification_retry_base_s=0.2,
        notification_retry_max_s=1.0,
        repair_settle_s=1.0,
    )
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump(settings.model_dump(mode="json")))
    served = Served(settings, config, free_port(), workers)
    served.start()
    try:
        yield served
    finally:
        served.stop()


def _record(served: Served, item: str) -> tuple[str, str]:
    """(record_ref the platform sees, the source key) of the legal person's first record of ``item``."""
    subject = demo_manifest().legal_person
    response = served.call("POST", "/v1/queries", "platform", query_body(item, subject))
    assert response.status_code == 200, response.text
    row = response.json()["results"][0]["rows"][0]
    key = record_key(served.settings.sources, item, subject, row[RECORDS[item][3]])
    return row["record_ref"], key


def test_no_response_after_the_effect_contains_the_record(tmp_path: Path, database: str) -> None:
    item = "court.dishonest_debtor"  # block mode
    subject = demo_manifest().legal_person
    with serving(tmp_path, database, workers=2) as served:
        ref, key = _record(served, item)
        repair = served.call("POST", "/v1/repairs", DESKS[item], apply_body(item, key, subject)).json()[
            "repair"
        ]
        token = served.token("platform")
        body = query_body(item, subject)
        seen: list[tuple[float, int, bool]] = []  # (sent at, status, contains the record)
        lock = threading.Lock()
        stop = threading.Event()
        accepted_at: list[float] = []

        def hammer() -> None:
            with httpx.Client(timeout=60) as client:
                while not stop.is_set():
                    sent = time.monotonic()
                    # A new connection each time, so the kernel spreads them over both workers.
                    response = client.post(
                        f"{served.base_url}/v1/queries",
                        json=body,
                        headers={"Authorization": f"Bearer {token}", "Connection": "close"},
                    )
                    rows = response.json()["results"][0]["rows"] if response.status_code == 200 else []
                    with lock:
                        seen.append(
                            (sent, response.status_code, any(r.get("record_ref") == ref for r in rows))
                        )

        threads = [threading.Thread(target=hammer) for _ in range(3)]
        for thread in threads:
            thread.start()
        try:
            wait_for(lambda: sum(1 for s in seen if s[2]) >= 6, "queries that still see the record")
            accepted = served.call("POST", f"/v1/repairs/{repair['id']}/accept", DESKS[item])
            accepted_at.append(time.monotonic())
            assert accepted.status_code == 200, accepted.text
            wait_for(lambda: sum(1 for s in seen if s[0] > accepted_at[0]) >= 12, "queries after the effect")
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=120)
    before = [s for s in seen if s[0] < accepted_at[0]]
    after = [s for s in seen if s[0] > accepted_at[0]]
    assert any(contains for _, _, contains in before)
    assert after
    assert all(status == 200 for _, status, _ in after)
    assert not any(contains for _, _, contains in after)


def _webhook_failures(served: Served) -> int:
    engine = make_engine(served.settings.ledger_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(repair_outbox.c.attempts).where(
                    repair_outbox.c.kind == "webhook", repair_outbox.c.lease_until.is_(None)
                )
            )
            return sum(int(r.attempts) for r in rows)
    finally:
        engine.dispose()


def test_a_sigkill_between_the_repair_and_its_delivery_loses_nothing(tmp_path: Path, database: str) -> None:
    item = "market.admin_penalty"
    subject = demo_manifest().legal_person
    with receiver_down() as receiver, serving(tmp_path, database, workers=2) as served:
        ref, key = _record(served, item)
        hook = served.call("PUT", "/v1/notifications/webhook", "platform", {"url": receiver.url}).json()
        repair = served.call("POST", "/v1/repairs", DESKS[item], apply_body(item, key, subject)).json()[
            "repair"
        ]
        assert served.call("POST", f"/v1/repairs/{repair['id']}/accept", DESKS[item]).status_code == 200
        wait_for(lambda: _webhook_failures(served) >= 1, "a failed delivery while the receiver is down")
        served.kill()  # the delivery is still pending in the outbox
        receiver.start()
        served.start()
        wait_for(lambda: bool(receiver.deliveries), "the delivery after the restart")
        wait_for(lambda: any(r["action"] == "delivered" for r in served.records("notification")), "its entry")
        feed = served.call("GET", "/v1/notifications", "platform").json()["notifications"]
        assert len(feed) == 1
        assert feed[0]["record_ref"] == ref
        bodies = receiver.bodies()
        assert {b["notification_id"] for b in bodies} == {feed[0]["notification_id"]}
        assert all(verify_signature(hook["secret"], h, b) for h, b in receiver.deliveries)
        actions = [(r["action"], r["department"]) for r in served.records("notification")]
        assert actions.count(("issued", "development_reform")) == 1
        assert actions.count(("delivered", "development_reform")) >= 1
        assert [r["action"] for r in served.records("repair") if r["repair_id"] == repair["id"]] == [
            "apply",
            "accept",
        ]
