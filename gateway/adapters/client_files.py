"""OAuth clients of the gateway: who may ask for tokens, for which department and scopes.

The clients file (YAML or JSON) is a list of clients, or a mapping with a ``clients`` list::

    clients:
      - client_id: market-regulator
        department: market_regulation
        scopes: [query]
        secret_hash: "scrypt$16384$8$5$<salt b64>$<hash b64>"

Secrets are never stored in clear: only a salted scrypt hash whose parameters travel with it, so the
cost can be raised later without invalidating existing clients. ``new_client`` mints a client and
hands back its secret exactly once.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from gateway.adapters.yaml_files import load_yaml
from gateway.domain.detector import contains_identifier
from gateway.errors import ConfigurationError

log = logging.getLogger("gateway.adapters.client_files")

KNOWN_SCOPES = frozenset(
    {
        "query",
        "grants:read",
        "grants:write",
        "records:repair",
        "lists:write",
        "audit:read",
        "audit:review",
        "policy:admin",
    }
)

# OWASP's scrypt alternative to N=2^17, r=8, p=1 with a sixth of the memory (16 MiB): N=2^14, r=8, p=5.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 5
_SALT_BYTES = 16
_HASH_BYTES = 32
# Bounds on parameters read back from a file, so a bad entry cannot make verification exhaust memory.
_MAX_N = 2**20
_MAX_R = 32
_MAX_P = 16
_MAX_MEM = 256 * 1024 * 1024

_CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_DEPARTMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class ScryptHash:
    """A parsed ``scrypt$n$r$p$salt$hash`` string."""

    n: int
    r: int
    p: int
    salt: bytes
    digest: bytes

    @classmethod
    def parse(cls, encoded: str) -> ScryptHash:
        """Parse and bound-check an encoded hash; raise ValueError if it is not one."""
        parts = encoded.split("$")
        if len(parts) != 6 or parts[0] != "scrypt":
            raise ValueError("not a scrypt$n$r$p$salt$hash string")
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        if n < 2 or n & (n - 1) or n > _MAX_N or not 1 <= r <= _MAX_R or not 1 <= p <= _MAX_P:
            raise ValueError("scrypt parameters out of range")
        try:
            salt, digest = _unb64(parts[4]), _unb64(parts[5])
        except (binascii.Error, ValueError) as exc:
            raise ValueError("salt or hash is not base64url") from exc
        if len(salt) < 8 or len(digest) < 16:
            raise ValueError("salt or hash too short")
        return cls(n, r, p, salt, digest)

    def derive(self, secret: str) -> bytes:
        """The scrypt output for ``secret`` under these parameters and salt."""
        return hashlib.scrypt(
            secret.encode("utf-8"),
            salt=self.salt,
            n=self.n,
            r=self.r,
            p=self.p,
            maxmem=_MAX_MEM,
            dklen=len(self.digest),
        )


def hash_client_secret(secret: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """Hash a client secret with scrypt and a fresh salt: ``scrypt$n$r$p$salt$hash`` (base64url)."""
    if not secret:
        raise ConfigurationError("a client secret must not be empty")
    salt = secrets.token_bytes(_SALT_BYTES)
    try:
        # Parse before deriving: parameters that verification would refuse are refused here too.
        params = ScryptHash.parse(f"scrypt${n}${r}${p}${_b64(salt)}${_b64(bytes(_HASH_BYTES))}")
    except ValueError as exc:
        raise ConfigurationError(f"scrypt parameters refused: {exc}") from exc
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(params.derive(secret))}"


def verify_client_secret(secret: str, encoded: str) -> bool:
    """True when ``secret`` matches the encoded hash; the comparison is constant-time."""
    try:
        stored = ScryptHash.parse(encoded)
    except ValueError:
        return False
    return hmac.compare_digest(stored.derive(secret), stored.digest)


@cache
def _decoy_hash() -> str:
    # Verified against when the client is unknown, so an unknown id costs what a wrong secret costs.
    return hash_client_secret(secrets.token_urlsafe(32))


@dataclass(frozen=True, slots=True)
class ClientRecord:
    """A registered OAuth client: its department, the scopes it may be granted, its secret's hash."""

    client_id: str
    department: str
    scopes: frozenset[str]
    secret_hash: str = field(repr=False)

    def check_secret(self, secret: str) -> bool:
        """True when ``secret`` is this client's secret."""
        return verify_client_secret(secret, self.secret_hash)

    def as_dict(self) -> dict[str, Any]:
        """The record as it is written in the clients file."""
        return {
            "client_id": self.client_id,
            "department": self.department,
            "scopes": sorted(self.scopes),
            "secret_hash": self.secret_hash,
        }


def _check_scopes(scopes: Iterable[str], where: str) -> frozenset[str]:
    values = frozenset(scopes)
    unknown = values - KNOWN_SCOPES
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown scope(s) {sorted(unknown)}", accepted=" ".join(sorted(KNOWN_SCOPES))
        )
    return values


