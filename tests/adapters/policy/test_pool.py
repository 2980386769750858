"""The policy pool: a few threads own the engines, every caller gets the decision the engine gives."""

from __future__ import annotations

import gc
import shutil
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from gateway.adapters.policy.pool import PooledPolicyEngine
from gateway.adapters.policy.regorus import RegorusEngine
from gateway.bootstrap import policy_threads
from gateway.errors import PolicyEngineError
from gateway.ports import PolicyEngine
from tests.support.policy_inputs import DECISION, POLICIES_DIR, REFUSALS, decision_input

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def catalog_revision() -> str:
    revision = RegorusEngine(POLICIES_DIR).evaluate("gateway.catalog.revision", {})
    assert isinstance(revision, str)
    return revision


def test_many_callers_share_a_few_engines_and_get_the_same_decisions(catalog_revision: str) -> None:
    direct = RegorusEngine(POLICIES_DIR)
    documents = [decision_input(catalog_revision)] + [
        decision_input(catalog_revision, **c[1]) for c in REFUSALS
    ]
    expected = [direct.evaluate(DECISION, d) for d in documents]
    inner = RegorusEngine(POLICIES_DIR)
    pool = PooledPolicyEngine(inner, 2)
    start = threading.Barrier(8)

    def run(index: int) -> list[Any]:
        start.wait()  # eight request threads ask at once
        return [
            pool.evaluate(DECISION, documents[(index + i) % len(documents)]) for i in range(len(documents))
        ]

    try:
        with ThreadPoolExecutor(max_workers=8) as callers:
            outcomes = list(callers.map(run, range(8)))
    finally:
        pool.close()
    for index, outcome in enumerate(outcomes):
        assert outcome == [expected[(index + i) % len(documents)] for i in range(len(documents))]
    assert pool.revision == inner.revision
    # The constructing thread's engine (the startup compile check), then one per pool thread only.
    assert inner.engines_built == 3


def test_warm_builds_every_engine_before_the_first_request() -> None:
    inner = RegorusEngine(POLICIES_DIR)
    pool = PooledPolicyEngine(inner, 2, warm=lambda engine: engine.evaluate(DECISION, {}))
    try:
        assert inner.engines_built == 3
        assert pool.threads == 2
    finally:
        pool.close()


def test_warm_failure_stops_startup() -> None:
    def broken(engine: PolicyEngine) -> object:
        return engine.evaluate("gateway/not/a/path", {})

    with pytest.raises(PolicyEngineError):
        PooledPolicyEngine(RegorusEngine(POLICIES_DIR), 2, warm=broken)


def test_policy_error_crosses_over_as_text_without_the_pool_threads_frames(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES_DIR, policies)
    (policies / "gateway" / "boom.rego").write_text("package gateway.boom\n\nx := 1 / input.zero\n")
    pool = PooledPolicyEngine(RegorusEngine(policies), 1)
    try:
        with pytest.raises(PolicyEngineError) as caught:
            pool.evaluate("gateway.boom.x", {"zero": 0})
    finally:
        pool.close()
    error = caught.value
    assert error.code == "policy_engine_error"
    assert "input.zero" not in error.detail  # policy source stays off what the requester sees
    cause = error.__cause__
    assert isinstance(cause, RuntimeError)
    # A traceback would hold the pool thread's frames, and a frame can hold that thread's engine,
    # which must never be dropped on this thread.
    assert cause.__traceback__ is None
    assert cause.__cause__ is None
    assert cause.__context__ is None


def test_closed_pool_refuses_and_its_engines_are_dropped_on_their_own_threads(catalog_revision: str) -> None:
    inner = RegorusEngine(POLICIES_DIR)
    pool = PooledPolicyEngine(inner, 2)
    pool.evaluate(DECISION, decision_input(catalog_revision))
    pool.close()
    pool.close()  # idempotent
    with pytest.raises(PolicyEngineError):
        pool.evaluate(DECISION, decision_input(catalog_revision))
    # An engine dropped on a foreign thread panics inside regorus; pytest reports that as an
    # unraisable exception, which this suite turns into an error.
    del pool, inner
    gc.collect()


def test_a_pool_needs_a_thread() -> None:
    with pytest.raises(ValueError, match="at least one thread"):
        PooledPolicyEngine(RegorusEngine(POLICIES_DIR), 0)


@pytest.mark.parametrize(("workers", "expected"), [("1", 2), ("2", 1), ("8", 1), ("nonsense", 2)])
def test_pool_size_shares_the_cores_among_the_workers(
    monkeypatch: pytest.MonkeyPatch, workers: str, expected: int
) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0, 1})
    monkeypatch.delenv("GATEWAY_CORES", raising=False)
    monkeypatch.setenv("GATEWAY_WORKERS", workers)
    assert policy_threads() == expected


def test_pool_size_counts_the_cores_serve_announced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: set(range(64)))  # a big node...
    monkeypatch.setenv("GATEWAY_CORES", "2")  # ...and a container quota of two CPUs
    monkeypatch.setenv("GATEWAY_WORKERS", "2")
    assert policy_threads() == 1


def test_a_pool_nobody_closed_stops_its_threads_at_exit() -> None:
    # A startup that fails after the pool was built never closes it. At exit, a pool thread still
    # running would have its engine dropped by the main thread, which regorus reports as an error.
    script = (
        "from gateway.adapters.policy.pool import PooledPolicyEngine\n"
        "from gateway.adapters.policy.regorus import RegorusEngine\n"
        f"pool = PooledPolicyEngine(RegorusEngine({str(POLICIES_DIR)!r}), 2)\n"
        f"pool.evaluate({DECISION!r}, {{}})\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "unsendable" not in done.stderr
