"""Serve an ASGI app over real HTTP for a test: uvicorn in a background thread on 127.0.0.1.

    with serve_app(app) as base_url:
        httpx.get(base_url + "/health")

The port is chosen by the kernel (bound before the thread starts, so there is no race), the app's
lifespan runs inside the server thread, and the server is shut down when the block ends.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import uvicorn

STARTUP_TIMEOUT_S = 10.0
SHUTDOWN_TIMEOUT_S = 10.0


@contextmanager
def serve_app(
    app: Any, *, host: str = "127.0.0.1", lifespan: Literal["auto", "on", "off"] = "auto"
) -> Iterator[str]:
    """Run ``app`` on ``host`` at a free port; yield its base URL (no trailing slash)."""
    # proto must be IPPROTO_TCP (not 0): asyncio enables TCP_NODELAY on accepted connections only then,
    # and without it every response waits ~40 ms on Nagle's algorithm and delayed ACKs.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan=lifespan,
        ws="none",
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)  # installs no signal handlers off the main thread
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # reported to the test thread below
            failure.append(exc)

    thread = threading.Thread(target=run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not server.started:
            if failure or not thread.is_alive():
                raise RuntimeError(f"test server failed to start: {failure[0] if failure else 'exited'}")
            if time.monotonic() > deadline:
                raise RuntimeError("test server did not start in time")
            time.sleep(0.01)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(SHUTDOWN_TIMEOUT_S)
        sock.close()
        if thread.is_alive():
            raise RuntimeError("test server did not stop in time")
        if failure:
            raise RuntimeError("test server crashed") from failure[0]
