"""The policy workbench over real HTTP: a draft, its checks, what-if, replay, the two-person rule,
activation without a restart, and rollback; on the real policies, regorus and the SQLite ledger."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from gateway.adapters.policy.workbench import read_bundle
from tests.support.gateway_app import ROOT, Deployment, deployment_settings, running_gateway

LICENSING = "admin_licensing_law_34"
CATALOG = "catalog/national/data.yaml"
# tax.credit_rating is not shared with the housing department (clause (3)): the draft shares it.
HOUSING_LINE = (
    "      departments: [development_reform, finance, public_resources, market_regulation, credit_platform]"
)
HOUSING_ADDED = HOUSING_LINE.replace("[development_reform,", "[development_reform, housing,")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    settings = deployment_settings(tmp_path_factory.mktemp("workbench"))
    with running_gateway(settings) as deployment:
        yield deployment


def call(gateway: Deployment, client: str, method: str, path: str, body: Any = None) -> httpx.Response:
    return httpx.request(
        method,
        f"{gateway.base_url}{path}",
        json=body,
        headers={"Authorization": f"Bearer {gateway.token(client)}"},
        timeout=120,
    )


def rating_query(gateway: Deployment) -> dict[str, Any]:
    return {
        "purpose": "admin_licensing_review",
        "legal_basis": LICENSING,
        "items": ["tax.credit_rating"],
        "subjects": [{"id_type": "uscc", "value": gateway.manifest.legal_person.value}],
    }


def draft_files(*, housing: bool = True, broken: bool = False) -> dict[str, str]:
    files = {k: v.decode() for k, v in read_bundle(ROOT / "policies").items()}
    if housing:
        assert HOUSING_LINE in files[CATALOG]
        files[CATALOG] = files[CATALOG].replace(HOUSING_LINE, HOUSING_ADDED)
    if broken:
        files["gateway/query/query.rego"] += "\nbroken_rule if {\n"
    return files


def kept_inputs(gateway: Deployment) -> dict[int, tuple[str, str]]:
    engine = sa.create_engine(gateway.settings.ledger_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT ledger_index, input_digest, input FROM policy_inputs"))
            return {int(r[0]): (str(r[1]), str(r[2])) for r in rows}
    finally:
        engine.dispose()


def wait_for_revision(gateway: Deployment, client: str, revision: str) -> dict[str, Any]:
    """Query until the decision names ``revision`` (the workers poll about once a second)."""
    deadline = time.monotonic() + 30
    while True:
        response = gateway.query(client, rating_query(gateway))
        body = response.json()
        got = body.get("decision", {}).get("policy_revision") if response.status_code == 200 else None
        if got is None:
            index = body.get("receipt", {}).get("index")
            got = gateway.ledger_records()[index]["policy_revision"] if index is not None else None
        if got == revision:
            return {"status": response.status_code, "body": body}
        assert time.monotonic() < deadline, f"still deciding under {got}, not {revision}"
        time.sleep(0.3)


def test_the_workbench_from_draft_to_rollback(gateway: Deployment) -> None:
    # Past decisions: the housing department is refused tax.credit_rating, the platform allowed it.
    for _ in range(3):
        assert gateway.query("housing", rating_query(gateway)).status_code == 403
        assert gateway.query("platform", rating_query(gateway)).status_code == 200

    # Each query entry carries the digest of the input kept beside it.
    records = gateway.ledger_records()
    kept = kept_inputs(gateway)
    query_indexes = [i for i, r in enumerate(records) if r["kind"] == "query"]
    assert sorted(kept) == query_indexes
    for index, (digest, text) in kept.items():
        assert records[index]["input_digest"] == digest
        assert digest == "sha256:" + hashlib.sha256(text.encode()).hexdigest()
        assert gateway.manifest.legal_person.value not in text

    active = call(gateway, "sec-alice", "GET", "/v1/policy/active").json()
    base_revision = active["revision"]
    assert records[query_indexes[0]]["policy_revision"] == base_revision

    # A query client has no business here.
    assert call(gateway, "platform", "GET", "/v1/policy/drafts").status_code == 403

    # Alice pushes a draft: its diff is the one changed line.
    pushed = call(gateway, "sec-alice", "POST", "/v1/policy/drafts", {"files": draft_files()})
    assert pushed.status_code == 201, pushed.text
    draft = pushed.json()
    assert draft["parent_revision"] == base_revision
    assert draft["revision"] != base_revision
    assert f"-{HOUSING_LINE}\n" in draft["diff"]
    assert f"+{HOUSING_ADDED}\n" in draft["diff"]
    assert "no replay report" in draft["blocking"]
    assert "checks not run" in draft["blocking"]
    draft_id = draft["id"]

    # Not ready: no approval yet.
    refused = call(gateway, "sec-bob", "POST", f"/v1/policy/drafts/{draft_id}/approve")
    assert refused.status_code == 409
    assert refused.json()["code"] == "policy_draft_not_ready"

    # Checks: compiled, every test passed, coverage per file.
    check = call(gateway, "sec-alice", "POST", f"/v1/policy/drafts/{draft_id}/check")
    assert check.status_code == 200, check.text
    report = check.json()
    assert report["ok"] is True, [t for t in report["tests"] if not t["passed"]]
    assert report["tests_failed"] == 0
    assert report["tests_passed"] > 50
    assert {c["engine"]: c["status"] for c in report["compile"]}["regorus"] == "ok"
    coverage = {c["file"]: c for c in report["coverage"]}
    assert "gateway/query/query.rego" in coverage
    assert all(not f.endswith("_test.rego") for f in coverage)
    assert coverage["gateway/query/query.rego"]["covered"]

    # What-if on a kept input of a refused query: deny on the active bundle, allow on the draft.
    housing_index = next(i for i in query_indexes if records[i]["department"] == "housing")
    what_if = call(
        gateway, "sec-alice", "POST", f"/v1/policy/drafts/{draft_id}/what-if", {"ledger_index": housing_index}
    ).json()
    assert what_if["active"]["allow"] is False
    assert what_if["draft"]["allow"] is True
    assert what_if["kinds"][0] == "deny_to_allow"
    assert {"path": "allow", "before": False, "after": True} in what_if["difference"]

    # Replay every kept decision: exactly the three housing queries change, deny to allow.
    replay = call(gateway, "sec-alice", "POST", f"/v1/policy/drafts/{draft_id}/replay", {"last": 1000})
    assert replay.status_code == 200, replay.text
    summary = replay.json()
    housing = sorted(i for i in query_indexes if records[i]["department"] == "housing")
    assert (summary["total"], summary["changed"], summary["unchanged"], summary["errors"]) == (6, 3, 3, 0)
    assert summary["by_kind"]["deny_to_allow"] == housing
    assert summary["dangerous"] == 3
    assert summary["changes"][0]["dangerous"] is True

    # The two-person rule: Alice cannot approve her own draft; Bob can.
    own = call(gateway, "sec-alice", "POST", f"/v1/policy/drafts/{draft_id}/approve")
    assert own.status_code == 409
    assert own.json()["code"] == "policy_same_approver"
    approved = call(gateway, "sec-bob", "POST", f"/v1/policy/drafts/{draft_id}/approve")
    assert approved.status_code == 200, approved.text
    assert approved.json()["approver"] == "sec-bob"
    activated = call(gateway, "sec-bob", "POST", f"/v1/policy/drafts/{draft_id}/activate")
    assert activated.status_code == 200, activated.text
    entry = gateway.ledger_records()[activated.json()["receipt"]["index"]]
    assert entry["kind"] == "policy"
    assert entry["action"] == "activate"
    assert (entry["revision"], entry["parent_revision"]) == (draft["revision"], base_revision)
    assert (entry["author"], entry["approver"]) == ("sec-alice", "sec-bob")
    assert entry["replay_digest"] == summary["digest"]

    # The running gateway switches without a restart: housing is now allowed, under the new revision.
    now = wait_for_revision(gateway, "housing", draft["revision"])
    assert now["status"] == 200

    # A broken draft cannot be activated: its checks fail.
    broken = call(
        gateway, "sec-alice", "POST", "/v1/policy/drafts", {"files": draft_files(broken=True)}
    ).json()
    failed = call(gateway, "sec-alice", "POST", f"/v1/policy/drafts/{broken['id']}/check").json()
    assert failed["ok"] is False
    assert {c["engine"]: c["status"] for c in failed["compile"]}["regorus"] == "failed"
    call(gateway, "sec-alice", "POST", f"/v1/policy/drafts/{broken['id']}/replay", {"last": 10})
    blocked = call(gateway, "sec-bob", "POST", f"/v1/policy/drafts/{broken['id']}/approve")
    assert blocked.status_code == 409
    assert "checks failed" in blocked.json()["detail"]

    # Rollback: the base bundle serves again, recorded in the ledger and the history.
    rolled = call(gateway, "sec-bob", "POST", "/v1/policy/rollback")
    assert rolled.status_code == 200, rolled.text
    assert rolled.json()["revision"] == base_revision
    back = wait_for_revision(gateway, "housing", base_revision)
    assert back["status"] == 403
    history = call(gateway, "sec-bob", "GET", "/v1/policy/history").json()["history"]
    assert [h["action"] for h in history] == ["rollback", "activate"]
    assert gateway.ledger_records()[history[0]["ledger_index"]]["action"] == "rollback"
