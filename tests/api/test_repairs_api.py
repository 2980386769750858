"""Credit repair over real HTTP: every path of the lifecycle, its next-query effect, recipients told.

The real demo databases, policies, ledger and tokens; on an SQLite and on a PostgreSQL gateway database.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, make_url, text

from gateway.demo.data import DemoSubject
from tests.support.gateway_app import Deployment, deployment_settings, running_gateway
from tests.support.ledger import migrate_database
from tests.support.repairs import (
    DESKS,
    apply,
    apply_body,
    call,
    query_body,
    random_schema,
    receiver_down,
    record_key,
    rows_of,
    verify_signature,
)

FAST = {"notification_poll_s": 0.05, "notification_retry_base_s": 1.0, "repair_settle_s": 0.0}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def gw(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    """A running gateway whose own database is SQLite or a fresh PostgreSQL schema."""
    postgres_url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    with gateway_database(postgres_url, tmp_path) as ledger_url:
        settings = deployment_settings(tmp_path, ledger_url=ledger_url, **FAST)
        with running_gateway(settings) as deployment:
            yield deployment


@contextmanager
def gateway_database(postgres_url: str | None, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh gateway database: an SQLite file, or a migrated PostgreSQL schema."""
    if postgres_url is None:
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    schema = random_schema()
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(postgres_url).update_query_dict({"options": f"-csearch_path={schema}"})
        rendered = url.render_as_string(hide_password=False)
        migrate_database(rendered)
        yield rendered
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def wait_for(condition: Callable[[], bool], what: str, limit_s: float = 60.0) -> None:
    """Wait until ``condition`` holds (a deadline only so a broken gateway fails instead of hanging)."""
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


def first_record(gw: Deployment, item: str, subject: DemoSubject) -> tuple[dict[str, Any], str]:
    """A row the platform receives for ``item`` and the source's key of that record."""
    from tests.support.repairs import RECORDS

    rows = rows_of(gw, "platform", item, subject)
    assert rows, f"the demo has no {item} rows for this subject"
    name_field = RECORDS[item][3]
    return rows[0], record_key(gw.settings.sources, item, subject, rows[0][name_field])


def repairs_of(gw: Deployment, kind: str = "repair") -> list[dict[str, Any]]:
    return [r for r in gw.ledger_records() if r["kind"] == kind]


# --- the lifecycle, table-driven ---

LIFECYCLE = [
    # item, decision, what the platform sees on its next query
    ("market.admin_penalty", "accept", "marked"),
    ("tax.credit_rating", "accept", "marked"),
    ("court.dishonest_debtor", "accept", "gone"),
    ("local.court.consumption_restriction", "accept", "gone"),
    ("market.admin_penalty", "refuse", "unchanged"),
    ("court.dishonest_debtor", "refuse", "unchanged"),
]


@pytest.mark.parametrize(("item", "decision", "seen"), LIFECYCLE)
def test_repair_lifecycle(gw: Deployment, item: str, decision: str, seen: str) -> None:
    subject = gw.manifest.legal_person
    row, key = first_record(gw, item, subject)
    applied = apply(gw, item, key, subject)
    assert applied.status_code == 201, applied.text
    repair = applied.json()["repair"]
    assert repair["status"] == "applied"
    assert repair["free_of_charge"] is True
    assert not repair["overdue"]
    assert subject.value not in applied.text  # only the commitment comes back
    desk = DESKS[item]
    if decision == "accept":
        done = call(gw, "POST", f"/v1/repairs/{repair['id']}/accept", desk)
    else:
        done = call(
            gw, "POST", f"/v1/repairs/{repair['id']}/refuse", desk, {"reasons": ["evidence_insufficient"]}
        )
    assert done.status_code == 200, done.text
    decided = done.json()
    assert decided["receipt"]["index"] == decided["repair"]["decision_ledger_index"]
    assert decided["repair"]["status"] == ("effective" if decision == "accept" else "refused")

    after = rows_of(gw, "platform", item, subject)
    same = [r for r in after if r["record_ref"] == row["record_ref"]]
    if seen == "gone":
        assert same == []
    elif seen == "unchanged":
        assert same == [row]
    else:
        (marked,) = same
        assert marked["credit_repair"]["repaired"] is True
        assert marked["credit_repair"]["free_of_charge"] is True
        assert marked["credit_repair"]["effective_on"] == gw.clock.now().date().isoformat()
        assert marked["credit_repair"]["label"]
        if item == "market.admin_penalty":
            assert "violation" not in marked  # withheld in mark mode, as the catalog says
    # every other record of the subject is untouched
    assert [r for r in after if r["record_ref"] != row["record_ref"]] == [
        r for r in rows_of(gw, "platform", item, subject) if r["record_ref"] != row["record_ref"]
    ]

    entries = [r for r in repairs_of(gw) if r["repair_id"] == repair["id"]]
    assert [e["action"] for e in entries] == ["apply", decision]
    for entry in entries:
        assert entry["free_of_charge"] is True
        assert subject.value not in str(entry)
        assert key != entry["record_commitment"]
    if decision == "refuse":
        assert entries[1]["reason_codes"] == ["evidence_insufficient"]


