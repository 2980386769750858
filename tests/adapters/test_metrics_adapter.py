"""The metrics adapter: label values only from known codes (a property over arbitrary values, personal
ones in every written form included), timings per stage, the per-run multiprocess directory."""

from __future__ import annotations

import fcntl
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.adapters.metrics import (
    MULTIPROC_ENV,
    RUN_PREFIX,
    LabelVocabulary,
    PrometheusMetrics,
    multiprocess_directory,
)
from gateway.domain.detector import normalize
from gateway.domain.ledger.commitments import subject_commitment
from tests.properties.test_no_identifier_leaks import FORMS
from tests.support.metrics import samples
from tests.support.pii import bank_card, mobile, resident_id, uscc

VOCABULARY = LabelVocabulary(
    departments=frozenset({"development_reform", "housing"}),
    purposes=frozenset({"admin_licensing_review"}),
    reasons=frozenset({"purpose_unknown", "ledger_unavailable"}),
)
SECRET = bytes(range(32))
ROUTES = ("/v1/queries", "/v1/ledger/entries/{index}", "/.well-known/oauth-authorization-server")


class NoLedger:
    def size(self) -> int:
        return 7

    def latest_checkpoint_time(self) -> int | None:
        return 1_000

    def latest_cosignature_time(self) -> int | None:
        return None


class TwoOverdue:
    def overdue_count(self) -> int:
        return 2


def metrics() -> PrometheusMetrics:
    return PrometheusMetrics(
        VOCABULARY,
        revision=lambda: "sha256:abc",
        ledger=NoLedger(),
        now=lambda: 1_030.0,
        multiproc_dir="",
        repairs=TwoOverdue(),
    )


def _personal(seed: int) -> list[str]:
    rng = random.Random(seed)
    values = [resident_id(rng), uscc(rng), uscc(rng, "92"), bank_card(rng), mobile(rng)]
    values.append(subject_commitment(SECRET, "resident_id", values[0]))
    return values


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(
    seed=st.integers(0, 2**32),
    form=st.sampled_from(sorted(FORMS)),
    around=st.text(max_size=8),
    template=st.sampled_from(ROUTES),
)
def test_no_label_carries_a_personal_value_or_a_commitment(
    seed: int, form: str, around: str, template: str
) -> None:
    m = metrics()
    written = [FORMS[form](v) for v in _personal(seed)]
    for value in written:
        label = around + value
        m.count_query(department=label, purpose=label, decision=label, reason=label)
        m.count_request(template + "/" + value, 200)
        m.count_request("/" + label, 404)
        m.count_request(label, 200)
    m.count_request(template, 200)
    text = m.exposition()[0].decode()
    for value in _personal(seed) + written:
        assert value not in text
        assert normalize(value) not in normalize(text)
    labels = {value for (_, pairs) in samples(text) for (_, value) in pairs}
    known = set(ROUTES) | {"other", "none", "200", "404", "sha256:abc"}
    known |= {"decide", "read", "desensitize", "register"}  # stage names
    assert {v for v in labels if not v.replace(".", "").replace("+Inf", "").isdigit()} <= known | {"+Inf"}


def test_known_codes_are_kept_and_others_counted_as_other() -> None:
    m = metrics()
    m.count_query(department="housing", purpose="admin_licensing_review", decision="allow", reason="none")
    m.count_query(department="nobody", purpose="made_up", decision="maybe", reason="made_up")
    m.count_request("unmatched", 404)
    s = samples(m.exposition()[0].decode())
    key = "gateway_queries_total"
    assert (
        s[
            (
                key,
                (
                    ("decision", "allow"),
                    ("department", "housing"),
                    ("purpose", "admin_licensing_review"),
                    ("reason", "none"),
                ),
            )
        ]
        == 1
    )
    assert (
        s[(key, (("decision", "other"), ("department", "other"), ("purpose", "other"), ("reason", "other")))]
        == 1
    )
    assert s[("gateway_requests_total", (("route", "unmatched"), ("status", "404")))] == 1


def test_stages_are_timed_even_when_they_fail_and_gauges_read_at_scrape_time() -> None:
    m = metrics()
    with m.stage("decide"):
        pass
    with pytest.raises(RuntimeError), m.stage("register"):
        raise RuntimeError("the ledger is down")
    with pytest.raises(ValueError, match="unknown stage"):
        m.stage("shipping")
    m.count_throttled("address")
    m.count_throttled("somebody's typed text")
    s = samples(m.exposition()[0].decode())
    assert s[("gateway_stage_seconds_count", (("stage", "decide"),))] == 1
    assert s[("gateway_stage_seconds_count", (("stage", "register"),))] == 1
    assert s[("gateway_token_throttled_total", (("reason", "address"),))] == 1
    assert s[("gateway_token_throttled_total", (("reason", "other"),))] == 1
    assert s[("gateway_ledger_size", ())] == 7
    assert s[("gateway_repairs_overdue", ())] == 2
    assert s[("gateway_checkpoint_age_seconds", ())] == 30
    assert s[("gateway_policy_revision_info", (("revision", "sha256:abc"),))] == 1
    assert not any(name == "gateway_witness_cosignature_age_seconds" for name, _ in s)


HOLD_LOCK = (
    "import fcntl, sys, time; f = open(sys.argv[1], 'w'); fcntl.flock(f, fcntl.LOCK_EX);"
    " print(1, flush=True); time.sleep(60)"
)


def test_each_run_gets_a_fresh_directory_and_a_killed_runs_one_is_removed(tmp_path: Path) -> None:
    # A run whose supervisor was killed left its directory behind, its lock free.
    stale = tmp_path / f"{RUN_PREFIX}stale"
    stale.mkdir()
    (stale / ".lock").touch()
    (stale / "counter_123.db").write_bytes(b"old counts")
    # A run still going holds its lock (another process here).
    live = tmp_path / f"{RUN_PREFIX}live"
    live.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            HOLD_LOCK,
            str(live / ".lock"),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline()
        before = os.environ.get(MULTIPROC_ENV)
        with multiprocess_directory(tmp_path) as run:
            assert os.environ[MULTIPROC_ENV] == str(run)
            assert run.parent == tmp_path
            assert not list(run.glob("*.db"))
            assert not stale.exists()
            assert live.exists()
            with (run / ".lock").open("a") as lock, pytest.raises(BlockingIOError):
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert not run.exists()
        assert os.environ.get(MULTIPROC_ENV) == before
    finally:
        holder.kill()
        holder.communicate()
