"""Grant shapes, statuses and the documents handed to the policies."""

from __future__ import annotations

import ast
import inspect
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

import gateway.domain.grants as grants_module
from gateway.domain.grants import (
    ConsentEvidence,
    Grant,
    GrantStatus,
    GrantTerms,
    Revocation,
    RevokeReason,
    is_grant_id,
    require_personal,
    validate_terms,
)
from gateway.domain.identifiers import IdType, SubjectKind
from gateway.domain.times import rfc3339
from gateway.errors import InvalidRequest

T0 = datetime(2026, 11, 21, tzinfo=UTC)
CONSENT = ConsentEvidence(
    method="written",
    obtained_at=datetime(2026, 11, 20, 9, 30, tzinfo=UTC),
    reference="HF-2026-000123",
    separate=True,
    condition_of_service=False,
)
TERMS = GrantTerms(
    recipient="housing",
    purposes=("admin_licensing",),
    items=("judgment_debtors", "tax_arrears"),
    fields=None,
    valid_from=T0,
    valid_until=T0 + timedelta(days=180),
    consent=CONSENT,
)


def grant(**changes: object) -> Grant:
    base = Grant(
        id="0" * 32,
        subject_commitment="c" * 64,
        id_type=IdType.RESIDENT_ID,
        subject_kind=SubjectKind.NATURAL_PERSON,
        terms=TERMS,
        registered_by="social_security",
        client_id="ss-app",
        created_at=T0,
        ledger_index=7,
    )
    return replace(base, **changes)  # type: ignore[arg-type]  # test helper: any field may change


# --- times ---


def test_rfc3339_is_utc_with_z() -> None:
    assert (
        rfc3339(datetime(2026, 11, 22, 16, 0, tzinfo=timezone(timedelta(hours=8)))) == "2026-11-22T08:00:00Z"
    )


def test_rfc3339_keeps_microseconds_only_when_present() -> None:
    assert rfc3339(datetime(2026, 1, 1, 0, 0, 0, 500, tzinfo=UTC)) == "2026-01-01T00:00:00.000500Z"


def test_rfc3339_refuses_naive_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        rfc3339(datetime(2026, 1, 1))


# --- shape validation ---


def test_well_shaped_terms_pass() -> None:
    validate_terms(TERMS)


def test_blanket_values_pass_shape_so_the_policy_can_name_them() -> None:
    validate_terms(replace(TERMS, recipient="all", purposes=("*",), items=("全部",), valid_until=None))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"recipient": "housing dept"}, "recipient"),
        ({"recipient": ""}, "recipient"),
        ({"purposes": ()}, "purposes"),
        ({"items": ()}, "items"),
        ({"items": ("a", "a")}, "items[1]"),
        ({"items": tuple(f"i{n}" for n in range(101))}, "items"),
        ({"items": ("110105199003073410",)}, "items[0]"),
        ({"purposes": ("x" * 101,)}, "purposes[0]"),
        ({"fields": {}}, "fields"),
        ({"fields": {"judgment_debtors": ()}}, "fields.judgment_debtors"),
        ({"valid_from": datetime(2026, 11, 21)}, "valid_from"),
        ({"valid_from": datetime(1960, 1, 1, tzinfo=UTC)}, "valid_from"),
        ({"valid_from": datetime(2300, 1, 1, tzinfo=UTC)}, "valid_from"),
        ({"valid_until": datetime(2027, 1, 1)}, "valid_until"),
        ({"consent": replace(CONSENT, reference="")}, "consent.reference"),
        ({"consent": replace(CONSENT, reference="signed by 110105199003073410")}, "consent.reference"),
        ({"consent": replace(CONSENT, method="by phone")}, "consent.method"),
        ({"consent": replace(CONSENT, service="a b")}, "consent.service"),
        ({"consent": replace(CONSENT, obtained_at=datetime(2026, 1, 1))}, "consent.obtained_at"),
    ],
)
def test_malformed_terms_name_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        validate_terms(replace(TERMS, **changes))  # type: ignore[arg-type]  # parametrized changes
    assert caught.value.field == field
    assert caught.value.code == "invalid_request"


