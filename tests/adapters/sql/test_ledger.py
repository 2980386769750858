"""SqlLedger on real SQLite files and real PostgreSQL schemas: appends, concurrency, proofs, failure.

Includes the load test of the issue: two uvicorn worker processes append over one database while
clients hammer them; one worker is SIGKILLed mid-load; every 200 response has its entry and the log
verifies afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from gateway.adapters.crypto.ed25519 import ed25519_verify
from gateway.adapters.key_files import FileKeyStore
from gateway.adapters.sql.ledger import SqlLedger
from gateway.adapters.sql.ledger_source import SqlLedgerSource
from gateway.domain.ledger.commitments import subject_commitment
from gateway.domain.ledger.envelope import decode_envelope
from gateway.domain.ledger.records import ReviewRecord
from gateway.domain.ledger.terms import EntryFilter
from gateway.domain.transparency import merkle
from gateway.domain.transparency.checkpoint import open_checkpoint
from gateway.errors import InvalidRequest, LedgerError
from gateway.services.ledger_verify import verify_ledger
from tests.conftest import FixedClock
from tests.support import rfc9162
from tests.support.ledger import (
    ORIGIN,
    RawRecord,
    ledger_target,
    migrate_database,
    open_ledger,
    public_keys,
    resident_id,
    sample_record,
)

REPO = Path(__file__).resolve().parents[3]
CLOSE = {"connection": "close"}  # no keep-alive: every request may land on either worker


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str | None]]:
    """(url, schema) of an empty ledger database of each kind."""
    pg = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    with ledger_target(request.param, tmp_path, pg) as found:
        yield found


@pytest.fixture
def secret(keystore: FileKeyStore) -> bytes:
    return keystore.secret("commitment")


def verify_db(url: str, schema: str | None, keystore: FileKeyStore) -> Any:
    source = SqlLedgerSource(url, schema=schema)
    try:
        return verify_ledger(source, public_keys(keystore), ed25519_verify)
    finally:
        source.close()


def test_append_stores_the_envelope_and_returns_its_receipt(
    target: tuple[str, str | None], keystore: FileKeyStore, clock: FixedClock, secret: bytes
) -> None:
    url, schema = target
    with open_ledger(url, keystore, clock, schema=schema) as ledger:
        receipts = [ledger.append(sample_record(i, secret)) for i in range(5)]
        assert [r.index for r in receipts] == [0, 1, 2, 3, 4]
        stored = ledger.entry(3)
        assert stored is not None
        assert stored.leaf.startswith(b'{"index":3,"logged_at":"2026-11-22T08:00:00.000000Z","record":{')
        assert merkle.leaf_hash(stored.leaf).hex() == receipts[3].leaf_hash
        envelope = decode_envelope(stored.leaf)
        assert envelope.record == sample_record(3, secret).as_dict()
        # The leaf bytes are canonical JSON of the whole envelope.
        canonical = json.dumps(
            json.loads(stored.leaf), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        assert canonical.encode() == stored.leaf
        assert ledger.entry(5) is None


def test_a_reopened_ledger_continues_the_same_tree(
    target: tuple[str, str | None], keystore: FileKeyStore, clock: FixedClock, secret: bytes
) -> None:
    url, schema = target
    leaves: list[bytes] = []
    for round_ in range(3):
        with open_ledger(url, keystore, clock, schema=schema) as ledger:
            for i in range(5):
                receipt = ledger.append(sample_record(round_ * 5 + i, secret))
                assert receipt.index == len(leaves)
                leaves.append(bytes.fromhex(receipt.leaf_hash))
            checkpoint = ledger.checkpoint()
            assert checkpoint.size == len(leaves)
            assert checkpoint.root_hash == merkle.root_of(leaves)


def test_concurrent_appends_from_two_replicas_never_fork_or_reuse_an_index(
    target: tuple[str, str | None], keystore: FileKeyStore, clock: FixedClock, secret: bytes
) -> None:
    url, schema = target
    with (
        open_ledger(url, keystore, clock, schema=schema, checkpoint_every=25) as one,
        open_ledger(url, keystore, clock, schema=schema, checkpoint_every=25) as two,
    ):

        def work(worker: int) -> list[tuple[int, str, int]]:
            ledger = one if worker % 2 else two
            out = []
            for i in range(20):
                n = worker * 1000 + i
                receipt = ledger.append(sample_record(n, secret))
                out.append((receipt.index, receipt.leaf_hash, n))
            return out

        with ThreadPoolExecutor(max_workers=12) as pool:
            results = [r for chunk in pool.map(work, range(12)) for r in chunk]
        indexes = sorted(r[0] for r in results)
        assert indexes == list(range(240))
        for index, leaf_hash, n in results:
            stored = one.entry(index)
            assert stored is not None
            assert stored.leaf_hash.hex() == leaf_hash
            assert decode_envelope(stored.leaf).record["request_id"] == f"req-{n}"
        final = two.checkpoint()
        assert final.size == 240
        leaves = [bytes.fromhex(h) for _, h, _ in sorted(results)]
        assert final.root_hash == merkle.root_of(leaves)
        sizes = [c.size for c in one.checkpoints()]
        assert sizes == sorted(set(sizes))
        assert sizes[-1] == 240
    result = verify_db(url, schema, keystore)
    assert result.ok, result.reason
    assert result.proven_size == 240


APPENDER = """
import json, sys
from pathlib import Path
from datetime import UTC, datetime
from gateway.adapters.key_files import FileKeyStore
from gateway.adapters.sql.ledger import SqlLedger
from tests.support.ledger import ORIGIN, sample_record

