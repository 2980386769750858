"""The catalog checker: the shipped catalog is sound, and each kind of mistake is found where it is."""

from __future__ import annotations

import copy
import datetime
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.adapters.policy.catalog_files import load_catalog_documents
from gateway.demo.schema import demo_metadata
from gateway.domain.catalog import build_catalog
from gateway.domain.catalog_check import CatalogProblem, check_catalog

POLICIES = Path(__file__).resolve().parents[2] / "policies"
NATIONAL = "catalog/national/data.yaml"
LOCAL = "catalog/local_zhejiang/data.yaml"
PENALTY = "items.market.admin_penalty"
DEBTOR = "items.court.dishonest_debtor"

Documents = dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def shipped() -> Documents:
    return load_catalog_documents(POLICIES)


@pytest.fixture
def docs(shipped: Documents) -> Documents:
    return copy.deepcopy(shipped)


def demo_columns() -> dict[str, dict[str, set[str]]]:
    """The columns of the demo databases, as the adapter would reflect them."""
    return {
        db: {name: {c.name for c in table.columns} for name, table in demo_metadata(db).tables.items()}
        for db in ("market", "court", "tax")
    }


def item(docs: Documents, item_id: str, catalog: str = "national") -> dict[str, Any]:
    result: dict[str, Any] = docs[catalog]["items"][item_id]
    return result


def at(problems: list[CatalogProblem], file: str, path: str) -> list[str]:
    return [p.message for p in problems if p.file == file and p.path == path]


# --- the shipped catalog ---


def test_the_shipped_catalog_has_no_problems(shipped: Documents) -> None:
    assert check_catalog(shipped) == []


def test_the_shipped_catalog_matches_the_demo_databases(shipped: Documents) -> None:
    assert check_catalog(shipped, demo_columns()) == []


def test_the_shipped_catalog_has_what_the_gateway_expects(shipped: Documents) -> None:
    catalog = build_catalog(shipped)
    assert set(catalog.items) == {
        "market.enterprise_registration",
        "market.enterprise_contact",
        "market.admin_penalty",
        "court.dishonest_debtor",
        "tax.credit_rating",
        "tax.major_violation",
        "local.court.consumption_restriction",
    }
    assert {
        "market_regulation",
        "court",
        "taxation",
        "development_reform",
        "housing",
        "public_resources",
    } <= set(catalog.departments)
    assert catalog.purposes["disciplinary_measure"]["applies_measure"] is True
    assert catalog.purposes["credit_evaluation"]["statutory_duty"] is False
    assert catalog.items["local.court.consumption_restriction"].catalog == "local_zhejiang"
    assert catalog.items["court.dishonest_debtor"].serious_list
    assert "natural_person" in catalog.items["court.dishonest_debtor"].subject_kinds
    modes = {i.share_scope.mode.value for i in catalog.items.values()}
    assert modes == {"unconditional", "conditional", "not_shared"}
    for entry in catalog.items.values():
        assert entry.law.startswith("《")
        assert entry.article.startswith("第")
        needs = {tuple(sorted(f)) for f in entry.purpose_fields.values()}
        if len(entry.purpose_fields) > 1:
            assert len(needs) > 1, entry.id  # purposes differ in what they need (minimality, clause (14))


# --- each kind of problem, on a broken copy ---

Breakage = Callable[[Documents], None]


def _set(path: list[Any], value: Any, catalog: str = "national") -> Breakage:
    def apply(docs: Documents) -> None:
        target: Any = docs[catalog]
        for key in path[:-1]:
            target = target[key]
        if value is _DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value

    return apply


_DELETE = object()
P = ["items", "market.admin_penalty"]
D = ["items", "court.dishonest_debtor"]

