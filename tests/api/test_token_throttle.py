"""The token endpoint under attack, over real HTTP: lockouts, Retry-After, per-address and per-client
counters, the clients file reloaded, and queries still served during a burst of wrong secrets."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from gateway.adapters.client_files import ClientRegistry, ReloadingClientRegistry, new_client
from tests.api.test_queries import licensing_query
from tests.support.gateway_app import CLIENTS, Deployment, deployment_settings, running_gateway
from tests.support.identity import FAST_SCRYPT

GRANT = {"grant_type": "client_credentials"}
PROBLEM = "application/problem+json"
LOCK_S = 30
THROTTLE = {
    "client_after": 3,
    "address_after": 5,
    "lockout_base_s": LOCK_S,
    "lockout_factor": 2,
    "lockout_max_s": 600,
    "window_s": 900,
}


def write_clients(path: Path, extra: tuple[tuple[str, str, tuple[str, ...]], ...] = ()) -> dict[str, str]:
    """The deployment's clients with fresh secrets (returned), plus ``extra`` ones."""
    minted = [new_client(cid, dept, scopes, **FAST_SCRYPT) for cid, dept, scopes in (*CLIENTS, *extra)]
    path.write_text(yaml.safe_dump(ClientRegistry(r for r, _ in minted).to_document()))
    return {record.client_id: secret for record, secret in minted}


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[Deployment, dict[str, str]]]:
    settings = deployment_settings(tmp_path, token_throttle=THROTTLE)
    secrets = write_clients(settings.clients_file)
    with running_gateway(settings) as gateway:
        yield gateway, secrets


def from_address(base_url: str, address: str) -> httpx.Client:
    """A client whose connections leave from ``address`` (any 127.x.y.z reaches the loopback server)."""
    return httpx.Client(base_url=base_url, transport=httpx.HTTPTransport(local_address=address), timeout=120)


def ask(http: httpx.Client, client_id: str, secret: str) -> httpx.Response:
    return http.post("/oauth/token", data=GRANT, auth=(client_id, secret))


def assert_throttled(response: httpx.Response, reason: str, retry_after: int) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["retry-after"] == str(retry_after)
    body = response.json()
    assert body["code"] == "token_throttled"
    assert body["reason"] == reason


def test_a_client_is_locked_out_with_retry_after_then_let_in(
    deployment: tuple[Deployment, dict[str, str]],
) -> None:
    gateway, secrets = deployment
    with from_address(gateway.base_url, "127.0.0.1") as http:
        for _ in range(THROTTLE["client_after"]):
            assert ask(http, "platform", "wrong").status_code == 401
        # Locked: even the right secret is refused, before any hashing, for the lockout's length.
        assert_throttled(ask(http, "platform", secrets["platform"]), "client", LOCK_S)
        # Another client from the same address is not locked (the address is under its own limit).
        assert ask(http, "housing", secrets["housing"]).status_code == 200
        gateway.clock.current += timedelta(seconds=LOCK_S - 10)
        assert_throttled(ask(http, "platform", secrets["platform"]), "client", 10)
        gateway.clock.current += timedelta(seconds=11)
        assert ask(http, "platform", secrets["platform"]).status_code == 200
        # The success cleared the client's count: one more failure does not lock it again.
        assert ask(http, "platform", "wrong").status_code == 401
        assert ask(http, "platform", secrets["platform"]).status_code == 200


def test_the_lockout_grows_with_each_further_failure(deployment: tuple[Deployment, dict[str, str]]) -> None:
    gateway, secrets = deployment
    with from_address(gateway.base_url, "127.0.0.9") as http:
        for _ in range(THROTTLE["client_after"]):
            ask(http, "platform", "wrong")
        gateway.clock.current += timedelta(seconds=LOCK_S + 1)
        assert ask(http, "platform", "wrong").status_code == 401  # the 4th failure: locked for 2x
        assert_throttled(ask(http, "platform", secrets["platform"]), "client", 2 * LOCK_S)


def test_an_address_is_locked_whatever_client_it_names(deployment: tuple[Deployment, dict[str, str]]) -> None:
    gateway, secrets = deployment
    with (
        from_address(gateway.base_url, "127.0.0.2") as attacker,
        from_address(gateway.base_url, "127.0.0.3") as honest,
    ):
        # Invented client ids: they count against the address only (and are stored nowhere).
        for n in range(THROTTLE["address_after"]):
            assert ask(attacker, f"invented-{n}", "wrong").status_code == 401
        assert_throttled(ask(attacker, "platform", secrets["platform"]), "address", LOCK_S)
        # The real client, from its own address, logs in; that does not lift the attacker's lockout.
        assert ask(honest, "platform", secrets["platform"]).status_code == 200
        assert_throttled(ask(attacker, "housing", secrets["housing"]), "address", LOCK_S)


