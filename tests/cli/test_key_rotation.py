"""``gateway keys rotate`` and ``retire`` against a running ``gateway serve`` with two workers.

The gateway is a real subprocess (two worker processes on one SO_REUSEPORT port); the keys are
generated in the test's tmp directory. Rotation must reach both workers without a restart: every
token issued after it carries the new kid, tokens signed before it still verify, the ledger goes on
appending (each worker accepts the head note the other signed with the new key) and its checkpoint
verifies with the new public key.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from gateway.adapters.crypto.ed25519 import ed25519_public_key, ed25519_verify
from gateway.adapters.key_files import FileKeyStore
from gateway.cli.main import main
from gateway.demo.data import demo_manifest
from gateway.domain.transparency.checkpoint import open_checkpoint
from gateway.errors import CheckpointError, KeyRetirementRefused
from tests.api.test_queries import licensing_query
from tests.api.test_token_throttle import GRANT, write_clients
from tests.support.gateway_app import deployment_settings

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 60.0


def _kid(token: str) -> str:
    header = token.split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    def __init__(self, base_url: str, secrets: dict[str, str], config: Path, keys: Path) -> None:
        self.base_url, self.secrets, self.config, self.keys = base_url, secrets, config, keys

    def token(self, client_id: str) -> str:
        # A new connection each time: the kernel spreads them over both workers' sockets.
        response = httpx.post(
            self.base_url + "/oauth/token", data=GRANT, auth=(client_id, self.secrets[client_id]), timeout=30
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    settings = deployment_settings(
        tmp_path, issuer="http://127.0.0.1", token_throttle={"client_after": 4, "lockout_base_s": 120}
    )
    secrets = write_clients(settings.clients_file)
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump(settings.model_dump(mode="json")))
    port = _free_port()
    log = (tmp_path / "serve.log").open("wb")
    command = [sys.executable, "-m", "gateway.cli.main", "serve", "--config", str(config)]
    proc = subprocess.Popen(
        [*command, "--port", str(port), "--workers", "2"],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        start_new_session=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + WAIT_S
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(base_url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "gateway serve did not become ready"
            time.sleep(0.2)
        yield Served(base_url, secrets, config, settings.keys_dir)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


def test_rotation_reaches_both_workers_without_a_restart(served: Served) -> None:
    old_token = served.token("platform")
    old_kid = _kid(old_token)
    assert main(["keys", "rotate", "token", "--config", str(served.config)]) == 0
    assert main(["keys", "rotate", "ledger", "--config", str(served.config)]) == 0
    deadline = time.monotonic() + WAIT_S
    while _kid(served.token("platform")) == old_kid:
        assert time.monotonic() < deadline, "the new token key was not picked up"
        time.sleep(0.2)
    time.sleep(2.5)  # past every worker's next re-check of the key file
    kids = {_kid(served.token("platform")) for _ in range(24)}
    assert len(kids) == 1
    assert old_kid not in kids
    (new_kid,) = kids
    jwks = httpx.get(served.base_url + "/.well-known/jwks.json").json()
    assert [k["kid"] for k in jwks["keys"]] == [new_kid, old_kid]  # the old key stays published

    # Tokens of both keys are accepted by both workers; queries after the ledger rotation append.
    body = licensing_query(demo_manifest().legal_person.value, "market.enterprise_registration")
    for token in [old_token, served.token("platform")] * 4:
        response = httpx.post(
            served.base_url + "/v1/queries",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
    note = httpx.get(
        served.base_url + "/v1/ledger/checkpoint",
        headers={"Authorization": f"Bearer {served.token('auditor')}"},
        timeout=30,
    )
    assert note.status_code == 200, note.text
    keystore = FileKeyStore(served.keys)
    new_ledger_key, old_ledger_key = (ed25519_public_key(p) for p in keystore.public_keys_pem("ledger"))
    checkpoint = open_checkpoint(note.text, public_keys=[new_ledger_key], verify=ed25519_verify)
    assert checkpoint.size >= 8
    with pytest.raises(CheckpointError):
        open_checkpoint(note.text, public_keys=[old_ledger_key], verify=ed25519_verify)
    # Retiring the old token key now is refused: tokens it signed minutes ago are still valid.
    assert main(["keys", "retire", "token", "--config", str(served.config)]) == 2
    assert main(["keys", "retire", "ledger", "--config", str(served.config)]) == 2


def test_retirement_is_refused_until_nothing_signed_is_valid_then_removes_the_key(tmp_path: Path) -> None:
    keystore = FileKeyStore(tmp_path / "keys")
    keystore.init()
    with pytest.raises(KeyRetirementRefused, match="no previous"):
        keystore.retire("token", valid_for_s=330)
    keystore.rotate("token")
    assert len(keystore.public_keys_pem("token")) == 2
    ((slot, superseded),) = keystore.previous_keys("token")
    with pytest.raises(KeyRetirementRefused, match="still valid until") as refused:
        keystore.retire("token", valid_for_s=330, now=superseded + 329)
    assert "nothing was removed" in str(refused.value)
    assert len(keystore.public_keys_pem("token")) == 2
    removed = keystore.retire("token", valid_for_s=330, now=superseded + 331)
    assert sorted(removed) == sorted(
        [f"public/token.{slot}.pem", f"private/token.{slot}.pem", f"public/token.{slot}.superseded"]
    )
    assert len(keystore.public_keys_pem("token")) == 1
    with pytest.raises(KeyRetirementRefused, match="never retired"):
        keystore.retire("ledger", valid_for_s=0, now=superseded + 10**6)


def test_a_lockout_holds_across_both_workers(served: Served) -> None:
    # Failures spread over both workers' sockets add up in the shared table: 4, not 4 per worker.
    for _ in range(4):
        wrong = httpx.post(
            served.base_url + "/oauth/token", data=GRANT, auth=("housing", "wrong"), timeout=30
        )
        assert wrong.status_code == 401
    for _ in range(6):
        locked = httpx.post(
            served.base_url + "/oauth/token",
            data=GRANT,
            auth=("housing", served.secrets["housing"]),
            timeout=30,
        )
        assert locked.status_code == 429
        assert int(locked.headers["retry-after"]) >= 1
