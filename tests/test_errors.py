"""The error hierarchy: one class per stable code, listed once, documented in the README."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from gateway.cli.main import error_table
from gateway.errors import GatewayError, GrantRefused, PolicyDenied, error_classes

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_code_belongs_to_one_class() -> None:
    codes = [cls.code for cls in error_classes()]
    assert len(codes) == len(set(codes))
    assert len(codes) > 30


@pytest.mark.parametrize("cls", error_classes(), ids=lambda c: c.code)
def test_no_instance_can_change_its_code(cls: type[GatewayError]) -> None:
    assert "code" not in inspect.signature(cls.__init__).parameters
    assert (cls.__doc__ or "").strip()


def test_policy_refusals_report_the_policy_reason() -> None:
    denied = PolicyDenied("no", reason_code="item_not_shared")
    assert denied.code == "policy_denied"
    assert denied.problem_code == "item_not_shared"
    assert GrantRefused("no").problem_code == "grant_refused"


def test_readme_table_is_the_generated_one() -> None:
    assert error_table() in README.read_text(encoding="utf-8")
