"""``gateway serve`` as a real subprocess (its own process group), for tests that need its workers.

    with served_gateway(config_file, workers=2, log_dir=tmp_path) as gw:
        httpx.post(gw.base_url + "/v1/queries", ...)
        gw.scrape()   # GET /metrics on the metrics port

Tokens are signed with the real clock, as the served gateway checks them against its own.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from gateway.adapters.key_files import FileKeyStore
from gateway.adapters.tokens import TokenIssuer
from gateway.settings import Settings
from tests.support.gateway_app import AUDIENCE, CLIENTS, ISSUER

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = Path(sys.executable).parent / "gateway"
STARTUP_TIMEOUT_S = 240.0  # a loaded 2-core machine: each worker imports the whole stack


class RealClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(settings: Settings, path: Path) -> Path:
    """Settings as the YAML file ``gateway serve --config`` reads."""
    path.write_text(yaml.safe_dump(settings.model_dump(mode="json"), allow_unicode=True), encoding="utf-8")
    return path


def bearer(settings: Settings, client_id: str) -> dict[str, str]:
    """An Authorization header for one of the test CLIENTS, signed now by the deployment's key."""
    _, department, scopes = next(c for c in CLIENTS if c[0] == client_id)
    issuer = TokenIssuer(
        FileKeyStore(settings.keys_dir), issuer=ISSUER, audience=AUDIENCE, clock=RealClock(), lifetime_s=3600
    )
    return {"Authorization": f"Bearer {issuer.issue(client_id, department, scopes).access_token}"}


@dataclass
class ServedGateway:
    """A running ``gateway serve`` and where its output goes."""

    process: subprocess.Popen[bytes]
    port: int
    metrics_port: int
    stdout: Path
    stderr: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def scrape(self) -> str:
        response = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=60)
        assert response.status_code == 200, response.text
        return response.text

    def kill(self) -> None:
        """SIGKILL the supervisor and its workers at once (the whole process group)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def lines(self) -> list[str]:
        return [
            line
            for path in (self.stdout, self.stderr)
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
        ]


def _wait_ready(gw: ServedGateway, path: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if gw.process.poll() is not None:
            raise RuntimeError(f"gateway serve exited with {gw.process.returncode}:\n{gw.stderr.read_text()}")
        try:
            if httpx.get(gw.base_url + path, timeout=10).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"gateway serve did not answer {path} in time:\n{gw.stderr.read_text()}")


def start_gateway(
    config_file: Path, *, workers: int, log_dir: Path, env: dict[str, Any] | None = None
) -> ServedGateway:
    """Start ``gateway serve`` (not waiting for it); its output goes to files under ``log_dir``."""
    port, metrics_port = free_port(), free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    stdout, stderr = log_dir / f"serve-{port}.out", log_dir / f"serve-{port}.err"
    command = [str(GATEWAY), "serve", "--config", str(config_file), "--port", str(port)]
    command += ["--workers", str(workers), "--metrics-port", str(metrics_port)]
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=out,
            stderr=err,
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
            start_new_session=True,  # its own process group, so a test can kill it whole
        )
    return ServedGateway(process, port, metrics_port, stdout, stderr)


def stop_gateway(gw: ServedGateway) -> int:
    """SIGTERM and wait; the exit status (already dead: its status)."""
    if gw.process.poll() is None:
        gw.process.send_signal(signal.SIGTERM)
        try:
            return gw.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(gw.process.pid, signal.SIGKILL)
            gw.process.wait()
            raise
    return gw.process.returncode


@contextmanager
def served_gateway(
    config_file: Path, *, workers: int, log_dir: Path, ready_path: str = "/healthz"
) -> Iterator[ServedGateway]:
    """``gateway serve`` for the block, stopped with SIGTERM at the end."""
    gw = start_gateway(config_file, workers=workers, log_dir=log_dir)
    try:
        _wait_ready(gw, ready_path)
        yield gw
    finally:
        stop_gateway(gw)


def wait_ready(gw: ServedGateway, path: str = "/healthz") -> None:
    """Wait until ``gw`` answers ``path`` with 200."""
    _wait_ready(gw, path)
