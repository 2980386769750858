"""Issue 14 over real HTTP: every "Why" example refused with its clause and its legitimate version
allowed, and the whole listing procedure, including an objection that succeeds.

The real demo databases, the real policies on regorus, the real SQLite ledger and list store, real
signed tokens. Time moves only when a test moves the deployment's clock (the notice period).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from gateway.demo.data import DemoSubject
from tests.support.gateway_app import Deployment, deployment_settings, running_gateway
from tests.support.repairs import apply, call

MEASURE_BASIS = "guofa_2020_49_9_10"
LIST = "market_serious_illegal"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    settings = deployment_settings(tmp_path_factory.mktemp("lists"))
    with running_gateway(settings) as deployment:
        yield deployment


def subject(s: DemoSubject) -> dict[str, str]:
    return {"id_type": str(s.id_type), "value": s.value}


def proposal(s: DemoSubject, document: str = "penalty_decision") -> dict[str, Any]:
    return {
        "list": LIST,
        "subject": subject(s),
        "basis_document": {
            "type": document,
            "number": "杭西市监处罚〔2026〕118号",
            "issuer": "杭州市西湖区市场监督管理局",
            "issued_on": "2026-07-02",
        },
    }


DECISION = {
    "reason": "拒不履行生效行政处罚决定，情节严重",
    "basis": "《市场监督管理严重违法失信名单管理办法》第九条",
    "measures": ["restrict_market_access"],
    "removal_conditions": "列入名单满三年且未再发生违法行为，或依法完成信用修复",
    "remedies": "依法申请行政复议或者提起行政诉讼",
}


def step(gateway: Deployment, entry: str, name: str, body: dict[str, Any] | None = None) -> httpx.Response:
    return gateway.post("market", f"/v1/lists/entries/{entry}/{name}", body)


def refused(response: httpx.Response, status: int, code: str, clause: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    problem: dict[str, Any] = response.json()
    assert (problem["code"], problem["clause"]) == (code, clause), problem
    return problem


def list_subject(gateway: Deployment, s: DemoSubject) -> str:
    """Run the procedure to a listing decision for ``s``; return the entry id."""
    created = gateway.post("market", "/v1/lists/entries", proposal(s))
    assert created.status_code == 201, created.text
    entry = created.json()["entry"]["id"]
    assert step(gateway, entry, "notice", {"channel": "mail"}).status_code == 200
    gateway.clock.current += timedelta(days=6)
    decided = step(gateway, entry, "decision", DECISION)
    assert decided.status_code == 200, decided.text
    assert decided.json()["entry"]["status"] == "listed"
    return entry


@pytest.fixture(scope="module")
def listed(gateway: Deployment) -> str:
    """The demo's legal person, put on the market-regulation serious list through the procedure."""
    return list_subject(gateway, gateway.manifest.legal_person)


def measure_query(
    measure: str, item: str, s: DemoSubject, legal_basis: str = MEASURE_BASIS
) -> dict[str, Any]:
    return {
        "purpose": "disciplinary_measure",
        "legal_basis": legal_basis,
        "measure": measure,
        "items": [item],
        "subjects": [subject(s)],
    }


# (case, client, measure, item, subject attribute, legal basis, refusal code, clause, legitimate version)
# The legitimate version changes only what the refusal is about: (client, measure, item, subject, basis).
WHY = [
    (
        "restrict_market_access for an ordinary penalty of a subject on no list",
        (
            "platform",
            "restrict_market_access",
            "market.admin_penalty",
            "free_text_identifiers",
            MEASURE_BASIS,
        ),
        ("measure_not_linked", "(10)"),
        ("platform", "restrict_market_access", "market.admin_penalty", "legal_person", MEASURE_BASIS),
    ),
    (
        "housing applies restrict_financing with legal basis 随便",
        ("housing", "restrict_financing", "court.dishonest_debtor", "legal_person", "随便"),
        ("legal_basis_not_listed", "(14)"),
        ("platform", "restrict_financing", "court.dishonest_debtor", "legal_person", MEASURE_BASIS),
    ),
    (
        "housing applies restrict_financing, a measure the list does not let it apply",
        ("housing", "restrict_financing", "court.dishonest_debtor", "legal_person", MEASURE_BASIS),
        ("measure_department_not_listed", "(9)"),
        ("platform", "restrict_financing", "court.dishonest_debtor", "legal_person", MEASURE_BASIS),
    ),
    (
        "a serious measure for an ordinary penalty",
        ("platform", "restrict_financing", "market.admin_penalty", "free_text_identifiers", MEASURE_BASIS),
        ("measure_too_severe", "(10)"),
        ("platform", "enhanced_supervision", "market.admin_penalty", "free_text_identifiers", MEASURE_BASIS),
    ),
    (
        "a measure against a minor",
        ("platform", "restrict_high_consumption", "court.dishonest_debtor", "minor", MEASURE_BASIS),
        ("measure_against_minor", "(16)"),
        (
            "platform",
            "restrict_high_consumption",
            "court.dishonest_debtor",
            "natural_person_debtor",
            MEASURE_BASIS,
        ),
    ),
    (
        "a measure against an adult who was a minor at the time of the conduct",
        (
            "platform",
            "restrict_high_consumption",
            "court.dishonest_debtor",
            "minor_at_conduct",
            MEASURE_BASIS,
        ),
        ("measure_against_minor", "(16)"),
        (
            "platform",
            "restrict_high_consumption",
            "court.dishonest_debtor",
            "natural_person_debtor",
            MEASURE_BASIS,
        ),
    ),
    (
        "a measure against a record flagged force majeure",
        ("platform", "restrict_high_consumption", "court.dishonest_debtor", "force_majeure", MEASURE_BASIS),
        ("measure_against_force_majeure", "(16)"),
        (
            "platform",
            "restrict_high_consumption",
            "court.dishonest_debtor",
            "natural_person_debtor",
            MEASURE_BASIS,
        ),
    ),
    (
        "a measure against unintentional and minor conduct",
        ("platform", "enhanced_supervision", "market.admin_penalty", "unintentional", MEASURE_BASIS),
        ("measure_against_unintentional_minor", "(16)"),
        ("platform", "enhanced_supervision", "market.admin_penalty", "legal_person", MEASURE_BASIS),
    ),
]


