"""`run_catalog_check`: the catalog files checked against the real, reflected source databases."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gateway.cli.catalog_check import run_catalog_check
from tests.support.demo_databases import DemoDatabases, backend_params, demo_for

POLICIES = Path(__file__).resolve().parents[2] / "policies"


@pytest.fixture(scope="module", params=backend_params())
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoDatabases]:
    with demo_for(request, request.param, tmp_path_factory.mktemp("demo")) as built:
        yield built


def test_the_shipped_catalog_matches_every_engine(demo: DemoDatabases) -> None:
    assert run_catalog_check(POLICIES, demo.urls) == []


def test_without_databases_only_the_files_are_checked() -> None:
    assert run_catalog_check(POLICIES, None) == []


def test_a_column_missing_from_the_database_is_reported(demo: DemoDatabases, tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES / "catalog", policies / "catalog")
    path = policies / "catalog" / "local_zhejiang" / "data.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["items"]["local.court.consumption_restriction"]["fields"]["measures"]["column"] = "restrictions"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    assert run_catalog_check(policies, None) == []  # the files alone cannot tell
    problems = run_catalog_check(policies, demo.urls)
    assert [(p.file, p.path) for p in problems] == [
        (
            "catalog/local_zhejiang/data.yaml",
            "items.local.court.consumption_restriction.fields.measures.column",
        )
    ]


def test_an_unreadable_database_is_reported_not_raised(tmp_path: Path) -> None:
    urls = {"market": f"sqlite:///{tmp_path / 'missing.db'}", "court": "oracle://x@y/z"}
    problems = run_catalog_check(POLICIES, urls)
    at = {(p.file, p.path) for p in problems}
    assert ("catalog/national/data.yaml", "databases.market") in at
    assert ("catalog/national/data.yaml", "databases.court") in at
    assert ("catalog/national/data.yaml", "items.tax.credit_rating.source.database") in at


def test_records_without_an_accepted_basis_document_are_counted_per_source(demo: DemoDatabases) -> None:
    from gateway.cli.catalog_check import count_unaccepted_basis

    counts = count_unaccepted_basis(POLICIES, demo.urls)
    # The demo's one subject with a penalty naming no basis document and one on an inspection notice.
    assert counts["market"] == {"market.admin_penalty": 2}
    assert counts["court"] == {"court.dishonest_debtor": 0, "local.court.consumption_restriction": 0}
    assert counts["tax"] == {"tax.major_violation": 0}
