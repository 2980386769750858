"""CatalogDesensitizer: obligations applied per field class, free text scanned, residual guard."""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from datetime import UTC, date, datetime

import pytest

from gateway.adapters.crypto.ciphers import SM4_GCM, decrypt_value, recipient_key
from gateway.adapters.desensitizer import CatalogDesensitizer
from gateway.adapters.key_files import FileKeyStore
from gateway.adapters.presidio import PresidioScanner
from gateway.domain.catalog import FieldClass, FieldSpec, Operator
from gateway.domain.decision import ItemDecision, Obligation
from gateway.domain.desensitize.operators import mask_findings
from gateway.domain.desensitize.text_scan import (
    FastScanner,
    Finding,
    GuardEntity,
    find_entities,
    residual_entities,
)
from gateway.errors import ConfigurationError, DesensitizationError, KeyUnavailable
from gateway.ports import TextScanner
from tests.conftest import FixedClock
from tests.support.pii import bank_card, free_text, mobile, resident_id, uscc

ITEM = "administrative_penalties"
Rules = Mapping[str, tuple[Operator, FieldClass]]


class CountingScanner:
    """A real scanner that counts how often it is asked to scan."""

    def __init__(self, inner: TextScanner) -> None:
        self.inner = inner
        self.calls = 0

    def scan(self, text: str) -> list[Finding]:
        self.calls += 1
        return self.inner.scan(text)


class BlindScanner:
    """A scanner that finds nothing: stands for a recognizer that misses something."""

    def scan(self, text: str) -> list[Finding]:
        return []


def item(rules: Rules) -> ItemDecision:
    return ItemDecision(
        item_id=ITEM,
        fields=tuple(sorted(rules)),
        obligations={name: Obligation(op, cls) for name, (op, cls) in rules.items()},
        row_filters=(),
    )


def specs(rules: Rules) -> dict[str, FieldSpec]:
    return {name: FieldSpec(name, name, cls, op) for name, (op, cls) in rules.items()}


@pytest.fixture
def scanner() -> CountingScanner:
    return CountingScanner(FastScanner())


@pytest.fixture
def desensitizer(keystore: FileKeyStore, scanner: CountingScanner, clock: FixedClock) -> CatalogDesensitizer:
    return CatalogDesensitizer(keystore, scanner, clock)


def run(
    d: CatalogDesensitizer, rules: Rules, rows: list[dict[str, object]], recipient: str = "dept-a"
) -> list[dict[str, object]]:
    return d.desensitize(rows, item(rules), specs(rules), recipient)


# --- operators by class ---------------------------------------------------------------------------


def test_every_operator_is_applied_by_field_class(
    desensitizer: CatalogDesensitizer, scanner: CountingScanner
) -> None:
    rules: Rules = {
        "id_no": (Operator.MASK, FieldClass.RESIDENT_ID),
        "name": (Operator.MASK, FieldClass.NAME),
        "phone": (Operator.MASK, FieldClass.PHONE),
        "card": (Operator.MASK, FieldClass.BANK_CARD),
        "address": (Operator.GENERALIZE, FieldClass.ADDRESS),
        "born": (Operator.GENERALIZE, FieldClass.DATE_OF_BIRTH),
        "decided": (Operator.GENERALIZE, FieldClass.PUBLIC),
        "subject": (Operator.PSEUDONYMIZE, FieldClass.SUBJECT_ID),
        "email": (Operator.SUPPRESS, FieldClass.EMAIL),
        "amount": (Operator.NONE, FieldClass.PUBLIC),
    }
    row = {
        "id_no": "11010519900307123X",
        "name": "张三丰",
        "phone": "13812345678",
        "card": "6222021234567890123",
        "address": "北京市朝阳区建国路88号",
        "born": date(2010, 5, 1),
        "decided": "2023-05-12",
        "subject": "11010519900307123X",
        "email": "zhang@example.com",
        "amount": 5000,
    }
    [out] = run(desensitizer, rules, [row])
    assert out == {
        "id_no": "110105***********X",
        "name": "张**",
        "phone": "138****5678",
        "card": "***************0123",
        "address": "北京市朝阳区",
        "born": "0-17",
        "decided": "2023",
        "subject": out["subject"],
        "email": None,
        "amount": 5000,
    }
    assert str(out["subject"]).startswith("pn:")
    assert scanner.calls == 0  # structured fields never reach the scanner


