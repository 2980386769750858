"""Run the Rego unit tests shipped beside the policies (``gateway policy test``).

Like ``opa test policies/``: every module and data file is loaded (test modules included), every
rule whose name starts with ``test_`` is a test, and a test passes when it evaluates to ``true``;
false, undefined or an evaluation error fails it. Tests are found by reading the sources (the rule
heads at the start of a line, as ``opa fmt`` writes them), then evaluated with the embedded engine.

A module that does not parse does not stop the run: each test it declares is reported as failed with
the parse error (or the file itself, when no test can be read out of it), and every other module is
still loaded and tested.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import regorus

from gateway.adapters.policy.regorus import (
    PolicySources,
    build_engine,
    engine_error_text,
    evaluate_rule,
    load_policy_sources,
)

_PACKAGE = re.compile(r"^package\s+([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)", re.MULTILINE)
# A test is a rule, not a function or a partial rule: its name is not followed by "(", "[" or ".".
_TEST_HEAD = re.compile(r"^(test_[A-Za-z0-9_]*)\b(?!\s*[\(\[.])", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class PolicyTestResult:
    """The outcome of one ``test_`` rule."""

    package: str
    name: str
    passed: bool
    error: str | None = None
    file: str = ""
    duration_ms: float = 0.0

    @property
    def rule(self) -> str:
        """The rule's full path, ``data.<package>.<name>``."""
        return f"data.{self.package}.{self.name}" if self.package else self.name


@dataclass(frozen=True, slots=True)
class PolicyTestReport:
    """Every test's outcome, in package then name order, and the policy revision tested."""

    results: tuple[PolicyTestResult, ...]
    revision: str
    broken_files: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> int:
        """How many tests passed."""
        return sum(1 for r in self.results if r.passed)

    @property
    def failed(self) -> int:
        """How many tests failed (false, undefined, error, or in a module that does not parse)."""
        return len(self.results) - self.passed

    @property
    def ok(self) -> bool:
        """True when at least one test ran and none failed."""
        return bool(self.results) and self.failed == 0

    @property
    def summary(self) -> str:
        """One line, ``N passed, M failed``."""
        return f"{self.passed} passed, {self.failed} failed"

    def failures(self) -> list[PolicyTestResult]:
        """The failed tests."""
        return [r for r in self.results if not r.passed]


def declared_tests(source: str) -> tuple[str, list[str]]:
    """The package a module declares and the names of its ``test_`` rules, in source order, once each."""
    match = _PACKAGE.search(source)
    package = match.group(1) if match else ""
    return package, list(dict.fromkeys(_TEST_HEAD.findall(source)))


def run_policy_tests(policies_dir: Path) -> PolicyTestReport:
    """Load ``policies_dir`` with its tests and run every ``test_`` rule; see the module docstring.

    Raises ConfigurationError only when nothing can be loaded at all (no directory, no module, or a
    data file that does not parse).
    """
    sources = load_policy_sources(policies_dir, include_tests=True)
    engine, broken = build_engine(sources, skip_broken=True)
    results: list[PolicyTestResult] = []
    for rel, text in sources.modules:
        package, names = declared_tests(text)
        if rel in broken:
            error = f"{rel} does not parse: {broken[rel]}"
            results.extend(PolicyTestResult(package, n, False, error, rel) for n in names or [rel])
            continue
        for name in names:
            results.append(_run_one(engine, package, name, rel))
    results.sort(key=lambda r: (r.package, r.name))
    return PolicyTestReport(tuple(results), sources.revision, dict(broken))


def _run_one(engine: object, package: str, name: str, rel: str) -> PolicyTestResult:
    started = time.perf_counter()
    try:
        defined, value = evaluate_rule(engine, f"data.{package}.{name}")
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # a failing test, including a panic inside the engine
        elapsed = (time.perf_counter() - started) * 1000
        return PolicyTestResult(package, name, False, engine_error_text(exc), rel, elapsed)
    elapsed = (time.perf_counter() - started) * 1000
    if value is True:
        return PolicyTestResult(package, name, True, None, rel, elapsed)
    error = "undefined" if not defined else f"evaluated to {value!r}, not true"
    return PolicyTestResult(package, name, False, error, rel, elapsed)


@dataclass(frozen=True, slots=True)
class FileCoverage:
    """Which lines of one policy file the tests evaluated (regorus' coverage report)."""

    file: str
    covered: tuple[int, ...]
    not_covered: tuple[int, ...]

    @property
    def percent(self) -> float:
        """Covered lines over coverable lines, in percent (100 for a file with none)."""
        total = len(self.covered) + len(self.not_covered)
        return 100.0 if total == 0 else round(100.0 * len(self.covered) / total, 1)


def run_policy_tests_with_coverage(policies_dir: Path) -> tuple[PolicyTestReport, list[FileCoverage]]:
    """``run_policy_tests`` on an engine that records coverage; coverage of the non-test modules.

    Like ``opa test --coverage``: a line counts as covered when any test evaluated it.
    """
    sources = load_policy_sources(policies_dir, include_tests=True)
    engine, broken = _coverage_engine(sources)
    results: list[PolicyTestResult] = []
    for rel, text in sources.modules:
        package, names = declared_tests(text)
        if rel in broken:
            error = f"{rel} does not parse: {broken[rel]}"
            results.extend(PolicyTestResult(package, n, False, error, rel) for n in names or [rel])
            continue
        for name in names:
            results.append(_run_one(engine, package, name, rel))
    results.sort(key=lambda r: (r.package, r.name))
    coverage: list[FileCoverage] = []
    try:
        report = json.loads(engine.get_coverage_report_as_json())
    except Exception:  # a report that cannot be made is no coverage, not a failed run
        report = {"files": []}
    for entry in report.get("files", []):
        path = str(entry.get("path", ""))
        if path.endswith("_test.rego"):
            continue
        coverage.append(
            FileCoverage(
                path,
                tuple(sorted(int(n) for n in entry.get("covered", []))),
                tuple(sorted(int(n) for n in entry.get("not_covered", []))),
            )
        )
    coverage.sort(key=lambda c: c.file)
    return PolicyTestReport(tuple(results), sources.revision, dict(broken)), coverage


def _coverage_engine(sources: PolicySources) -> tuple[Any, dict[str, str]]:
    engine = regorus.Engine()
    engine.set_enable_coverage(True)
    broken: dict[str, str] = {}
    for rel, text in sources.modules:
        try:
            engine.add_policy(rel, text)
        except Exception as exc:  # regorus raises RuntimeError with the parser's message
            broken[rel] = engine_error_text(exc)
    engine.add_data_json(sources.data_json)
    return engine, broken
