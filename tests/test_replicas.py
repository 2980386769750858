"""Three ``gateway serve`` replicas (2 workers each) on one PostgreSQL ledger and grant store keep one log.

Queries are spread over the replicas from several threads; one replica's whole process group is
SIGKILLed mid-run. Then: every 200 has its entry (the receipt's index holds a leaf whose hash is the
receipt's), ``gateway ledger verify`` accepts the database together with checkpoints fetched from
every replica during the run, every checkpoint any replica signed has the root of the leaves at its
size (computed here, independently), and the consistency proofs the survivors serve between the
replicas' checkpoints verify with RFC 9162's own algorithm. One log, no fork.

The test spreads 10,000 requests (``GATEWAY_REPLICA_REQUESTS`` sets another number); the throughput of
1, 2 and 3 replicas is measured in ``bench/replica_bench.py``.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import secrets
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gateway.adapters.sql.ledger_source import open_ledger_source
from gateway.demo.data import demo_manifest
from tests.support import rfc9162
from tests.support.gateway_app import deployment_settings
from tests.support.ledger import migrate_database
from tests.support.served import (
    GATEWAY,
    ServedGateway,
    bearer,
    start_gateway,
    stop_gateway,
    wait_ready,
    write_config,
)

pytestmark = pytest.mark.postgres

REPLICAS = 3
WORKERS = 2
REQUESTS = int(os.environ.get("GATEWAY_REPLICA_REQUESTS", "10000"))
THREADS = 12
KILL_AFTER = REQUESTS // 3
KILLED = 1  # which replica is SIGKILLed


@pytest.fixture
def ledger_url(postgres_url: str) -> Iterator[str]:
    """A fresh PostgreSQL schema, migrated as the chart's Job does before any replica starts."""
    schema = f"gw_test_{secrets.token_hex(4)}_replicas"
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


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def roots_at(leaves: list[bytes], sizes: set[int]) -> dict[int, bytes]:
    """RFC 9162 roots of the first ``size`` leaves for each size, in one pass (a compact frontier)."""
    out: dict[int, bytes] = {0: hashlib.sha256(b"").digest()}  # the empty tree (RFC 9162 §2.1.1)
    frontier: list[tuple[int, bytes]] = []  # (subtree size, hash), sizes strictly decreasing
    for n, leaf in enumerate(leaves, start=1):
        node = (1, leaf_hash(leaf))
        while frontier and frontier[-1][0] == node[0]:
            left = frontier.pop()
            node = (left[0] * 2, rfc9162.HASH(b"\x01" + left[1] + node[1]))
        frontier.append(node)
        if n in sizes:
            root = frontier[-1][1]
            for _, h in reversed(frontier[:-1]):
                root = rfc9162.HASH(b"\x01" + h + root)
            out[n] = root
    return out


