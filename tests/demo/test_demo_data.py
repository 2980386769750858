"""The synthetic departmental data: deterministic, checksum-valid, and covering every special case."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from gateway.demo.data import (
    REFERENCE_DATE,
    DemoDataset,
    build_demo_databases,
    demo_manifest,
    generate_demo_data,
    write_demo_sqlite,
)
from gateway.demo.schema import DEMO_DATABASES, demo_metadata
from gateway.domain.identifiers import (
    SubjectKind,
    age_on,
    is_valid_resident_id,
    is_valid_uscc,
    resident_id_birth_date,
)
from gateway.errors import ConfigurationError
from tests.support.demo_databases import DemoDatabases, backend_params, demo_for

ID_IN_TEXT = re.compile(r"(?<![0-9])[0-9]{17}[0-9X](?![0-9X])")
MOBILE_IN_TEXT = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")


@pytest.fixture(scope="module")
def data() -> DemoDataset:
    return generate_demo_data(2020)


def rows(data: DemoDataset, database: str, table: str) -> list[dict[str, Any]]:
    return data.rows[database][table]


def read_back(url: str, database: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every demo table, typed by the schema, in primary-key order."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                name: [dict(r._mapping) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
                for name, t in demo_metadata(database).tables.items()
            }
    finally:
        engine.dispose()


def sorted_rows(tables: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    def ordered(table: str, table_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        key = "uscc" if table == "enterprises" else "id"
        return sorted(table_rows, key=lambda row: row[key])

    return {t: ordered(t, r) for t, r in tables.items()}


# --- determinism ---


def test_same_seed_gives_identical_rows(data: DemoDataset) -> None:
    again = generate_demo_data(2020)
    assert again.rows == data.rows
    assert again.manifest == data.manifest


def test_another_seed_gives_other_rows(data: DemoDataset) -> None:
    other = generate_demo_data(7)
    assert other.rows["market"]["enterprises"] != data.rows["market"]["enterprises"]
    assert other.manifest.legal_person.value != data.manifest.legal_person.value


def test_sqlite_files_are_identical_across_builds(tmp_path: Path, data: DemoDataset) -> None:
    first = write_demo_sqlite(tmp_path / "a")
    second = write_demo_sqlite(tmp_path / "b")
    assert set(first) == set(DEMO_DATABASES)
    for database in DEMO_DATABASES:
        loaded = read_back(first[database], database)
        assert loaded == read_back(second[database], database)
        assert loaded == sorted_rows(dict(data.rows[database]))


def test_write_demo_sqlite_replaces_existing_files(tmp_path: Path) -> None:
    write_demo_sqlite(tmp_path, seed=1)
    urls = write_demo_sqlite(tmp_path, seed=2)
    stored = read_back(urls["market"], "market")["enterprises"]
    assert {r["uscc"] for r in stored} == {
        r["uscc"] for r in generate_demo_data(2).rows["market"]["enterprises"]
    }


def test_build_refuses_a_database_that_already_has_the_tables(tmp_path: Path) -> None:
    urls = write_demo_sqlite(tmp_path)
    with pytest.raises(ConfigurationError) as caught:
        build_demo_databases(urls)
    assert "already has tables" in caught.value.detail
    build_demo_databases(urls, replace=True)  # replace drops and rebuilds
    assert len(read_back(urls["court"], "court")["dishonest_debtors"]) == len(
        generate_demo_data().rows["court"]["dishonest_debtors"]
    )


def test_build_needs_exactly_the_demo_databases(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        build_demo_databases({"market": f"sqlite:///{tmp_path / 'm.db'}"})


# --- the same data in every engine ---


@pytest.fixture(params=backend_params())
def demo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DemoDatabases]:
    with demo_for(request, request.param, tmp_path) as built:
        yield built


def test_every_engine_stores_exactly_the_generated_rows(demo: DemoDatabases, data: DemoDataset) -> None:
    assert demo.manifest == data.manifest
    for database in DEMO_DATABASES:
        assert read_back(demo.urls[database], database) == sorted_rows(dict(data.rows[database]))


# --- identifiers ---


def test_every_identifier_is_checksum_valid_and_matches_its_subject_kind(data: DemoDataset) -> None:
    def check(subject_id: str, kind: str) -> None:
        if kind == SubjectKind.NATURAL_PERSON:
            assert is_valid_resident_id(subject_id), subject_id
        else:
            assert is_valid_uscc(subject_id), subject_id
            assert subject_id.startswith("92") == (kind == SubjectKind.INDIVIDUAL_BUSINESS)

    for row in rows(data, "market", "enterprises"):
        assert is_valid_uscc(row["uscc"])
        assert is_valid_resident_id(row["legal_rep_id"])
    for row in rows(data, "market", "admin_penalties"):
        assert is_valid_uscc(row["uscc"])
    for row in rows(data, "court", "dishonest_debtors"):
        check(row["subject_id"], row["subject_kind"])
    for row in rows(data, "court", "consumption_restrictions"):
        check(row["subject_id"], row["subject_kind"])
        assert is_valid_resident_id(row["restricted_person_id"])
    for row in rows(data, "tax", "credit_ratings"):
        assert is_valid_uscc(row["uscc"])
        assert row["uscc"].startswith("91")
    for row in rows(data, "tax", "major_violations"):
        check(row["subject_id"], row["subject_kind"])
        assert is_valid_resident_id(row["responsible_person_id"])


def test_identifiers_and_phones_inside_free_text_are_valid(data: DemoDataset) -> None:
    texts = [r["notes"] or "" for r in rows(data, "market", "admin_penalties")]
    texts += [r["obligation"] for r in rows(data, "court", "dishonest_debtors")]
    texts += [r["violation"] for r in rows(data, "tax", "major_violations")]
    embedded = [m for text in texts for m in ID_IN_TEXT.findall(text)]
    phones = [m for text in texts for m in MOBILE_IN_TEXT.findall(text)]
    assert len(embedded) >= 10
    assert len(phones) >= 10
    invalid = [e for e in embedded if not is_valid_resident_id(e)]
    assert invalid == [demo_manifest().embedded_bad_resident_id]  # the one deliberate typo


def test_phones_are_mobile_numbers(data: DemoDataset) -> None:
    phones = [r["phone"] for r in rows(data, "market", "enterprises")]
    phones += [r["contact_phone"] for r in rows(data, "tax", "major_violations")]
    assert all(MOBILE_IN_TEXT.fullmatch(p) for p in phones)


# --- special categories ---


def test_every_special_category_is_present(data: DemoDataset) -> None:
    penalties = rows(data, "market", "admin_penalties")
    debtors = rows(data, "court", "dishonest_debtors")
    cutoff = date(2023, 11, 22)  # three years before the reference date
    persons = [r for r in debtors if r["subject_kind"] == "natural_person"]
    born = [resident_id_birth_date(r["subject_id"]) for r in persons]
    assert any(b is not None and age_on(b, REFERENCE_DATE) < 18 for b in born)
    assert sum(r["repaired_on"] is not None for r in penalties) >= 10
    assert sum(r["removed_on"] is not None for r in debtors) >= 10
    assert sum(r["decided_on"] < cutoff and r["repaired_on"] is None for r in penalties) >= 10
    assert sum(r["force_majeure"] for r in debtors) >= 3
    assert sum(r["uscc"].startswith("92") for r in rows(data, "market", "enterprises")) >= 50
    assert sum(r["uscc"].startswith("91") for r in rows(data, "market", "enterprises")) >= 100
    kinds = {r["subject_kind"] for r in debtors} | {
        r["subject_kind"] for r in rows(data, "tax", "major_violations")
    }
    assert kinds == {"natural_person", "legal_person", "individual_business"}
    assert sum(r["lifted_on"] is not None for r in rows(data, "court", "consumption_restrictions")) >= 10
    assert {r["rating"] for r in rows(data, "tax", "credit_ratings")} == set("ABMCD")
    assert any(r["amount"] is None for r in penalties)  # warnings carry no amount


def test_only_the_manifest_minors_are_minors(data: DemoDataset) -> None:
    ids = {r["subject_id"] for r in rows(data, "court", "dishonest_debtors")}
    ids |= {r["legal_rep_id"] for r in rows(data, "market", "enterprises")}
    ids |= {r["responsible_person_id"] for r in rows(data, "tax", "major_violations")}
    minors = set()
    for value in ids:
        born = resident_id_birth_date(value)
        if is_valid_resident_id(value) and born is not None and age_on(born, REFERENCE_DATE) < 18:
            minors.add(value)
    assert minors == {data.manifest.minor.value, data.manifest.almost_adult.value}


def test_every_date_lies_before_the_reference_date(data: DemoDataset) -> None:
    for tables in data.rows.values():
        for table_rows in tables.values():
            for row in table_rows:
                for value in row.values():
                    if isinstance(value, date):
                        assert value < REFERENCE_DATE


def test_amounts_are_decimals_with_two_places(data: DemoDataset) -> None:
    amounts = [r["amount"] for r in rows(data, "market", "admin_penalties") if r["amount"] is not None]
    amounts += [r["amount"] for r in rows(data, "tax", "major_violations")]
    assert all(isinstance(a, Decimal) and a.as_tuple().exponent == -2 for a in amounts)


# --- the manifest's subjects are what it says ---


def by_subject(data: DemoDataset, database: str, table: str, column: str, value: str) -> list[dict[str, Any]]:
    return [r for r in rows(data, database, table) if r[column] == value]


def test_manifest_subjects_have_the_records_described(data: DemoDataset) -> None:
    m = data.manifest
    assert m.reference_date == REFERENCE_DATE
    assert len(set(s.value for s in m.subjects().values())) == len(m.subjects()) == 15

    legal = m.legal_person.value
    assert m.legal_person.kind is SubjectKind.LEGAL_PERSON
    assert legal.startswith("91")
    penalties = by_subject(data, "market", "admin_penalties", "uscc", legal)
    assert len(penalties) == 2
    assert all(p["repaired_on"] is None and p["removed_on"] is None for p in penalties)
    assert [r["year"] for r in by_subject(data, "tax", "credit_ratings", "uscc", legal)] == [2023, 2024, 2025]
    assert len(by_subject(data, "tax", "major_violations", "subject_id", legal)) == 1
    assert len(by_subject(data, "court", "dishonest_debtors", "subject_id", legal)) == 1
    restriction = by_subject(data, "court", "consumption_restrictions", "subject_id", legal)
    assert len(restriction) == 1
    assert restriction[0]["lifted_on"] is None

    shop = m.individual_business
    assert shop.kind is SubjectKind.INDIVIDUAL_BUSINESS
    assert shop.value.startswith("92")
    assert len(by_subject(data, "market", "admin_penalties", "uscc", shop.value)) == 1
    registered = by_subject(data, "market", "enterprises", "uscc", shop.value)
    assert registered[0]["legal_rep_id"] == m.business_operator.value

    (repaired,) = by_subject(data, "market", "admin_penalties", "uscc", m.repaired.value)
    assert repaired["repaired_on"] == date(2026, 2, 10)
    assert repaired["decided_on"] >= date(2023, 11, 22)
    (old,) = by_subject(data, "market", "admin_penalties", "uscc", m.past_disclosure.value)
    assert old["decided_on"] < date(2023, 11, 22)
    assert old["repaired_on"] is None
    assert old["removed_on"] is None

    (removed,) = by_subject(data, "court", "dishonest_debtors", "subject_id", m.removed.value)
    assert removed["removed_on"] == date(2026, 3, 1)
    assert removed["performance_status"] == "全部履行"
    (flagged,) = by_subject(data, "court", "dishonest_debtors", "subject_id", m.force_majeure.value)
    assert flagged["force_majeure"] is True
    assert flagged["removed_on"] is None
    for subject in (m.natural_person_debtor, m.minor, m.almost_adult, m.just_adult):
        (entry,) = by_subject(data, "court", "dishonest_debtors", "subject_id", subject.value)
        assert entry["repaired_on"] is None
        assert entry["removed_on"] is None
        assert not entry["force_majeure"]
        assert entry["listed_on"] >= date(2024, 11, 22)  # within the two-year listing period
        assert subject.kind is SubjectKind.NATURAL_PERSON
        assert is_valid_resident_id(subject.value)

    (grown,) = by_subject(data, "court", "dishonest_debtors", "subject_id", m.minor_at_conduct.value)
    born = date(
        int(m.minor_at_conduct.value[6:10]),
        int(m.minor_at_conduct.value[10:12]),
        int(m.minor_at_conduct.value[12:14]),
    )
    assert born.replace(year=born.year + 18) <= REFERENCE_DATE  # an adult today
    assert grown["judgment_on"] < born.replace(year=born.year + 18)  # a minor at the conduct
    (careless,) = by_subject(data, "market", "admin_penalties", "uscc", m.unintentional.value)
    assert careless["unintentional_minor"] is True
    bases = [
        p["basis_document"]
        for p in by_subject(data, "market", "admin_penalties", "uscc", m.unaccepted_basis.value)
    ]
    assert bases == ["penalty_decision", None, "inspection_notice"]

    (texty,) = by_subject(data, "market", "admin_penalties", "uscc", m.free_text_identifiers.value)
    notes = texty["notes"]
    assert f"联系人身份证号{m.embedded_resident_id}" in notes  # no spaces around the number
    assert m.embedded_phone in notes
    assert m.embedded_bad_resident_id in notes
    assert is_valid_resident_id(m.embedded_resident_id)
    assert not is_valid_resident_id(m.embedded_bad_resident_id)
    assert m.embedded_bad_resident_id[:17] == m.embedded_resident_id[:17]


def test_manifest_row_counts_match_the_rows(data: DemoDataset) -> None:
    counts = data.manifest.row_counts
    assert counts == {f"{db}.{t}": len(r) for db, tables in data.rows.items() for t, r in tables.items()}
    assert all(100 <= n <= 600 for n in counts.values())