def _record(raw: Any, position: int) -> ClientRecord:
    where = f"client #{position}"
    if not isinstance(raw, Mapping):
        raise ConfigurationError(f"{where}: must be a mapping")
    client_id = raw.get("client_id")
    if not isinstance(client_id, str) or not _CLIENT_ID.fullmatch(client_id):
        raise ConfigurationError(f"{where}: client_id must match {_CLIENT_ID.pattern}", field="client_id")
    if contains_identifier(client_id):
        # A client_id is logged and echoed in tokens: it must never be a person's identifier.
        raise ConfigurationError(f"{where}: client_id holds a personal identifier", field="client_id")
    where = f"client {client_id!r}"
    department = raw.get("department")
    if not isinstance(department, str) or not _DEPARTMENT.fullmatch(department):
        raise ConfigurationError(f"{where}: department must be a non-empty identifier", field="department")
    scopes = raw.get("scopes")
    if not isinstance(scopes, list) or not scopes or not all(isinstance(s, str) for s in scopes):
        raise ConfigurationError(f"{where}: scopes must be a non-empty list of strings", field="scopes")
    secret_hash = raw.get("secret_hash")
    if not isinstance(secret_hash, str):
        raise ConfigurationError(f"{where}: secret_hash is required", field="secret_hash")
    try:
        ScryptHash.parse(secret_hash)
    except ValueError as exc:
        raise ConfigurationError(
            f"{where}: secret_hash is not a valid scrypt hash ({exc})",
            field="secret_hash",
            accepted="scrypt$n$r$p$salt$hash as written by hash_client_secret",
        ) from exc
    extra = set(raw) - {"client_id", "department", "scopes", "secret_hash"}
    if extra:
        # A stray "secret" key would mean a clear-text secret sits in the file: refuse it loudly.
        raise ConfigurationError(f"{where}: unknown key(s) {sorted(extra)}")
    return ClientRecord(client_id, department, _check_scopes(scopes, where), secret_hash)


