"""``gateway policy test``: the shipped Rego tests pass; broken or failing tests are reported by name."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.adapters.policy.rego_tests import PolicyTestReport, declared_tests, run_policy_tests
from gateway.errors import ConfigurationError
from tests.support.policy_inputs import POLICIES_DIR

CONCERNS = [
    "catalog",
    "request",
    "items",
    "share_scope",
    "fields",
    "measures",
    "privacy",
    "obligations",
    "row_filters",
    "query",
]


@pytest.fixture(scope="module")
def shipped() -> PolicyTestReport:
    return run_policy_tests(POLICIES_DIR)


@pytest.fixture
def policies_copy(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(POLICIES_DIR, target)
    return target


def test_every_shipped_policy_test_passes(shipped: PolicyTestReport) -> None:
    assert [(r.rule, r.error) for r in shipped.failures()] == []
    assert shipped.ok


@pytest.mark.parametrize("concern", CONCERNS)
def test_every_concern_has_tests(shipped: PolicyTestReport, concern: str) -> None:
    names = [r.name for r in shipped.results if r.package == f"gateway.{concern}_test"]
    assert len(names) >= 2, names  # at least a positive and a negative case


def test_every_test_is_found_once(shipped: PolicyTestReport) -> None:
    rules = [r.rule for r in shipped.results]
    assert len(rules) == len(set(rules))
    assert "data.gateway.query_test.test_allowed_decision_is_complete" in rules


def test_summary_counts_passes_and_failures(shipped: PolicyTestReport) -> None:
    assert shipped.summary == f"{len(shipped.results)} passed, 0 failed"


def test_report_names_the_revision_tested(shipped: PolicyTestReport) -> None:
    assert shipped.revision.startswith("sha256:")


def test_failing_test_is_reported_by_name(policies_copy: Path) -> None:
    (policies_copy / "gateway" / "extra_test.rego").write_text(
        "package gateway.extra_test\n\ntest_arithmetic if {\n\t1 + 1 == 3\n}\n\ntest_truth if {\n\ttrue\n}\n"
    )
    report = run_policy_tests(policies_copy)
    failed = {r.rule: r.error for r in report.failures()}
    assert failed == {"data.gateway.extra_test.test_arithmetic": "undefined"}
    assert "data.gateway.extra_test.test_truth" in {r.rule for r in report.results if r.passed}
    assert not report.ok


def test_test_with_an_error_is_reported_with_it(policies_copy: Path) -> None:
    (policies_copy / "gateway" / "extra_test.rego").write_text(
        "package gateway.extra_test\n\ntest_divides if {\n\tx := 1 / 0\n\tx == 1\n}\n"
    )
    [result] = [r for r in run_policy_tests(policies_copy).results if r.package == "gateway.extra_test"]
    assert not result.passed
    assert result.error is not None
    assert "divide by zero" in result.error


def test_test_that_is_not_true_fails(policies_copy: Path) -> None:
    (policies_copy / "gateway" / "extra_test.rego").write_text(
        'package gateway.extra_test\n\ntest_a_string := "yes"\n'
    )
    [result] = [r for r in run_policy_tests(policies_copy).results if r.package == "gateway.extra_test"]
    assert not result.passed
    assert result.error == "evaluated to 'yes', not true"


def test_test_file_that_does_not_parse_is_reported_by_its_tests(policies_copy: Path) -> None:
    (policies_copy / "gateway" / "extra_test.rego").write_text(
        "package gateway.extra_test\n\ntest_one if {\n\t1 ==\n}\n\ntest_two if {\n\ttrue\n}\n"
    )
    report = run_policy_tests(policies_copy)
    failed = report.failures()
    assert [r.name for r in failed] == ["test_one", "test_two"]
    assert all(r.file == "gateway/extra_test.rego" and "does not parse" in (r.error or "") for r in failed)
    assert report.passed == len(report.results) - 2  # every other test still ran


def test_policy_file_that_does_not_parse_is_reported_by_its_name(policies_copy: Path) -> None:
    (policies_copy / "gateway" / "broken.rego").write_text("package gateway.broken\n\nx := {\n")
    report = run_policy_tests(policies_copy)
    assert [r.name for r in report.failures()] == ["gateway/broken.rego"]
    assert "gateway/broken.rego" in report.broken_files


def test_directory_without_policies_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        run_policy_tests(tmp_path)


def test_declared_tests_are_rules_not_functions() -> None:
    source = "package p_test\n\ntest_a if true\n\ntest_helper(x) := x\n\ntest_a if false\n\ntest_b := true\n"
    assert declared_tests(source) == ("p_test", ["test_a", "test_b"])