def test_a_client_is_locked_whatever_address_the_failures_come_from(
    deployment: tuple[Deployment, dict[str, str]],
) -> None:
    gateway, secrets = deployment
    for n in range(THROTTLE["client_after"]):  # one failure from each address: no address is locked
        with from_address(gateway.base_url, f"127.0.1.{n + 1}") as http:
            assert ask(http, "consent-desk", "wrong").status_code == 401
    with from_address(gateway.base_url, "127.0.1.200") as http:
        assert_throttled(ask(http, "consent-desk", secrets["consent-desk"]), "client", LOCK_S)
        assert ask(http, "housing", secrets["housing"]).status_code == 200


def test_an_identifier_in_a_form_field_is_refused_and_never_echoed(
    deployment: tuple[Deployment, dict[str, str]], capfd: pytest.CaptureFixture[str]
) -> None:
    gateway, _ = deployment
    resident_id = gateway.manifest.natural_person_debtor.value
    typed = resident_id[:6] + " " + resident_id[6:14] + " " + resident_id[14:].lower()
    with from_address(gateway.base_url, "127.0.0.4") as http:
        by_basic = ask(http, typed, "whatever")
        by_form = http.post(
            "/oauth/token", data={**GRANT, "client_id": resident_id, "client_secret": "whatever"}
        )
        in_scope = http.post("/oauth/token", data={**GRANT, "scope": f"query {resident_id}"}, auth=("a", "b"))
    for response, field in ((by_basic, "client_id"), (by_form, "client_id"), (in_scope, "scope")):
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["code"] == "identifier_in_text"
        assert response.json()["field"] == field
        assert resident_id not in response.text
        assert typed not in response.text
    logs = "".join(capfd.readouterr())
    assert resident_id not in logs
    assert resident_id[:17] not in logs


def test_the_clients_file_is_reloaded_on_change(deployment: tuple[Deployment, dict[str, str]]) -> None:
    gateway, _ = deployment
    secrets = write_clients(gateway.settings.clients_file, extra=(("newcomer", "housing", ("query",)),))
    with from_address(gateway.base_url, "127.0.0.5") as http:
        response = ask(http, "newcomer", secrets["newcomer"])
        deadline = time.monotonic() + 20
        while response.status_code == 401 and time.monotonic() < deadline:  # reread within a second
            time.sleep(0.2)
            response = ask(http, "newcomer", secrets["newcomer"])
        assert response.status_code == 200, response.text
        # The new file replaced the old one whole: the old secrets are gone with it.
        assert ask(http, "platform", secrets["platform"]).status_code == 200


def test_a_broken_clients_file_keeps_the_previous_clients_and_logs_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "clients.yaml"
    secrets = write_clients(path)
    registry = ReloadingClientRegistry(path, reload_every_s=0)
    path.write_text("clients: [ {client_id: half-written")
    with caplog.at_level("INFO", logger="gateway.adapters.client_files"):
        for _ in range(5):
            assert registry.authenticate("platform", secrets["platform"]) is not None
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    fresh = write_clients(path)
    assert registry.authenticate("platform", fresh["platform"]) is not None
    assert registry.authenticate("platform", secrets["platform"]) is None


def test_queries_are_served_during_a_burst_of_wrong_secrets(
    deployment: tuple[Deployment, dict[str, str]],
) -> None:
    gateway, _ = deployment
    subject = gateway.manifest.legal_person
    body = licensing_query(subject.value, "market.enterprise_registration")
    expected = gateway.query("platform", body).json()["results"]

    def wrong(n: int) -> int:
        with from_address(gateway.base_url, f"127.0.2.{n % 50 + 1}") as http:
            return ask(http, f"invented-{n}", "wrong").status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        burst = [pool.submit(wrong, n) for n in range(200)]
        answers: list[Any] = []
        while not all(f.done() for f in burst) or len(answers) < 5:
            answers.append(gateway.query("platform", body))
        statuses = {f.result() for f in burst}
    assert statuses <= {401, 503}  # wrong, or refused at once by the full hashing pool
    for response in answers:
        assert response.status_code == 200, response.text
        assert response.json()["results"] == expected


def test_a_full_hashing_pool_refuses_at_once() -> None:
    import asyncio
    import threading

    from gateway.adapters.client_files import HashingPoolSaturated, SecretHashingPool

    release = threading.Event()

    class SlowRegistry:
        def authenticate(self, client_id: str, secret: str) -> None:
            release.wait(10)

    pool = SecretHashingPool(workers=1, queue=1)

    async def burst() -> list[object]:
        tasks = [asyncio.ensure_future(pool.authenticate(SlowRegistry(), "c", "s")) for _ in range(4)]
        await asyncio.sleep(0.05)
        refused = [t for t in tasks if t.done()]
        release.set()
        return [t.exception() if t.done() else None for t in refused] + [await t for t in tasks[:2]]

    try:
        outcome = asyncio.run(burst())
    finally:
        pool.close()
    assert [type(o) for o in outcome[:2]] == [HashingPoolSaturated, HashingPoolSaturated]
    assert pool.in_flight == 0