def test_none_stays_none_and_missing_fields_stay_missing(desensitizer: CatalogDesensitizer) -> None:
    rules: Rules = {
        "id_no": (Operator.ENCRYPT, FieldClass.RESIDENT_ID),
        "name": (Operator.MASK, FieldClass.NAME),
    }
    assert run(desensitizer, rules, [{"id_no": None}]) == [{"id_no": None}]


def test_age_bands_use_the_date_in_china(keystore: FileKeyStore) -> None:
    # 2026-11-21 17:00 UTC is already 2026-11-22 in Beijing: the subject turns 18 that day.
    d = CatalogDesensitizer(keystore, FastScanner(), FixedClock(datetime(2026, 11, 21, 17, 0, tzinfo=UTC)))
    rules: Rules = {"born": (Operator.GENERALIZE, FieldClass.DATE_OF_BIRTH)}
    assert run(d, rules, [{"born": "2008-11-22"}]) == [{"born": "18-29"}]


# --- pseudonyms and encryption --------------------------------------------------------------------


def test_pseudonyms_are_stable_per_recipient_and_differ_across_recipients(
    desensitizer: CatalogDesensitizer,
) -> None:
    rng = random.Random(1)
    rules: Rules = {"subject": (Operator.PSEUDONYMIZE, FieldClass.SUBJECT_ID)}
    rows: list[dict[str, object]] = [{"subject": resident_id(rng)} for _ in range(50)]
    a1 = run(desensitizer, rules, rows, "dept-a")
    a2 = run(desensitizer, rules, rows, "dept-a")
    b = run(desensitizer, rules, rows, "dept-b")
    assert a1 == a2
    assert {r["subject"] for r in a1}.isdisjoint({r["subject"] for r in b})
    assert len({r["subject"] for r in a1}) == 50


def test_pseudonyms_survive_a_restart_with_the_same_keys(keystore: FileKeyStore, clock: FixedClock) -> None:
    rules: Rules = {"subject": (Operator.PSEUDONYMIZE, FieldClass.SUBJECT_ID)}
    first = run(CatalogDesensitizer(keystore, FastScanner(), clock), rules, [{"subject": "张三"}])
    second = run(
        CatalogDesensitizer(FileKeyStore(keystore.directory), FastScanner(), clock),
        rules,
        [{"subject": "张三"}],
    )
    assert first == second


@pytest.mark.parametrize("algorithm", ["aes-256-gcm", SM4_GCM])
def test_ciphertexts_decrypt_with_the_recipients_key_only(
    keystore: FileKeyStore, clock: FixedClock, algorithm: str
) -> None:
    d = CatalogDesensitizer(keystore, FastScanner(), clock, algorithm=algorithm)
    rules: Rules = {
        "id_no": (Operator.ENCRYPT, FieldClass.RESIDENT_ID),
        "phone": (Operator.ENCRYPT, FieldClass.PHONE),
    }
    rid = resident_id(random.Random(2))
    [out] = run(d, rules, [{"id_no": rid, "phone": 13812345678}], "dept-a")
    token = str(out["id_no"])
    assert token.startswith(f"enc:v1:{algorithm}:")
    secret = keystore.secret("encryption")
    key = recipient_key(secret, "dept-a", algorithm)
    assert decrypt_value(key, token, recipient="dept-a", item=ITEM, field="id_no") == rid
    assert decrypt_value(key, str(out["phone"]), recipient="dept-a", item=ITEM, field="phone") == 13812345678
    with pytest.raises(DesensitizationError):
        decrypt_value(
            recipient_key(secret, "dept-b", algorithm), token, recipient="dept-a", item=ITEM, field="id_no"
        )
    with pytest.raises(DesensitizationError):
        decrypt_value(key, token, recipient="dept-a", item=ITEM, field="phone")
    tampered = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    with pytest.raises(DesensitizationError):
        decrypt_value(key, tampered, recipient="dept-a", item=ITEM, field="id_no")


def test_a_missing_key_refuses(tmp_path: object, clock: FixedClock) -> None:
    from pathlib import Path

    empty = FileKeyStore(Path(str(tmp_path)) / "nokeys")
    d = CatalogDesensitizer(empty, FastScanner(), clock)
    with pytest.raises(KeyUnavailable):
        run(d, {"s": (Operator.PSEUDONYMIZE, FieldClass.NAME)}, [{"s": "张三"}])


# --- free text ------------------------------------------------------------------------------------


