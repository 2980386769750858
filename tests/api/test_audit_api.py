"""The auditor API over real HTTP, with real signed tokens and a real SQLite ledger."""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import FastAPI

from gateway.adapters.crypto.ed25519 import ed25519_verify
from gateway.adapters.export_files import ExportFileSource
from gateway.adapters.key_files import FileKeyStore
from gateway.adapters.sql.ledger import SqlLedger
from gateway.adapters.tokens import JwtAuthenticator, TokenIssuer
from gateway.api import deps
from gateway.api.problems import install_problem_handlers
from gateway.api.routes.audit import router
from gateway.domain.ledger.records import KINDS
from gateway.services.audit import build_audit_service
from gateway.services.ledger_verify import verify_ledger
from gateway.services.refusals import RefusalRegistry
from tests.conftest import FixedClock
from tests.support import rfc9162
from tests.support.http_server import serve_app
from tests.support.ledger import open_ledger, public_keys, resident_id, sample_record

ISSUER = "https://gateway.test"
AUDIENCE = "urn:credit-gateway:test"


@dataclass
class Api:
    http: httpx.Client
    ledger: SqlLedger
    tokens: TokenIssuer
    keystore: FileKeyStore
    db: Path

    def auth(self, *scopes: str, client: str = "auditor-1") -> dict[str, str]:
        token = self.tokens.issue(client, "audit_office", scopes).access_token
        return {"authorization": f"Bearer {token}"}


@pytest.fixture
def api(tmp_path: Path, keystore: FileKeyStore, clock: FixedClock) -> Iterator[Api]:
    db = tmp_path / "ledger.db"
    secret = keystore.secret("commitment")
    with open_ledger(f"sqlite:///{db}", keystore, clock, checkpoint_every=8) as ledger:
        for i in range(21):
            ledger.append(sample_record(i, secret))
        app = FastAPI()
        install_problem_handlers(app)
        app.include_router(router)
        service = build_audit_service(ledger, keystore)
        authenticator = JwtAuthenticator(keystore, issuer=ISSUER, audience=AUDIENCE, clock=clock)
        app.dependency_overrides[deps.audit_service] = lambda: service
        app.dependency_overrides[deps.authenticator] = lambda: authenticator
        refusals = RefusalRegistry(ledger)
        app.dependency_overrides[deps.refusal_registry] = lambda: refusals
        tokens = TokenIssuer(keystore, issuer=ISSUER, audience=AUDIENCE, clock=clock)
        with serve_app(app) as base_url, httpx.Client(base_url=base_url, timeout=10) as http:
            yield Api(http, ledger, tokens, keystore, db)
        authenticator.close()


def note_parts(note: str) -> tuple[int, bytes, bytes]:
    """Size, root and the first (Ed25519 note) signature, parsed by hand from the C2SP text."""
    text, _, sigs = note.partition("\n\n")
    lines = text.split("\n")
    raw = base64.b64decode(sigs.split("\n")[0].rsplit(" ", 1)[1])
    return int(lines[1]), base64.b64decode(lines[2]), raw[4:]


def test_every_route_needs_a_token_and_the_right_scope(api: Api) -> None:
    response = api.http.get("/v1/ledger/entries")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    query_only = api.auth("query")
    for path in ("/v1/ledger/entries", "/v1/ledger/entries/1", "/v1/ledger/checkpoint", "/v1/ledger/export"):
        response = api.http.get(path, headers=query_only)
        assert response.status_code == 403, path
        assert response.json()["code"] == "insufficient_scope"
    response = api.http.post(
        "/v1/ledger/entries/1/review", json={"status": "reviewed"}, headers=api.auth("audit:read")
    )
    assert response.status_code == 403
    response = api.http.post(
        "/v1/ledger/subject-report",
        json={"id_type": "resident_id", "value": resident_id(3)},
        headers=query_only,
    )
    assert response.status_code == 403


