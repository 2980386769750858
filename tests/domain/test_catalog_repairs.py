"""The catalog's credit repair rules (clauses (11)(12)): every item has one, each mistake is found."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.adapters.policy.catalog_files import load_catalog_documents
from gateway.domain.catalog import RepairMode, build_catalog
from gateway.domain.catalog_check import check_catalog
from tests.domain.test_catalog_check import demo_columns

POLICIES = Path(__file__).resolve().parents[2] / "policies"
NATIONAL = "catalog/national/data.yaml"
Documents = dict[str, dict[str, Any]]


@pytest.fixture
def docs() -> Documents:
    return copy.deepcopy(load_catalog_documents(POLICIES))


def rules(docs: Documents) -> dict[str, Any]:
    found: dict[str, Any] = docs["national"]["repairs"]
    return found


def test_every_shipped_item_says_whether_and_how_it_is_repaired(docs: Documents) -> None:
    catalog = build_catalog(docs)
    assert set(catalog.repairs) == set(catalog.items)
    modes = {r.mode for r in catalog.repairs.values() if r.repairable}
    assert modes == set(RepairMode)  # the demo shows mark, block and delete
    for rule in catalog.repairs.values():
        if rule.repairable:
            assert rule.decision_days
            assert rule.record_key_column
        else:
            assert rule.basis_law
            assert rule.basis_article
    assert check_catalog(docs, demo_columns()) == []


CASES: list[tuple[str, Callable[[Documents], None], str, str]] = [
    (
        "missing rule",
        lambda d: rules(d).pop("market.admin_penalty"),
        "repairs.market.admin_penalty",
        "no credit repair rule",
    ),
    (
        "unknown mode",
        lambda d: rules(d)["market.admin_penalty"].update(mode="erase"),
        "repairs.market.admin_penalty.mode",
        "bad repair mode",
    ),
    (
        "no time limit",
        lambda d: rules(d)["court.dishonest_debtor"].pop("decision_days"),
        "repairs.court.dishonest_debtor.decision_days",
        "time limit",
    ),
    (
        "a fee",
        lambda d: rules(d)["court.dishonest_debtor"].update(fee_yuan=100),
        "repairs.court.dishonest_debtor.fee_yuan",
        "free of charge",
    ),
    (
        "mark without its look",
        lambda d: rules(d)["market.admin_penalty"].pop("marked"),
        "repairs.market.admin_penalty.marked",
        "mark mode needs marked.label",
    ),
    (
        "withholding an unknown field",
        lambda d: rules(d)["market.admin_penalty"]["marked"].update(withhold=["nope"]),
        "repairs.market.admin_penalty.marked.withhold[0]",
        "no field 'nope'",
    ),
    (
        "unrepairable without its basis",
        lambda d: rules(d)["tax.major_violation"].pop("not_repairable_basis"),
        "repairs.tax.major_violation.not_repairable_basis",
        "clause (11)",
    ),
    (
        "the subject as record key",
        lambda d: rules(d)["market.admin_penalty"].update(record_key_column="uscc"),
        "repairs.market.admin_penalty.record_key_column",
        "subject column",
    ),
    (
        "a record key column the source lacks",
        lambda d: rules(d)["court.dishonest_debtor"].update(record_key_column="row_no"),
        "repairs.court.dishonest_debtor.record_key_column",
        "does not exist",
    ),
    (
        "a rule for no item",
        lambda d: rules(d).update({"market.ghost": {"repairable": False}}),
        "repairs.market.ghost",
        "not an item of this catalog",
    ),
    (
        "repairable not a boolean",
        lambda d: rules(d)["tax.credit_rating"].update(repairable="yes"),
        "repairs.tax.credit_rating.repairable",
        "true or false",
    ),
]


@pytest.mark.parametrize(("case", "change", "path", "message"), CASES, ids=[c[0] for c in CASES])
def test_each_repair_rule_problem_is_reported_at_its_path(
    docs: Documents, case: str, change: Callable[[Documents], None], path: str, message: str
) -> None:
    change(docs)
    problems = [p for p in check_catalog(docs, demo_columns()) if p.file == NATIONAL and p.path == path]
    assert any(message in p.message for p in problems), (case, check_catalog(docs, demo_columns()))
