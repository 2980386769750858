"""Keys on disk under one directory (``keys/`` by default).

Layout::

    <dir>/private/<name>.pem            current Ed25519 private key   (mode 0600, git-ignored)
    <dir>/private/<name>.<n>.pem        previous private keys after rotation, n = 1, 2, ...
    <dir>/private/secrets/<name>.key    32-byte symmetric secrets, hex (mode 0600, git-ignored)
    <dir>/public/<name>.pem             current public key (safe to publish)
    <dir>/public/<name>.<n>.pem         previous public keys, kept so tokens and checkpoints still verify

Nothing is generated on read: a missing key is a KeyUnavailable error, so a misconfigured deployment
refuses requests instead of silently minting fresh keys.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.errors import KeyUnavailable

SIGNING_KEYS = ("token", "ledger")
SECRETS = ("commitment", "pseudonym", "encryption")
_NAME = re.compile(r"[a-z][a-z0-9_-]{0,40}")


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise KeyUnavailable(f"invalid key name {name!r}")
    return name


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


class FileKeyStore:
    """KeyStore backed by files; caches what it has read (keys do not change under a running process)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._secrets: dict[str, bytes] = {}
        self._private: dict[str, bytes] = {}

    @property
    def private_dir(self) -> Path:
        return self.directory / "private"

    @property
    def public_dir(self) -> Path:
        return self.directory / "public"

    def secret(self, name: str) -> bytes:
        cached = self._secrets.get(name)
        if cached is not None:
            return cached
        path = self.private_dir / "secrets" / f"{_check_name(name)}.key"
        try:
            value = bytes.fromhex(path.read_text().strip())
        except (OSError, ValueError) as exc:
            raise KeyUnavailable(f"secret {name!r} is missing or unreadable") from exc
        if len(value) != 32:
            raise KeyUnavailable(f"secret {name!r} must be 32 bytes")
        self._secrets[name] = value
        return value

    def private_key_pem(self, name: str) -> bytes:
        cached = self._private.get(name)
        if cached is not None:
            return cached
        path = self.private_dir / f"{_check_name(name)}.pem"
        try:
            value = path.read_bytes()
        except OSError as exc:
            raise KeyUnavailable(f"private key {name!r} is missing or unreadable") from exc
        self._private[name] = value
        return value

    def public_keys_pem(self, name: str) -> Sequence[bytes]:
        _check_name(name)
        current = self.public_dir / f"{name}.pem"
        if not current.exists():
            raise KeyUnavailable(f"public key {name!r} is missing")
        previous = sorted(
            self.public_dir.glob(f"{name}.*.pem"), key=lambda p: int(p.name.split(".")[1]), reverse=True
        )
        return [current.read_bytes(), *(p.read_bytes() for p in previous)]

    # --- management (used by `gateway keys init` / `gateway keys rotate`) ---

    def init(self) -> list[str]:
        """Create every missing key and secret; never overwrite. Returns what was created."""
        created: list[str] = []
        for name in SIGNING_KEYS:
            if not (self.private_dir / f"{name}.pem").exists():
                self._new_signing_key(name)
                created.append(f"private/{name}.pem")
        for name in SECRETS:
            path = self.private_dir / "secrets" / f"{name}.key"
            if not path.exists():
                _write_private(path, secrets.token_hex(32).encode())
                created.append(f"private/secrets/{name}.key")
        return created

    def rotate(self, name: str) -> None:
        """Move the current key of ``name`` to the next previous slot and create a new current key."""
        _check_name(name)
        existing = [int(p.name.split(".")[1]) for p in self.public_dir.glob(f"{name}.*.pem")]
        slot = max(existing, default=0) + 1
        (self.private_dir / f"{name}.pem").rename(self.private_dir / f"{name}.{slot}.pem")
        (self.public_dir / f"{name}.pem").rename(self.public_dir / f"{name}.{slot}.pem")
        self._private.pop(name, None)
        self._new_signing_key(name)

    def _new_signing_key(self, name: str) -> None:
        key = Ed25519PrivateKey.generate()
        _write_private(
            self.private_dir / f"{name}.pem",
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        )
        self.public_dir.mkdir(parents=True, exist_ok=True)
        (self.public_dir / f"{name}.pem").write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
