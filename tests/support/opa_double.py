"""A TEST DOUBLE of an OPA server's Data API, deciding with the embedded regorus engine.

``DataApiServer`` is a real HTTP server on 127.0.0.1 (random port, in a thread) that answers the two
calls the gateway makes of OPA the way OPA answers them:

* ``POST /v1/data/{path}`` with ``{"input": ...}``: ``200 {"result": value}`` when ``data.{path}`` is
  defined, ``200 {}`` when it is undefined or does not exist, ``400`` for a body that is not a JSON
  object, ``500 {"code": "internal_error", ...}`` when evaluation fails;
* ``GET /health``: ``200 {}``.

What decides is left to a subclass. ``RegorusBackedOpaServer`` decides with the embedded engine
(``RegorusEngine``), so it is NOT OPA: running the same inputs through RegorusEngine and
OpaEngine-over-this-double checks the OPA adapter and its wire handling, not OPA. Its ``force_status``
makes it answer every data request with a given status, to test how the adapter fails.

Real OPA (the ``opa`` binary, or OPA's Go library behind the same ``DataApiServer``) is in
tests/support/real_opa.py.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

from gateway.adapters.policy.regorus import RegorusEngine
from gateway.errors import PolicyEngineError
from gateway.ports import JSON

__all__ = ["DataApiServer", "EvaluationFailed", "RegorusBackedOpaServer", "free_port"]

_DATA_PATH = re.compile(r"/v1/data/([A-Za-z0-9_/]+?)/?")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EvaluationFailed(Exception):
    """Raised by ``DataApiServer.decide`` when evaluation fails: answered ``500 internal_error``."""


class ThreadingHTTPServerWithDaemons(ThreadingHTTPServer):
    """One daemon thread per connection, so a client that keeps a connection open never blocks exit."""

    daemon_threads = True


class DataApiServer:
    """OPA's Data API over real HTTP on a loopback port; ``decide`` (in a subclass) does the deciding."""

    thread_name = "opa-data-api"

    def __init__(self) -> None:
        self.force_status: int | None = None
        self.data_requests = 0
        self._server = ThreadingHTTPServerWithDaemons(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=self.thread_name,
            daemon=True,
        )

    def decide(self, path: str, request: dict[str, Any]) -> JSON:
        """The value of ``data.<path>`` (dotted) for the request body, None when undefined.

        ``request`` is the parsed body, a JSON object that may or may not hold ``"input"``. Raises
        EvaluationFailed when evaluation fails.
        """
        raise NotImplementedError

    def read_data(self, path: str) -> tuple[bool, JSON]:
        """``GET /v1/data/<path>``: (defined, value); a server without data storage answers 404."""
        raise LookupError(path)

    def write_data(self, path: str, document: JSON) -> None:
        """``PUT /v1/data/<path>``: store ``document`` there; a server without data storage answers 404."""
        raise LookupError(path)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
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
        try:
            value = self.decide(path.strip("/").replace("/", "."), request)
        except EvaluationFailed as exc:
            return 500, {"code": "internal_error", "message": str(exc)}
        return 200, {} if value is None else {"result": value}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes: without TCP_NODELAY each response would
            # wait ~40 ms on Nagle's algorithm and the client's delayed ACK.
            disable_nagle_algorithm = True

            def _send(self, status: int, document: dict[str, Any]) -> None:
                payload = json.dumps(document, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                match = _DATA_PATH.fullmatch(path)
                if path == "/health":
                    self._send(200, {})
                    return
                try:
                    if match is None:
                        raise LookupError(path)
                    defined, value = server.read_data(match.group(1).strip("/").replace("/", "."))
                except LookupError:
                    self._send(404, {"code": "resource_not_found", "message": "not found"})
                    return
                self._send(200, {"result": value} if defined else {})

            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                match = _DATA_PATH.fullmatch(self.path.split("?", 1)[0])
                try:
                    if match is None:
                        raise LookupError(self.path)
                    server.write_data(match.group(1).strip("/").replace("/", "."), json.loads(body))
                except LookupError:
                    self._send(404, {"code": "resource_not_found", "message": "not found"})
                    return
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                match = _DATA_PATH.fullmatch(self.path.split("?", 1)[0])
                if match is None:
                    self._send(404, {"code": "resource_not_found", "message": "not found"})
                    return
                self._send(*server._answer_data(match.group(1), body))

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

        return Handler


class RegorusBackedOpaServer(DataApiServer):
    """TEST DOUBLE of an OPA server's Data API, deciding with the embedded regorus engine (not OPA)."""

    thread_name = "opa-double"

    def __init__(self, policies_dir: Path) -> None:
        self.engine = RegorusEngine(policies_dir)
        # One worker thread evaluates every request, so one regorus engine serves them all
        # (a regorus Engine may not cross threads; building one per request thread costs ~8 ms).
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="opa-double-eval")
        super().__init__()

    def decide(self, path: str, request: dict[str, Any]) -> JSON:
        document = request.get("input")
        if not isinstance(document, dict):
            document = {}  # OPA would leave input undefined; the policies treat {} the same way
        try:
            return self._worker.submit(self.engine.evaluate, path, document).result()
        except PolicyEngineError as exc:
            raise EvaluationFailed(exc.detail) from exc

    def stop(self) -> None:
        super().stop()
        self._worker.shutdown(wait=True)