def test_list_entries_with_filters_and_cursor(api: Api) -> None:
    headers = api.auth("audit:read")
    first = api.http.get(
        "/v1/ledger/entries", params={"department": "court", "limit": 2}, headers=headers
    ).json()
    assert [e["index"] for e in first["entries"]] == [2, 5]
    params = {"department": "court", "limit": 2, "cursor": first["next_cursor"]}
    second = api.http.get("/v1/ledger/entries", params=params, headers=headers).json()
    assert [e["index"] for e in second["entries"]] == [8, 11]
    denied = api.http.get(
        "/v1/ledger/entries", params={"decision": "deny", "reason": "purpose_not_allowed"}, headers=headers
    )
    assert [e["index"] for e in denied.json()["entries"]] == [4, 9, 14, 19]
    newest = api.http.get("/v1/ledger/entries", params={"order": "desc", "limit": 1}, headers=headers).json()
    assert newest["entries"][0]["index"] == 20
    window = {"since": "2026-11-22T07:00:00Z", "until": "2026-11-22T09:00:00+00:00", "item": "admin_penalty"}
    assert len(api.http.get("/v1/ledger/entries", params=window, headers=headers).json()["entries"]) == 7
    bad = api.http.get("/v1/ledger/entries", params={"since": "2026-11-22T07:00:00"}, headers=headers)
    assert bad.status_code == 422
    assert bad.json()["field"] == "since"
    assert api.http.get("/v1/ledger/entries", params={"limit": 0}, headers=headers).status_code == 422


def test_entry_with_inclusion_proof_verifies_independently(api: Api) -> None:
    shown = api.http.get("/v1/ledger/entries/13", headers=api.auth("audit:read")).json()
    note = shown["checkpoint"]["note"]
    size, root, signature = note_parts(note)
    public = serialization.load_pem_public_key(api.keystore.public_keys_pem("ledger")[0])
    assert isinstance(public, Ed25519PublicKey)
    public.verify(signature, note.partition("\n\n")[0].encode() + b"\n")  # raises if forged
    proof = shown["inclusion_proof"]
    assert (proof["leaf_index"], proof["tree_size"]) == (13, size)
    path = [bytes.fromhex(p) for p in proof["inclusion_path"]]
    assert rfc9162.verify_inclusion(13, size, bytes.fromhex(shown["leaf_hash"]), path, root)
    missing = api.http.get("/v1/ledger/entries/999", headers=api.auth("audit:read"))
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


def test_checkpoint_as_a_signed_note_and_as_json(api: Api) -> None:
    headers = api.auth("audit:read")
    text = api.http.get("/v1/ledger/checkpoint", headers=headers)
    assert text.headers["content-type"].startswith("text/plain")
    assert text.text.startswith("ledger.credit-gateway.test/log\n21\n")
    as_json = api.http.get("/v1/ledger/checkpoint", headers={**headers, "accept": "application/json"}).json()
    assert as_json["tree_size"] == 21
    assert as_json["note"] == text.text
    assert as_json["timestamp"] == "2026-11-22T08:00:00.000000Z"
    assert api.http.get("/v1/ledger/checkpoint", params={"format": "json"}, headers=headers).json() == as_json


def test_consistency_proof_verifies_independently(api: Api) -> None:
    headers = api.auth("audit:read")
    latest = api.http.get("/v1/ledger/checkpoint", headers=headers).text
    old = api.ledger.checkpoint_at(16)
    assert old is not None
    proof = api.http.get("/v1/ledger/consistency", params={"first": 16, "second": 21}, headers=headers).json()
    path = [bytes.fromhex(p) for p in proof["consistency_path"]]
    assert rfc9162.verify_consistency(16, 21, note_parts(old.note)[1], note_parts(latest)[1], path)
    bad = api.http.get("/v1/ledger/consistency", params={"first": 5, "second": 99}, headers=headers)
    assert bad.status_code == 422


