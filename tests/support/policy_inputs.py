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

# The facts the gateway works out before deciding (gateway.domain.query.SubjectFacts): none apply.
NO_FACTS: dict[str, Any] = {
    "lists": [],
    "minor_at_conduct": False,
    "force_majeure": False,
    "unintentional_minor": False,
}
LEGAL_PERSON = {
    "kind": "legal_person",
    "id_type": "uscc",
    "minor": False,
    "commitment": "c-legal",
    **NO_FACTS,
}
ADULT = {
    "kind": "natural_person",
    "id_type": "resident_id",
    "minor": False,
    "commitment": "c-adult",
    **NO_FACTS,
}
MINOR = {
    "kind": "natural_person",
    "id_type": "resident_id",
    "minor": True,
    "commitment": "c-minor",
    **NO_FACTS,
    "minor_at_conduct": True,
}
INDIVIDUAL_BUSINESS = {
    "kind": "individual_business",
    "id_type": "uscc",
    "minor": False,
    "commitment": "c-ib",
    **NO_FACTS,
}
# A legal basis code the shipped catalog lists for each purpose (clauses (1)(14)).
PURPOSE_BASES = {
    "admin_licensing_review": "admin_licensing_law_34",
    "public_procurement_review": "procurement_law_22",
    "credit_supervision": "business_environment_53",
    "disciplinary_measure": "guofa_2020_49_9_10",
    "credit_evaluation": "pipl_13_23",
}


def decision_input(revision: str, /, **changes: Any) -> dict[str, Any]:
    """The baseline input with top-level keys replaced by ``changes``.

    A changed purpose brings a legal basis code the catalog lists for it, unless one is given.
    """
    document: dict[str, Any] = {
        "requester": {"client_id": "housing-app", "department": "housing"},
        "purpose": "admin_licensing_review",
        "legal_basis": "admin_licensing_law_34",
        "measure": None,
        "items": [{"id": "court.dishonest_debtor", "fields": None}],
        "subjects": [LEGAL_PERSON],
        "grant": None,
        "now": NOW,
        "catalog_revision": revision,
    }
    purpose = changes.get("purpose")
    if "legal_basis" not in changes and isinstance(purpose, str) and purpose in PURPOSE_BASES:
        document["legal_basis"] = PURPOSE_BASES[purpose]
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
    ("legal_basis_not_listed", {"legal_basis": "随便"}, "legal_basis_not_listed", None),
    (
        "measure_department_not_listed",
        {"purpose": "disciplinary_measure", "measure": "restrict_financing"},
        "measure_department_not_listed",
        None,
    ),
    (
        "measure_not_linked",
        {
            "purpose": "disciplinary_measure",
            "measure": "restrict_market_access",
            "requester": {"client_id": "dr", "department": "development_reform"},
            "items": one_item("market.admin_penalty"),
        },
        "measure_not_linked",
        None,
    ),
    (
        "measure_too_severe",
        {
            "purpose": "disciplinary_measure",
            "measure": "restrict_financing",
            "requester": {"client_id": "dr", "department": "development_reform"},
            "items": one_item("market.admin_penalty"),
        },
        "measure_too_severe",
        None,
    ),
    (
        "measure_against_minor",
        {
            "purpose": "disciplinary_measure",
            "measure": "restrict_high_consumption",
            "requester": {"client_id": "dr", "department": "development_reform"},
            "subjects": [{**ADULT, "minor_at_conduct": True}],
        },
        "measure_against_minor",
        None,
    ),
    (
        "measure_against_force_majeure",
        {
            "purpose": "disciplinary_measure",
            "measure": "restrict_high_consumption",
            "requester": {"client_id": "dr", "department": "development_reform"},
            "subjects": [{**ADULT, "force_majeure": True}],
        },
        "measure_against_force_majeure",
        None,
    ),
    (
        "measure_against_unintentional_minor",
        {
            "purpose": "disciplinary_measure",
            "measure": "restrict_high_consumption",
            "requester": {"client_id": "dr", "department": "development_reform"},
            "subjects": [{**LEGAL_PERSON, "unintentional_minor": True}],
        },
        "measure_against_unintentional_minor",
        None,
    ),
]