CASES: list[tuple[str, Breakage, str, str, str]] = [
    (
        "unknown field class",
        _set([*P, "fields", "notes", "class"], "secret"),
        NATIONAL,
        f"{PENALTY}.fields.notes.class",
        "unknown field class",
    ),
    (
        "unknown operator",
        _set([*P, "fields", "notes", "desensitize"], "scramble"),
        NATIONAL,
        f"{PENALTY}.fields.notes.desensitize",
        "unknown desensitize operator",
    ),
    (
        "personal field in clear by default",
        _set([*D, "fields", "name", "desensitize"], "none"),
        NATIONAL,
        f"{DEBTOR}.fields.name.desensitize",
        "may not default to no desensitization",
    ),
    (
        "no legal basis",
        _set([*P, "legal_basis"], _DELETE),
        NATIONAL,
        f"{PENALTY}.legal_basis",
        "no legal basis",
    ),
    (
        "no article",
        _set([*P, "legal_basis", "article"], ""),
        NATIONAL,
        f"{PENALTY}.legal_basis.article",
        "needs its article",
    ),
    (
        "unknown item department",
        _set([*P, "department"], "police"),
        NATIONAL,
        f"{PENALTY}.department",
        "police",
    ),
    (
        "unknown scope department",
        _set([*P, "share_scope", "departments"], ["housing", "police"]),
        NATIONAL,
        f"{PENALTY}.share_scope.departments[1]",
        "unknown department 'police'",
    ),
    (
        "unknown database department",
        _set(["databases", "tax", "department"], "customs"),
        NATIONAL,
        "databases.tax.department",
        "unknown department 'customs'",
    ),
    (
        "database of another department",
        _set([*P, "source", "database"], "tax"),
        NATIONAL,
        f"{PENALTY}.source.database",
        "belongs to 'taxation'",
    ),
    (
        "unknown scope purpose",
        _set([*P, "share_scope", "purposes"], ["credit_supervision", "curiosity"]),
        NATIONAL,
        f"{PENALTY}.share_scope.purposes[1]",
        "unknown purpose 'curiosity'",
    ),
    (
        "unknown purpose in purpose_fields",
        _set([*P, "purpose_fields", "curiosity"], ["uscc"]),
        NATIONAL,
        f"{PENALTY}.purpose_fields.curiosity",
        "unknown purpose",
    ),
    (
        "purpose_fields names a missing field",
        _set([*P, "purpose_fields", "credit_evaluation"], ["uscc", "phone"]),
        NATIONAL,
        f"{PENALTY}.purpose_fields.credit_evaluation[1]",
        "no field 'phone'",
    ),
    (
        "purpose_fields outside the scope",
        _set([*P, "share_scope", "purposes"], ["credit_supervision"]),
        NATIONAL,
        f"{PENALTY}.purpose_fields.credit_evaluation",
        "outside the item's share scope",
    ),
    (
        "scope purpose without fields",
        _set([*P, "purpose_fields", "credit_evaluation"], _DELETE),
        NATIONAL,
        f"{PENALTY}.purpose_fields",
        "lists no fields for it",
    ),
    (
        "undeclared source database",
        _set([*P, "source", "database"], "police_db"),
        NATIONAL,
        f"{PENALTY}.source.database",
        "not declared",
    ),
    (
        "column not an identifier",
        _set([*P, "fields", "amount", "column"], "amount; --"),
        NATIONAL,
        f"{PENALTY}.fields.amount.column",
        "plain SQL identifier",
    ),
    (
        "unknown subject kind",
        _set([*P, "subject_kinds"], ["legal_person", "robot"]),
        NATIONAL,
        f"{PENALTY}.subject_kinds[1]",
        "unknown subject kind 'robot'",
    ),
    (
        "bad share mode",
        _set([*P, "share_scope", "mode"], "sometimes"),
        NATIONAL,
        f"{PENALTY}.share_scope.mode",
        "bad",
    ),
    (
        "conditional without departments",
        _set([*P, "share_scope", "departments"], []),
        NATIONAL,
        f"{PENALTY}.share_scope.departments",
        "needs at least one",
    ),
    (
        "conditional without purposes",
        _set([*P, "share_scope", "purposes"], _DELETE),
        NATIONAL,
        f"{PENALTY}.share_scope.purposes",
        "needs at least one",
    ),
    (
        "unconditional listing departments",
        _set(["items", "market.enterprise_registration", "share_scope", "departments"], ["housing"]),
        NATIONAL,
        "items.market.enterprise_registration.share_scope.departments",
        "only a conditional scope",
    ),
    (
        "serious list without basis documents",
        _set([*D, "basis_documents"], []),
        NATIONAL,
        f"{DEBTOR}.basis_documents",
        "legally effective documents",
    ),
    (
        "bad disclosure period",
        _set([*D, "disclosure", "period_years"], 0),
        NATIONAL,
        f"{DEBTOR}.disclosure.period_years",
        "positive",
    ),
    (
        "purpose flag not boolean",
        _set(["purposes", "credit_evaluation", "statutory_duty"], "no"),
        NATIONAL,
        "purposes.credit_evaluation.statutory_duty",
        "true or false",
    ),
    (
        "measure without legal basis",
        _set(["measures", "restrict_financing", "legal_basis"], _DELETE),
        NATIONAL,
        "measures.restrict_financing.legal_basis",
        "no legal basis",
    ),
    (
        "unquoted date",
        _set(["revision"], datetime.date(2026, 11, 1)),
        NATIONAL,
        "revision",
        "not JSON-compatible",
    ),
    ("bad kind", _set(["kind"], "provincial", "local_zhejiang"), LOCAL, "kind", "kind must be one of"),
    (
        "local item with unknown department",
        _set(["items", "local.court.consumption_restriction", "department"], "police", "local_zhejiang"),
        LOCAL,
        "items.local.court.consumption_restriction.department",
        "unknown department",
    ),
    (
        "bad item id",
        _set(["items", "Penalties"], {"name": "x"}, "local_zhejiang"),
        LOCAL,
        "items.Penalties",
        "dotted lower-case",
    ),
]


