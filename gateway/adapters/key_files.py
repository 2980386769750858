"""Keys on disk under one directory (``keys/`` by default).

Layout::

    <dir>/private/<name>.pem            current Ed25519 private key   (mode 0600, git-ignored)
    <dir>/private/<name>.<n>.pem        previous private keys after rotation, n = 1, 2, ...
    <dir>/private/secrets/<name>.key    32-byte symmetric secrets, hex (mode 0600, git-ignored)
    <dir>/public/<name>.pem             current public key (safe to publish)
    <dir>/public/<name>.<n>.pem         previous public keys, kept so tokens and checkpoints still verify
    <dir>/public/<name>.<n>.superseded  when key n stopped signing (epoch seconds), for ``retire``

Rotation takes effect in running processes without a restart: a private key is re-``stat``ed at most
once a second (``PRIVATE_RECHECK_S``) and re-read when its file changed. ``rotate`` publishes the new
public key before it swaps the private one (each file replaced by an atomic rename), so no process
ever signs with a key the public directory does not hold yet.

Nothing is generated on read: a missing key is a KeyUnavailable error, so a misconfigured deployment
refuses requests instead of silently minting fresh keys.

Public keys are read on every request that verifies a token, so their reading is cached, but never
trusted blindly: each call re-``stat``s the public directory and every cached file, and any change
(a key added, rotated, rewritten or retired) makes the next call read the files again. A cache filled
within a few seconds of the last change is not trusted at all (file timestamps can be coarser than
the time between two changes), which keeps "retire a key, and tokens it signed stop verifying"
exact, as it is without a cache.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.errors import KeyRetirementRefused, KeyUnavailable

SIGNING_KEYS = ("token", "ledger")
SECRETS = ("commitment", "pseudonym", "encryption")
_NAME = re.compile(r"[a-z][a-z0-9_-]{0,40}")
# A read is only reused once everything it depends on is older than this (racy-git rule): changes
# closer together than the filesystem's timestamp granularity could otherwise go unseen.
_SETTLED_NS = 5_000_000_000

_Stamp = tuple[int, int, int, int, int]
# How stale a process's private key may be after a rotation: the longest a worker keeps signing with
# the key just replaced (so ``rotate`` dates the supersession that much later).
PRIVATE_RECHECK_S = 1.0


def _stamp(path: str) -> _Stamp:
    """What changes when a file or directory is replaced, rewritten, renamed into, or removed from."""
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@dataclass(frozen=True, slots=True)
class _PublicRead:
    """One reading of a key's public files and the stamps they had just before they were read."""

    paths: tuple[str, ...]  # the public directory, then the key files, current first
    stamps: tuple[_Stamp, ...]
    pems: tuple[bytes, ...]

    def still_valid(self) -> bool:
        try:
            return tuple(_stamp(path) for path in self.paths) == self.stamps
        except OSError:
            return False


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise KeyUnavailable(f"invalid key name {name!r}")
    return name


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _replace(path: Path, data: bytes, mode: int) -> None:
    """Write ``path`` whole, by an atomic rename: a reader sees the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700 if mode == 0o600 else 0o755)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class FileKeyStore:
    """KeyStore backed by files; caches what it has read.

    Secrets and private keys do not change under a running process (``rotate`` drops the private key
    it replaces). Public keys are re-validated on every call against the files' stamps (see the
    module docstring), so a rotation or a retirement done by another process is seen at once.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._secrets: dict[str, bytes] = {}
        # name -> (stamp of the file when read, monotonic time of the last stat, the PEM)
        self._private: dict[str, tuple[_Stamp, float, bytes]] = {}
        self._public: dict[str, _PublicRead] = {}

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
        now = time.monotonic()
        if cached is not None and now - cached[1] < PRIVATE_RECHECK_S:
            return cached[2]
        path = self.private_dir / f"{_check_name(name)}.pem"
        try:
            stamp = _stamp(str(path))
            if cached is not None and cached[0] == stamp:
                self._private[name] = (stamp, now, cached[2])
                return cached[2]
            value = path.read_bytes()
        except OSError as exc:
            raise KeyUnavailable(f"private key {name!r} is missing or unreadable") from exc
        self._private[name] = (stamp, now, value)
        return value

    def public_keys_pem(self, name: str) -> Sequence[bytes]:
        _check_name(name)
        cached = self._public.get(name)
        if cached is not None and cached.still_valid():
            return list(cached.pems)
        self._public.pop(name, None)
        return self._read_public(name)

    def _read_public(self, name: str) -> list[bytes]:
        directory = str(self.public_dir)
        try:
            before = _stamp(directory)
        except OSError as exc:
            raise KeyUnavailable(f"public key {name!r} is missing") from exc
        current = self.public_dir / f"{name}.pem"
        if not current.exists():
            raise KeyUnavailable(f"public key {name!r} is missing")
        previous = sorted(
            self.public_dir.glob(f"{name}.*.pem"), key=lambda p: int(p.name.split(".")[1]), reverse=True
        )
        files = [str(current), *(str(p) for p in previous)]
        try:
            stamps = (before, *(_stamp(path) for path in files))
            pems = tuple(Path(path).read_bytes() for path in files)
            unchanged = _stamp(directory) == before
        except OSError as exc:  # a file renamed or removed while we read: refuse, the next call re-reads
            raise KeyUnavailable(f"public key {name!r} is unreadable") from exc
        settled = max(stamp[4] for stamp in stamps) < time.time_ns() - _SETTLED_NS
        if unchanged and settled:
            self._public[name] = _PublicRead((directory, *files), stamps, pems)
        return list(pems)

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
        """Keep the current key of ``name`` as the next previous one and make a new current key.

        Order matters for the processes running meanwhile: the old public key is kept under its
        slot, then the new public key is published, then the private key is swapped (each by an
        atomic rename). At every moment the key any process signs with is in the public set.
        """
        _check_name(name)
        existing = [int(p.name.split(".")[1]) for p in self.public_dir.glob(f"{name}.*.pem")]
        slot = max(existing, default=0) + 1
        current_private = self.private_dir / f"{name}.pem"
        current_public = self.public_dir / f"{name}.pem"
        try:
            old_private, old_public = current_private.read_bytes(), current_public.read_bytes()
        except OSError as exc:
            raise KeyUnavailable(f"key {name!r} has no current key to rotate (run keys init)") from exc
        key = Ed25519PrivateKey.generate()
        new_private = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        new_public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        _replace(self.public_dir / f"{name}.{slot}.pem", old_public, 0o644)
        _write_private(self.private_dir / f"{name}.{slot}.pem", old_private)
        _replace(current_public, new_public, 0o644)
        _replace(current_private, new_private, 0o600)
        # Processes may sign with the old key until their next re-check of the private file.
        superseded = int(time.time() + PRIVATE_RECHECK_S + 1)
        _replace(self.public_dir / f"{name}.{slot}.superseded", f"{superseded}\n".encode(), 0o644)
        self._private.pop(name, None)
        self._public.pop(name, None)

    def previous_keys(self, name: str) -> list[tuple[int, int]]:
        """(slot, epoch second it stopped signing) of every previous key of ``name``, oldest first."""
        _check_name(name)
        out = []
        for path in self.public_dir.glob(f"{name}.*.pem"):
            slot = int(path.name.split(".")[1])
            marker = self.public_dir / f"{name}.{slot}.superseded"
            try:
                superseded = int(marker.read_text().strip())
            except (OSError, ValueError):
                # Rotated before markers existed: the slot file was written when the key stopped.
                superseded = int(path.stat().st_mtime) + int(PRIVATE_RECHECK_S) + 1
            out.append((slot, superseded))
        return sorted(out)

    def retire(self, name: str, *, valid_for_s: int, now: float | None = None) -> list[str]:
        """Remove the previous keys of ``name`` that signed nothing still valid; return what was removed.

        ``valid_for_s`` is how long a signature of the key stays valid after the key stopped signing
        (a token's lifetime plus the verifiers' leeway). Raise KeyRetirementRefused, removing nothing,
        when any previous key may still have signed a valid token.
        """
        if name != "token":
            raise KeyRetirementRefused(
                f"{name!r} keys are never retired: checkpoints signed by them must stay verifiable"
            )
        moment = time.time() if now is None else now
        previous = self.previous_keys(name)
        if not previous:
            raise KeyRetirementRefused(f"there is no previous {name!r} key to retire")
        early = [(slot, at + valid_for_s) for slot, at in previous if at + valid_for_s > moment]
        if early:
            until = max(t for _, t in early)
            stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(until))
            raise KeyRetirementRefused(
                f"previous {name!r} key(s) {', '.join(str(s) for s, _ in early)} may have signed tokens "
                f"still valid until {stamp} ({int(until - moment)} s from now); nothing was removed"
            )
        removed = []
        for slot, _ in previous:
            for path in (
                self.public_dir / f"{name}.{slot}.pem",
                self.private_dir / f"{name}.{slot}.pem",
                self.public_dir / f"{name}.{slot}.superseded",
            ):
                if path.exists():
                    path.unlink()
                    removed.append(str(path.relative_to(self.directory)))
        self._public.pop(name, None)
        return removed

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