@pytest.mark.parametrize(("case", "refused_version", "expected", "legitimate"), WHY, ids=[w[0] for w in WHY])
def test_why_example_is_refused_with_its_clause_and_its_legitimate_version_allowed(
    gateway: Deployment,
    listed: str,
    case: str,
    refused_version: tuple[str, str, str, str, str],
    expected: tuple[str, str],
    legitimate: tuple[str, str, str, str, str],
) -> None:
    subjects = gateway.manifest.subjects()
    client, measure, item, who, basis = refused_version
    response = gateway.query(client, measure_query(measure, item, subjects[who], basis))
    problem = refused(response, 403, *expected)
    assert problem["receipt"]["index"] >= 0  # the refusal is registered

    client, measure, item, who, basis = legitimate
    allowed = gateway.query(client, measure_query(measure, item, subjects[who], basis))
    assert allowed.status_code == 200, allowed.text
    body = allowed.json()
    codes = {r["code"] for r in body["decision"]["reasons"]}
    assert {"measure_listed", "legal_basis_listed"} <= codes
    assert body["legal_basis"] == {
        "code": MEASURE_BASIS,
        "citation": "《国务院办公厅关于进一步完善失信约束制度构建诚信建设长效机制的指导意见》"
        "（国办发〔2020〕49号）（九）、（十）",
    }


def test_age_is_judged_at_the_time_of_the_conduct_not_of_the_query(gateway: Deployment) -> None:
    grown_up = gateway.manifest.minor_at_conduct
    # An adult today: an ordinary review sees the record, under the stricter obligations.
    review = {
        "purpose": "admin_licensing_review",
        "legal_basis": "admin_licensing_law_34",
        "items": ["court.dishonest_debtor"],
        "subjects": [subject(grown_up)],
    }
    response = gateway.query("platform", review)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "conduct_prudence" in {r["code"] for r in body["decision"]["reasons"]}
    assert "minor_prudence" not in {r["code"] for r in body["decision"]["reasons"]}
    (rows,) = [r["rows"] for r in body["results"]]
    assert rows
    assert all(row.get("name") in (None, "") for row in rows)


def test_a_record_without_an_accepted_basis_document_is_never_shared(gateway: Deployment) -> None:
    undocumented = gateway.manifest.unaccepted_basis
    review = {
        "purpose": "admin_licensing_review",
        "legal_basis": "admin_licensing_law_34",
        "items": ["market.admin_penalty"],
        "subjects": [subject(undocumented)],
    }
    response = gateway.query("platform", review)
    assert response.status_code == 200, response.text
    (rows,) = [r["rows"] for r in response.json()["results"]]
    # Three penalties: on a penalty decision, on no document, on an inspection notice. One is shared.
    assert [row["basis_document"] for row in rows] == ["penalty_decision"]


def test_free_text_legal_basis_is_refused_and_the_code_shows_its_citation(gateway: Deployment) -> None:
    m = gateway.manifest
    review = {
        "purpose": "admin_licensing_review",
        "legal_basis": "《中华人民共和国行政许可法》第三十四条",
        "items": ["market.enterprise_registration"],
        "subjects": [subject(m.legal_person)],
    }
    refused(gateway.query("platform", review), 403, "legal_basis_not_listed", "(14)")
    allowed = gateway.query("platform", {**review, "legal_basis": "admin_licensing_law_34"})
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["legal_basis"]["citation"] == "《中华人民共和国行政许可法》第三十四条"


