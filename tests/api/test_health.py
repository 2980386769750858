"""/readyz checks every dependency and names what failed by code only: here a source database is down."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.support.gateway_app import deployment_settings, running_gateway
from tests.support.served import free_port


def test_ready_when_every_dependency_answers(tmp_path: Path) -> None:
    with running_gateway(deployment_settings(tmp_path)) as gw:
        response = httpx.get(f"{gw.base_url}/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["failed"] == {}
    assert body["checks"] == {
        "policy_engine": True,
        "ledger": True,
        "grant_store": True,
        "source:court": True,
        "source:market": True,
        "source:tax": True,
    }


def _down_urls(postgres_url: str) -> dict[str, str]:
    missing = f"gw_test_{secrets.token_hex(4)}_dropped"  # a database that does not (or no longer) exist
    return {
        "closed_port": f"postgresql+psycopg://gateway:s3cret-{secrets.token_hex(4)}@127.0.0.1:{free_port()}/court_records_db",
        "missing_database": make_url(postgres_url)
        .set(database=missing)
        .render_as_string(hide_password=False),
    }


@pytest.mark.postgres
@pytest.mark.parametrize("how", ["closed_port", "missing_database"])
def test_a_source_that_is_down_fails_readiness_by_name_without_its_url(
    tmp_path: Path, postgres_url: str, how: str
) -> None:
    settings = deployment_settings(tmp_path)
    down = _down_urls(postgres_url)[how]
    settings = deployment_settings(tmp_path / "down", sources={**settings.sources, "court": down})
    with running_gateway(settings) as gw:
        response = httpx.get(f"{gw.base_url}/readyz")
        assert httpx.get(f"{gw.base_url}/healthz").status_code == 200  # alive, only not ready
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready"
    assert body["failed"] == {"source:court": "source_unavailable"}
    assert body["checks"]["source:court"] is False
    assert all(body["checks"][k] for k in ("policy_engine", "ledger", "grant_store", "source:market"))
    url = make_url(down)
    for secret_part in (down, str(url.host), str(url.database), str(url.port), "s3cret", "psycopg"):
        assert secret_part not in response.text
