"""Pure desensitization operators (gateway.domain.desensitize.operators)."""

from __future__ import annotations

import random
import re
from datetime import date, datetime

import pytest

from gateway.domain.catalog import FieldClass
from gateway.domain.desensitize.operators import (
    age_band,
    generalize,
    generalize_address,
    hkdf_sha256,
    mask,
    mask_findings,
    pseudonym,
    pseudonym_function,
    pseudonym_key,
    pseudonymize,
)
from gateway.domain.desensitize.text_scan import find_entities, residual_entities
from tests.support.pii import bank_card, mobile, resident_id, uscc

SECRET = bytes(range(32))


# --- masks ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field_class", "value", "masked"),
    [
        (FieldClass.RESIDENT_ID, "11010519900307123X", "110105***********X"),
        (FieldClass.USCC, "91110108MA01C2XR2B", "91110108*********B"),
        (FieldClass.USCC, "92110105MA01XY1231", "92110105*********1"),
        (FieldClass.NAME, "张三", "张*"),
        (FieldClass.NAME, "李小龙", "李**"),
        (FieldClass.NAME, "欧阳娜娜", "欧***"),
        (FieldClass.NAME, "王", "*"),
        (FieldClass.PHONE, "13812345678", "138****5678"),
        (FieldClass.PHONE, "010-62345678", "010*****5678"),
        (FieldClass.PHONE, "1234567", "*******"),
        (FieldClass.BANK_CARD, "6222021234567890123", "***************0123"),
        (FieldClass.BANK_CARD, "1234", "****"),
        (FieldClass.EMAIL, "zhang.san@example.com", "z***@example.com"),
        (FieldClass.ADDRESS, "北京市朝阳区建国路88号", "北京市朝阳区****"),
        (FieldClass.DATE_OF_BIRTH, "1990-03-07", "1990-**-**"),
        (FieldClass.DATE_OF_BIRTH, date(1990, 3, 7), "1990-**-**"),
        (FieldClass.PUBLIC, "abc", "***"),
    ],
)
def test_masks_keep_what_the_class_allows(field_class: FieldClass, value: object, masked: str) -> None:
    assert mask(field_class, value) == masked


def test_subject_id_mask_follows_the_identifier_kind() -> None:
    rng = random.Random(1)
    rid, code = resident_id(rng), uscc(rng, "92")
    assert mask(FieldClass.SUBJECT_ID, rid) == rid[:6] + "*" * 11 + rid[17]
    assert mask(FieldClass.SUBJECT_ID, code) == code[:8] + "*" * 9 + code[17]


def test_masks_pass_none_and_stringify_numbers() -> None:
    assert mask(FieldClass.PHONE, None) is None
    assert mask(FieldClass.PHONE, 13812345678) == "138****5678"


def test_masked_identifiers_no_longer_trip_the_residual_guard() -> None:
    rng = random.Random(2)
    for _ in range(200):
        values = {
            FieldClass.RESIDENT_ID: resident_id(rng),
            FieldClass.USCC: uscc(rng, "92"),
            FieldClass.BANK_CARD: bank_card(rng),
            FieldClass.PHONE: mobile(rng),
        }
        for field_class, value in values.items():
            assert residual_entities(value)
            assert residual_entities(mask(field_class, value)) == set()


# --- generalization -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "general"),
    [
        ("北京市朝阳区建国路88号", "北京市朝阳区"),
        ("上海市浦东新区世纪大道100号", "上海市浦东新区"),
        ("广东省深圳市南山区科技园科苑路15号", "广东省深圳市南山区"),
        ("浙江省金华市义乌市稠城街道", "浙江省金华市义乌市"),
        ("内蒙古自治区呼和浩特市新城区中山路", "内蒙古自治区呼和浩特市新城区"),
        ("西藏自治区阿里地区噶尔县狮泉河镇", "西藏自治区阿里地区噶尔县"),
        ("贵州省黔东南苗族侗族自治州凯里市北京东路", "贵州省黔东南苗族侗族自治州凯里市"),
        ("云南省柳州市房山孔街F座 665088", "云南省柳州市"),
        ("深圳市南山区粤海街道", "深圳市南山区"),
        ("北京市建国路88号", "北京市"),
        ("建国路88号", "***"),
    ],
)
def test_address_is_cut_after_the_district(address: str, general: str) -> None:
    assert generalize_address(address) == general
    assert generalize(FieldClass.ADDRESS, address, date(2026, 1, 1)) == general


@pytest.mark.parametrize(
    "value", [date(2021, 6, 1), datetime(2021, 6, 1, 8, 30), "2021-06-01", "20210601", "2021年6月1日"]
)
def test_public_dates_generalize_to_the_year(value: object) -> None:
    assert generalize(FieldClass.PUBLIC, value, date(2026, 1, 1)) == "2021"


@pytest.mark.parametrize("value", ["2021-06", "2021年6月", "2021"])
def test_public_year_months_generalize_to_the_year(value: str) -> None:
    assert generalize(FieldClass.PUBLIC, value, date(2026, 1, 1)) == "2021"


