"""The grant rules' own Rego tests on the embedded engine, and the rules' METADATA contract.

``opa test policies/`` runs the same ``test_`` rules on a real OPA; here regorus runs them, so both
engines are held to one suite. The METADATA checks keep every reason rule's ``custom.code`` and
``custom.clause`` equal to what the rule actually emits, and every code in the reporting order.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import regorus
import yaml

POLICIES = Path(__file__).resolve().parents[2] / "policies"
GRANTS = POLICIES / "gateway" / "grants.rego"
GRANTS_TEST = POLICIES / "gateway" / "grants_test.rego"

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


def _engine() -> Any:
    engine = regorus.Engine()
    engine.add_policy(GRANTS.name, GRANTS.read_text())
    engine.add_policy(GRANTS_TEST.name, GRANTS_TEST.read_text())
    engine.add_data(
        {"grant_settings": yaml.safe_load((POLICIES / "grant_settings" / "data.yaml").read_text())}
    )
    return engine


TEST_RULES = re.findall(r"^(test_[a-z0-9_]+) if\b", GRANTS_TEST.read_text(), re.MULTILINE)


def test_the_suite_is_not_empty() -> None:
    assert len(TEST_RULES) >= 60
    assert len(TEST_RULES) == len(set(TEST_RULES)), "a test rule name is used twice"


@pytest.mark.parametrize("rule", TEST_RULES)
def test_rego_rule_passes_on_regorus(rule: str) -> None:
    assert _engine().eval_rule(f"data.gateway.grants_test.{rule}") is True


def test_a_broken_rule_fails_the_suite() -> None:
    """The runner can fail: with the lifetime rule removed, its tests no longer pass."""
    source = GRANTS.read_text()
    broken = source.replace("\tnot valid_until_given\n", "\tfalse\n")
    assert broken != source
    engine = regorus.Engine()
    engine.add_policy(GRANTS.name, broken)
    engine.add_policy(GRANTS_TEST.name, GRANTS_TEST.read_text())
    assert engine.eval_rule("data.gateway.grants_test.test_missing_end_refused") is not True


def _metadata_blocks(source: str) -> list[tuple[dict[str, Any], str]]:
    """(parsed METADATA, the rule text up to the next blank line) for every rule-level block."""
    blocks = []
    pattern = re.compile(r"^# METADATA\n((?:#[^\n]*\n)+)(.*?)(?=\n\n|\Z)", re.MULTILINE | re.DOTALL)
    for match in pattern.finditer(source):
        meta = yaml.safe_load("\n".join(line[2:] for line in match.group(1).splitlines()))
        blocks.append((meta, match.group(2)))
    return blocks


def test_every_reason_rule_declares_the_code_and_clause_it_emits() -> None:
    declared: set[str] = set()
    for meta, rule in _metadata_blocks(GRANTS.read_text())[1:]:  # [0] is the package block
        custom = meta.get("custom") or {}
        if "code" not in custom:
            continue
        code, clause = custom["code"], custom["clause"]
        assert f'"code": "{code}"' in rule, f"{code}: METADATA and the rule disagree"
        assert f'"clause": "{clause}"' in rule, f"{code}: METADATA clause {clause} is not what it emits"
        assert re.fullmatch(r"\(\d{1,2}\)", clause)
        declared.add(code)
    assert declared == REGISTRATION_CODES | QUERY_CODES


def test_every_emitted_code_has_metadata() -> None:
    emitted = set(re.findall(r'"code": "(grant_[a-z_]+)"', GRANTS.read_text()))
    assert emitted == REGISTRATION_CODES | QUERY_CODES


def test_code_order_lists_every_registration_code_once() -> None:
    engine = regorus.Engine()
    engine.add_policy(GRANTS.name, GRANTS.read_text())
    order = engine.eval_rule("data.gateway.grants.code_order")
    assert len(order) == len(set(order))
    assert set(order) == REGISTRATION_CODES


def test_entrypoints_are_marked() -> None:
    entrypoints = {
        rule.split(" ", 1)[0]
        for meta, rule in _metadata_blocks(GRANTS.read_text())
        if meta.get("entrypoint") is True
    }
    assert entrypoints == {"registration", "covered_items"}
