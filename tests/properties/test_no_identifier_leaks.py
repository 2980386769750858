"""Property: no identifier, however a person writes it, gets through any free-text or code field.

Identifiers of every kind the detector knows (resident IDs, individual-business and legal-person credit
codes, bank cards, mobile numbers) are generated, written the ways people write them (lower case,
full-width, spaced, hyphenated, dotted, glued to letters or to Chinese text), and put into every
free-text and code field of every endpoint of a real deployment over real HTTP. Whatever the gateway
answers, the identifier must appear in none of: the response body, the ledger database, the JSON Lines
and CSV exports, the gateway's log lines.

"Appear" is judged on the normalized text (``gateway.domain.detector.normalize``) as well as on the raw
text, so a leak cannot hide behind the very forms under test.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.domain.detector import normalize
from gateway.logging import JsonFormatter
from tests.support.gateway_app import Deployment, deployment_settings, running_gateway
from tests.support.pii import bank_card, mobile, resident_id, uscc

SETTINGS = settings(
    max_examples=70,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,  # the same examples on every run: a failure is reproducible
    database=None,
)

_FULL_WIDTH = {
    c: chr(ord(c) + 0xFEE0) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
}


def _groups(value: str, sizes: tuple[int, ...], sep: str) -> str:
    out, pos = [], 0
    for size in sizes:
        out.append(value[pos : pos + size])
        pos += size
    out.append(value[pos:])
    return sep.join(p for p in out if p)


# How a person might write an identifier: each returns the written form.
FORMS: dict[str, Callable[[str], str]] = {
    "plain": lambda v: v,
    "lower": str.lower,
    "full_width": lambda v: "".join(_FULL_WIDTH.get(c, c) for c in v),
    "full_width_lower": lambda v: "".join(_FULL_WIDTH.get(c, c) for c in v.lower()),
    "spaced": lambda v: _groups(v, (6, 8), " ") if len(v) == 18 else _groups(v, (4, 4, 4), " "),
    "hyphenated": lambda v: _groups(v, (6, 8), "-") if len(v) == 18 else _groups(v, (3, 4), "-"),
    "dotted": lambda v: _groups(v, (4, 4, 4), "."),
    "every_char_spaced": " ".join,
    "ideographic_space": lambda v: _groups(v, (6, 8), "\u3000"),
    "glued_letters": lambda v: f"ID{v}abc",
    "glued_lower_letters": lambda v: f"x{v.lower()}",
    "glued_chinese": lambda v: f"依据ID{v}申请",
    "glued_full_width": lambda v: "依据" + "".join(_FULL_WIDTH.get(c, c) for c in v.lower()) + "号",
}


def _identifier(kind: str, seed: int) -> str:
    rng = random.Random(seed)
    if kind == "resident_id":
        return resident_id(rng)
    if kind == "individual_business":
        return uscc(rng, "92")
    if kind == "legal_person":
        return uscc(rng, "91")
    if kind == "bank_card":
        return bank_card(rng)
    return mobile(rng)


identifiers = st.builds(
    _identifier,
    st.sampled_from(["resident_id", "individual_business", "legal_person", "bank_card", "mobile"]),
    st.integers(min_value=0, max_value=2**32),
)
forms = st.sampled_from(sorted(FORMS))

# Every identifier put into a request in this module, checked against the ledger, exports and logs.
SENT: list[str] = []


class LogLines(logging.Handler):
    """Every log record of the running gateway, formatted as the gateway formats it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(scope="module")
