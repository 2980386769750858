"""The layout and METADATA contract of every Rego package under policies/.

* Package path equals directory: ``package gateway.query`` lives in ``gateway/query/query.rego``, its
  tests (``package gateway.query_test``) beside it.
* Every rule that emits a reason literal (``"code": ...``) carries its own METADATA block whose
  ``custom.code`` and ``custom.clause`` are the code and clause it emits, and every rule METADATA that
  declares a code emits it; row filters do the same with ``custom.kind``. A refusal can then name the
  clause that refused it from the METADATA alone, and the two cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

POLICIES = Path(__file__).resolve().parents[2] / "policies"
TEST_SUFFIX = "_test.rego"

_PACKAGE = re.compile(r"^package\s+([A-Za-z0-9_.]+)", re.MULTILINE)
_CODE = re.compile(r'"code":\s*"([a-z0-9_]+)"')
_CLAUSE = re.compile(r'"clause":\s*"([^"]*)"')
_KIND = re.compile(r'"kind":\s*"([a-z0-9_]+)"')


@dataclass(frozen=True)
class Statement:
    """One top-level statement (package, import or rule) with the METADATA block written above it."""

    line: int
    text: str
    metadata: dict[str, Any] | None


def statements(source: str) -> list[Statement]:
    """Split a module (as ``opa fmt`` writes it) into its top-level statements."""
    lines = source.splitlines()
    starts = [
        i
        for i, line in enumerate(lines)
        if line and not line[0].isspace() and not line.startswith(("#", "}", "]", ")"))
    ]
    found = []
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        comments = []
        i = start - 1
        while i >= 0 and lines[i].startswith("#"):
            comments.insert(0, lines[i])
            i -= 1
        metadata = None
        if comments and comments[0] == "# METADATA":
            metadata = yaml.safe_load("\n".join(line[2:] for line in comments[1:])) or {}
        body = lines[start:end]
        while body and (not body[-1] or body[-1].startswith("#")):
            body.pop()  # the next statement's comments and METADATA
        found.append(Statement(start + 1, "\n".join(body), metadata))
    return found


def metadata_findings(source: str) -> list[str]:
    """Every reason or filter rule whose METADATA disagrees with what it emits."""
    findings = []
    for statement in statements(source):
        if statement.text.startswith(("package ", "import ")):
            continue
        custom = (statement.metadata or {}).get("custom") or {}
        where = f"line {statement.line}"
        for key, pattern in (("code", _CODE), ("kind", _KIND)):
            emitted = set(pattern.findall(statement.text))
            declared = custom.get(key)
            if not emitted and declared is None:
                continue
            if emitted != {declared}:
                findings.append(f"{where}: METADATA {key} {declared!r}, the rule emits {sorted(emitted)}")
                continue
            clauses = set(_CLAUSE.findall(statement.text))
            if key == "code" and clauses != {custom.get("clause")}:
                findings.append(
                    f"{where}: {declared}: METADATA clause {custom.get('clause')!r}, emits {sorted(clauses)}"
                )
            if not re.fullmatch(r"\((\d{1,2})\)(\((\d{1,2})\))*", str(custom.get("clause"))):
                findings.append(f"{where}: {declared}: clause {custom.get('clause')!r} is not like (14)")
    return findings


def _modules(tests: bool) -> list[Path]:
    return sorted(p for p in POLICIES.rglob("*.rego") if p.name.endswith(TEST_SUFFIX) == tests)


def _rel(path: Path) -> str:
    return path.relative_to(POLICIES).as_posix()


@pytest.mark.parametrize("path", _modules(False) + _modules(True), ids=_rel)
def test_package_path_equals_directory(path: Path) -> None:
    match = _PACKAGE.search(path.read_text(encoding="utf-8"))
    assert match is not None
    package = match.group(1).removesuffix("_test").split(".")
    assert list(path.relative_to(POLICIES).parent.parts) == package
    expected = package[-1] + ("_test.rego" if path.name.endswith(TEST_SUFFIX) else ".rego")
    assert path.name == expected


@pytest.mark.parametrize("path", _modules(False), ids=_rel)
def test_every_reason_rule_declares_the_code_and_clause_it_emits(path: Path) -> None:
    assert metadata_findings(path.read_text(encoding="utf-8")) == []


def test_every_policy_package_is_checked() -> None:
    packages = {_rel(p).rsplit("/", 1)[0] for p in _modules(False)}
    assert {"gateway/query", "gateway/grants", "gateway/coverage", "gateway/lib"} <= packages
    emitted = {c for p in _modules(False) for c in _CODE.findall(p.read_text(encoding="utf-8"))}
    assert len(emitted) >= 45


def _reason(code: str, clause: str, emits: str) -> str:
    return f'# METADATA\n# custom:\n#   code: {code}\n#   clause: "{clause}"\nr := {emits}\n'


@pytest.mark.parametrize(
    ("rule", "finding"),
    [
        (_reason("a", "(1)", '{"code": "a", "clause": "(1)"}'), None),
        (_reason("a", "(1)", '{"code": "b", "clause": "(1)"}'), "emits"),
        (_reason("a", "(2)", '{"code": "a", "clause": "(1)"}'), "clause"),
        (_reason("a", "(1)", '{"clause": "(1)"}'), "emits []"),
        ('# METADATA\n# title: no code\nr := {"code": "a", "clause": "(1)"}\n', "None"),
        ('r := {"code": "a", "clause": "(1)"}\n', "None"),
        ('# METADATA\n# custom:\n#   kind: k\n#   clause: "(4)"\nf := [{"kind": "j"}]\n', "emits"),
        # A second body emitting a reason needs its own METADATA.
        (_reason("a", "(1)", '{"code": "a", "clause": "(1)"}') + '\nr := {"code": "a"}\n', "None"),
    ],
)
def test_the_metadata_check_finds_disagreements(rule: str, finding: str | None) -> None:
    found = metadata_findings(f"package probe\n\n{rule}")
    if finding is None:
        assert found == []
    else:
        assert len(found) == 1, found
        assert finding in found[0], found
