"""OPA servers for tests: a TEST DOUBLE speaking OPA's REST Data API, and the real ``opa`` when installed.

``RegorusBackedOpaServer`` is not OPA. It is a real HTTP server on 127.0.0.1 (random port, in a thread)
that answers the two calls the gateway makes of OPA the way OPA answers them:

* ``POST /v1/data/{path}`` with ``{"input": ...}``: ``200 {"result": value}`` when ``data.{path}`` is
  defined, ``200 {}`` when it is undefined or does not exist, ``400`` for a body that is not a JSON
  object, ``500 {"code": "internal_error", ...}`` when evaluation fails;
* ``GET /health``: ``200 {}``.

Decisions come from the embedded engine (``RegorusEngine``), so running the same inputs through
RegorusEngine and OpaEngine-over-the-double checks the OPA adapter and its wire handling, not OPA.
When a real ``opa`` binary is on PATH, ``opa_server`` starts ``opa run --server`` instead, which checks
the policies against OPA itself. ``force_status`` makes the double answer every data request with a
given status, to test how the adapter fails.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from gateway.adapters.regorus_engine import RegorusEngine
from gateway.errors import PolicyEngineError

_DATA_PATH = re.compile(r"/v1/data/([A-Za-z0-9_/]+?)/?")
STARTUP_TIMEOUT_S = 20.0


class RegorusBackedOpaServer:
    """TEST DOUBLE of an OPA server's Data API, deciding with the embedded regorus engine."""

    def __init__(self, policies_dir: Path) -> None:
        self.engine = RegorusEngine(policies_dir)
        self.force_status: int | None = None
        self.data_requests = 0
        # One worker thread evaluates every request, so one regorus engine serves them all
        # (a regorus Engine may not cross threads; building one per request thread costs ~8 ms).
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="opa-double-eval")
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="opa-double", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> RegorusBackedOpaServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._worker.shutdown(wait=True)

    def __enter__(self) -> RegorusBackedOpaServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _answer_data(self, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        self.data_requests += 1
        if self.force_status is not None:
            return self.force_status, {"code": "internal_error", "message": "forced by the test double"}
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return 400, {"code": "invalid_parameter", "message": "body must be a JSON object"}
        if not isinstance(request, dict):
            return 400, {"code": "invalid_parameter", "message": "body must be a JSON object"}
        entrypoint = path.strip("/").replace("/", ".")
        document = request.get("input")
        if not isinstance(document, dict):
            document = {}  # OPA would leave input undefined; the policies treat {} the same way
        try:
            value = self._worker.submit(self.engine.evaluate, entrypoint, document).result()
        except PolicyEngineError as exc:
            return 500, {"code": "internal_error", "message": exc.detail}
        return 200, {} if value is None else {"result": value}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes: without TCP_NODELAY each response would
            # wait ~40 ms on Nagle's algorithm and the client's delayed ACK.
            disable_nagle_algorithm = True

            def _send(self, status: int, document: dict[str, Any]) -> None:
                payload = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] == "/health":
                    self._send(200, {})
                else:
                    self._send(404, {"code": "resource_not_found", "message": "not found"})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                match = _DATA_PATH.fullmatch(self.path.split("?", 1)[0])
                if match is None:
                    self._send(404, {"code": "resource_not_found", "message": "not found"})
                    return
                self._send(*double._answer_data(match.group(1), body))

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

        return Handler


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"opa exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise RuntimeError("opa did not become healthy in time")


@contextmanager
def real_opa_server(policies_dir: Path, opa_binary: str) -> Iterator[str]:
    """``opa run --server`` on a free loopback port with ``policies_dir`` loaded; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [opa_binary, "run", "--server", "--addr", f"127.0.0.1:{port}", str(policies_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_healthy(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextmanager
def opa_server(policies_dir: Path) -> Iterator[tuple[str, str]]:
    """A server answering OPA's Data API for ``policies_dir``: (url, "opa" | "double").

    The real ``opa`` when it is on PATH, the regorus-backed test double otherwise.
    """
    binary = shutil.which("opa")
    if binary is not None:
        with real_opa_server(policies_dir, binary) as url:
            yield url, "opa"
        return
    with RegorusBackedOpaServer(policies_dir) as double:
        yield double.url, "double"