@pytest.mark.parametrize("operator", [Operator.NONE, Operator.MASK, Operator.GENERALIZE])
def test_free_text_findings_are_masked(desensitizer: CatalogDesensitizer, operator: Operator) -> None:
    rng = random.Random(3)
    rid, phone, legal = resident_id(rng), mobile(rng), uscc(rng, "91")
    text = f"当事人身份证号{rid}，联系电话{phone}，所属企业{legal}，罚款5000元。"
    [out] = run(desensitizer, {"facts": (operator, FieldClass.FREE_TEXT)}, [{"facts": text}])
    facts = str(out["facts"])
    assert rid not in facts
    assert phone not in facts
    assert f"{rid[:6]}***********{rid[17]}" in facts
    assert legal in facts
    assert facts.endswith("罚款5000元。")


def test_kept_digits_that_join_their_neighbours_into_a_new_card_are_masked_too(
    desensitizer: CatalogDesensitizer,
) -> None:
    # Written in groups, the card runs straight on into phone-like digits: the detector reads the groups,
    # finds the card in the first four and the scanner masks it on its first pass.
    text = "ID card 6249 4592 9957 8555 6130-7458-9302罚款人民币5000元"
    assert residual_entities(text) == {GuardEntity.BANK_CARD}
    assert residual_entities(mask_findings(text, find_entities(text))) == set()
    [out] = run(desensitizer, {"facts": (Operator.MASK, FieldClass.FREE_TEXT)}, [{"facts": text}])
    assert residual_entities(str(out["facts"])) == set()
    assert str(out["facts"]).endswith("9302罚款人民币5000元")


def test_free_text_without_candidates_never_reaches_the_scanner(
    desensitizer: CatalogDesensitizer, scanner: CountingScanner
) -> None:
    rules: Rules = {"facts": (Operator.MASK, FieldClass.FREE_TEXT)}
    rows: list[dict[str, object]] = [
        {"facts": "当事人于2023年5月未按规定公示年度报告，罚款人民币5000元。"}
    ] * 20
    out = run(desensitizer, rules, rows)
    assert out == rows
    assert scanner.calls == 0
    run(desensitizer, rules, [{"facts": "手机13812345678"}])
    assert scanner.calls == 1


def test_a_field_unknown_to_the_catalog_is_scanned_when_the_policy_calls_it_public(
    desensitizer: CatalogDesensitizer,
) -> None:
    decision = item({"remark": (Operator.NONE, FieldClass.PUBLIC)})
    [out] = desensitizer.desensitize([{"remark": "联系13812345678"}], decision, {}, "dept-a")
    assert out == {"remark": "联系138****5678"}


@pytest.mark.parametrize(("make_scanner", "count"), [(FastScanner, 3000), (PresidioScanner, 300)])
def test_generated_free_text_leaves_without_residual_identifiers(
    keystore: FileKeyStore, clock: FixedClock, make_scanner: type[FastScanner], count: int
) -> None:
    d = CatalogDesensitizer(keystore, make_scanner(), clock)
    rng = random.Random(4)
    rows: list[dict[str, object]] = [
        {"facts": free_text(rng, candidates=rng.randrange(1, 6))} for _ in range(count)
    ]
    out = run(d, {"facts": (Operator.MASK, FieldClass.FREE_TEXT)}, rows)
    assert all(residual_entities(str(r["facts"])) == set() for r in out)


# --- residual guard -------------------------------------------------------------------------------


def _refused(d: CatalogDesensitizer, rules: Rules, row: dict[str, object]) -> DesensitizationError:
    with pytest.raises(DesensitizationError) as err:
        run(d, rules, [row])
    return err.value


@pytest.mark.parametrize(
    ("value", "entity"),
    [
        (resident_id(random.Random(5)), "resident_id"),
        (uscc(random.Random(5), "92"), "individual_business_uscc"),
        (bank_card(random.Random(5)), "bank_card"),
        (mobile(random.Random(5)), "mobile"),
        (int(mobile(random.Random(6))), "mobile"),
        (["ok", {"k": resident_id(random.Random(7))}], "resident_id"),
    ],
)
def test_the_guard_refuses_identifiers_in_a_public_field(
    desensitizer: CatalogDesensitizer, caplog: pytest.LogCaptureFixture, value: object, entity: str
) -> None:
    with caplog.at_level(logging.WARNING, logger="gateway.desensitize"):
        err = _refused(desensitizer, {"remark": (Operator.NONE, FieldClass.PUBLIC)}, {"remark": value})
    assert err.code == "residual_personal_data"
    assert err.field == "remark"
    assert err.extra == {"item": ITEM, "entities": [entity]}
    text = str(value)
    for shown in (str(err), err.detail, repr(err.extra), caplog.text):
        assert text not in shown
        assert "resident" in shown or entity in shown or "blocked" in shown