def logs(gateway: Deployment) -> Iterator[LogLines]:
    # Attached once the gateway runs: its start-up configures the "gateway" logger's handlers.
    handler = LogLines()
    loggers = [logging.getLogger(name) for name in ("gateway", "uvicorn", "uvicorn.error")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    yield handler
    for lg, level in zip(loggers, levels, strict=True):
        lg.removeHandler(handler)
        lg.setLevel(level)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    tmp: Path = tmp_path_factory.mktemp("leaks")
    with running_gateway(deployment_settings(tmp)) as deployment:
        yield deployment


class Client:
    """Real HTTP with a real token per client, kept for the module."""

    def __init__(self, gateway: Deployment) -> None:
        self.gateway = gateway
        self.http = httpx.Client(base_url=gateway.base_url, timeout=30)
        self.tokens: dict[str, str] = {}

    def headers(self, client_id: str) -> dict[str, str]:
        if client_id not in self.tokens:
            self.tokens[client_id] = self.gateway.token(client_id)
        return {"Authorization": f"Bearer {self.tokens[client_id]}"}


@pytest.fixture(scope="module")
def client(gateway: Deployment, logs: LogLines) -> Iterator[Client]:
    c = Client(gateway)
    # One registered query, so that a review has an entry to point at.
    first = c.http.post("/v1/queries", json=_query(gateway), headers=c.headers("platform"))
    assert first.status_code == 200, first.text
    yield c
    c.http.close()


def _query(gateway: Deployment) -> dict[str, Any]:
    return {
        "purpose": "admin_licensing_review",
        "legal_basis": "admin_licensing_law_31",
        "items": ["market.admin_penalty"],
        "subjects": [{"id_type": "uscc", "value": gateway.manifest.legal_person.value}],
    }


def _grant(gateway: Deployment) -> dict[str, Any]:
    return {
        "subject": {"id_type": "resident_id", "value": gateway.manifest.natural_person_debtor.value},
        "recipient": "housing",
        "purposes": ["admin_licensing_review"],
        "items": ["court.dishonest_debtor"],
        "fields": None,
        "valid_from": "2026-11-22T00:00:00Z",
        "valid_until": "2027-05-21T00:00:00Z",
        "consent": {
            "method": "written",
            "obtained_at": "2026-11-21T09:30:00Z",
            "reference": "HF-2026-000123",
            "separate": True,
            "condition_of_service": False,
            "service": "housing_subsidy",
        },
    }


def _set(body: dict[str, Any], path: str, value: Any) -> None:
    """Put ``value`` at a dotted path; ``items.0`` is a list position, ``fields.{}`` a dict key."""
    keys = path.split(".")
    target: Any = body
    for key in keys[:-1]:
        target = target[int(key)] if key.isdigit() else target[key]
    last = keys[-1]
    if last.isdigit():
        target[int(last)] = value
    else:
        target[last] = value


def _leaked(identifier: str, text: str) -> bool:
    """Whether ``text`` shows ``identifier`` raw or in any form the normalization undoes."""
    return identifier in text or normalize(identifier) in normalize(text)


def _check_response(identifier: str, response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    assert not _leaked(identifier, response.text), (response.status_code, response.text)


CODE_FIELDS = ("purpose", "items.0", "items.0.id", "items.0.fields.0", "measure")
QUERY_FIELDS = (*CODE_FIELDS, "legal_basis", "grant_id")


def _as_code(written: str) -> str:
    """A catalog code's shape (a lower-case letter first, then lower case, digits, _ and .)."""
    return written if written[:1].islower() and written[:1].isascii() else "x" + written.lower()


@SETTINGS
@given(identifier=identifiers, form=forms, field=st.sampled_from(QUERY_FIELDS))
def test_queries(client: Client, identifier: str, form: str, field: str) -> None:
    written = FORMS[form](identifier)
    if field in CODE_FIELDS:
        written = _as_code(written)
    body = _query(client.gateway)
    if field.startswith("items.0.") and field != "items.0":
        body["items"] = [{"id": "market.admin_penalty", "fields": ["decision_number"]}]
    _set(body, field, written)
    SENT.append(identifier)
    response = client.http.post("/v1/queries", json=body, headers=client.headers("platform"))
    _check_response(identifier, response)
    assert response.status_code == 422, response.text
    assert response.json()["code"] in {"identifier_in_text", "invalid_request"}, response.text


GRANT_FIELDS = (
    "recipient",
    "purposes.0",
    "items.0",
    "fields.{}",
    "fields.value",
    "consent.method",
    "consent.reference",
    "consent.service",
)


@SETTINGS
@given(identifier=identifiers, form=forms, field=st.sampled_from(GRANT_FIELDS))
def test_grants(client: Client, identifier: str, form: str, field: str) -> None:
    written = FORMS[form](identifier)
    body = _grant(client.gateway)
    if field == "fields.{}":
        body["fields"] = {written: ["case_number"]}
    elif field == "fields.value":
        body["fields"] = {"court.dishonest_debtor": [written]}
    else:
        _set(body, field, written)
    SENT.append(identifier)
    response = client.http.post("/v1/grants", json=body, headers=client.headers("consent-desk"))
    _check_response(identifier, response)
    assert response.status_code == 422, response.text
    search = client.http.post(
        "/v1/grants/search",
        json={"subject": body["subject"], "recipient": written},
        headers=client.headers("consent-desk"),
    )
    _check_response(identifier, search)
    listed = client.http.get(
        "/v1/grants", params={"recipient": written}, headers=client.headers("consent-desk")
    )
    _check_response(identifier, listed)


AUDIT_FILTERS = ("client_id", "department", "purpose", "item", "reason")


@SETTINGS
@given(identifier=identifiers, form=forms, field=st.sampled_from(AUDIT_FILTERS))
def test_auditor_endpoints(client: Client, identifier: str, form: str, field: str) -> None:
    written = FORMS[form](identifier)
    SENT.append(identifier)
    headers = client.headers("auditor")
    review = client.http.post(
        "/v1/ledger/entries/0/review",
        json={"status": "flagged", "comment": f"核实{written}"},
        headers=headers,
    )
    _check_response(identifier, review)
    assert review.status_code == 422, review.text
    assert review.json()["code"] == "identifier_in_text"
    assert review.json()["field"] == "comment"
    entries = client.http.get("/v1/ledger/entries", params={field: written}, headers=headers)
    _check_response(identifier, entries)
    csv = client.http.get("/v1/ledger/export", params={"format": "csv", field: written}, headers=headers)
    _check_response(identifier, csv)


TOKEN_FIELDS = ("basic.client_id", "client_id", "scope", "grant_type")


@SETTINGS
@given(identifier=identifiers, form=forms, field=st.sampled_from(TOKEN_FIELDS))
def test_token_endpoint(client: Client, identifier: str, form: str, field: str) -> None:
    written = FORMS[form](identifier)
    SENT.append(identifier)
    data = {"grant_type": "client_credentials", "client_id": "platform", "client_secret": "wrong"}
    auth = None
    if field == "basic.client_id":
        data = {"grant_type": "client_credentials"}
        auth = (written, "wrong")
    else:
        data[field] = written
    response = client.http.post("/oauth/token", data=data, auth=auth)
    _check_response(identifier, response)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "identifier_in_text"
    assert response.json()["field"] == field.removeprefix("basic.")


REPAIR_FIELDS = ("item", "record_key", "evidence.0.reference")


def _repair(gateway: Deployment) -> dict[str, Any]:
    return {
        "item": "market.admin_penalty",
        "record_key": "1",
        "subject": {"id_type": "uscc", "value": gateway.manifest.legal_person.value},
        "evidence": [{"kind": "penalty_paid", "reference": "缴款凭证 2026-0042", "issued_on": "2026-11-01"}],
    }


LISTING_FIELDS = (
    "list",
    "basis_document.type",
    "basis_document.number",
    "basis_document.issuer",
    "decision.reason",
    "decision.basis",
    "decision.removal_conditions",
    "decision.remedies",
    "verification.result",
)


def _proposal(gateway: Deployment) -> dict[str, Any]:
    return {
        "list": "market_serious_illegal",
        "subject": {"id_type": "uscc", "value": gateway.manifest.legal_person.value},
        "basis_document": {
            "type": "penalty_decision",
            "number": "杭西市监处罚〔2026〕5号",
            "issuer": "西湖区市场监督管理局",
            "issued_on": "2026-07-02",
        },
    }


@SETTINGS
@given(identifier=identifiers, form=forms, field=st.sampled_from(REPAIR_FIELDS))
def test_repairs(client: Client, identifier: str, form: str, field: str) -> None:
    written = FORMS[form](identifier)
    body = _repair(client.gateway)
    _set(body, field, written[:64] if field == "record_key" else written)
    SENT.append(identifier)
    response = client.http.post("/v1/repairs", json=body, headers=client.headers("market-desk"))
    _check_response(identifier, response)
    assert response.status_code == 422, response.text
    notifications = client.http.get(
        "/v1/repairs", params={"status": written[:16]}, headers=client.headers("market-desk")
    )
    _check_response(identifier, notifications)


@SETTINGS
@given(identifier=identifiers, form=forms, field=st.sampled_from(LISTING_FIELDS))
def test_listing_steps(client: Client, identifier: str, form: str, field: str) -> None:
    written = FORMS[form](identifier)
    headers = client.headers("market")
    SENT.append(identifier)
    body = _proposal(client.gateway)
    if not field.startswith(("decision.", "verification.")):
        _set(body, field, _as_code(written) if field in ("list", "basis_document.type") else written)
        response = client.http.post("/v1/lists/entries", json=body, headers=headers)
        _check_response(identifier, response)
        assert response.status_code == 422, response.text
        return
    created = client.http.post("/v1/lists/entries", json=body, headers=headers)
    assert created.status_code == 201, created.text
    entry = f"/v1/lists/entries/{created.json()['entry']['id']}"
    assert client.http.post(f"{entry}/notice", json={"channel": "mail"}, headers=headers).status_code == 200
    step, key = field.split(".")
    texts = {"reason": "理由", "basis": "依据", "removal_conditions": "条件", "remedies": "救济"}
    payload: dict[str, Any] = (
        {**texts, "measures": ["restrict_market_access"], key: f"经核实{written}"}
        if step == "decision"
        else {"upheld": False, "result": f"经核实{written}"}
    )
    response = client.http.post(f"{entry}/{step}", json=payload, headers=headers)
    _check_response(identifier, response)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "identifier_in_text", response.text


def test_nothing_sent_reached_the_ledger_an_export_or_a_log(client: Client, logs: LogLines) -> None:
    # Runs after the properties above (file order): everything they sent is checked at once.
    assert len(SENT) >= 200, "the properties above must run first"
    headers = client.headers("auditor")
    records = json.dumps(client.gateway.ledger_records(), ensure_ascii=False)
    jsonl = client.http.get("/v1/ledger/export", headers=headers)
    csv = client.http.get("/v1/ledger/export", params={"format": "csv"}, headers=headers)
    assert jsonl.status_code == csv.status_code == 200
    assert client.gateway.ledger_records(), "the seed query is registered"
    places = {
        "ledger": normalize(records),
        "export": normalize(jsonl.text),
        "csv": normalize(csv.text),
        "logs": normalize("\n".join(logs.lines)),
    }
    assert logs.lines, "the gateway logged nothing: the capture is not working"
    for identifier in SENT:
        canonical = normalize(identifier)
        for place, text in places.items():
            assert canonical not in text, f"{identifier} reached the {place}"