class ClientRegistry:
    """The registered clients, looked up by client_id."""

    def __init__(self, clients: Iterable[ClientRecord]) -> None:
        self._clients: dict[str, ClientRecord] = {}
        for client in clients:
            if client.client_id in self._clients:
                raise ConfigurationError(f"client {client.client_id!r} is registered twice")
            _check_scopes(client.scopes, f"client {client.client_id!r}")
            self._clients[client.client_id] = client

    @classmethod
    def from_document(cls, document: Any) -> ClientRegistry:
        """Build from parsed YAML/JSON: a list of clients or ``{"clients": [...]}``."""
        if isinstance(document, Mapping) and set(document) == {"clients"}:
            document = document["clients"]
        if not isinstance(document, list):
            raise ConfigurationError("clients file must hold a list of clients (or a 'clients' list)")
        return cls(_record(raw, i) for i, raw in enumerate(document, start=1))

    @classmethod
    def from_file(cls, path: Path | str) -> ClientRegistry:
        """Load a YAML (``.yaml``/``.yml``) or JSON clients file; raise ConfigurationError if invalid."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(f"clients file {path} cannot be read") from exc
        try:
            document = json.loads(text) if path.suffix == ".json" else load_yaml(text)
        except (ValueError, yaml.YAMLError) as exc:
            raise ConfigurationError(f"clients file {path} is not valid YAML/JSON") from exc
        return cls.from_document(document)

    def to_document(self) -> dict[str, list[dict[str, Any]]]:
        """The registry as a clients-file document (hashes only, never secrets)."""
        return {"clients": [c.as_dict() for c in self]}

    @property
    def departments(self) -> frozenset[str]:
        """The departments the registered clients act for."""
        return frozenset(c.department for c in self._clients.values())

    def get(self, client_id: str) -> ClientRecord | None:
        """The client registered under ``client_id``, or None."""
        return self._clients.get(client_id)

    def authenticate(self, client_id: str, secret: str) -> ClientRecord | None:
        """The client if ``secret`` is its secret, else None; unknown ids take as long as wrong secrets."""
        client = self._clients.get(client_id)
        if client is None:
            verify_client_secret(secret, _decoy_hash())
            return None
        return client if client.check_secret(secret) else None

    def __iter__(self) -> Iterator[ClientRecord]:
        return iter(self._clients.values())

    def __len__(self) -> int:
        return len(self._clients)

    def __contains__(self, client_id: object) -> bool:
        return client_id in self._clients


def new_client(
    client_id: str, department: str, scopes: Iterable[str], **scrypt_params: int
) -> tuple[ClientRecord, str]:
    """Mint a client with a random 256-bit secret; return the record and the secret (shown once)."""
    secret = secrets.token_urlsafe(32)
    raw = {
        "client_id": client_id,
        "department": department,
        "scopes": sorted(scopes),
        "secret_hash": hash_client_secret(secret, **scrypt_params),
    }
    return _record(raw, 1), secret


_RELOAD_EVERY_S = 1.0


def _file_stamp(path: Path) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class ReloadingClientRegistry:
    """The clients file, re-read when it changes: checked at most once a second (size, mtime, inode).

    A new reading replaces the old one in one assignment, so a request sees either every old client
    or every new one. A file that no longer parses (an editor's half-written save, a typo) keeps the
    clients of the last good reading and logs one line per bad version, not one per request.
    """

    def __init__(self, path: Path | str, *, reload_every_s: float = _RELOAD_EVERY_S) -> None:
        self.path = Path(path)
        self._reload_every_s = reload_every_s
        self._lock = threading.Lock()
        self._stamp = _file_stamp(self.path)
        self._current = ClientRegistry.from_file(self.path)  # at start-up a bad file is fatal
        self._checked = time.monotonic()
        self._refused: tuple[int, int, int, int] | None = None

    def current(self) -> ClientRegistry:
        """The clients of the newest good reading of the file."""
        now = time.monotonic()
        if now - self._checked >= self._reload_every_s and self._lock.acquire(blocking=False):
            try:
                self._checked = now
                self._reload_if_changed()
            finally:
                self._lock.release()
        return self._current

    def _reload_if_changed(self) -> None:
        stamp = _file_stamp(self.path)
        if stamp == self._stamp or stamp == self._refused:
            return
        try:
            fresh = ClientRegistry.from_file(self.path)
        except ConfigurationError:
            self._refused = stamp
            log.warning("clients file changed but is invalid; the previous clients stay in force")
            return
        self._current, self._stamp, self._refused = fresh, stamp, None
        log.info("clients file reloaded", extra={"clients": len(fresh)})

    def get(self, client_id: str) -> ClientRecord | None:
        """The client registered under ``client_id``, or None."""
        return self.current().get(client_id)

    def authenticate(self, client_id: str, secret: str) -> ClientRecord | None:
        """The client if ``secret`` is its secret, else None (same cost for unknown ids)."""
        return self.current().authenticate(client_id, secret)

    def __len__(self) -> int:
        return len(self.current())


class HashingPoolSaturated(Exception):
    """Every slot of the secret-hashing pool is taken (the caller refuses at once)."""


def _lower_priority() -> None:
    # Linux schedules threads as tasks: a nice value on this thread alone lets query threads win the
    # CPU from a burst of secret checks. Elsewhere (or without permission) it is simply skipped.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


class SecretHashingPool:
    """Secret checks (a deliberately slow scrypt) on their own few threads, with a bounded queue.

    Apart from the thread pool that serves queries, so a burst of token requests cannot take the
    threads queries need; bounded, so a burst is refused at once (``HashingPoolSaturated``) instead of
    queueing without limit while every caller's time runs out. ``admitted`` bounds whole token
    requests the same way (their throttle reads and writes use the shared threads briefly): at most
    ``limit`` are in progress in a process, whatever the burst.
    """

    def __init__(self, workers: int = 1, queue: int = 4) -> None:
        if workers < 1 or queue < 0:
            raise ConfigurationError("the secret-hashing pool needs at least one thread")
        self.workers = workers
        self.limit = workers + queue
        self._executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="secret-hash", initializer=_lower_priority
        )
        self._lock = threading.Lock()
        self._in_flight = 0
        self._admitted = 0

    @contextlib.contextmanager
    def admitted(self) -> Iterator[None]:
        """Hold one of ``limit`` token-request slots; raise HashingPoolSaturated when none is free."""
        with self._lock:
            if self._admitted >= self.limit:
                raise HashingPoolSaturated
            self._admitted += 1
        try:
            yield
        finally:
            with self._lock:
                self._admitted -= 1

    @property
    def in_flight(self) -> int:
        """Secret checks running or waiting now."""
        return self._in_flight

    async def authenticate(self, registry: Any, client_id: str, secret: str) -> Any:
        """``registry.authenticate(client_id, secret)`` on the pool; raise HashingPoolSaturated when full."""
        with self._lock:
            if self._in_flight >= self.limit:
                raise HashingPoolSaturated
            self._in_flight += 1
        try:
            future = self._executor.submit(registry.authenticate, client_id, secret)
        except RuntimeError:  # shut down
            self._release()
            raise HashingPoolSaturated from None
        # Released when the check ends, not when the caller stops waiting: a client that hangs up
        # does not free a slot its scrypt still occupies.
        future.add_done_callback(lambda _: self._release())
        return await asyncio.wrap_future(future)

    def _release(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def close(self) -> None:
        """Stop the threads (waiting for the checks that run)."""
        self._executor.shutdown(wait=True, cancel_futures=True)