def test_the_guard_catches_what_a_scanner_misses(keystore: FileKeyStore, clock: FixedClock) -> None:
    d = CatalogDesensitizer(keystore, BlindScanner(), clock)
    rid = resident_id(random.Random(8))
    err = _refused(d, {"facts": (Operator.MASK, FieldClass.FREE_TEXT)}, {"facts": f"身份证号{rid}"})
    assert err.code == "residual_personal_data"


@pytest.mark.parametrize(
    ("field_class", "value"),
    [
        (FieldClass.RESIDENT_ID, resident_id(random.Random(9))),
        (FieldClass.SUBJECT_ID, resident_id(random.Random(9))),
        (FieldClass.SUBJECT_ID, uscc(random.Random(9), "92")),
        (FieldClass.USCC, uscc(random.Random(9), "92")),
        (FieldClass.BANK_CARD, bank_card(random.Random(9))),
        (FieldClass.PHONE, mobile(random.Random(9))),
        (FieldClass.PUBLIC, uscc(random.Random(9), "91")),
    ],
)
def test_values_the_decision_cleared_pass(
    desensitizer: CatalogDesensitizer, field_class: FieldClass, value: str
) -> None:
    assert run(desensitizer, {"f": (Operator.NONE, field_class)}, [{"f": value}]) == [{"f": value}]


@pytest.mark.parametrize(
    ("field_class", "value"),
    [
        (FieldClass.RESIDENT_ID, mobile(random.Random(10))),
        (FieldClass.PHONE, resident_id(random.Random(10))),
        (FieldClass.USCC, resident_id(random.Random(10))),
        (FieldClass.NAME, bank_card(random.Random(10))),
    ],
)
def test_clearance_is_only_for_the_fields_own_class(
    desensitizer: CatalogDesensitizer, field_class: FieldClass, value: str
) -> None:
    assert (
        _refused(desensitizer, {"f": (Operator.NONE, field_class)}, {"f": value}).code
        == "residual_personal_data"
    )


def test_one_leaking_row_refuses_the_whole_response(desensitizer: CatalogDesensitizer) -> None:
    rules: Rules = {"remark": (Operator.NONE, FieldClass.PUBLIC)}
    rows: list[dict[str, object]] = [{"remark": "ok"} for _ in range(5)]
    rows.append({"remark": mobile(random.Random(11))})
    with pytest.raises(DesensitizationError):
        run(desensitizer, rules, rows)


def test_a_row_with_a_field_the_decision_did_not_release_is_refused(
    desensitizer: CatalogDesensitizer,
) -> None:
    with pytest.raises(DesensitizationError) as err:
        run(desensitizer, {"name": (Operator.MASK, FieldClass.NAME)}, [{"name": "张三", "id_no": "x"}])
    assert err.value.code == "unreleased_field"


def test_an_unknown_encryption_algorithm_is_a_configuration_error(
    keystore: FileKeyStore, clock: FixedClock
) -> None:
    with pytest.raises(ConfigurationError):
        CatalogDesensitizer(keystore, FastScanner(), clock, algorithm="aes-128-cbc")


def test_the_plan_scans_free_text_only(desensitizer: CatalogDesensitizer) -> None:
    rules: Rules = {
        "facts": (Operator.MASK, FieldClass.FREE_TEXT),
        "id_no": (Operator.MASK, FieldClass.RESIDENT_ID),
        "remark": (Operator.NONE, FieldClass.PUBLIC),
    }
    plan = desensitizer.plan(item(rules), specs(rules), "dept-a")
    assert {p.name: p.scanned for p in plan.fields} == {"facts": True, "id_no": False, "remark": False}


def test_a_released_field_without_obligation_is_refused(desensitizer: CatalogDesensitizer) -> None:
    decision = ItemDecision(item_id=ITEM, fields=("name",), obligations={}, row_filters=())
    with pytest.raises(DesensitizationError) as err:
        desensitizer.desensitize([{"name": "张三"}], decision, {}, "dept-a")
    assert err.value.code == "missing_obligation"
