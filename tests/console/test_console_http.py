"""The console over real HTTP: sign-in with password and TOTP, lockout, sessions, CSRF, headers, exports.

One gateway serves the whole module; each test signs in with accounts of its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from gateway.adapters.console_users import UserFile, disable_user, users_file_beside
from tests.conftest import FixedClock
from tests.support.console import ConsoleSite, form_token, next_step
from tests.support.gateway_app import deployment_settings, running_gateway


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleSite]:
    settings = deployment_settings(Path(tmp_path_factory.mktemp("console")))
    with running_gateway(settings, FixedClock()) as deployment:
        site = ConsoleSite(deployment)
        yield site
        site.close()


def console_events(site: ConsoleSite, username: str | None = None) -> list[dict[str, object]]:
    records = [r for r in site.deployment.ledger_records() if r["kind"] == "console"]
    if username is None:
        return records
    return [r for r in records if r["client_id"] == f"console:{username}"]


def login_form(client: httpx.Client, username: str, password: str, code: str = "") -> httpx.Response:
    token = form_token(client.get("/console/login").text)
    return client.post(
        "/console/login", data={"csrf": token, "username": username, "password": password, "code": code}
    )


def test_first_sign_in_enrols_then_password_and_code_open_a_session(site: ConsoleSite) -> None:
    person = site.person()
    client = site.sign_in(person)
    page = client.get("/console/overview")
    assert page.status_code == 200
    assert "概览" in page.text
    cookie = next(c for c in client.cookies.jar if c.name == "gw_console")
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert not cookie.secure  # loopback: plain HTTP is allowed
    assert [e["event"] for e in console_events(site, person.username)] == ["enrolled"]
    # A second sign-in needs the code; enrolment is not asked again.
    again = site.sign_in(person)
    assert again.get("/console/ledger").status_code == 200
    assert [e["event"] for e in console_events(site, person.username)] == ["enrolled", "login"]


def test_pages_carry_a_strict_policy_and_strict_cookies(site: ConsoleSite) -> None:
    page = site.client().get("/console/login")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp
    assert "unsafe-inline" not in csp
    assert "default-src 'none'" in csp
    set_cookie = page.headers["set-cookie"].lower()
    assert "httponly" in set_cookie
    assert "samesite=strict" in set_cookie


def test_wrong_code_and_wrong_password_are_refused_and_registered_without_secrets(site: ConsoleSite) -> None:
    person = site.person()
    site.sign_in(person)
    client = site.client()
    bad = login_form(client, person.username, person.password, "000000")
    assert bad.headers["location"] == "/console/login?problem=refused"
    wrong = login_form(client, person.username, "not the password", "123456")
    assert wrong.headers["location"] == "/console/login?problem=refused"
    failed = [e for e in console_events(site, person.username) if e["event"] == "login_failed"]
    assert [e["reason"] for e in failed] == ["bad_code", "bad_password"]
    text = json.dumps(failed)
    assert person.password not in text
    assert "000000" not in text


def test_repeated_failures_lock_the_account(site: ConsoleSite) -> None:
    person = site.person()
    site.sign_in(person)
    client = site.client()
    for _ in range(5):
        login_form(client, person.username, "nope nope nope")
    locked = login_form(client, person.username, person.password, person.code(site.clock))
    assert locked.headers["location"] == "/console/login?problem=locked"
    assert console_events(site, person.username)[-1]["reason"] == "locked"
    site.clock.current += timedelta(minutes=16)
    assert site.sign_in(person).get("/console/overview").status_code == 200


def test_unknown_name_is_registered_without_the_typed_name(site: ConsoleSite) -> None:
    login_form(site.client(), "someone.else", "whatever it is")
    failed = console_events(site)[-1]
    assert failed["event"] == "login_failed"
    assert failed["client_id"] is None
    assert "someone.else" not in json.dumps(failed)


def test_post_without_csrf_is_refused(site: ConsoleSite) -> None:
    client = site.sign_in(site.person())
    response = client.post("/console/entries/0/review", data={"status": "flagged", "comment": "x"})
    assert response.status_code == 403
    response = client.post("/console/logout", data={"csrf": "forged"})
    assert response.status_code == 403
    assert client.get("/console/overview").status_code == 200  # still signed in
    plain = site.client()
    assert plain.post("/console/login", data={"username": "a", "password": "b"}).status_code == 403


def test_logout_and_idle_timeout_end_the_session(site: ConsoleSite) -> None:
    person = site.person()
    client = site.sign_in(person)
    overview = client.get("/console/overview")
    client.post("/console/logout", data={"csrf": form_token(overview.text)})
    gone = client.get("/console/overview")
    assert gone.status_code == 303
    assert gone.headers["location"].startswith("/console/login")
    assert console_events(site, person.username)[-1]["event"] == "logout"
    idle = site.sign_in(person)
    site.clock.current += timedelta(minutes=16)
    expired = idle.get("/console/overview")
    assert expired.headers["location"] == "/console/login?problem=expired"


def test_disabling_a_user_ends_their_session(site: ConsoleSite) -> None:
    person = site.person()
    client = site.sign_in(person)
    path = users_file_beside(site.deployment.settings.clients_file)
    users = UserFile.load(path)
    disable_user(users, person.username)
    users.save(path)
    assert client.get("/console/overview").status_code == 303


def test_a_role_without_the_scope_is_refused(site: ConsoleSite) -> None:
    client = site.sign_in(site.person("security"))
    page = client.get("/console/ledger")
    assert page.status_code == 200
    token = form_token(page.text)
    assert client.post("/console/export", data={"csrf": token, "format": "csv"}).status_code == 403
    assert (
        client.post("/console/entries/0/review", data={"csrf": token, "status": "reviewed"}).status_code
        == 403
    )
    source = site.sign_in(site.person("source"))
    assert source.get("/console/ledger").status_code == 403


def test_export_is_cut_at_a_checkpoint_and_registered(site: ConsoleSite) -> None:
    person = site.person()
    client = site.sign_in(person)
    token = form_token(client.get("/console/ledger").text)
    csv_export = client.post("/console/export", data={"csrf": token, "format": "csv", "kind": "console"})
    assert csv_export.status_code == 200
    first, header, *rows = csv_export.text.splitlines()
    assert first.startswith("# cut at checkpoint gateway.test/ledger size ")
    assert header.startswith("index,logged_at,kind")
    assert rows
    assert all(",console," in row for row in rows)
    jsonl = client.post("/console/export", data={"csrf": token, "format": "jsonl"})
    lines = jsonl.text.splitlines()
    assert "checkpoint" in json.loads(lines[0])
    assert len(lines) - 1 == int(jsonl.headers["x-ledger-checkpoint-size"])
    exports = [e for e in console_events(site, person.username) if e["event"] == "export"]
    assert [e["format"] for e in exports] == ["csv", "jsonl"]
    assert exports[0]["filters"] == {"kind": "console"}


def test_ledger_filters_take_error_and_invalid_decisions(site: ConsoleSite) -> None:
    client = site.sign_in(site.person())
    for decision in ("error", "invalid", "allow", "deny"):
        page = client.get("/console/ledger", params={"decision": decision, "kind": "query"})
        assert page.status_code == 200
        assert 'role="alert"' not in page.text
    refused = client.get("/console/ledger", params={"decision": "maybe"})
    assert 'role="alert"' in refused.text


def test_ledger_filters_refuse_an_identifier_like_the_api(site: ConsoleSite) -> None:
    client = site.sign_in(site.person())
    spaced = "110105 19491231 002x"  # a checksum-valid resident ID, written as a person might
    page = client.get("/console/ledger", params={"department": spaced})
    assert "department holds a personal identifier" in page.text


def test_docs_are_served_from_local_assets(site: ConsoleSite) -> None:
    client = site.client()
    for path in ("/docs", "/redoc"):
        page = client.get(path)
        assert page.status_code == 200
        assert "https://" not in page.text
        assert "/console/static/vendor/" in page.text
    asset = client.get("/console/static/vendor/swagger-ui-dist/swagger-ui-bundle.js")
    assert asset.status_code == 200


def test_a_code_is_accepted_once(site: ConsoleSite) -> None:
    person = site.person()
    site.sign_in(person)
    client = site.client()
    code = person.code(site.clock)
    assert (
        login_form(client, person.username, person.password, code).headers["location"] == "/console/overview"
    )
    replay = login_form(client, person.username, person.password, code)
    assert replay.headers["location"] == "/console/login?problem=refused"
    assert console_events(site, person.username)[-1]["reason"] == "code_reused"
    next_step(site.clock)


def test_a_session_opened_in_one_worker_is_known_and_ended_in_another(tmp_path: Path) -> None:
    """Two app instances over one database stand for two worker processes."""
    settings = deployment_settings(tmp_path)
    clock = FixedClock()
    with running_gateway(settings, clock) as first, running_gateway(settings, clock) as second:
        site = ConsoleSite(first)
        try:
            client = site.sign_in(site.person())
            other = httpx.Client(
                base_url=second.base_url, cookies={"gw_console": client.cookies["gw_console"]}
            )
            site.clients.append(other)
            assert other.get("/console/overview").status_code == 200
            token = form_token(client.get("/console/overview").text)
            assert client.post("/console/logout", data={"csrf": token}).status_code == 303
            assert other.get("/console/overview").status_code == 303
        finally:
            site.close()


def test_every_response_carries_the_security_headers(site: ConsoleSite) -> None:
    for path in ("/healthz", "/v1/catalog", "/console/login", "/docs"):
        response = site.client().get(path)
        assert response.headers["x-frame-options"] == "DENY", path
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert "default-src 'none'" in response.headers["content-security-policy"], path
    assert site.client().get("/console/login").headers["cache-control"] == "no-store"
    assert "cache-control" not in site.client().get("/healthz").headers
