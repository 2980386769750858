"""The request counter, the access log line and the ``/metrics`` endpoint, as one plain ASGI middleware.

Each response is counted and logged (``gateway.access``: method, route template, status, duration)
by the template of the route that served it, never by its path: a path can hold an entry index or
anything a caller typed, and the query string and the body are never looked at.

``/metrics`` is served only on the metrics port (``gateway serve --metrics-port``), never on the API
port: Prometheus scrapes without credentials, the way a Kubernetes operator runs it (a ServiceMonitor
on a named port), and the chart's NetworkPolicy lets only the scrapers reach that port. The counts by
department and purpose are nobody else's business, so the port every requesting department reaches
answers 404 for ``/metrics`` like for any unknown path. On the metrics port nothing else is served.

A plain ASGI middleware rather than Starlette's ``BaseHTTPMiddleware``, which runs each request
through an extra task and memory streams: a cost every query would pay for one counter.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from anyio import to_thread
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.ports import Metrics

UNMATCHED = "unmatched"
access_log = logging.getLogger("gateway.access")
# A method is a token the client chooses: only the standard ones are written down.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_template(scope: Scope) -> str:
    """The template of the route that served the request (``/v1/audit/entries/{index}``), never its path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    app = scope.get("app")
    for candidate in getattr(app, "routes", ()):
        if isinstance(candidate, Mount) and scope["path"].startswith(candidate.path + "/"):
            return candidate.path + "/{path}"
    return UNMATCHED


def _metrics_of(scope: Scope) -> Metrics | None:
    services: Any = getattr(getattr(scope.get("app"), "state", None), "services", None)
    found = getattr(services, "metrics", None)
    return found if found is not None else None


class MetricsMiddleware:
    """Counts every response by route template and status; serves ``/metrics`` on ``metrics_port``."""

    def __init__(self, app: ASGIApp, metrics_port: int | None = None) -> None:
        self.app = app
        self.metrics_port = metrics_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        server = scope.get("server")
        if self.metrics_port is not None and server is not None and server[1] == self.metrics_port:
            await self._scrape(scope, send)
            return
        status = 500  # what the client gets if the app raises before it starts a response
        started = time.perf_counter()

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            route = route_template(scope)
            metrics = _metrics_of(scope)
            if metrics is not None:
                metrics.count_request(route, status)
            access_log.info(
                "request",
                extra={
                    "method": scope["method"] if scope["method"] in METHODS else "OTHER",
                    "route": route,
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                },
            )

    async def _scrape(self, scope: Scope, send: Send) -> None:
        metrics = _metrics_of(scope)
        if scope["path"] != "/metrics" or scope["method"] != "GET":
            await _plain(send, 404, b"not found\n", "text/plain; charset=utf-8")
        elif metrics is None:
            await _plain(send, 503, b"not started\n", "text/plain; charset=utf-8")
        else:
            # Reading the other workers' files and the ledger's head blocks: off the event loop.
            body, content_type = await to_thread.run_sync(metrics.exposition)
            await _plain(send, 200, body, content_type)


async def _plain(send: Send, status: int, body: bytes, content_type: str) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
