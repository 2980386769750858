"""``gateway serve`` started as a real subprocess against a deployment missing one thing at a time:
it exits with status 2 and one line on stderr saying what is missing and the command that fixes it,
and never a traceback. (A complete deployment passes the same checks.)
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.engine import make_url

from gateway.cli.preflight import preflight
from gateway.settings import load_settings
from tests.support.gateway_app import ROOT, deployment_settings, running_gateway

START_TIMEOUT_S = 120


def write_config(tmp_path: Path, **changes: Any) -> Path:
    settings = deployment_settings(tmp_path)
    document: dict[str, Any] = {
        "policies_dir": str(settings.policies_dir),
        "keys_dir": str(settings.keys_dir),
        "clients_file": str(settings.clients_file),
        "ledger_url": settings.ledger_url,
        "ledger_origin": settings.ledger_origin,
        "sources": settings.sources,
        "issuer": settings.issuer,
        "audience": settings.audience,
    }
    document.update(changes)
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    return path


def serve(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "serve", "--config", str(config), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
        cwd=ROOT,
        check=False,
    )


def assert_one_line(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("gateway cannot start: ")
    for part in expected:
        assert part in line, line
    return line


def test_a_complete_deployment_passes_the_checks(tmp_path: Path) -> None:
    preflight(write_config(tmp_path))


def test_missing_configuration_file(tmp_path: Path) -> None:
    assert_one_line(serve(tmp_path / "absent.yaml"), "absent.yaml does not exist", "fix: gateway demo")


def test_missing_keys(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    for key in (tmp_path / "keys").rglob("commitment.key"):
        key.unlink()
    line = assert_one_line(serve(config), "commitment", "[key_unavailable]")
    assert line.endswith(f"fix: gateway keys init --dir {tmp_path / 'keys'}")


def test_missing_private_key(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    for key in (tmp_path / "keys").rglob("ledger.pem"):
        key.unlink()
    assert_one_line(serve(config), "ledger", "fix: gateway keys init --dir")


def test_missing_catalog(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies)
    shutil.rmtree(policies / "catalog")
    config = write_config(tmp_path, policies_dir=str(policies))
    assert_one_line(serve(config), f"fix: gateway catalog check --policies {policies}")


def test_missing_policies(tmp_path: Path) -> None:
    config = write_config(tmp_path, policies_dir=str(tmp_path / "nowhere"))
    assert_one_line(serve(config), "fix: gateway policy test --policies")


def test_missing_clients_file(tmp_path: Path) -> None:
    config = write_config(tmp_path, clients_file=str(tmp_path / "absent-clients.yaml"))
    assert_one_line(serve(config), "absent-clients.yaml", "gateway clients hash-secret")


@pytest.mark.parametrize(
    ("change", "mentions"),
    [
        ({"token_lifetime_s": 5}, "token_lifetime_s"),
        ({"no_such_setting": 1}, "no_such_setting"),
        ({"max_body_bytes": 10}, "max_body_bytes"),
        ({"source_statement_timeout_s": 0}, "source_statement_timeout_s"),
    ],
)
def test_bad_settings(tmp_path: Path, change: dict[str, Any], mentions: str) -> None:
    config = write_config(tmp_path, **change)
    assert_one_line(serve(config), mentions, f"fix: correct {config}")


@pytest.fixture
def empty_postgres_schema(postgres_url: str) -> Iterator[str]:
    schema = f"gw_test_{secrets.token_hex(4)}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield (
            make_url(postgres_url)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def test_unmigrated_database(tmp_path: Path, empty_postgres_schema: str) -> None:
    config = write_config(tmp_path, ledger_url=empty_postgres_schema)
    assert_one_line(serve(config), "has no gateway schema", f"fix: gateway db upgrade --config {config}")


def test_a_ledger_of_another_origin(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    with running_gateway(load_settings(config)):
        pass  # the ledger is created, with the configured origin
    document = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**document, "ledger_origin": "elsewhere.example/ledger"}))
    assert_one_line(serve(config), "elsewhere.example/ledger", "fix: set ledger_origin in")
