"""The pure parts of credit repair: commitments, effects on rows, backoff, the time limit."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from gateway.domain.catalog import RepairMode, RepairRule
from gateway.domain.repairs import (
    Evidence,
    EvidenceKind,
    RepairEffect,
    apply_effects,
    check_evidence,
    check_record_key,
    due_at,
    record_commitment,
    retry_delay,
)
from gateway.errors import InvalidRequest

SECRET = bytes(range(32))
NOW = datetime(2026, 11, 22, 8, tzinfo=UTC)


def test_a_record_commitment_is_keyed_and_names_item_and_record() -> None:
    one = record_commitment(SECRET, "market.admin_penalty", "17")
    assert one == record_commitment(SECRET, "market.admin_penalty", " 17 ")
    assert one != record_commitment(SECRET, "market.admin_penalty", "18")
    assert one != record_commitment(SECRET, "court.dishonest_debtor", "17")
    assert one != record_commitment(bytes(32), "market.admin_penalty", "17")
    with pytest.raises(ValueError, match="32 bytes"):
        record_commitment(b"short", "market.admin_penalty", "17")


def test_effects_drop_hidden_records_and_withhold_marked_fields() -> None:
    rows: list[dict[str, object]] = [
        {"_record": "1", "penalty": "罚款", "violation": "..."},
        {"_record": "2", "penalty": "警告", "violation": "..."},
        {"_record": "3", "penalty": "警告", "violation": "..."},
    ]
    effects = {
        "1": RepairEffect("i.x", "1", RepairMode.BLOCK, NOW),
        "2": RepairEffect("i.x", "2", RepairMode.MARK, NOW, "已信用修复", frozenset({"violation"})),
    }
    out = apply_effects(rows, effects, "_record")
    assert out == [{"_record": "2", "penalty": "警告"}, rows[2]]
    assert effects["2"].marker() == {
        "repaired": True,
        "label": "已信用修复",
        "effective_on": "2026-11-22",
        "free_of_charge": True,
    }
    assert RepairEffect("i.x", "4", RepairMode.DELETE, NOW).hides_record


def test_backoff_doubles_up_to_its_cap() -> None:
    delays = [retry_delay(n, base_s=1.0, max_s=10.0).total_seconds() for n in range(1, 7)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_the_time_limit_runs_from_the_application() -> None:
    rule = RepairRule("i.x", True, "id", RepairMode.MARK, 5)
    assert due_at(NOW, rule) == NOW + timedelta(days=5)


@pytest.mark.parametrize("key", ["", "a b", "x" * 65, "330102199001011234", "91330110MA16HUNJ0P"])
def test_a_record_key_is_a_short_code_and_never_an_identifier(key: str) -> None:
    with pytest.raises(InvalidRequest):
        check_record_key(key)


def test_evidence_is_dated_and_bounded() -> None:
    piece = Evidence(EvidenceKind.PENALTY_PAID, "缴款凭证", date(2026, 11, 1))
    assert check_evidence([piece], NOW) == (piece,)
    with pytest.raises(InvalidRequest):
        check_evidence([], NOW)
    with pytest.raises(InvalidRequest):
        check_evidence([Evidence(EvidenceKind.PENALTY_PAID, "缴款凭证", date(2026, 12, 1))], NOW)