@pytest.mark.parametrize("value", ["罚款", 5000, "12345678", "2021-13-01x"])
def test_public_non_dates_are_left_as_they_are(value: object) -> None:
    assert generalize(FieldClass.PUBLIC, value, date(2026, 1, 1)) == value


@pytest.mark.parametrize(
    ("born", "band"),
    [
        (date(2008, 11, 23), "0-17"),  # 17 until tomorrow
        (date(2008, 11, 22), "18-29"),  # 18 today
        (date(1997, 11, 22), "18-29"),
        (date(1996, 11, 22), "30-39"),
        (date(1970, 1, 1), "50-59"),
        (date(1956, 11, 22), "70+"),
    ],
)
def test_birth_dates_generalize_to_age_bands_on_the_reference_date(born: date, band: str) -> None:
    today = date(2026, 11, 22)
    assert age_band(born, today) == band
    assert generalize(FieldClass.DATE_OF_BIRTH, born.isoformat(), today) == band


def test_identifiers_generalize_to_their_region() -> None:
    today = date(2026, 1, 1)
    assert generalize(FieldClass.RESIDENT_ID, "11010519900307123X", today) == "110105"
    assert generalize(FieldClass.USCC, "91110108MA01C2XR2B", today) == "91110108"
    assert generalize(FieldClass.NAME, "张三", today) == "张"
    assert generalize(FieldClass.EMAIL, "a@example.com", today) == "example.com"
    assert generalize(FieldClass.DATE_OF_BIRTH, "not a date", today) == "****"


# --- pseudonyms -----------------------------------------------------------------------------------


def test_hkdf_matches_rfc5869_test_case_1() -> None:
    okm = hkdf_sha256(bytes([0x0B] * 22), salt=bytes(range(13)), info=bytes(range(0xF0, 0xFA)), length=42)
    assert okm.hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )


def test_pseudonyms_are_stable_per_recipient_and_unlinkable_across_recipients() -> None:
    rng = random.Random(3)
    subjects = [resident_id(rng) for _ in range(200)]
    a = [pseudonymize(SECRET, "dept-a", s) for s in subjects]
    again = [pseudonymize(SECRET, "dept-a", s) for s in subjects]
    b = [pseudonymize(SECRET, "dept-b", s) for s in subjects]
    assert a == again
    assert len(set(a)) == len(subjects)
    assert set(a).isdisjoint(b)
    assert all(re.fullmatch(r"pn:[A-Za-z0-9_-]{24}", p) for p in a)


def test_pseudonyms_depend_on_the_secret() -> None:
    assert pseudonymize(SECRET, "dept-a", "张三") != pseudonymize(bytes(32), "dept-a", "张三")


def test_pseudonym_canonicalizes_case_width_and_spaces_of_identifiers() -> None:
    key = pseudonym_key(SECRET, "dept-a")
    assert pseudonym(key, "11010519900307123x") == pseudonym(key, " 11010519900307123X ")
    assert pseudonym(key, "１１０１０５１９９００３０７１２３Ｘ") == pseudonym(key, "11010519900307123X")
    assert pseudonym(key, date(1990, 3, 7)) == pseudonym(key, "1990-03-07")


def test_pseudonymize_is_pseudonym_under_the_derived_key() -> None:
    assert pseudonymize(SECRET, "r", "v") == pseudonym(pseudonym_key(SECRET, "r"), "v")


@pytest.mark.parametrize("key", [SECRET, b"k", bytes(64), bytes(range(100))])
def test_the_hot_path_pseudonym_equals_the_hmac_one(key: bytes) -> None:
    rng = random.Random(5)
    fast = pseudonym_function(key)
    for value in [resident_id(rng) for _ in range(50)] + ["张三", "", 42, date(2020, 1, 1)]:
        assert fast(value) == pseudonym(key, value)


# --- free text ------------------------------------------------------------------------------------


def test_free_text_findings_are_masked_and_legal_person_codes_kept() -> None:
    rng = random.Random(4)
    rid, phone, card, ib, legal = (
        resident_id(rng),
        mobile(rng),
        bank_card(rng),
        uscc(rng, "92"),
        uscc(rng, "91"),
    )
    text = (
        f"当事人身份证号{rid}，手机{phone}，银行卡{card}，个体户{ib}，"
        f"受托企业{legal}，邮箱zhang.san@example.com，罚款5000元。"
    )
    out = mask_findings(text, find_entities(text))
    assert rid not in out
    assert phone not in out
    assert card not in out
    assert ib not in out
    assert legal in out
    assert "zhang.san@" not in out
    assert f"{rid[:6]}***********{rid[17]}" in out
    assert f"{phone[:3]}****{phone[7:]}" in out
    assert "罚款5000元" in out
    assert residual_entities(out) == set()


def test_text_without_findings_is_returned_unchanged() -> None:
    assert mask_findings("没有个人信息", []) == "没有个人信息"