def test_far_future_end_passes_shape_for_the_lifetime_rule() -> None:
    validate_terms(replace(TERMS, valid_until=datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)))


def test_legal_person_cannot_give_a_grant() -> None:
    with pytest.raises(InvalidRequest) as caught:
        require_personal(SubjectKind.LEGAL_PERSON)
    assert caught.value.code == "grant_subject_not_personal"


def test_people_and_individual_businesses_can_give_grants() -> None:
    require_personal(SubjectKind.NATURAL_PERSON)
    require_personal(SubjectKind.INDIVIDUAL_BUSINESS)


def test_grant_id_shape() -> None:
    assert is_grant_id("0123456789abcdef0123456789abcdef")
    assert not is_grant_id("0123456789ABCDEF0123456789ABCDEF")
    assert not is_grant_id("../../etc/passwd")


# --- status ---


def test_status_over_time() -> None:
    g = grant()
    assert g.status(T0 - timedelta(seconds=1)) is GrantStatus.NOT_YET_VALID
    assert g.status(T0) is GrantStatus.ACTIVE
    assert g.status(T0 + timedelta(days=180) - timedelta(microseconds=1)) is GrantStatus.ACTIVE
    assert g.status(T0 + timedelta(days=180)) is GrantStatus.EXPIRED


def test_unregistered_grant_is_pending() -> None:
    assert grant(ledger_index=None).status(T0) is GrantStatus.PENDING


def test_revocation_wins() -> None:
    revoked = grant(revocation=Revocation(T0, "ss-app", "social_security", RevokeReason.SUBJECT_WITHDRAWAL))
    assert revoked.status(T0 + timedelta(days=1)) is GrantStatus.REVOKED


def test_visible_to_registrant_and_recipient_only() -> None:
    g = grant()
    assert g.visible_to("social_security")
    assert g.visible_to("housing")
    assert not g.visible_to("tax")


# --- policy documents ---


def test_registration_document() -> None:
    doc = replace(TERMS, fields={"judgment_debtors": ("case_no",)}).policy_document(
        SubjectKind.NATURAL_PERSON
    )
    assert doc == {
        "recipient": "housing",
        "purposes": ["admin_licensing"],
        "items": ["judgment_debtors", "tax_arrears"],
        "fields": {"judgment_debtors": ["case_no"]},
        "valid_from": "2026-11-21T00:00:00Z",
        "valid_until": "2027-05-20T00:00:00Z",
        "consent": {
            "method": "written",
            "obtained_at": "2026-11-20T09:30:00Z",
            "reference": "HF-2026-000123",
            "separate": True,
            "condition_of_service": False,
            "service": None,
        },
        "subject_kind": "natural_person",
    }


def test_missing_end_goes_to_the_policy_as_null() -> None:
    assert replace(TERMS, valid_until=None).policy_document(SubjectKind.NATURAL_PERSON)["valid_until"] is None


def test_query_document_is_the_stored_grant() -> None:
    g = grant(revocation=Revocation(T0, "ss-app", "social_security", RevokeReason.SUBJECT_WITHDRAWAL))
    assert g.query_document() == {
        "id": "0" * 32,
        "subject_commitment": "c" * 64,
        "recipient": "housing",
        "purposes": ["admin_licensing"],
        "items": ["judgment_debtors", "tax_arrears"],
        "fields": None,
        "valid_from": "2026-11-21T00:00:00Z",
        "valid_until": "2027-05-20T00:00:00Z",
        "revoked": True,
    }


def test_domain_module_does_no_io() -> None:
    tree = ast.parse(inspect.getsource(grants_module))
    imported = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    forbidden = {"sqlalchemy", "fastapi", "httpx", "os", "pathlib", "time", "regorus", "yaml"}
    assert not {name.split(".")[0] for name in imported} & forbidden
