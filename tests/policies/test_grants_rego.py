"""The grant rules' own Rego tests on the embedded engine, and the grant packages' codes.

Registration (``gateway.grants``) and query coverage (``gateway.coverage``) each have a ``_test``
package beside them. ``opa test policies/`` runs the same ``test_`` rules on a real OPA; here regorus
runs them, so both engines are held to one suite. Every registration code is in the reporting order,
and each package emits exactly its own codes (tests/policies/test_policy_metadata.py holds every
package's METADATA to the code and clause each rule emits).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.adapters.policy.regorus import PolicySources, build_engine, load_policy_sources

POLICIES = Path(__file__).resolve().parents[2] / "policies"
GRANTS = POLICIES / "gateway" / "grants" / "grants.rego"
GRANTS_TEST = POLICIES / "gateway" / "grants" / "grants_test.rego"
COVERAGE = POLICIES / "gateway" / "coverage" / "coverage.rego"
COVERAGE_TEST = POLICIES / "gateway" / "coverage" / "coverage_test.rego"

REGISTRATION_CODES = {
    "grant_malformed",
    "grant_blanket_recipient",
    "grant_blanket_purpose",
    "grant_blanket_items",
    "grant_blanket_fields",
    "grant_unknown_recipient",
    "grant_unknown_purpose",
    "grant_unknown_item",
    "grant_unknown_field",
    "grant_item_wrong_subject_kind",
    "grant_recipient_out_of_scope",
    "grant_purpose_not_for_item",
    "grant_purpose_without_item",
    "grant_too_many_items",
    "grant_lifetime",
    "grant_lifetime_sentinel",
    "grant_ends_before_start",
    "grant_validity_too_long",
    "grant_already_expired",
    "grant_mandatory",
    "grant_not_separate",
    "grant_consent_method_not_accepted",
    "grant_consent_in_future",
    "grant_retroactive",
}
QUERY_CODES = {
    "grant_revoked",
    "grant_expired",
    "grant_not_yet_valid",
    "grant_subject_mismatch",
    "grant_recipient_mismatch",
    "grant_purpose_mismatch",
    "grant_item_not_covered",
    "grant_field_not_covered",
    "grant_required",
}


def _sources(**replaced: str) -> PolicySources:
    """Every module (tests included) and data file, with some modules' text replaced."""
    sources = load_policy_sources(POLICIES, include_tests=True)
    modules = tuple((rel, replaced.get(rel, text)) for rel, text in sources.modules)
    return PolicySources(sources.root, modules, sources.data, sources.data_files, sources.revision)


def _engine() -> Any:
    engine, _ = build_engine(_sources())
    return engine


def _tests(path: Path, package: str) -> list[tuple[str, str]]:
    names = re.findall(r"^(test_[a-z0-9_]+) if\b", path.read_text(), re.MULTILINE)
    return [(package, name) for name in names]


TEST_RULES = _tests(GRANTS_TEST, "gateway.grants_test") + _tests(COVERAGE_TEST, "gateway.coverage_test")


def test_the_suite_is_not_empty() -> None:
    assert len(TEST_RULES) >= 60
    assert len(TEST_RULES) == len(set(TEST_RULES)), "a test rule name is used twice"


@pytest.fixture(scope="module")
def engine() -> Any:
    return _engine()


@pytest.mark.parametrize(("package", "rule"), TEST_RULES)
def test_rego_rule_passes_on_regorus(engine: Any, package: str, rule: str) -> None:
    assert engine.eval_rule(f"data.{package}.{rule}") is True


def test_a_broken_rule_fails_the_suite() -> None:
    """The runner can fail: with the lifetime rule removed, its tests no longer pass."""
    source = GRANTS.read_text()
    broken = source.replace("\tnot valid_until_given\n", "\tfalse\n")
    assert broken != source
    engine, _ = build_engine(_sources(**{"gateway/grants/grants.rego": broken}))
    assert engine.eval_rule("data.gateway.grants_test.test_missing_end_refused") is not True


def _metadata_blocks(source: str) -> list[tuple[dict[str, Any], str]]:
    """(parsed METADATA, the rule text up to the next blank line) for every rule-level block."""
    blocks = []
    pattern = re.compile(r"^# METADATA\n((?:#[^\n]*\n)+)(.*?)(?=\n\n|\Z)", re.MULTILINE | re.DOTALL)
    for match in pattern.finditer(source):
        meta = yaml.safe_load("\n".join(line[2:] for line in match.group(1).splitlines()))
        blocks.append((meta, match.group(2)))
    return blocks


@pytest.mark.parametrize(("path", "codes"), [(GRANTS, REGISTRATION_CODES), (COVERAGE, QUERY_CODES)])
def test_every_reason_rule_declares_the_code_and_clause_it_emits(path: Path, codes: set[str]) -> None:
    declared: set[str] = set()
    for meta, rule in _metadata_blocks(path.read_text())[1:]:  # [0] is the package block
        custom = meta.get("custom") or {}
        if "code" not in custom:
            continue
        code, clause = custom["code"], custom["clause"]
        assert f'"code": "{code}"' in rule, f"{code}: METADATA and the rule disagree"
        assert f'"clause": "{clause}"' in rule, f"{code}: METADATA clause {clause} is not what it emits"
        assert re.fullmatch(r"\(\d{1,2}\)", clause)
        declared.add(code)
    assert declared == codes


@pytest.mark.parametrize(("path", "codes"), [(GRANTS, REGISTRATION_CODES), (COVERAGE, QUERY_CODES)])
def test_every_emitted_code_has_metadata(path: Path, codes: set[str]) -> None:
    emitted = set(re.findall(r'"code": "(grant_[a-z_]+)"', path.read_text()))
    assert emitted == codes


def test_code_order_lists_every_registration_code_once(engine: Any) -> None:
    order = engine.eval_rule("data.gateway.grants.code_order")
    assert len(order) == len(set(order))
    assert set(order) == REGISTRATION_CODES


@pytest.mark.parametrize(("path", "expected"), [(GRANTS, {"registration"}), (COVERAGE, {"covered_items"})])
def test_entrypoints_are_marked(path: Path, expected: set[str]) -> None:
    blocks = _metadata_blocks(path.read_text())
    entrypoints = {rule.split(" ", 1)[0] for meta, rule in blocks if meta.get("entrypoint") is True}
    assert entrypoints == expected