def test_the_listing_procedure_end_to_end(gateway: Deployment) -> None:
    m = gateway.manifest
    firm = m.past_disclosure
    before = len(gateway.ledger_records())

    refused(
        gateway.post("market", "/v1/lists/entries", proposal(firm, "inspection_notice")),
        422,
        "basis_document_not_accepted",
        "(2)",
    )
    refused(
        gateway.post("market", "/v1/lists/entries", {**proposal(firm), "list": "horoscope"}),
        422,
        "list_unknown",
        "(6)",
    )
    # Only the department the list names identifies subjects for it; and it needs the scope.
    assert gateway.post("platform", "/v1/lists/entries", proposal(firm)).status_code == 403
    assert gateway.post(None, "/v1/lists/entries", proposal(firm)).status_code == 401

    created = gateway.post("market", "/v1/lists/entries", proposal(firm))
    assert created.status_code == 201, created.text
    entry = created.json()["entry"]
    assert entry["status"] == "proposed"
    assert firm.value not in created.text
    entry_id = entry["id"]

    refused(step(gateway, entry_id, "decision", DECISION), 422, "listing_step_out_of_order", "(8)")
    assert step(gateway, entry_id, "notice", {"channel": "mail"}).json()["entry"]["status"] == "notified"
    refused(step(gateway, entry_id, "decision", DECISION), 422, "listing_before_notice_period", "(8)")
    assert step(gateway, entry_id, "objection").status_code == 200
    gateway.clock.current += timedelta(days=6)
    refused(step(gateway, entry_id, "decision", DECISION), 422, "listing_objection_unanswered", "(8)")
    rejected = step(gateway, entry_id, "verification", {"upheld": False, "result": "经核实，异议不成立"})
    assert rejected.status_code == 200, rejected.text
    wrong_measure = {**DECISION, "measures": ["restrict_high_consumption"]}
    refused(step(gateway, entry_id, "decision", wrong_measure), 422, "listing_measure_not_linked", "(9)")
    decided = step(gateway, entry_id, "decision", DECISION)
    assert decided.status_code == 200, decided.text
    assert decided.json()["entry"]["decision"]["measures"] == ["restrict_market_access"]

    # Listed: the measure that follows the list may now be applied to the subject.
    query = measure_query("restrict_market_access", "market.admin_penalty", firm)
    assert gateway.query("platform", query).status_code == 200
    # Removed on repair: the very next query no longer finds the subject on the list.
    removed = step(gateway, entry_id, "removal", {"cause": "repair"})
    assert removed.json()["entry"]["status"] == "removed"
    refused(gateway.query("platform", query), 403, "measure_not_linked", "(10)")
    refused(step(gateway, entry_id, "removal", {"cause": "repair"}), 422, "listing_step_out_of_order", "(8)")

    records = gateway.ledger_records()[before:]
    steps = [(r["step"], r["decision"]) for r in records if r["kind"] == "listing"]
    assert steps == [
        ("propose", "deny"),
        ("propose", "deny"),
        ("propose", "allow"),
        ("decide", "deny"),
        ("notify", "allow"),
        ("decide", "deny"),
        ("object", "allow"),
        ("decide", "deny"),
        ("verify", "allow"),
        ("decide", "deny"),
        ("decide", "allow"),
        ("remove", "allow"),
        ("remove", "deny"),
    ]
    assert firm.value not in json.dumps(records, ensure_ascii=False)


def test_an_objection_that_succeeds_keeps_the_subject_off_the_list(gateway: Deployment) -> None:
    firm = gateway.manifest.repaired
    created = gateway.post("market", "/v1/lists/entries", proposal(firm))
    entry_id = created.json()["entry"]["id"]
    assert step(gateway, entry_id, "notice", {"channel": "electronic"}).status_code == 200
    assert step(gateway, entry_id, "objection").status_code == 200
    upheld = step(gateway, entry_id, "verification", {"upheld": True, "result": "经核实，异议成立，不予列入"})
    assert upheld.status_code == 200, upheld.text
    assert upheld.json()["entry"]["status"] == "rejected"
    gateway.clock.current += timedelta(days=6)
    refused(step(gateway, entry_id, "decision", DECISION), 422, "listing_step_out_of_order", "(8)")
    query = measure_query("restrict_market_access", "market.admin_penalty", firm)
    refused(gateway.query("platform", query), 403, "measure_not_linked", "(10)")


