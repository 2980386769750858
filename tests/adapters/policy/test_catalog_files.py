"""Reading the catalog files strictly, and refusing an unsound catalog with every problem listed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from gateway.adapters.policy.catalog_files import load_catalog, load_catalog_documents, read_catalog_documents
from gateway.errors import ConfigurationError

POLICIES = Path(__file__).resolve().parents[3] / "policies"


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(POLICIES / "catalog", target / "catalog")
    return target


def test_documents_are_named_by_their_folder() -> None:
    documents = load_catalog_documents(POLICIES)
    assert set(documents) == {"national", "local_zhejiang"}
    assert documents["national"]["kind"] == "national"
    assert documents["local_zhejiang"]["kind"] == "local"


def test_the_shipped_catalog_loads_with_both_revisions() -> None:
    catalog = load_catalog(POLICIES)
    assert catalog.revision == "local_zhejiang@2026-10-15;national@2026-11-01"
    assert catalog.item("local.court.consumption_restriction") is not None


def test_an_unsound_catalog_is_refused_with_every_problem(policies: Path) -> None:
    path = policies / "catalog" / "national" / "data.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["items"]["market.admin_penalty"]["fields"]["notes"]["class"] = "secret"
    document["items"]["court.dishonest_debtor"]["share_scope"]["mode"] = "sometimes"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigurationError) as caught:
        load_catalog(policies)
    paths = {p["path"] for p in caught.value.extra["problems"]}
    assert {
        "items.market.admin_penalty.fields.notes.class",
        "items.court.dishonest_debtor.share_scope.mode",
    } <= paths
    assert "catalog/national/data.yaml" in caught.value.detail


def test_a_duplicate_key_is_refused_not_silently_overwritten(policies: Path) -> None:
    path = policies / "catalog" / "local_zhejiang" / "data.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "kind: national\n", encoding="utf-8")
    documents, problems = read_catalog_documents(policies)
    assert "local_zhejiang" not in documents
    assert [(p.file, p.message) for p in problems] == [
        ("catalog/local_zhejiang/data.yaml", "unreadable: ConstructorError")
    ]
    with pytest.raises(ConfigurationError):
        load_catalog(policies)


def test_a_yaml_syntax_error_names_the_file_and_line(policies: Path) -> None:
    path = policies / "catalog" / "national" / "data.yaml"
    path.write_text("kind: national\nitems: [unclosed\n", encoding="utf-8")
    _, problems = read_catalog_documents(policies)
    assert problems[0].file == "catalog/national/data.yaml"
    assert problems[0].path.startswith("line ")


def test_no_catalog_at_all_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_catalog(tmp_path)
    assert "no catalog files" in caught.value.detail