class Clock:
    def now(self):
        return datetime.now(UTC)

url, schema, keys = sys.argv[1], sys.argv[2] or None, sys.argv[3]
worker, count = int(sys.argv[4]), int(sys.argv[5])
store = FileKeyStore(Path(keys))
ledger = SqlLedger(url, store, ORIGIN, Clock(), schema=schema, checkpoint_every=50)
secret = store.secret("commitment")
out = [ledger.append(sample_record(worker * 100000 + i, secret)).as_dict() for i in range(count)]
ledger.close()
print(json.dumps(out))
"""


def test_several_processes_append_to_one_log(
    target: tuple[str, str | None], keystore: FileKeyStore, clock: FixedClock
) -> None:
    url, schema = target
    with open_ledger(url, keystore, clock, schema=schema):
        pass  # the schema exists before the processes race for the head row
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", APPENDER, url, schema or "", str(keystore.directory), str(w), "60"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(3)
    ]
    receipts = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        receipts += json.loads(out)
    assert sorted(r["index"] for r in receipts) == list(range(180))
    with open_ledger(url, keystore, clock, schema=schema) as ledger:
        for r in receipts:
            stored = ledger.entry(r["index"])
            assert stored is not None
            assert stored.leaf_hash.hex() == r["leaf_hash"]
        ledger.checkpoint()
    result = verify_db(url, schema, keystore)
    assert result.ok, result.reason
    assert result.proven_size == 180


def test_checkpoints_every_n_entries_and_on_demand(
    target: tuple[str, str | None], keystore: FileKeyStore, clock: FixedClock, secret: bytes
) -> None:
    url, schema = target
    with open_ledger(url, keystore, clock, schema=schema, checkpoint_every=4) as ledger:
        for i in range(10):
            ledger.append(sample_record(i, secret))
        assert [c.size for c in ledger.checkpoints()] == [0, 4, 8]
        latest = ledger.checkpoint()
        assert latest.size == 10
        assert ledger.checkpoint() == latest  # nothing new: no new signature
        opened = open_checkpoint(latest.note, public_keys=public_keys(keystore), verify=ed25519_verify)
        assert opened.timestamp == int(clock.now().timestamp())
        assert opened.checkpoint.origin == ORIGIN
        assert ledger.checkpoints(up_to=8)[-1].size == 8


def test_an_idle_ledger_signs_a_checkpoint_after_the_interval(
    tmp_path: Path, keystore: FileKeyStore, clock: FixedClock, secret: bytes
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with open_ledger(url, keystore, clock, checkpoint_every=1000, checkpoint_interval_s=0.2) as ledger:
        ledger.append(sample_record(0, secret))
        genesis = ledger.latest_checkpoint()
        assert genesis is not None
        assert genesis.size == 0
        clock.current += timedelta(seconds=1)
        deadline = time.monotonic() + 5
        while ledger.latest_checkpoint() == genesis and time.monotonic() < deadline:
            time.sleep(0.05)
        latest = ledger.latest_checkpoint()
        assert latest is not None
        assert latest.size == 1


def test_store_proofs_verify_with_the_independent_rfc9162_verifier(
    target: tuple[str, str | None], keystore: FileKeyStore, clock: FixedClock, secret: bytes
) -> None:
    url, schema = target
    with open_ledger(url, keystore, clock, schema=schema, checkpoint_every=7) as ledger:
        receipts = [ledger.append(sample_record(i, secret)) for i in range(23)]
        final = ledger.checkpoint()
        keys = public_keys(keystore)
        for cp in ledger.checkpoints():
            opened = open_checkpoint(cp.note, public_keys=keys, verify=ed25519_verify)
            if opened.size == 0:
                assert opened.root_hash == merkle.EMPTY_ROOT
                continue
            for index in (0, opened.size // 2, opened.size - 1):
                proof = ledger.inclusion_proof(index, opened.size)
                leaf = bytes.fromhex(receipts[index].leaf_hash)
                assert rfc9162.verify_inclusion(index, opened.size, leaf, proof, opened.root_hash)
            if opened.size < final.size:
                proof = ledger.consistency_proof(opened.size, final.size)
                assert rfc9162.verify_consistency(
                    opened.size, final.size, opened.root_hash, final.root_hash, proof
                )
            assert ledger.root_at(opened.size) == opened.root_hash
        with pytest.raises(InvalidRequest):
            ledger.inclusion_proof(3, 24)


def test_filters_and_pages(
    target: tuple[str, str | None], keystore: FileKeyStore, clock: FixedClock, secret: bytes
) -> None:
    url, schema = target
    with open_ledger(url, keystore, clock, schema=schema) as ledger:
        records = []
        for i in range(30):
            if i == 20:
                clock.current += timedelta(hours=1)
            record = sample_record(i, secret)
            records.append(record)
            ledger.append(record)
        later = clock.current

        def indexes(**kw: Any) -> list[int]:
            return [e.index for e in ledger.entries(EntryFilter(limit=1000, **kw))]

        assert indexes(department="tax_bureau") == [
            i for i, r in enumerate(records) if r.department == "tax_bureau"
        ]
        assert indexes(client_id="client-1") == [i for i in range(30) if i % 4 == 1]
        assert indexes(purpose="public_procurement") == [i for i in range(30) if i % 2 == 1]
        assert indexes(item="tax_violation") == [i for i in range(30) if i % 3 == 1]
        assert indexes(decision="deny") == [i for i in range(30) if i % 5 == 4]
        assert indexes(reason="purpose_not_allowed") == [i for i in range(30) if i % 5 == 4]
        assert indexes(since=later) == list(range(20, 30))
        assert indexes(until=later) == list(range(20))
        assert indexes(kind="review") == []
        commitment = subject_commitment(secret, "resident_id", resident_id(3))
        assert indexes(subject=commitment) == [i for i in range(30) if i % 7 == 3]
        assert indexes(department="tax_bureau", decision="deny") == [
            i for i in range(30) if i % 3 == 1 and i % 5 == 4
        ]
        page1 = ledger.entries(EntryFilter(limit=4, descending=True))
        page2 = ledger.entries(EntryFilter(limit=4, descending=True, after=page1[-1].index))
        assert [e.index for e in page1 + page2] == [29, 28, 27, 26, 25, 24, 23, 22]
        assert [e.index for e in ledger.iter_entries(EntryFilter(department="court"), up_to=10)] == [2, 5, 8]

        review = ReviewRecord(
            target_index=4,
            target_leaf_hash="00",
            status="flagged",
            comment="",
            client_id="auditor",
            department="audit_office",
        )
        ledger.append(review)
        ledger.append(replace(review, target_index=6, status="reviewed"))
        ledger.append(replace(review, target_index=6, status="flagged"))
        ledger.append(replace(review, target_index=4, status="reviewed"))
        assert indexes(review="flagged") == [6]
        assert indexes(review="reviewed") == [4]
        unreviewed = indexes(review="unreviewed")
        assert 0 in unreviewed
        assert 4 not in unreviewed
        assert [e.index for e in ledger.reviews_of(6)] == [31, 32]


@pytest.mark.parametrize(
    "record",
    [
        {"kind": "nonsense"},
        {"kind": "query", "note": "subject 110101199003070011"},  # placeholder, replaced below
        {"kind": "query", "value": float("nan")},
        {"kind": "query", "value": object()},
    ],
)
def test_bad_records_fail_closed(
    tmp_path: Path, keystore: FileKeyStore, clock: FixedClock, record: dict[str, Any]
) -> None:
    if "note" in record:
        record = {"kind": "query", "note": f"subject {resident_id(11)} looked up"}
    with open_ledger(f"sqlite:///{tmp_path / 'l.db'}", keystore, clock) as ledger:
        with pytest.raises(LedgerError):
            ledger.append(RawRecord(record))
        assert ledger.entry(0) is None


def test_an_unwritable_ledger_fails_closed_and_recovers(
    target: tuple[str, str | None], keystore: FileKeyStore, clock: FixedClock, secret: bytes
) -> None:
    url, schema = target
    with open_ledger(url, keystore, clock, schema=schema, append_timeout_s=10) as ledger:
        ledger.append(sample_record(0, secret))
        engine = sa.create_engine(url)
        table = f'"{schema}".ledger_terms' if schema else "ledger_terms"
        with engine.begin() as conn:
            conn.exec_driver_sql(f"ALTER TABLE {table} RENAME TO ledger_terms_away")
        with pytest.raises(LedgerError):
            ledger.append(sample_record(1, secret))
        renamed = f'"{schema}".ledger_terms_away' if schema else "ledger_terms_away"
        with engine.begin() as conn:
            conn.exec_driver_sql(f"ALTER TABLE {renamed} RENAME TO ledger_terms")
        engine.dispose()
        # Nothing of the failed batch was kept: the next entry takes index 1.
        assert ledger.append(sample_record(2, secret)).index == 1


def test_a_closed_ledger_refuses_appends(
    tmp_path: Path, keystore: FileKeyStore, clock: FixedClock, secret: bytes
) -> None:
    migrate_database(f"sqlite:///{tmp_path / 'l.db'}")
    ledger = SqlLedger(f"sqlite:///{tmp_path / 'l.db'}", keystore, ORIGIN, clock)
    ledger.close()
    with pytest.raises(LedgerError):
        ledger.append(sample_record(0, secret))


def test_a_missing_signing_key_refuses_to_build_the_ledger(tmp_path: Path, clock: FixedClock) -> None:
    from gateway.errors import KeyUnavailable

    with pytest.raises(KeyUnavailable):
        SqlLedger(f"sqlite:///{tmp_path / 'l.db'}", FileKeyStore(tmp_path / "nokeys"), ORIGIN, clock)


def test_sqlite_runs_in_wal_mode_with_full_sync(
    tmp_path: Path, keystore: FileKeyStore, clock: FixedClock
) -> None:
    with (
        open_ledger(f"sqlite:///{tmp_path / 'l.db'}", keystore, clock) as ledger,
        ledger.engine.connect() as conn,
    ):
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


# --- the load test: two worker processes, concurrent clients, one SIGKILL ---


def _worker_server(url: str, schema: str | None, keys: Path) -> tuple[subprocess.Popen[bytes], str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "LEDGER_TEST_URL": url,
        "LEDGER_TEST_SCHEMA": schema or "",
        "LEDGER_TEST_KEYS": str(keys),
    }
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", "tests.support.ledger_app:create_app", "--factory",
            "--workers", "2", "--fd", str(sock.fileno()), "--log-level", "warning", "--no-access-log",
        ],
        cwd=REPO,
        env=env,
        pass_fds=(sock.fileno(),),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    sock.close()
    return proc, f"http://127.0.0.1:{port}"


def _wait_for_workers(base_url: str, proc: subprocess.Popen[bytes], want: int = 2) -> set[int]:
    """PIDs of the workers, once each has answered (a new connection per request reaches either)."""
    pids: set[int] = set()
    deadline = time.monotonic() + 60
    while len(pids) < want:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            _, err = proc.communicate()
            raise RuntimeError(f"workers did not start: {err.decode()}")
        try:
            pids.add(httpx.get(base_url + "/pid", headers=CLOSE, timeout=5).json()["pid"])
        except httpx.HTTPError:
            time.sleep(0.1)
    return pids


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_load_with_two_workers_and_a_sigkill_loses_no_committed_entry(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, keystore: FileKeyStore, clock: FixedClock
) -> None:
    pg = request.getfixturevalue("postgres_url") if kind == "postgres" else None
    with ledger_target(kind, tmp_path, pg) as (url, schema):
        with open_ledger(url, keystore, clock, schema=schema):
            pass
        proc, base_url = _worker_server(url, schema, keystore.directory)
        try:
            workers = _wait_for_workers(base_url, proc)
            total, done = 480, 0
            ok: list[dict[str, Any]] = []
            failed = 0
            lock = threading.Lock()
            killed: list[int] = []

            def client(c: int) -> None:
                nonlocal done, failed
                with httpx.Client(base_url=base_url, timeout=30) as http:
                    for i in range(total // 16):
                        n = c * 1000 + i
                        try:
                            response = http.post("/query", json={"n": n}, headers=CLOSE)
                        except httpx.HTTPError:
                            response = None
                        with lock:
                            done += 1
                            if response is not None and response.status_code == 200:
                                ok.append({**response.json(), "n": n})
                            else:
                                failed += 1
                            if done == total // 3 and not killed:
                                victim = sorted(workers)[0]
                                os.kill(victim, signal.SIGKILL)
                                killed.append(victim)

            with ThreadPoolExecutor(max_workers=16) as pool:
                list(pool.map(client, range(16)))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=30)  # also closes the stderr pipe
        assert killed, "the load never reached the kill point"
        assert len(ok) > total // 2, f"too few successful requests ({len(ok)}, {failed} failed)"
        assert {r["pid"] for r in ok} >= set(workers), "both workers served requests"
        # Every 200 response has its entry, exactly as receipted.
        with open_ledger(url, keystore, FixedClock(datetime.now(UTC)), schema=schema) as ledger:
            for r in ok:
                stored = ledger.entry(r["index"])
                assert stored is not None, f"entry {r['index']} of a 200 response is missing"
                assert stored.leaf_hash.hex() == r["leaf_hash"]
                assert decode_envelope(stored.leaf).record["request_id"] == f"load-{r['n']}"
            assert len({r["index"] for r in ok}) == len(ok)
            ledger.checkpoint()
        result = verify_db(url, schema, keystore)
        assert result.ok, result.reason
        assert result.entries >= len(ok)
        assert result.proven_size == result.entries