@pytest.mark.parametrize("item", ["tax.major_violation", "market.enterprise_registration"])
def test_an_unrepairable_item_is_refused_with_its_clause_and_registered(gw: Deployment, item: str) -> None:
    subject = gw.manifest.legal_person
    response = call(gw, "POST", "/v1/repairs", DESKS[item], apply_body(item, "17", subject))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "item_not_repairable"
    assert problem["clause"] == "(11)"
    assert problem["legal_basis"]["law"]
    assert problem["legal_basis"]["article"]
    (entry,) = [r for r in repairs_of(gw) if r["items"][0]["item"] == item]
    assert entry["decision"] == "deny"
    assert entry["reason_codes"] == ["item_not_repairable"]
    assert problem["receipt"]["index"] >= 0


def test_an_application_past_its_time_limit_is_flagged(gw: Deployment) -> None:
    subject = gw.manifest.legal_person
    _, key = first_record(gw, "market.admin_penalty", subject)
    repair = apply(gw, "market.admin_penalty", key, subject).json()["repair"]
    listed = call(gw, "GET", "/v1/repairs?overdue=true", "market-desk").json()
    assert listed["repairs"] == []
    assert listed["overdue_total"] == 0
    gw.clock.current += timedelta(days=6)  # the catalog gives market.admin_penalty 5 days
    shown = call(gw, "GET", f"/v1/repairs/{repair['id']}", "market-desk").json()
    assert shown["overdue"] is True
    listed = call(gw, "GET", "/v1/repairs?overdue=true", "market-desk").json()
    assert [r["id"] for r in listed["repairs"]] == [repair["id"]]
    assert listed["overdue_total"] == 1
    accepted = call(gw, "POST", f"/v1/repairs/{repair['id']}/accept", "market-desk").json()
    assert accepted["repair"]["overdue"] is False  # decided now; the ledger says it was late
    (entry,) = [r for r in repairs_of(gw) if r["repair_id"] == repair["id"] and r["action"] == "accept"]
    assert entry["overdue"] is True


REFUSALS = [
    ("another department's item", "court-desk", {}, 403, "insufficient_scope"),
    (
        "an identifier as record key",
        "market-desk",
        {"record_key": "91330110MA16HUNJ0P"},
        422,
        "identifier_in_text",
    ),
    (
        "an identifier in the evidence",
        "market-desk",
        {
            "evidence": [
                {"kind": "penalty_paid", "reference": "91330110MA16HUNJ0P", "issued_on": "2026-11-01"}
            ]
        },
        422,
        "identifier_in_text",
    ),
    ("no evidence", "market-desk", {"evidence": []}, 422, "invalid_request"),
    ("a fee", "market-desk", {"fee": 100}, 422, "invalid_request"),
    ("a query client", "platform", {}, 403, "insufficient_scope"),
]


