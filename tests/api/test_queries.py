"""POST /v1/queries end to end over real HTTP: the demo databases, the real policies, the real ledger."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from gateway.domain.identifiers import is_valid_resident_id
from tests.support.gateway_app import Deployment, deployment_settings, running_gateway

LICENSING = "admin_licensing_law_34"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    settings = deployment_settings(tmp_path_factory.mktemp("gateway"))
    with running_gateway(settings) as deployment:
        yield deployment


def licensing_query(value: str, *items: str, id_type: str = "uscc", **extra: Any) -> dict[str, Any]:
    return {
        "purpose": "admin_licensing_review",
        "legal_basis": LICENSING,
        "items": list(items),
        "subjects": [{"id_type": id_type, "value": value}],
        **extra,
    }


def canonical_digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def test_allowed_query_returns_desensitized_rows_and_a_receipt(gateway: Deployment) -> None:
    subject = gateway.manifest.legal_person
    response = gateway.query(
        "platform", licensing_query(subject.value, "market.enterprise_registration", "market.admin_penalty")
    )
    assert response.status_code == 200, response.text
    body = response.json()
    by_item = {r["item"]: r["rows"] for r in body["results"]}
    assert set(by_item) == {"market.enterprise_registration", "market.admin_penalty"}
    registration = by_item["market.enterprise_registration"]
    assert len(registration) == 1
    # the legal representative's name is personal: masked, keeping the surname only
    assert "*" in registration[0]["legal_rep_name"]
    assert registration[0]["name"] == subject.name
    # only the fields the purpose needs, never the source's other columns
    assert set(registration[0]) == {
        "uscc",
        "name",
        "legal_rep_name",
        "registered_address",
        "established_on",
        "status",
    }
    assert set(by_item["market.admin_penalty"][0]) == {
        "uscc",
        "decision_number",
        "decided_on",
        "violation",
        "penalty",
        "basis_document",
        "record_ref",  # a repairable item's rows name their record (keyed per recipient), clause (12)
    }
    assert body["decision"]["allow"] is True
    assert body["decision"]["policy_revision"].startswith("sha256:")

    receipt = body.pop("receipt")
    record = gateway.ledger_records()[receipt["index"]]
    assert record["kind"] == "query"
    assert record["decision"] == "allow"
    assert record["request_id"] == body["query_id"]
    assert record["response_digest"] == canonical_digest(body)
    assert {i["item"]: i["rows"] for i in record["items"]} == {
        "market.enterprise_registration": 1,
        "market.admin_penalty": len(by_item["market.admin_penalty"]),
    }
    assert subject.value not in json.dumps(record, ensure_ascii=False)


def test_repaired_and_removed_records_are_not_shared(gateway: Deployment) -> None:
    repaired = gateway.manifest.repaired
    response = gateway.query("platform", licensing_query(repaired.value, "market.admin_penalty"))
    assert response.status_code == 200
    assert response.json()["results"][0]["rows"] == []


def test_minor_personal_fields_are_suppressed(gateway: Deployment) -> None:
    minor = gateway.manifest.minor
    response = gateway.query(
        "platform", licensing_query(minor.value, "court.dishonest_debtor", id_type="resident_id")
    )
    assert response.status_code == 200, response.text
    rows = response.json()["results"][0]["rows"]
    for row in rows:
        assert row.get("name") in (None, "")
        assert not is_valid_resident_id(str(row["subject_id"]))
    assert {"minor_prudence", "statutory_duty"} <= {r["code"] for r in response.json()["decision"]["reasons"]}


REFUSALS = [
    # (case, client, body changes, status, code, field)
    (
        "requester outside the share scope",
        "housing",
        {"items": ["tax.credit_rating"]},
        403,
        "requester_out_of_scope",
        "items[0]",
    ),
    (
        "purpose outside the share scope",
        "platform",
        {"items": ["tax.major_violation"], "purpose": "credit_evaluation"},
        403,
        "purpose_not_allowed",
        "items[0]",
    ),
    (
        "item not in the catalog",
        "platform",
        {"items": ["market.no_such_item"]},
        403,
        "item_not_in_catalog",
        "items[0]",
    ),
    (
        "item not shared",
        "platform",
        {"items": ["market.enterprise_contact"]},
        403,
        "item_not_shared",
        "items[0]",
    ),
    (
        "field not needed for the purpose",
        "platform",
        {"items": [{"id": "market.admin_penalty", "fields": ["notes"]}]},
        403,
        "field_not_needed",
        "items[0].fields",
    ),
    (
        "measure purpose without a measure",
        "platform",
        {"items": ["market.admin_penalty"], "purpose": "disciplinary_measure"},
        403,
        "measure_required",
        None,
    ),
    (
        "measure not on the list",
        "platform",
        {"items": ["market.admin_penalty"], "purpose": "disciplinary_measure", "measure": "public_shaming"},
        403,
        "measure_not_listed",
        None,
    ),
]


@pytest.mark.parametrize(
    ("case", "client", "changes", "status", "code", "field"), REFUSALS, ids=[r[0] for r in REFUSALS]
)
def test_refusals_have_their_own_code_and_are_registered(
    gateway: Deployment,
    case: str,
    client: str,
    changes: dict[str, Any],
    status: int,
    code: str,
    field: str | None,
) -> None:
    body = licensing_query(gateway.manifest.legal_person.value, "market.admin_penalty")
    body.update(changes)
    response = gateway.query(client, body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == code
    assert problem["clause"].startswith("(")
    if field is not None:
        assert problem["field"] == field
    assert "results" not in problem
    record = gateway.ledger_records()[problem["receipt"]["index"]]
    assert record["decision"] == "deny"
    assert code in {r["code"] for r in record["reasons"]}


def test_personal_information_of_a_natural_person_needs_a_duty_or_a_grant(gateway: Deployment) -> None:
    body = licensing_query(
        gateway.manifest.natural_person_debtor.value,
        "court.dishonest_debtor",
        id_type="resident_id",
        purpose="credit_evaluation",
        legal_basis="《征信业管理条例》第十四条",
    )
    response = gateway.query("platform", body)
    assert response.status_code == 403
    assert response.json()["code"] == "personal_information_needs_duty_or_grant"
    assert response.json()["clause"] == "(14)"


def test_bad_checksum_is_refused_before_anything_else(gateway: Deployment) -> None:
    value = gateway.manifest.natural_person_debtor.value
    bad = value[:17] + ("0" if value[17] != "0" else "1")
    before = len(gateway.ledger_records())
    response = gateway.query(
        "platform", licensing_query(bad, "court.dishonest_debtor", id_type="resident_id")
    )
    assert response.status_code == 422
    problem = response.json()
    assert (problem["code"], problem["field"]) == ("invalid_identifier", "subjects[0].value")
    assert "MOD 11-2" in problem["accepted"] + problem["detail"]
    assert bad not in response.text  # the submitted value is never echoed
    # Malformed input never reaches the policy; its refusal is registered, without the value.
    [record] = gateway.ledger_records()[before:]
    assert record["kind"] == "invalid"
    assert record["reasons"] == [
        {"code": "invalid_identifier", "clause": "(13)", "field": "subjects[0].value"}
    ]
    assert bad not in json.dumps(record, ensure_ascii=False)


def test_identifier_in_legal_basis_is_refused(gateway: Deployment) -> None:
    subject = gateway.manifest.legal_person.value
    body = licensing_query(subject, "market.admin_penalty", legal_basis=f"关于{subject}的审查")
    response = gateway.query("platform", body)
    assert response.status_code == 422
    assert response.json()["field"] == "legal_basis"
    assert subject not in response.text


def test_unknown_request_field_is_refused_at_its_object_without_its_name(gateway: Deployment) -> None:
    body = licensing_query(gateway.manifest.legal_person.value, "market.admin_penalty", everything=True)
    response = gateway.query("platform", body)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_request"
    assert response.json()["field"] == "body"
    # A key the caller wrote is never echoed, wherever it is (it could be an identifier).
    body = licensing_query(gateway.manifest.legal_person.value, "market.admin_penalty")
    body["subjects"][0]["330108196403318305"] = 1
    response = gateway.query("platform", body)
    assert response.status_code == 422
    assert response.json()["field"] == "subjects.0"
    assert "330108196403318305" not in response.text


def test_bad_token_is_refused_with_401(gateway: Deployment) -> None:
    import httpx

    body = licensing_query(gateway.manifest.legal_person.value, "market.admin_penalty")
    response = httpx.post(
        f"{gateway.base_url}/v1/queries", json=body, headers={"Authorization": "Bearer not.a.token"}
    )
    assert response.status_code == 401
    assert response.json()["code"] == "malformed_token"
    assert response.headers["www-authenticate"].startswith("Bearer")
    missing = httpx.post(f"{gateway.base_url}/v1/queries", json=body)
    assert (missing.status_code, missing.json()["code"]) == (401, "missing_token")


def test_auditor_token_cannot_query(gateway: Deployment) -> None:
    body = licensing_query(gateway.manifest.legal_person.value, "market.admin_penalty")
    response = gateway.query("auditor", body)
    assert (response.status_code, response.json()["code"]) == (403, "insufficient_scope")


def test_catalog_is_public_and_hides_source_tables(gateway: Deployment) -> None:
    import httpx

    response = httpx.get(f"{gateway.base_url}/v1/catalog")
    assert response.status_code == 200
    catalog = response.json()
    ids = {item["id"] for item in catalog["items"]}
    assert {"market.admin_penalty", "local.court.consumption_restriction"} <= ids
    assert "admin_penalties" not in response.text  # no table names
    penalty = next(i for i in catalog["items"] if i["id"] == "market.admin_penalty")
    assert penalty["legal_basis"]["law"]
    assert penalty["disclosure"]["period_years"] == 3


# --- fail closed: every failure on the path refuses, returns nothing and is registered where possible ---


def _failure_deployment(tmp_path: Path, **overrides: Any) -> Any:
    return running_gateway(deployment_settings(tmp_path, **overrides))


def test_unreachable_opa_refuses_and_registers(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with _failure_deployment(tmp_path, policy_engine="opa", opa_url=f"http://127.0.0.1:{port}") as gw:
        response = gw.query(
            "platform", licensing_query(gw.manifest.legal_person.value, "market.admin_penalty")
        )
        assert response.status_code == 503
        assert response.json()["code"] == "policy_engine_error"
        assert "results" not in response.json()
        records = gw.ledger_records()
    assert records[-1]["decision"] == "error"
    assert records[-1]["reasons"][0]["code"] == "policy_engine_error"


def test_undefined_decision_refuses(tmp_path: Path) -> None:
    import shutil

    policies = tmp_path / "policies"
    shutil.copytree(Path(__file__).resolve().parents[2] / "policies", policies)
    query = policies / "gateway" / "query" / "query.rego"
    # A policy whose decision rule is never defined: the engine answers "undefined".
    query.write_text(query.read_text().replace("\ndecision := ", "\nunused_decision := "))
    (policies / "gateway" / "query" / "query_test.rego").unlink()
    with _failure_deployment(tmp_path, policies_dir=policies) as gw:
        response = gw.query(
            "platform", licensing_query(gw.manifest.legal_person.value, "market.admin_penalty")
        )
        assert response.status_code == 503
        assert response.json()["code"] == "policy_engine_error"
        assert gw.ledger_records()[-1]["decision"] == "error"


def test_source_database_error_refuses_and_registers(tmp_path: Path) -> None:
    with _failure_deployment(tmp_path) as gw:
        market = sa.create_engine(gw.settings.sources["market"])
        with market.begin() as conn:
            conn.execute(sa.text("DROP TABLE admin_penalties"))
        market.dispose()
        response = gw.query(
            "platform", licensing_query(gw.manifest.legal_person.value, "market.admin_penalty")
        )
        assert response.status_code == 503
        assert response.json()["code"] == "source_unavailable"
        assert "admin_penalties" not in response.text
        record = gw.ledger_records()[-1]
    assert (record["decision"], record["reasons"][0]["code"]) == ("error", "source_unavailable")


def test_ledger_failure_returns_nothing(tmp_path: Path) -> None:
    with _failure_deployment(tmp_path) as gw:
        ledger = sa.create_engine(gw.settings.ledger_url)
        with ledger.begin() as conn:
            conn.execute(
                sa.text(
                    "CREATE TRIGGER refuse_appends BEFORE INSERT ON ledger_entries "
                    "BEGIN SELECT RAISE(ABORT, 'ledger refuses appends'); END"
                )
            )
        ledger.dispose()
        subject = gw.manifest.legal_person
        response = gw.query("platform", licensing_query(subject.value, "market.enterprise_registration"))
        assert response.status_code == 503
        assert response.json()["code"] == "ledger_unavailable"
        assert subject.name not in response.text
        assert "results" not in response.json()


def test_logs_carry_no_personal_value(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    with _failure_deployment(tmp_path) as gw:
        m = gw.manifest
        allowed = gw.query(
            "platform", licensing_query(m.legal_person.value, "market.enterprise_registration")
        )
        refused = gw.query(
            "platform",
            licensing_query(
                m.natural_person_debtor.value,
                "court.dishonest_debtor",
                id_type="resident_id",
                purpose="credit_evaluation",
                legal_basis="《征信业管理条例》第十四条",
            ),
        )
        bad = m.minor.value[:17] + ("0" if m.minor.value[17] != "0" else "1")
        invalid = gw.query("platform", licensing_query(bad, "court.dishonest_debtor", id_type="resident_id"))
    assert (allowed.status_code, refused.status_code, invalid.status_code) == (200, 403, 422)
    logs = "".join(capfd.readouterr())
    assert "query allowed" in logs  # the logs were captured at all
    for value in (m.legal_person.value, m.legal_person.name, m.natural_person_debtor.value, bad):
        assert value not in logs
