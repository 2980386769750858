"""The production policy engine: a real OPA server (the Helm chart's sidecar), over its REST Data API.

``evaluate("gateway.query.decision", input)`` is ``POST /v1/data/gateway/query/decision`` with
``{"input": ...}`` through ``opa-python-client`` (``OpaClient.query_rule``). OPA answers
``{"result": ...}`` when the rule is defined and ``{}`` when it is not (or does not exist): the latter
is None here, which callers treat as a refusal.

What opa-python-client does and does not do, and how this adapter copes:

* It builds its URL from host, port and ``ssl`` only: an OPA behind a path prefix cannot be reached,
  so such a URL is refused at construction (ConfigurationError) instead of being silently truncated.
* Its ``timeout`` is the requests timeout, applied to the connection and to each read, not to the
  whole exchange; that bounds a dead or hung server, which is what matters for failing closed.
* It retries failed requests (urllib3 ``Retry``) by default; a decision is retried zero times here,
  so an unreachable OPA refuses at once rather than after a backoff.
* Its ``requests.Session`` is shared by every caller of one client; the request path runs in FastAPI's
  thread pool, so each thread gets its own client (and connection pool), like the regorus engines.
* It raises requests' exceptions, its own (which do not derive from one base) and JSON errors: every
  one of them becomes a PolicyEngineError, as does a non-200 answer or a body that is not an object.

The policy revision cannot be read over the Data API, so it is passed in: the digest of the bundle
the sidecar was started with (``gateway.adapters.policy.regorus.load_policy_sources(dir).revision``).

The catalog index (``PolicySources.index``, derived by the gateway when it loads the policies, its
digest part of that revision) is not a file OPA could load: it is sent to the server
(``PUT /v1/data/catalog_index``) at startup and again whenever a readiness check finds the server
without it (a restarted sidecar). Until it is there OPA decides every query by the full evaluation,
which gives the same documents, only slower; so failing to send it never refuses anything.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from opa_client import OpaClient

from gateway.errors import ConfigurationError, PolicyEngineError
from gateway.ports import JSON

_ENTRYPOINT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_DEFAULT_PORTS = {"http": 80, "https": 443}
INDEX_PATH = "catalog_index"
log = logging.getLogger("gateway.policy")


class OpaEngine:
    """PolicyEngine over an OPA server's REST Data API, one client per thread."""

    def __init__(
        self, url: str, revision: str, timeout: float, *, index: Mapping[str, Any] | None = None
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ConfigurationError(f"OPA URL must be http(s)://host[:port], got {url!r}")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ConfigurationError("OPA URL must not have a path, query or fragment (opa-python-client)")
        if parts.username or parts.password:
            raise ConfigurationError("OPA URL must not carry credentials")
        if not timeout > 0:
            raise ConfigurationError("OPA timeout must be a positive number of seconds")
        try:
            port = parts.port or _DEFAULT_PORTS[parts.scheme]
        except ValueError as exc:
            raise ConfigurationError(f"OPA URL has an invalid port: {url!r}") from exc
        self._client_options: dict[str, Any] = {
            "host": parts.hostname,
            "port": port,
            "ssl": parts.scheme == "https",
            "timeout": timeout,
            "retries": 0,
        }
        self.url = f"{parts.scheme}://{parts.netloc}"
        self.timeout = timeout
        self._revision = revision
        self._local = threading.local()
        self._lock = threading.Lock()
        self._clients: list[OpaClient] = []
        self._index = None if index is None else dict(index)
        self.send_index()

    @property
    def revision(self) -> str:
        return self._revision

    def _client(self) -> OpaClient:
        client: OpaClient | None = getattr(self._local, "client", None)
        if client is None:
            client = OpaClient(**self._client_options)
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def evaluate(self, entrypoint: str, input_document: Mapping[str, JSON]) -> JSON:
        if not _ENTRYPOINT.fullmatch(entrypoint):
            raise PolicyEngineError(f"invalid policy entrypoint {entrypoint!r}")
        try:
            body = self._client().query_rule(dict(input_document), entrypoint)
        except Exception as exc:  # requests, urllib3, opa_client and JSON errors alike
            raise PolicyEngineError(f"OPA could not evaluate {entrypoint} ({type(exc).__name__})") from exc
        if not isinstance(body, Mapping):
            raise PolicyEngineError(f"OPA answered {entrypoint} with something other than a JSON object")
        return body.get("result")

    def send_index(self) -> bool:
        """Make sure the server holds this gateway's catalog index; whether it does (never raises)."""
        if self._index is None:
            return True
        revision = self._index.get("catalog_revision")
        client = self._client()
        try:
            held = client.get_data(f"{INDEX_PATH}/catalog_revision")
        except Exception:  # opa-python-client raises when the document is undefined
            held = None
        if isinstance(held, Mapping) and held.get("result") == revision:
            return True
        try:
            client.update_or_create_data(self._index, INDEX_PATH)
        except Exception as exc:
            log.warning("catalog index not sent to OPA (%s): it decides in full", type(exc).__name__)
            return False
        return True

    def healthy(self) -> bool:
        """Whether OPA answers ``GET /health`` with 200 (for readiness probes; never raises).

        Also sends the catalog index again when the server lacks it.
        """
        try:
            ok = bool(self._client().check_health())
        except Exception:
            return False
        if ok:
            self.send_index()
        return ok

    def close(self) -> None:
        """Close every thread's connection pool (at application shutdown)."""
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.close_connection()