def test_a_late_objection_is_refused(gateway: Deployment) -> None:
    firm = gateway.manifest.individual_business
    created = gateway.post("market", "/v1/lists/entries", proposal(firm))
    entry_id = created.json()["entry"]["id"]
    assert step(gateway, entry_id, "notice", {"channel": "mail"}).status_code == 200
    gateway.clock.current += timedelta(days=5, seconds=1)
    refused(step(gateway, entry_id, "objection"), 422, "objection_late", "(8)")


def test_an_identifier_in_a_statement_is_refused(gateway: Deployment) -> None:
    m = gateway.manifest
    body = proposal(m.free_text_identifiers)
    body["basis_document"]["number"] = f"处罚〔2026〕{m.embedded_resident_id}"
    response = gateway.post("market", "/v1/lists/entries", body)
    assert response.status_code == 422
    assert m.embedded_resident_id not in response.text


def disclosure(gateway: Deployment, item: str, s: DemoSubject) -> httpx.Response:
    return gateway.post(None, "/public/v1/disclosures", {"item": item, "subject": subject(s)})


def test_public_disclosure_serves_only_what_the_catalog_marks_public(gateway: Deployment) -> None:
    m = gateway.manifest
    response = disclosure(gateway, "market.admin_penalty", m.legal_person)
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["rows"]) == 2
    # Only the catalog's public fields: never the violation text or the notes.
    assert {name for row in body["rows"] for name in row} == {
        "uscc",
        "decision_number",
        "issuer",
        "decided_on",
        "penalty",
        "amount",
        "basis_document",
    }
    record = gateway.ledger_records()[body["receipt"]["index"]]
    assert (record["client_id"], record["purpose"], record["decision"]) == (
        "public",
        "public_disclosure",
        "allow",
    )
    assert m.legal_person.value not in json.dumps(record, ensure_ascii=False)

    refused(disclosure(gateway, "tax.credit_rating", m.legal_person), 403, "item_not_public", "(4)")
    refused(disclosure(gateway, "market.enterprise_contact", m.legal_person), 403, "item_not_public", "(4)")
    refused(
        disclosure(gateway, "court.dishonest_debtor", m.natural_person_debtor),
        403,
        "disclosure_personal_information",
        "(4)",
    )


def test_public_disclosure_stops_at_repair_and_at_the_end_of_the_period(gateway: Deployment) -> None:
    m = gateway.manifest
    for repaired_or_old in (m.repaired, m.past_disclosure):
        response = disclosure(gateway, "market.admin_penalty", repaired_or_old)
        assert response.status_code == 200, response.text
        assert response.json()["rows"] == []
    # The same rows as the department's own publication would show: the accepted-document one only.
    response = disclosure(gateway, "market.admin_penalty", m.unaccepted_basis)
    assert [row["basis_document"] for row in response.json()["rows"]] == ["penalty_decision"]


def test_the_catalog_publishes_each_list_with_its_criteria(gateway: Deployment) -> None:
    published = httpx.get(f"{gateway.base_url}/v1/catalog", timeout=30).json()["lists"][LIST]
    assert published["field"] == "market_order"
    assert published["criteria"]["comment_period"] == {"from": "2021-02-01", "to": "2021-03-05"}
    assert published["criteria"]["published_at"]
    assert published["removal"]["conditions"]
    assert published["removal"]["procedures"]
    assert published["remedies"]
    assert published["deciding_level"] == "county"


def test_an_accepted_repair_takes_the_subject_off_the_lists_of_the_repaired_item(gateway: Deployment) -> None:
    firm = gateway.manifest.legal_person
    created = gateway.post("market", "/v1/lists/entries", proposal(firm))
    assert created.status_code == 201, created.text
    entry_id = created.json()["entry"]["id"]
    assert step(gateway, entry_id, "notice", {"channel": "mail"}).status_code == 200
    gateway.clock.current += timedelta(days=6)
    assert step(gateway, entry_id, "decision", DECISION).status_code == 200
    query = measure_query("restrict_market_access", "market.admin_penalty", firm)
    assert gateway.query("platform", query).status_code == 200

    applied = apply(gateway, "market.admin_penalty", "17", firm)
    assert applied.status_code == 201, applied.text
    repair_id = applied.json()["repair"]["id"]
    accepted = call(gateway, "POST", f"/v1/repairs/{repair_id}/accept", "market-desk")
    assert accepted.status_code == 200, accepted.text

    # The very next query no longer finds the subject on the list; the removal is its own entry.
    refused(gateway.query("platform", query), 403, "measure_not_linked", "(10)")
    listing = [r for r in gateway.ledger_records() if r["kind"] == "listing" and r["entry_id"] == entry_id]
    assert [(r["step"], r["decision"]) for r in listing][-1] == ("remove", "allow")
    assert listing[-1]["details"]["cause"] == "repair"
