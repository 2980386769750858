"""The OPA adapter over real HTTP: same decisions as the embedded engine, and every failure fails closed.

The parity tests talk to real OPA whenever it is installed: the ``opa`` binary on PATH, else OPA's Go
library behind ``GoOpaBackedServer`` (tests/support/real_opa.py). Only when neither is present do they
fall back to the regorus-backed test double (tests/support/opa_double.py), which checks the adapter but
not OPA; on CI that fallback is a failure. Fault injection (forced statuses) uses the double.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from gateway.adapters.policy.opa import OpaEngine
from gateway.adapters.policy.regorus import RegorusEngine, load_policy_sources
from gateway.errors import ConfigurationError, PolicyEngineError
from tests.support.opa_double import RegorusBackedOpaServer, free_port
from tests.support.policy_inputs import (
    ADULT,
    DECISION,
    MINOR,
    POLICIES_DIR,
    REFUSALS,
    decision_input,
    grant_for,
    one_item,
)
from tests.support.real_opa import (
    GoOpaBackedServer,
    ParityKind,
    go_opa_library,
    missing_real_opa,
    parity_opa_server,
    real_opa_kind,
    real_opa_server,
)

TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
def regorus_engine() -> RegorusEngine:
    return RegorusEngine(POLICIES_DIR)


@pytest.fixture(scope="module")
def catalog_revision(regorus_engine: RegorusEngine) -> str:
    revision = regorus_engine.evaluate("gateway.catalog.revision", {})
    assert isinstance(revision, str)
    return revision


@pytest.fixture(scope="module")
def opa_server() -> Iterator[tuple[str, ParityKind]]:
    with parity_opa_server(POLICIES_DIR) as server:
        yield server


@pytest.fixture(scope="module")
def opa_url(opa_server: tuple[str, ParityKind]) -> str:
    return opa_server[0]


@pytest.fixture
def opa_engine(opa_url: str, regorus_engine: RegorusEngine) -> Iterator[OpaEngine]:
    engine = OpaEngine(opa_url, regorus_engine.revision, TIMEOUT_S)
    yield engine
    engine.close()


@pytest.fixture
def double() -> Iterator[RegorusBackedOpaServer]:
    with RegorusBackedOpaServer(POLICIES_DIR) as server:
        yield server


def _cases(revision: str) -> list[dict[str, Any]]:
    adult_grant = grant_for(ADULT, ["court.dishonest_debtor"], "credit_evaluation")
    return [
        decision_input(revision),
        decision_input(revision, subjects=[MINOR]),
        decision_input(revision, items=one_item("court.dishonest_debtor", ["listed_on", "case_number"])),
        decision_input(revision, purpose="credit_evaluation", subjects=[ADULT], grant=adult_grant),
        decision_input(revision, purpose="disciplinary_measure", measure="restrict_high_consumption"),
        *(decision_input(revision, **changes) for _, changes, _, _ in REFUSALS),
        {},
    ]


def test_parity_runs_on_real_opa(opa_server: tuple[str, ParityKind]) -> None:
    if opa_server[1] == "double":
        missing_real_opa("OPA adapter parity on real OPA (it ran on the regorus-backed double)")
    assert opa_server[1] == real_opa_kind()


def test_opa_and_embedded_engine_decide_alike(
    opa_engine: OpaEngine, regorus_engine: RegorusEngine, catalog_revision: str
) -> None:
    cases = _cases(catalog_revision)
    decisions = [opa_engine.evaluate(DECISION, case) for case in cases]
    assert decisions == [regorus_engine.evaluate(DECISION, case) for case in cases]
    assert {d["allow"] for d in decisions} == {True, False}


def test_undefined_rule_is_none(opa_engine: OpaEngine, catalog_revision: str) -> None:
    assert opa_engine.evaluate("gateway.request.minor_subject", decision_input(catalog_revision)) is None


def test_missing_rule_is_none(opa_engine: OpaEngine) -> None:
    assert opa_engine.evaluate("gateway.query.no_such_rule", {}) is None


def test_defined_rule_is_its_value(opa_engine: OpaEngine, catalog_revision: str) -> None:
    document = decision_input(catalog_revision, subjects=[MINOR])
    assert opa_engine.evaluate("gateway.request.minor_subject", document) is True


def test_revision_is_the_one_given(opa_url: str) -> None:
    assert OpaEngine(opa_url, "sha256:abc", TIMEOUT_S).revision == "sha256:abc"


def test_threads_decide_alike(
    opa_engine: OpaEngine, regorus_engine: RegorusEngine, catalog_revision: str
) -> None:
    cases = _cases(catalog_revision)
    expected = [regorus_engine.evaluate(DECISION, case) for case in cases]
    with ThreadPoolExecutor(max_workers=3) as pool:
        outcomes = list(pool.map(lambda _: [opa_engine.evaluate(DECISION, c) for c in cases], range(3)))
    assert outcomes == [expected] * 3


def test_healthy_server_is_healthy(opa_engine: OpaEngine) -> None:
    assert opa_engine.healthy()


# --- failing closed ---------------------------------------------------------------------------------


def test_unreachable_opa_is_a_policy_engine_error() -> None:
    engine = OpaEngine(f"http://127.0.0.1:{free_port()}", "sha256:x", TIMEOUT_S)
    started = time.monotonic()
    with pytest.raises(PolicyEngineError):
        engine.evaluate(DECISION, {})
    assert time.monotonic() - started < TIMEOUT_S  # refused at once: no retries, no backoff
    assert not engine.healthy()


def test_server_error_is_a_policy_engine_error(double: RegorusBackedOpaServer) -> None:
    double.force_status = 500
    engine = OpaEngine(double.url, "sha256:x", TIMEOUT_S)
    with pytest.raises(PolicyEngineError):
        engine.evaluate(DECISION, {})
    assert double.data_requests == 1  # not retried


@pytest.mark.parametrize("status", [400, 404, 503])
def test_other_error_statuses_are_policy_engine_errors(double: RegorusBackedOpaServer, status: int) -> None:
    double.force_status = status
    with pytest.raises(PolicyEngineError):
        OpaEngine(double.url, "sha256:x", TIMEOUT_S).evaluate(DECISION, {})


BOOM = "package gateway.boom\n\nx := 1 / input.zero\n\ny := 1 if input.a\n\ny := 2 if input.b\n"


@pytest.mark.parametrize("server", ["double", "real"])
def test_evaluation_error_in_opa_is_a_policy_engine_error(tmp_path: Path, server: str) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES_DIR, policies)
    (policies / "gateway" / "boom.rego").write_text(BOOM)
    if server == "double":
        with RegorusBackedOpaServer(policies) as double:  # answers 500 when evaluation fails, as OPA does
            _assert_evaluation_errors_fail_closed(double.url)
        return
    if real_opa_kind() is None:
        missing_real_opa("an evaluation error on real OPA")
    with real_opa_server(policies) as (url, _):
        _assert_evaluation_errors_fail_closed(url)


def _assert_evaluation_errors_fail_closed(url: str) -> None:
    engine = OpaEngine(url, "sha256:x", TIMEOUT_S)
    with pytest.raises(PolicyEngineError):
        engine.evaluate("gateway.boom.y", {"a": True, "b": True})  # a conflict: an error everywhere
    # A builtin error: an error on regorus and on the Go library (strict builtin errors), undefined on
    # `opa run` (its default). Either way, no value.
    try:
        value = engine.evaluate("gateway.boom.x", {"zero": 0})
    except PolicyEngineError:
        value = None
    assert value is None
    assert engine.evaluate("gateway.boom.x", {"zero": 1}) == 1
    assert engine.evaluate("gateway.boom.y", {"a": True}) == 1


def test_server_that_never_answers_times_out() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the kernel completes the handshake; nobody ever reads or answers
        engine = OpaEngine(f"http://127.0.0.1:{silent.getsockname()[1]}", "sha256:x", 0.3)
        started = time.monotonic()
        with pytest.raises(PolicyEngineError):
            engine.evaluate(DECISION, {})
        assert time.monotonic() - started < 3.0


def test_input_that_is_not_json_is_a_policy_engine_error(opa_engine: OpaEngine) -> None:
    with pytest.raises(PolicyEngineError):
        opa_engine.evaluate(DECISION, {"now": object()})


def test_invalid_entrypoint_is_a_policy_engine_error(opa_engine: OpaEngine) -> None:
    with pytest.raises(PolicyEngineError):
        opa_engine.evaluate("gateway/query/decision", {})


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1:8181", "http://127.0.0.1:8181/opa", "http://user:pw@127.0.0.1:8181", "127.0.0.1"]
)
def test_unusable_url_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError):
        OpaEngine(url, "sha256:x", TIMEOUT_S)


def test_non_positive_timeout_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        OpaEngine("http://127.0.0.1:8181", "sha256:x", 0)


def test_close_releases_every_threads_client(double: RegorusBackedOpaServer) -> None:
    engine = OpaEngine(double.url, "sha256:x", TIMEOUT_S)
    threads = [threading.Thread(target=engine.evaluate, args=(DECISION, {})) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.evaluate(DECISION, {})
    assert len(engine._clients) == 3
    engine.close()
    assert engine._clients == []


def test_the_gateway_sends_its_catalog_index_to_opa_once(
    catalog_revision: str, regorus_engine: RegorusEngine
) -> None:
    if go_opa_library() is None:
        missing_real_opa("sending the catalog index to OPA's Data API")
    sources = load_policy_sources(POLICIES_DIR)
    assert sources.index is not None
    regorus = regorus_engine
    document = decision_input(catalog_revision, items=one_item("market.admin_penalty"))
    with GoOpaBackedServer(POLICIES_DIR, catalog_index=False) as server:
        assert server.read_data("catalog_index") == (False, None)
        engine = OpaEngine(server.url, sources.revision, TIMEOUT_S, index=sources.index)
        try:
            assert server.read_data("catalog_index") == (True, sources.index)
            assert engine.evaluate(DECISION, document) == regorus.evaluate(DECISION, document)
            # A readiness check finds it there and sends nothing again (the library would refuse a
            # second copy as a merge conflict; a real server's PUT replaces it).
            assert engine.healthy()
            assert engine.send_index()
        finally:
            engine.close()


def test_an_opa_that_takes_no_data_still_decides(
    double: RegorusBackedOpaServer, catalog_revision: str
) -> None:
    # The test double stores no data (404): the index is not sent, and nothing is refused for it.
    sources = load_policy_sources(POLICIES_DIR)
    engine = OpaEngine(double.url, sources.revision, TIMEOUT_S, index=sources.index)
    try:
        document = decision_input(catalog_revision, items=one_item("market.admin_penalty"))
        decision = engine.evaluate(DECISION, document)
        assert isinstance(decision, dict)
        assert decision["allow"] is True
        assert engine.healthy()
    finally:
        engine.close()