class Run:
    """What the load saw: receipts of every 200, checkpoints fetched from each replica."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.receipts: list[tuple[int, str, int]] = []  # (index, leaf hash, replica)
        self.failures: list[tuple[int, str]] = []  # (replica, what) for requests that got no 200
        self.checkpoints: list[tuple[int, dict[str, Any]]] = []  # (replica, JSON checkpoint)
        self.done = 0
        self.killed = threading.Event()


def _query(gw: ServedGateway, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{gw.base_url}/v1/queries", json=body, headers=headers, timeout=60)


def test_three_replicas_one_log_through_a_kill(tmp_path: Path, ledger_url: str) -> None:
    settings = deployment_settings(tmp_path, ledger_url=ledger_url)
    config = write_config(settings, tmp_path / "gateway.yaml")
    subject = demo_manifest().legal_person.value
    body = {
        "purpose": "admin_licensing_review",
        "legal_basis": "admin_licensing_law_34",
        "items": ["market.admin_penalty"],
        "subjects": [{"id_type": "uscc", "value": subject}],
    }
    headers = bearer(settings, "platform")
    auditor = bearer(settings, "auditor")
    replicas = [start_gateway(config, workers=WORKERS, log_dir=tmp_path / f"r{i}") for i in range(REPLICAS)]
    run = Run()
    try:
        for gw in replicas:
            wait_ready(gw, "/readyz")

        def checkpoint(i: int) -> None:
            response = httpx.get(f"{replicas[i].base_url}/v1/ledger/checkpoint?format=json", headers=auditor)
            assert response.status_code == 200, response.text
            with run.lock:
                run.checkpoints.append((i, response.json()))

        def one(n: int) -> None:
            i = n % REPLICAS
            if i == KILLED and run.killed.is_set():
                i = (i + 1) % REPLICAS  # a client retries elsewhere once the replica is gone
            try:
                response = _query(replicas[i], body, headers)
            except httpx.HTTPError as exc:
                with run.lock:
                    run.failures.append((i, type(exc).__name__))
                return
            with run.lock:
                if response.status_code == 200:
                    receipt = response.json()["receipt"]
                    run.receipts.append((receipt["index"], receipt["leaf_hash"], i))
                else:
                    run.failures.append((i, str(response.status_code)))
                run.done += 1
                kill_now = run.done == KILL_AFTER
            if kill_now:
                for r in range(REPLICAS):
                    checkpoint(r)
                replicas[KILLED].kill()  # supervisor and workers, mid-run, with requests in flight
                run.killed.set()
            elif n % 40 == 0:
                checkpoint(i if not (i == KILLED and run.killed.is_set()) else (i + 1) % REPLICAS)

        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(one, range(REQUESTS)))
        survivors = [r for r in range(REPLICAS) if r != KILLED]
        for r in survivors:
            checkpoint(r)
        assert run.killed.is_set()

        # Every 200 before, during and after the kill came with a receipt; only the killed replica's
        # in-flight requests may have failed (as connection errors, never as wrong answers).
        assert len(run.receipts) >= REQUESTS - THREADS
        assert {r for r, _ in run.failures} <= {KILLED}
        assert {i for _, _, i in run.receipts} == set(range(REPLICAS))
        indices = [index for index, _, _ in run.receipts]
        assert len(set(indices)) == len(indices)

        source = open_ledger_source(ledger_url)
        try:
            stored = list(source.leaves())
            notes = source.checkpoint_notes()
        finally:
            source.close()
        leaves = [leaf for _, leaf, _ in stored]
        assert [index for index, _, _ in stored] == list(range(len(stored)))
        for index, hex_hash, _ in run.receipts:
            assert leaf_hash(leaves[index]).hex() == hex_hash

        # Every checkpoint any replica signed (all are stored) and every one they served has the root of
        # the one log's leaves at its size.
        served = {(c["tree_size"], c["root_hash"]) for _, c in run.checkpoints}
        stored_sizes = {int(note.splitlines()[1]) for note in notes}
        roots = roots_at(leaves, stored_sizes | {size for size, _ in served})
        for note in notes:
            lines = note.splitlines()
            assert roots[int(lines[1])] == base64.b64decode(lines[2])
        for size, root in served:
            assert roots[size].hex() == root
        assert len(stored_sizes) > REPLICAS  # many batches, signed by several replicas

        # Consistency proofs between the replicas' checkpoints, served by a survivor, checked by RFC 9162.
        by_size = sorted({(c["tree_size"], c["root_hash"]) for _, c in run.checkpoints})
        for (m, first), (n, second) in itertools.pairwise(by_size):
            if not 0 < m < n:
                continue
            proof = httpx.get(
                f"{replicas[survivors[0]].base_url}/v1/ledger/consistency",
                params={"first": m, "second": n},
                headers=auditor,
            ).json()
            path = [bytes.fromhex(h) for h in proof["consistency_path"]]
            assert rfc9162.verify_consistency(m, n, bytes.fromhex(first), bytes.fromhex(second), path)

        # The offline verifier: the whole log, its signed checkpoints, and those the replicas handed out.
        saved = []
        for k, (_, c) in enumerate(run.checkpoints):
            saved.append(tmp_path / f"checkpoint-{k}.txt")
            saved[-1].write_text(c["note"], encoding="utf-8")
        command = [str(GATEWAY), "ledger", "verify", "--database", ledger_url, "--quiet"]
        command += ["--public-key", str(settings.keys_dir / "public" / "ledger.pem")]
        command += ["--origin", settings.ledger_origin]
        for path in saved:
            command += ["--checkpoint", str(path)]
        verified = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        assert verified.returncode == 0, verified.stdout + verified.stderr
    finally:
        for gw in replicas:
            if gw.process.poll() is None:
                stop_gateway(gw)