@pytest.mark.parametrize(
    ("breakage", "file", "path", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_problem_is_reported_at_its_path(
    docs: Documents, breakage: Breakage, file: str, path: str, message: str
) -> None:
    breakage(docs)
    problems = check_catalog(docs)
    found = at(problems, file, path)
    assert found, f"nothing at {file}: {path}; got {[str(p) for p in problems]}"
    assert any(message in m for m in found), found


@pytest.mark.parametrize(
    ("breakage", "path", "message"),
    [
        (
            _set([*P, "fields", "amount", "column"], "fine_amount"),
            f"{PENALTY}.fields.amount.column",
            "does not exist",
        ),
        (_set([*P, "source", "table"], "penalties"), f"{PENALTY}.source.table", "does not exist"),
        (
            _set([*P, "source", "subject_column"], "code"),
            f"{PENALTY}.source.subject_column",
            "does not exist",
        ),
        (
            _set([*D, "source", "removed_column"], "deleted_on"),
            f"{DEBTOR}.source.removed_column",
            "does not exist",
        ),
    ],
    ids=["field column", "table", "subject column", "removed column"],
)
def test_mappings_are_checked_against_the_reflected_columns(
    docs: Documents, breakage: Breakage, path: str, message: str
) -> None:
    assert check_catalog(docs) == []  # only the real columns can tell
    breakage(docs)
    problems = check_catalog(docs, demo_columns())
    assert any(message in m for m in at(problems, NATIONAL, path)), [str(p) for p in problems]


def test_a_database_that_was_not_reflected_is_reported(docs: Documents) -> None:
    columns = demo_columns()
    del columns["tax"]
    problems = check_catalog(docs, columns)
    assert at(problems, NATIONAL, "items.tax.credit_rating.source.database")
    assert not at(problems, NATIONAL, f"{PENALTY}.source.database")


def test_a_local_catalog_may_not_redefine_a_national_item(docs: Documents) -> None:
    docs["local_zhejiang"]["items"]["market.admin_penalty"] = copy.deepcopy(
        item(docs, "market.admin_penalty")
    )
    problems = check_catalog(docs)
    assert any("may not redefine" in m for m in at(problems, LOCAL, PENALTY))
    assert not at(problems, NATIONAL, PENALTY)  # the national definition is the right one


def test_a_local_catalog_may_not_redefine_a_national_purpose(docs: Documents) -> None:
    changed = copy.deepcopy(docs["national"]["purposes"]["credit_evaluation"])
    changed["statutory_duty"] = True
    docs["local_zhejiang"]["purposes"]["credit_evaluation"] = changed
    problems = check_catalog(docs)
    assert any("may not redefine" in m for m in at(problems, LOCAL, "purposes.credit_evaluation"))
    # Repeating a national definition unchanged is harmless.
    docs["local_zhejiang"]["purposes"]["credit_evaluation"] = copy.deepcopy(
        docs["national"]["purposes"]["credit_evaluation"]
    )
    assert check_catalog(docs) == []


def test_duplicate_item_ids_across_local_catalogs(docs: Documents) -> None:
    docs["local_jiangsu"] = copy.deepcopy(docs["local_zhejiang"])
    problems = check_catalog(docs)
    messages = at(problems, LOCAL, "items.local.court.consumption_restriction")
    assert any("duplicate item id" in m and "local_jiangsu" in m for m in messages)


def test_there_must_be_exactly_one_national_catalog(docs: Documents) -> None:
    docs["national"]["kind"] = "local"
    assert at(check_catalog(docs), "catalog/*/data.yaml", "kind")
    docs["national"]["kind"] = "national"
    docs["local_zhejiang"]["kind"] = "national"
    assert at(check_catalog(docs), LOCAL, "kind")


def test_every_problem_is_reported_not_just_the_first(docs: Documents) -> None:
    chosen = [
        c for c in CASES if c[0] in {"unknown field class", "no legal basis", "bad share mode", "bad kind"}
    ]
    for case in chosen:
        case[1](docs)
    problems = check_catalog(docs)
    for _, _, file, path, _ in chosen:
        assert at(problems, file, path), path


def test_a_problem_reads_as_file_path_message() -> None:
    problem = CatalogProblem(NATIONAL, f"{PENALTY}.fields.phone.class", "unknown field class 'x'")
    assert str(problem) == f"{NATIONAL}: {PENALTY}.fields.phone.class: unknown field class 'x'"
