"""A production-shaped deployment: ledger and grants on PostgreSQL, sources on PostgreSQL and MariaDB.

Same catalog, policies and queries as the embedded default; the answers must be the same.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.support.demo_databases import demo_databases
from tests.support.gateway_app import Deployment, deployment_settings, running_gateway
from tests.support.ledger import migrate_database

pytestmark = [pytest.mark.postgres, pytest.mark.mariadb]

LICENSING = "admin_licensing_law_34"


@pytest.fixture
def ledger_schema_url(postgres_url: str) -> Iterator[str]:
    schema = f"gw_test_{secrets.token_hex(4)}_ledger"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(postgres_url).update_query_dict({"options": f"-csearch_path={schema}"})
        rendered = url.render_as_string(hide_password=False)
        migrate_database(rendered)  # production: `gateway db upgrade` runs before the gateway starts
        yield rendered
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def _queries(gw: Deployment) -> list[dict[str, Any]]:
    m = gw.manifest
    return [
        {
            "purpose": "admin_licensing_review",
            "legal_basis": LICENSING,
            "items": ["market.enterprise_registration", "market.admin_penalty", "court.dishonest_debtor"],
            "subjects": [{"id_type": "uscc", "value": m.legal_person.value}],
        },
        {
            "purpose": "credit_supervision",
            "legal_basis": "business_environment_53",
            "items": ["court.dishonest_debtor"],
            "subjects": [
                {"id_type": "resident_id", "value": m.natural_person_debtor.value},
                {"id_type": "resident_id", "value": m.minor.value},
                {"id_type": "resident_id", "value": m.removed.value},
            ],
        },
    ]


def _results(gw: Deployment) -> list[Any]:
    out = []
    for body in _queries(gw):
        response = gw.query("platform", body)
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        # record_ref is keyed by each deployment's own commitment key: equal data, different refs.
        for result in results:
            for row in result["rows"]:
                assert len(row.pop("record_ref", "0" * 64)) == 64
        out.append(results)
    return out


def test_postgres_ledger_and_server_sources_answer_like_the_embedded_default(
    tmp_path: Path, postgres_url: str, mariadb_url: str, ledger_schema_url: str
) -> None:
    embedded = deployment_settings(tmp_path / "embedded")
    with running_gateway(embedded) as gw:
        expected = _results(gw)
    assert any(rows["rows"] for query in expected for rows in query)

    with (
        demo_databases("postgresql", server_url=postgres_url) as pg,
        demo_databases("mariadb", server_url=mariadb_url) as maria,
    ):
        sources = {"market": pg.urls["market"], "court": maria.urls["court"], "tax": pg.urls["tax"]}
        settings = deployment_settings(tmp_path / "servers", sources=sources, ledger_url=ledger_schema_url)
        with running_gateway(settings) as gw:
            assert _results(gw) == expected
            records = gw.ledger_records()
    assert [r["decision"] for r in records if r["kind"] == "query"] == ["allow", "allow"]
