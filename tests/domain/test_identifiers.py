"""Resident ID (GB 11643-1999) and unified social credit code (GB 32100-2015) check characters."""

from __future__ import annotations

from datetime import date

import pytest

from gateway.demo.data import generate_demo_data
from gateway.domain.identifiers import (
    USCC_ALPHABET,
    IdType,
    SubjectKind,
    age_on,
    is_valid_resident_id,
    is_valid_uscc,
    parse_subject,
    resident_id_birth_date,
    resident_id_check_char,
    uscc_check_char,
)
from gateway.errors import InvalidIdentifier

# The day the identifiers are checked on (birth dates may not be after it).
TODAY = date(2026, 11, 22)

# The worked example of GB 11643-1999 (check character X) and a few generated ones.
STANDARD_ID = "11010519491231002X"
DATA = generate_demo_data(2020)
RESIDENT_IDS = [STANDARD_ID, *sorted({r["legal_rep_id"] for r in DATA.rows["market"]["enterprises"]})[:12]]
USCCS = (
    sorted({r["uscc"] for r in DATA.rows["market"]["enterprises"]})[:8]
    + sorted({r["uscc"] for r in DATA.rows["market"]["enterprises"] if r["uscc"].startswith("92")})[:4]
)
ID_CHECK_CHARS = "0123456789X"


def test_standard_example_is_valid_and_its_check_character_is_computed() -> None:
    assert resident_id_check_char(STANDARD_ID[:17]) == "X"
    assert is_valid_resident_id(STANDARD_ID)
    assert resident_id_birth_date(STANDARD_ID) == date(1949, 12, 31)


@pytest.mark.parametrize("value", RESIDENT_IDS)
def test_every_wrong_check_character_of_a_resident_id_is_caught(value: str) -> None:
    assert is_valid_resident_id(value)
    wrong = [c for c in ID_CHECK_CHARS if c != value[17]]
    assert len(wrong) == 10
    for char in wrong:
        corrupted = value[:17] + char
        assert not is_valid_resident_id(corrupted), corrupted
        with pytest.raises(InvalidIdentifier) as caught:
            parse_subject("resident_id", corrupted, field="subjects[0]", today=TODAY)
        assert "check character" in caught.value.detail
        assert caught.value.field == "subjects[0]"
        assert corrupted not in caught.value.detail  # the value is never echoed


@pytest.mark.parametrize("value", RESIDENT_IDS)
def test_every_single_digit_substitution_in_a_resident_id_body_is_caught(value: str) -> None:
    # MOD 11-2 weights are all non-zero modulo the prime 11: any one changed digit changes the sum.
    for position in range(17):
        for digit in "0123456789":
            if digit == value[position]:
                continue
            corrupted = value[:position] + digit + value[position + 1 :]
            assert not is_valid_resident_id(corrupted), (position, digit)


@pytest.mark.parametrize("value", USCCS)
def test_every_wrong_check_character_of_a_uscc_is_caught(value: str) -> None:
    assert is_valid_uscc(value)
    wrong = [c for c in USCC_ALPHABET if c != value[17]]
    assert len(wrong) == 30
    for char in wrong:
        corrupted = value[:17] + char
        assert not is_valid_uscc(corrupted), corrupted
        with pytest.raises(InvalidIdentifier) as caught:
            parse_subject("uscc", corrupted, today=TODAY)
        assert "check character" in caught.value.detail


@pytest.mark.parametrize("value", USCCS)
def test_every_single_character_substitution_in_a_uscc_body_is_caught(value: str) -> None:
    for position in range(17):
        alphabet = "0123456789" if 2 <= position < 8 else USCC_ALPHABET  # region code is digits
        for char in alphabet:
            if char == value[position]:
                continue
            corrupted = value[:position] + char + value[position + 1 :]
            assert not is_valid_uscc(corrupted), (position, char)


def test_uscc_check_character_follows_the_gb_32100_formula() -> None:
    # C18 = 31 - (sum of value(c_i) * 3^(i) mod 31) mod 31, with 31 mapped to 0.
    first17 = "91330106MA27Y0B4X"
    total = sum(USCC_ALPHABET.index(c) * pow(3, i, 31) for i, c in enumerate(first17))
    assert uscc_check_char(first17) == USCC_ALPHABET[(31 - total % 31) % 31]


def test_parse_subject_classifies_and_normalizes() -> None:
    person = parse_subject("resident_id", STANDARD_ID.lower(), today=TODAY)
    assert person == parse_subject("resident_id", f"  {STANDARD_ID} ", today=TODAY)
    assert (person.id_type, person.kind, person.value) == (
        IdType.RESIDENT_ID,
        SubjectKind.NATURAL_PERSON,
        STANDARD_ID,
    )
    company = next(u for u in USCCS if u.startswith("91"))
    shop = next(u for u in USCCS if u.startswith("92"))
    assert parse_subject("uscc", company, today=TODAY).kind is SubjectKind.LEGAL_PERSON
    assert parse_subject("uscc", shop, today=TODAY).kind is SubjectKind.INDIVIDUAL_BUSINESS
    assert parse_subject("uscc", shop, today=TODAY).kind.is_personal
    assert not parse_subject("uscc", company, today=TODAY).kind.is_personal


@pytest.mark.parametrize(
    ("id_type", "value", "rule"),
    [
        ("resident_id", "1101051949123100", "17 digits"),
        ("resident_id", "1101051949123100XX", "17 digits"),
        ("resident_id", "110105194902300021", "birth date"),  # 30 February
        ("resident_id", "110105189912310021", "birth date"),  # before 1900
        ("uscc", "91330106MA27Y0B4X", "shape"),
        ("uscc", "91330106MA27Y0I4XA", "shape"),  # I is not in the alphabet
        ("uscc", "9133A106MA27Y0B4XA", "shape"),  # region code must be digits
        ("passport", "E12345678", "unknown identifier type"),
    ],
)
def test_malformed_identifiers_are_refused_naming_the_rule(id_type: str, value: str, rule: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        parse_subject(id_type, value, today=TODAY)
    assert rule in caught.value.detail
    assert caught.value.accepted


def test_minor_is_decided_on_the_birth_date_in_the_id() -> None:
    today = date(2026, 11, 22)
    manifest = DATA.manifest
    assert parse_subject("resident_id", manifest.minor.value, today=TODAY).is_minor(today)
    assert parse_subject("resident_id", manifest.almost_adult.value, today=TODAY).is_minor(today)
    assert not parse_subject("resident_id", manifest.just_adult.value, today=TODAY).is_minor(today)
    assert not parse_subject("uscc", manifest.legal_person.value, today=TODAY).is_minor(today)


@pytest.mark.parametrize(
    ("born", "today", "age"),
    [
        (date(2008, 11, 22), date(2026, 11, 22), 18),
        (date(2008, 11, 23), date(2026, 11, 22), 17),
        (date(2008, 2, 29), date(2026, 2, 28), 17),
        (date(2008, 2, 29), date(2026, 3, 1), 18),
    ],
)
def test_age_on_counts_completed_years(born: date, today: date, age: int) -> None:
    assert age_on(born, today) == age
