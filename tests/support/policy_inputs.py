"""Policy input documents against the shipped catalog (policies/catalog), shared by the engine tests.

The baseline is a housing department reviewing a licence application of one legal person: allowed.
Each refusal case changes the baseline just enough to trip one rule of the policy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

POLICIES_DIR = Path(__file__).resolve().parents[2] / "policies"
DECISION = "gateway.query.decision"
NOW = "2026-11-22T08:00:00Z"

LEGAL_PERSON = {"kind": "legal_person", "id_type": "uscc", "minor": False, "commitment": "c-legal"}
ADULT = {"kind": "natural_person", "id_type": "resident_id", "minor": False, "commitment": "c-adult"}
MINOR = {"kind": "natural_person", "id_type": "resident_id", "minor": True, "commitment": "c-minor"}
INDIVIDUAL_BUSINESS = {"kind": "individual_business", "id_type": "uscc", "minor": False, "commitment": "c-ib"}


def decision_input(revision: str, /, **changes: Any) -> dict[str, Any]:
    """The baseline input with top-level keys replaced by ``changes``."""
    document: dict[str, Any] = {
        "requester": {"client_id": "housing-app", "department": "housing"},
        "purpose": "admin_licensing_review",
        "legal_basis": "《中华人民共和国行政许可法》第三十四条",
        "measure": None,
        "items": [{"id": "court.dishonest_debtor", "fields": None}],
        "subjects": [LEGAL_PERSON],
        "grant": None,
        "now": NOW,
        "catalog_revision": revision,
    }
    document.update(changes)
    return document


def grant_for(subject: dict[str, Any], items: list[str], purpose: str, **changes: Any) -> dict[str, Any]:
    """A stored grant (``Grant.query_document`` shape) to the housing department, valid at NOW."""
    grant: dict[str, Any] = {
        "id": "0123456789abcdef0123456789abcdef",
        "subject_commitment": subject["commitment"],
        "recipient": "housing",
        "purposes": [purpose],
        "items": items,
        "fields": None,
        "valid_from": "2026-11-01T00:00:00Z",
        "valid_until": "2027-05-01T00:00:00Z",
        "revoked": False,
    }
    grant.update(changes)
    return grant


def one_item(item: str, fields: list[str] | None = None) -> list[dict[str, Any]]:
    """An ``items`` list naming one item."""
    return [{"id": item, "fields": fields}]


# (case id, changes to the baseline, expected refusal code, item the reason names or None)
REFUSALS: list[tuple[str, dict[str, Any], str, str | None]] = [
    ("request_incomplete", {"legal_basis": ""}, "request_incomplete", None),
    (
        "catalog_revision_mismatch",
        {"catalog_revision": "national@1999-01-01"},
        "catalog_revision_mismatch",
        None,
    ),
    (
        "item_not_in_catalog",
        {"items": one_item("market.horoscope")},
        "item_not_in_catalog",
        "market.horoscope",
    ),
    (
        "item_not_shared",
        {"items": one_item("market.enterprise_contact")},
        "item_not_shared",
        "market.enterprise_contact",
    ),
    (
        "requester_out_of_scope",
        {"requester": {"client_id": "zj", "department": "zhejiang_credit_center"}},
        "requester_out_of_scope",
        "court.dishonest_debtor",
    ),
    ("purpose_unknown", {"purpose": "curiosity"}, "purpose_unknown", None),
    (
        "purpose_not_allowed",
        {"purpose": "credit_evaluation", "items": one_item("tax.major_violation")},
        "purpose_not_allowed",
        "tax.major_violation",
    ),
    (
        "field_unknown",
        {"items": one_item("court.dishonest_debtor", ["shoe_size"])},
        "field_unknown",
        "court.dishonest_debtor",
    ),
    (
        "field_not_needed",
        {"items": one_item("court.dishonest_debtor", ["obligation"])},
        "field_not_needed",
        "court.dishonest_debtor",
    ),
    ("measure_required", {"purpose": "disciplinary_measure"}, "measure_required", None),
    (
        "measure_not_listed",
        {"purpose": "disciplinary_measure", "measure": "public_shaming"},
        "measure_not_listed",
        None,
    ),
    ("measure_not_applicable", {"measure": "restrict_high_consumption"}, "measure_not_applicable", None),
    (
        "subject_kind_not_covered",
        {"items": one_item("tax.credit_rating"), "subjects": [INDIVIDUAL_BUSINESS]},
        "subject_kind_not_covered",
        "tax.credit_rating",
    ),
    (
        "personal_information_needs_duty_or_grant",
        {"purpose": "credit_evaluation", "subjects": [ADULT]},
        "personal_information_needs_duty_or_grant",
        "court.dishonest_debtor",
    ),
]