@pytest.mark.parametrize(
    ("case", "client", "change", "status", "code"), REFUSALS, ids=[r[0] for r in REFUSALS]
)
def test_bad_applications_are_refused(
    gw: Deployment, case: str, client: str, change: dict[str, Any], status: int, code: str
) -> None:
    subject = gw.manifest.legal_person
    body = {**apply_body("market.admin_penalty", "1", subject), **change}
    response = call(gw, "POST", "/v1/repairs", client, body)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert subject.value not in response.text


def test_a_decision_is_taken_once(gw: Deployment) -> None:
    subject = gw.manifest.legal_person
    _, key = first_record(gw, "court.dishonest_debtor", subject)
    repair = apply(gw, "court.dishonest_debtor", key, subject).json()["repair"]
    assert apply(gw, "court.dishonest_debtor", key, subject).status_code == 409  # one open per record
    assert call(gw, "POST", f"/v1/repairs/{repair['id']}/accept", "court-desk").status_code == 200
    again = call(
        gw, "POST", f"/v1/repairs/{repair['id']}/refuse", "court-desk", {"reasons": ["record_mismatch"]}
    )
    assert again.status_code == 409
    assert again.json()["code"] == "repair_already_decided"
    other = call(gw, "GET", f"/v1/repairs/{repair['id']}", "market-desk")
    assert other.status_code == 404
    assert other.json()["code"] == "repair_not_found"


# --- recipients told ---


def test_exactly_the_departments_that_received_the_record_are_told(gw: Deployment) -> None:
    subject = gw.manifest.legal_person
    item = "market.admin_penalty"
    row, key = first_record(gw, item, subject)  # the platform received it (once here...)
    rows_of(gw, "platform", item, subject)  # ...and twice: still one notification
    # housing received another record of the same subject, never the penalty
    assert rows_of(gw, "housing", "court.dishonest_debtor", subject)
    repair = apply(gw, item, key, subject).json()["repair"]
    assert call(gw, "POST", f"/v1/repairs/{repair['id']}/accept", "market-desk").status_code == 200

    feed = call(gw, "GET", "/v1/notifications", "platform").json()["notifications"]
    assert len(feed) == 1
    (note,) = feed
    assert note["repair_id"] == repair["id"]
    assert note["item"] == item
    assert note["mode"] == "mark"
    assert note["record_ref"] == row["record_ref"]  # the platform can find its copy
    assert note["free_of_charge"] is True
    assert note["acknowledged_at"] is None
    assert call(gw, "GET", "/v1/notifications", "housing").json()["notifications"] == []

    pending = call(gw, "GET", "/v1/notifications/unacknowledged", "auditor").json()["notifications"]
    assert [(n["notification_id"], n["department"]) for n in pending] == [
        (note["notification_id"], "development_reform")
    ]
    assert call(gw, "POST", f"/v1/notifications/{note['notification_id']}/ack", "housing").status_code == 404
    acked = call(gw, "POST", f"/v1/notifications/{note['notification_id']}/ack", "platform")
    assert acked.status_code == 200, acked.text
    assert call(gw, "POST", f"/v1/notifications/{note['notification_id']}/ack", "platform").status_code == 422
    assert call(gw, "GET", "/v1/notifications/unacknowledged", "auditor").json()["notifications"] == []
    assert call(gw, "GET", "/v1/notifications?unacknowledged=true", "platform").json()["notifications"] == []

    notes = repairs_of(gw, "notification")
    assert [(n["action"], n["department"]) for n in notes] == [
        ("issued", "development_reform"),
        ("acknowledged", "development_reform"),
    ]
    assert notes[1]["client_id"] == "platform"