def test_jsonl_export_verifies_offline_and_csv_export_filters(api: Api, tmp_path: Path) -> None:
    headers = api.auth("audit:read")
    path = tmp_path / "export.jsonl"
    with api.http.stream("GET", "/v1/ledger/export", params={"format": "jsonl"}, headers=headers) as response:
        assert response.status_code == 200
        with path.open("wb") as fh:
            for chunk in response.iter_bytes():
                fh.write(chunk)
    result = verify_ledger(ExportFileSource(path), public_keys(api.keystore), ed25519_verify)
    assert result.ok, result.reason
    assert result.proven_size == 21
    filtered = api.http.get(
        "/v1/ledger/export", params={"format": "jsonl", "department": "court"}, headers=headers
    )
    assert filtered.status_code == 422
    response = api.http.get(
        "/v1/ledger/export", params={"format": "csv", "department": "court"}, headers=headers
    )
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [int(r["index"]) for r in rows] == [2, 5, 8, 11, 14, 17, 20]


def test_subject_report_takes_the_identifier_in_the_body_only(api: Api) -> None:
    subject = resident_id(3)
    response = api.http.post(
        "/v1/ledger/subject-report",
        json={"id_type": "resident_id", "value": subject},
        headers=api.auth("audit:read"),
    )
    assert response.status_code == 200
    body = response.json()
    assert [e["index"] for e in body["entries"]] == [3, 10, 17]
    assert subject not in response.text
    logged = api.ledger.entry(body["receipt"]["index"])
    assert logged is not None
    assert logged.envelope().record["client_id"] == "auditor-1"
    bad = api.http.post(
        "/v1/ledger/subject-report",
        json={"id_type": "resident_id", "value": subject[:-1] + ("1" if subject[-1] == "0" else "0")},
        headers=api.auth("audit:read"),
    )
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_identifier"
    assert subject[:-1] not in bad.text


def test_review_an_entry(api: Api) -> None:
    reviewer = api.auth("audit:read", "audit:review")
    response = api.http.post(
        "/v1/ledger/entries/6/review", json={"status": "flagged", "comment": "需要核实用途"}, headers=reviewer
    )
    assert response.status_code == 200
    receipt = response.json()["receipt"]
    assert receipt["index"] == 21
    shown = api.http.get("/v1/ledger/entries/6", headers=reviewer).json()
    assert shown["reviews"] == [
        {
            "index": 21,
            "logged_at": "2026-11-22T08:00:00.000000Z",
            "status": "flagged",
            "comment": "需要核实用途",
            "client_id": "auditor-1",
            "department": "audit_office",
        }
    ]
    flagged = api.http.get("/v1/ledger/entries", params={"review": "flagged"}, headers=reviewer).json()
    assert [e["index"] for e in flagged["entries"]] == [6]
    leak = api.http.post(
        "/v1/ledger/entries/6/review", json={"status": "flagged", "comment": resident_id(1)}, headers=reviewer
    )
    assert leak.status_code == 422
    assert leak.json()["field"] == "comment"
    assert (
        api.http.post(
            "/v1/ledger/entries/999/review", json={"status": "reviewed"}, headers=reviewer
        ).status_code
        == 404
    )
    bad_status = api.http.post("/v1/ledger/entries/6/review", json={"status": "approved"}, headers=reviewer)
    assert bad_status.status_code == 422


def test_a_ledger_that_cannot_write_answers_503(api: Api) -> None:
    api.ledger.engine.dispose()
    for p in api.db.parent.glob("ledger.db*"):
        p.unlink()
    api.db.mkdir()  # the database path is now a directory: nothing can be read or written
    response = api.http.post(
        "/v1/ledger/entries/6/review",
        json={"status": "reviewed"},
        headers=api.auth("audit:read", "audit:review"),
    )
    assert response.status_code == 503
    assert response.json()["code"] == "ledger_unavailable"


def test_filters_take_every_outcome_and_kind_the_ledger_records(api: Api) -> None:
    headers = api.auth("audit:read")
    failed = replace(sample_record(21, api.keystore.secret("commitment")), decision="error")
    index = api.ledger.append(failed).index
    found = api.http.get("/v1/ledger/entries", params={"decision": "error"}, headers=headers)
    assert found.status_code == 200
    assert [e["index"] for e in found.json()["entries"]] == [index]
    for kind in sorted(KINDS):
        assert api.http.get("/v1/ledger/entries", params={"kind": kind}, headers=headers).status_code == 200
    unknown = api.http.get("/v1/ledger/entries", params={"kind": "gossip"}, headers=headers)
    assert unknown.status_code == 422
