"""Done when: a rule changed in a draft, tested with coverage, the demo decisions replayed, approved by
a second person, and a running two-worker gateway deciding under the new revision without a restart;
a rollback restores the old one.

The gateway runs as it is deployed: ``gateway serve --workers 2`` in its own process, real clock,
real HTTP, the SQLite gateway database shared by both workers. The draft is pushed with the
command line (``gateway policy draft push``); the rest goes through the API as two people.

How many demo decisions are made first is ``GATEWAY_E2E_DECISIONS`` (default 200, to keep the suite
short on a shared machine; the brief's figure is 10,000: ``GATEWAY_E2E_DECISIONS=10000``). After
the switch, 30 queries in a row must all name the new revision: with one SO_REUSEPORT socket per
worker, a worker that had not switched would answer some of them.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from gateway.adapters.key_files import FileKeyStore
from gateway.adapters.policy.workbench import read_bundle
from gateway.adapters.tokens import TokenIssuer
from gateway.cli.main import main as gateway_cli
from tests.api.test_policy_workbench import CATALOG, HOUSING_ADDED, HOUSING_LINE, rating_query
from tests.support.gateway_app import AUDIENCE, CLIENTS, ISSUER, ROOT, deployment_settings

DECISIONS = int(os.environ.get("GATEWAY_E2E_DECISIONS", "200"))


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def two_workers(config: Path) -> Iterator[str]:
    port = _free_port()
    command = [sys.executable, "-m", "gateway.cli.main", "serve", "--config", str(config)]
    command += ["--port", str(port), "--workers", "2"]
    proc = subprocess.Popen(
        command, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # two interpreters starting on a busy machine
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, "the gateway exited"
            assert time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.5)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def test_two_workers_switch_to_an_approved_draft_and_back_without_a_restart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = deployment_settings(tmp_path)
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump(settings.model_dump(mode="json")))
    keystore = FileKeyStore(settings.keys_dir)
    issuer = TokenIssuer(keystore, issuer=ISSUER, audience=AUDIENCE, clock=SystemClock(), lifetime_s=3600)
    tokens = {c: issuer.issue(c, d, s).access_token for c, d, s in CLIENTS}

    def call(client: str, method: str, path: str, body: Any = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {tokens[client]}"}
        return httpx.request(method, url + path, json=body, headers=headers, timeout=300)

    def revision_of(response: httpx.Response) -> str:
        body = response.json()
        if response.status_code == 200:
            return str(body["decision"]["policy_revision"])
        entry = call("auditor", "GET", f"/v1/ledger/entries/{body['receipt']['index']}").json()
        return str(entry["record"]["policy_revision"])

    def run_under(revision: str, run: int = 30) -> list[httpx.Response]:
        """Query until ``run`` answers in a row name ``revision`` (both workers polled by then)."""
        deadline = time.monotonic() + 90
        streak: list[httpx.Response] = []
        while len(streak) < run:
            response = call("housing", "POST", "/v1/queries", query)
            streak = [*streak, response] if revision_of(response) == revision else []
            assert time.monotonic() < deadline, f"the workers did not all switch to {revision}"
        return streak

    with two_workers(config) as url:
        query = rating_query(_Manifest())
        # The demo decisions: housing refused tax.credit_rating, the platform allowed it.
        with ThreadPoolExecutor(4) as pool:
            statuses = list(
                pool.map(
                    lambda i: (
                        call(
                            "housing" if i % 4 == 0 else "platform", "POST", "/v1/queries", query
                        ).status_code
                    ),
                    range(DECISIONS),
                )
            )
        assert statuses.count(403) == len(range(0, DECISIONS, 4))
        assert statuses.count(200) == DECISIONS - statuses.count(403)
        base = call("sec-alice", "GET", "/v1/policy/active").json()["revision"]

        # Alice changes the rule in a copy of the policies and pushes it with the command line.
        draft_dir = tmp_path / "draft"
        shutil.copytree(ROOT / "policies", draft_dir)
        catalog = draft_dir / CATALOG
        catalog.write_text(catalog.read_text().replace(HOUSING_LINE, HOUSING_ADDED))
        assert (
            gateway_cli(
                ["policy", "draft", "push", str(draft_dir), "--config", str(config), "--author", "sec-alice"]
            )
            == 0
        )
        draft = call("sec-alice", "GET", "/v1/policy/drafts").json()["drafts"][0]
        assert draft["author"] == "sec-alice"
        assert read_bundle(draft_dir)[CATALOG].decode().count(HOUSING_ADDED) == 1

        # The command line's check and replay (with its progress bar) on the same database.
        cli = ["--config", str(config)]
        assert gateway_cli(["policy", "draft", "check", str(draft["id"]), *cli]) == 0
        assert gateway_cli(["policy", "draft", "replay", str(draft["id"]), "--last", "10000", *cli]) == 0
        printed = capsys.readouterr().out
        assert f"deny_to_allow: {statuses.count(403)}" in printed
        assert "0 failed; OK" in printed
        report = call("sec-alice", "POST", f"/v1/policy/drafts/{draft['id']}/check").json()
        assert report["ok"] is True
        assert report["coverage"]
        replay = call("sec-alice", "POST", f"/v1/policy/drafts/{draft['id']}/replay", {"last": 10000}).json()
        assert replay["total"] == DECISIONS
        assert replay["changed"] == statuses.count(403)
        assert len(replay["by_kind"]["deny_to_allow"]) == statuses.count(403)
        assert replay["unchanged"] == statuses.count(200)

        assert call("sec-alice", "POST", f"/v1/policy/drafts/{draft['id']}/approve").status_code == 409
        assert call("sec-bob", "POST", f"/v1/policy/drafts/{draft['id']}/approve").status_code == 200
        assert call("sec-bob", "POST", f"/v1/policy/drafts/{draft['id']}/activate").status_code == 200

        # Every worker: a run of 30 queries in a row, all under the new revision, housing now allowed.
        after = run_under(draft["revision"])
        assert [r.status_code for r in after] == [200] * 30

        assert call("sec-bob", "POST", "/v1/policy/rollback").status_code == 200
        back = run_under(base)
        assert [r.status_code for r in back] == [403] * 30


class _Manifest:
    """``rating_query`` reads the demo manifest from a deployment; the same demo data here."""

    @property
    def manifest(self) -> Any:
        from gateway.demo.data import demo_manifest

        return demo_manifest()


pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="SO_REUSEPORT workers are Linux only")
