"""Console users: the users file, ``gateway users add|reset|disable``, password and TOTP checks."""

from __future__ import annotations

import stat
from pathlib import Path

import pyotp
import pytest
import yaml

from gateway.adapters.console_users import FileUserDirectory, UserFile
from gateway.cli.main import main
from gateway.errors import ConfigurationError
from tests.conftest import FIXED_NOW


def run(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(list(args)) == 0
    return capsys.readouterr().out


def secrets_of(out: str) -> tuple[str, str]:
    values = dict(
        line.strip().split(":", 1) for line in out.splitlines() if ":" in line and line.startswith("  ")
    )
    return values["password"].strip(), values["TOTP seed"].strip()


def test_add_reset_disable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "users.yaml"
    out = run(
        capsys,
        "users",
        "add",
        "li.auditor",
        "--file",
        str(path),
        "--role",
        "auditor",
        "--department",
        "audit_office",
    )
    password, seed = secrets_of(out)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = path.read_text(encoding="utf-8")
    assert password not in stored  # only the scrypt hash
    directory = FileUserDirectory(path)
    user = directory.check_password("li.auditor", password)
    assert user is not None
    assert user.scopes == frozenset({"audit:read", "audit:review", "audit:export"})
    assert directory.check_password("li.auditor", password + "x") is None
    assert directory.check_password("nobody", password) is None
    code = pyotp.TOTP(seed).at(FIXED_NOW)
    assert directory.totp_step("li.auditor", code, FIXED_NOW) == int(FIXED_NOW.timestamp()) // 30
    assert directory.totp_step("li.auditor", "12345", FIXED_NOW) is None

    out = run(capsys, "users", "reset", "li.auditor", "--file", str(path))
    new_password, new_seed = secrets_of(out)
    assert new_seed != seed
    after = directory.get("li.auditor")
    assert after is not None
    assert after.totp_digest != user.totp_digest  # enrolment is asked again
    assert directory.check_password("li.auditor", password) is None
    assert directory.check_password("li.auditor", new_password) is not None

    run(capsys, "users", "disable", "li.auditor", "--file", str(path))
    assert directory.get("li.auditor") is None
    assert directory.check_password("li.auditor", new_password) is None


def test_the_users_file_refuses_clear_passwords_and_unknown_roles(tmp_path: Path) -> None:
    good = {
        "username": "a.b",
        "department": "d",
        "role": "auditor",
        "password_hash": "scrypt$x",
        "totp_secret": "A" * 32,
    }
    with pytest.raises(ConfigurationError, match="unknown key"):
        UserFile.from_document({"users": [{**good, "password": "hunter2hunter2"}]})
    with pytest.raises(ConfigurationError, match="unknown role"):
        UserFile.from_document({"users": [{**good, "role": "root"}]})
    with pytest.raises(ConfigurationError, match="unknown scope"):
        UserFile.from_document({"roles": {"auditor": ["everything"]}, "users": []})
    roles = UserFile.from_document(yaml.safe_load("roles: {reader: [audit:read]}\nusers: []")).roles
    assert roles == {"reader": frozenset({"audit:read"})}


def test_short_passwords_are_refused(tmp_path: Path) -> None:
    from gateway.adapters.console_users import add_user

    with pytest.raises(ConfigurationError, match="at least"):
        add_user(UserFile.load(tmp_path / "u.yaml"), "x.y", department="d", role="auditor", password="short")
