"""Console users: people with a password and a TOTP second factor, and the roles that give them scopes.

The users file sits beside the clients file (``users.yaml`` in the same folder)::

    roles:                      # optional; these are the defaults
      auditor: [audit:read, audit:review, audit:export]
      security: [policy:admin, audit:read]
      source: [records:repair, grants:read]
    users:
      - username: li.auditor
        display_name: 李审计
        department: audit_office
        role: auditor
        password_hash: "scrypt$16384$8$5$<salt>$<hash>"
        totp_secret: "<base32 seed>"
        disabled: false

Passwords are stored as salted scrypt hashes (the clients file's scheme). The TOTP seed has to be
stored as it is, since the server computes the codes too: the file is written with mode 0600, and the
console shows the seed only while the person enrols. The file is re-read when it changes on disk, so
``gateway users disable`` takes effect in every worker at the next request.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import pyotp
import yaml

from gateway.adapters.client_files import hash_client_secret, verify_client_secret
from gateway.errors import ConfigurationError
from gateway.ports import ConsoleUser

USERS_FILE_NAME = "users.yaml"
DEFAULT_ROLES: dict[str, tuple[str, ...]] = {
    "auditor": ("audit:read", "audit:review", "audit:export"),
    "security": ("policy:admin", "audit:read"),
    "source": ("records:repair", "grants:read"),
}
KNOWN_SCOPES = frozenset(
    {"audit:read", "audit:review", "audit:export", "policy:admin", "records:repair", "grants:read"}
)
TOTP_ISSUER = "credit-gateway"
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")
_DEPARTMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_BASE32 = re.compile(r"[A-Z2-7]{32,128}")
MIN_PASSWORD_LENGTH = 12


def users_file_beside(clients_file: Path) -> Path:
    """Where the users file of a deployment is: next to its clients file."""
    return clients_file.with_name(USERS_FILE_NAME)


def seed_digest(seed: str) -> str:
    """A short digest naming a TOTP seed without revealing it (enrolment is per seed)."""
    return hashlib.sha256(b"credit-gateway/totp-seed/v1\x00" + seed.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class UserRecord:
    """One line of the users file."""

    username: str
    display_name: str
    department: str
    role: str
    password_hash: str = field(repr=False)
    totp_secret: str = field(repr=False)
    disabled: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The record as the file holds it."""
        return {
            "username": self.username,
            "display_name": self.display_name,
            "department": self.department,
            "role": self.role,
            "password_hash": self.password_hash,
            "totp_secret": self.totp_secret,
            "disabled": self.disabled,
        }


def _record(raw: Any, position: int, roles: Mapping[str, frozenset[str]]) -> UserRecord:
    where = f"user #{position}"
    if not isinstance(raw, Mapping):
        raise ConfigurationError(f"{where}: must be a mapping")
    extra = set(raw) - {
        "username",
        "display_name",
        "department",
        "role",
        "password_hash",
        "totp_secret",
        "disabled",
    }
    if extra:
        # A stray "password" key would mean a clear-text password sits in the file: refuse it loudly.
        raise ConfigurationError(f"{where}: unknown key(s) {sorted(extra)}")
    username = raw.get("username")
    if not isinstance(username, str) or not _USERNAME.fullmatch(username):
        raise ConfigurationError(f"{where}: username must match {_USERNAME.pattern}", field="username")
    where = f"user {username!r}"
    department = raw.get("department")
    if not isinstance(department, str) or not _DEPARTMENT.fullmatch(department):
        raise ConfigurationError(f"{where}: department must be an identifier", field="department")
    role = raw.get("role")
    if role not in roles:
        raise ConfigurationError(f"{where}: unknown role {role!r}", field="role", accepted=", ".join(roles))
    password_hash = raw.get("password_hash")
    if not isinstance(password_hash, str) or not password_hash.startswith("scrypt$"):
        raise ConfigurationError(f"{where}: password_hash must be a scrypt hash", field="password_hash")
    seed = raw.get("totp_secret")
    if not isinstance(seed, str) or not _BASE32.fullmatch(seed):
        raise ConfigurationError(f"{where}: totp_secret must be base32 (32+ characters)", field="totp_secret")
    display = raw.get("display_name", username)
    return UserRecord(
        username=username,
        display_name=str(display),
        department=department,
        role=str(role),
        password_hash=password_hash,
        totp_secret=seed,
        disabled=bool(raw.get("disabled", False)),
    )