def test_the_webhook_is_delivered_once_the_receiver_comes_back(gw: Deployment) -> None:
    subject = gw.manifest.legal_person
    item = "court.dishonest_debtor"
    row, key = first_record(gw, item, subject)
    with receiver_down() as receiver:
        hook = call(gw, "PUT", "/v1/notifications/webhook", "platform", {"url": receiver.url}).json()
        assert hook["signature_header"] == "Gateway-Signature"
        repair = apply(gw, item, key, subject).json()["repair"]
        assert call(gw, "POST", f"/v1/repairs/{repair['id']}/accept", "court-desk").status_code == 200
        # Down: the first attempt fails and the next waits for its backoff (the gateway's clock).
        wait_for(lambda: _attempts(gw) >= 1, "a first failed delivery attempt")
        assert receiver.deliveries == []
        gw.clock.current += timedelta(seconds=1)
        wait_for(lambda: _attempts(gw) >= 2, "a second failed attempt")
        assert receiver.deliveries == []
        receiver.start()
        gw.clock.current += timedelta(minutes=10)
        wait_for(lambda: bool(receiver.deliveries), "the delivery")
        wait_for(lambda: any(n["action"] == "delivered" for n in repairs_of(gw, "notification")), "its entry")
        bodies = receiver.bodies()
        assert {b["notification_id"] for b in bodies} == {bodies[0]["notification_id"]}
        assert bodies[0]["repair_id"] == repair["id"]
        assert bodies[0]["record_ref"] == row["record_ref"]
        for headers, body in receiver.deliveries:
            assert headers["gateway-delivery"] == bodies[0]["notification_id"]
            assert verify_signature(hook["secret"], headers, body)
        assert not verify_signature("00" * 32, receiver.deliveries[0][0], receiver.deliveries[0][1])
    delivered = [n for n in repairs_of(gw, "notification") if n["action"] == "delivered"]
    assert len(delivered) == 1
    assert delivered[0]["attempts"] >= 3
    assert delivered[0]["department"] == "development_reform"


def _attempts(gw: Deployment) -> int:
    from sqlalchemy import select

    from gateway.adapters.sql.engine import make_engine
    from gateway.adapters.sql.schema import repair_outbox

    engine = make_engine(gw.settings.ledger_url)
    try:
        with engine.connect() as conn:
            # Attempts that are over: the lease is released after a failure (or the task is done).
            rows = conn.execute(
                select(repair_outbox.c.attempts).where(
                    repair_outbox.c.kind == "webhook", repair_outbox.c.lease_until.is_(None)
                )
            )
            return sum(int(r.attempts) for r in rows)
    finally:
        engine.dispose()


def test_an_unreadable_repair_store_refuses_the_query(gw: Deployment) -> None:
    from gateway.adapters.sql.engine import make_engine

    subject = gw.manifest.legal_person
    assert gw.query("platform", query_body("market.admin_penalty", subject)).status_code == 200
    engine = make_engine(gw.settings.ledger_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE repairs RENAME TO repairs_gone"))
        refused = gw.query("platform", query_body("market.admin_penalty", subject))
        assert refused.status_code == 503, refused.text
        assert refused.json()["code"] == "repair_store_unavailable"
        assert "results" not in refused.json()
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE repairs_gone RENAME TO repairs"))
    finally:
        engine.dispose()
    errors = [r for r in gw.ledger_records() if r["kind"] == "query" and r["decision"] == "error"]
    assert errors
    assert errors[-1]["reason_codes"] == ["repair_store_unavailable"]


def test_the_export_tells_each_source_what_to_apply(gw: Deployment, tmp_path: Path) -> None:
    from gateway.cli.main import main as cli_main

    subject = gw.manifest.legal_person
    for item in ("local.court.consumption_restriction", "market.admin_penalty"):
        _, key = first_record(gw, item, subject)
        repair = apply(gw, item, key, subject).json()["repair"]
        assert call(gw, "POST", f"/v1/repairs/{repair['id']}/accept", DESKS[item]).status_code == 200
    config = tmp_path / "gateway.yaml"
    import yaml

    config.write_text(yaml.safe_dump(gw.settings.model_dump(mode="json")))
    out = tmp_path / "court.json"
    assert (
        cli_main(["repairs", "export", "--config", str(config), "--department", "court", "--out", str(out)])
        == 0
    )
    import json

    exported = json.loads(out.read_text())
    assert [(r["item"], r["mode"], r["table"]) for r in exported["repairs"]] == [
        ("local.court.consumption_restriction", "delete", "consumption_restrictions")
    ]
    assert exported["repairs"][0]["action"].startswith("delete")
    assert exported["department"] == "court"
    assert exported["free_of_charge"] is True