class UserFile:
    """The users file: parsed records and roles, written back atomically by the CLI."""

    def __init__(self, users: list[UserRecord], roles: Mapping[str, frozenset[str]]) -> None:
        self.roles = dict(roles)
        self.users = {u.username: u for u in users}
        if len(self.users) != len(users):
            raise ConfigurationError("a console user is listed twice in the users file")

    @classmethod
    def from_document(cls, document: Any) -> UserFile:
        """Build from parsed YAML: ``{"roles": {...}?, "users": [...]}``."""
        if document is None:
            document = {}
        if not isinstance(document, Mapping) or set(document) - {"roles", "users"}:
            raise ConfigurationError("the users file holds a mapping with 'users' and optionally 'roles'")
        raw_roles = document.get("roles") or {name: list(s) for name, s in DEFAULT_ROLES.items()}
        roles: dict[str, frozenset[str]] = {}
        for name, scopes in raw_roles.items():
            if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
                raise ConfigurationError(f"role {name!r}: scopes must be a list of strings")
            unknown = set(scopes) - KNOWN_SCOPES
            if unknown:
                raise ConfigurationError(
                    f"role {name!r}: unknown scope(s) {sorted(unknown)}",
                    accepted=" ".join(sorted(KNOWN_SCOPES)),
                )
            roles[str(name)] = frozenset(scopes)
        raw_users = document.get("users") or []
        if not isinstance(raw_users, list):
            raise ConfigurationError("'users' must be a list")
        return cls([_record(r, i, roles) for i, r in enumerate(raw_users, start=1)], roles)

    @classmethod
    def load(cls, path: Path) -> UserFile:
        """Read ``path``; a missing file is an empty list of users (the console then admits nobody)."""
        if not path.exists():
            return cls.from_document(None)
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigurationError(f"users file {path} cannot be read as YAML") from exc
        return cls.from_document(document)

    def save(self, path: Path) -> None:
        """Write atomically with mode 0600 (the file holds TOTP seeds)."""
        document = {
            "roles": {name: sorted(scopes) for name, scopes in self.roles.items()},
            "users": [u.as_dict() for u in self.users.values()],
        }
        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".users-", suffix=".yaml")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def __iter__(self) -> Iterator[UserRecord]:
        return iter(self.users.values())


def new_password() -> str:
    """A random password of 20 characters from an unambiguous alphabet."""
    alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(20))


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigurationError(
            f"a console password needs at least {MIN_PASSWORD_LENGTH} characters", field="password"
        )


def add_user(
    users: UserFile,
    username: str,
    *,
    department: str,
    role: str,
    display_name: str | None = None,
    password: str | None = None,
    **scrypt_params: int,
) -> tuple[UserRecord, str]:
    """Add a user with a fresh TOTP seed; return the record and the password (shown once)."""
    if username in users.users:
        raise ConfigurationError(f"console user {username!r} exists already", field="username")
    password = password or new_password()
    _check_password(password)
    raw = {
        "username": username,
        "display_name": display_name or username,
        "department": department,
        "role": role,
        "password_hash": hash_client_secret(password, **scrypt_params),
        "totp_secret": pyotp.random_base32(32),
        "disabled": False,
    }
    record = _record(raw, len(users.users) + 1, users.roles)
    users.users[username] = record
    return record, password


def reset_user(
    users: UserFile, username: str, *, password: str | None = None, **scrypt_params: int
) -> tuple[UserRecord, str]:
    """A new password and a new TOTP seed (the person enrols again); the account is enabled."""
    old = users.users.get(username)
    if old is None:
        raise ConfigurationError(f"no console user {username!r}", field="username")
    password = password or new_password()
    _check_password(password)
    record = replace(
        old,
        password_hash=hash_client_secret(password, **scrypt_params),
        totp_secret=pyotp.random_base32(32),
        disabled=False,
    )
    users.users[username] = record
    return record, password


def disable_user(users: UserFile, username: str) -> UserRecord:
    """Disable an account: its sessions stop working at their next request."""
    old = users.users.get(username)
    if old is None:
        raise ConfigurationError(f"no console user {username!r}", field="username")
    users.users[username] = replace(old, disabled=True)
    return users.users[username]


@cache
def _decoy_hash() -> str:
    # Checked against when the name is unknown, so an unknown name costs what a wrong password costs.
    return hash_client_secret(secrets.token_urlsafe(16))


class FileUserDirectory:
    """ConsoleUserDirectory over the users file, re-read whenever the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._file = UserFile.from_document(None)
        self._reload()

    def _reload(self) -> None:
        try:
            stat = self.path.stat()
            stamp: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:
            self._file = UserFile.load(self.path)
            self._stamp = stamp

    def _record(self, username: str) -> UserRecord | None:
        self._reload()
        record = self._file.users.get(username)
        return None if record is None or record.disabled else record

    def _user(self, record: UserRecord) -> ConsoleUser:
        return ConsoleUser(
            username=record.username,
            display_name=record.display_name,
            department=record.department,
            role=record.role,
            scopes=self._file.roles[record.role],
            totp_digest=seed_digest(record.totp_secret),
        )

    def get(self, username: str) -> ConsoleUser | None:
        record = self._record(username)
        return None if record is None else self._user(record)

    def check_password(self, username: str, password: str) -> ConsoleUser | None:
        record = self._record(username)
        if record is None:
            verify_client_secret(password, _decoy_hash())
            return None
        return self._user(record) if verify_client_secret(password, record.password_hash) else None

    def totp_step(self, username: str, code: str, now: datetime) -> int | None:
        record = self._record(username)
        if record is None or not (len(code) == 6 and code.isascii() and code.isdigit()):
            return None
        totp = pyotp.TOTP(record.totp_secret)
        step = int(now.timestamp()) // totp.interval
        # One step either side, for clocks that drift; the step found is what replay protection claims.
        for candidate in (step, step - 1, step + 1):
            if secrets.compare_digest(totp.generate_otp(candidate), code):
                return candidate
        return None

    def enrolment_uri(self, username: str) -> str:
        record = self._record(username)
        if record is None:
            raise ConfigurationError(f"no console user {username!r}")
        return pyotp.TOTP(record.totp_secret).provisioning_uri(name=username, issuer_name=TOTP_ISSUER)
