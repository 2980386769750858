"""Ledger benchmark: durable appends per second (SQLite, PostgreSQL) and offline verification time.

    .venv/bin/python bench/ledger_bench.py appends --backend sqlite --entries 20000 --clients 64
    .venv/bin/python bench/ledger_bench.py appends --backend postgres --entries 20000 --clients 64
    .venv/bin/python bench/ledger_bench.py verify --entries 1000000 --source export
    .venv/bin/python bench/ledger_bench.py verify --entries 1000000 --source sqlite
    .venv/bin/python bench/ledger_bench.py guard --entries 20000
    .venv/bin/python bench/ledger_bench.py all

Appends: ``--clients`` threads call ``SqlLedger.append`` (which returns only after COMMIT) on
realistic query records; the group committer batches them. SQLite runs in WAL mode with
``synchronous=FULL`` on a file under ``--dir`` (default: a temporary directory).

Guard: the identifier check of each record, the whole canonical text through the detector (the check
before) against the record read in pieces (``ledger/guard.py``), alternating in rounds on the same
records; both must refuse the same records (none of these holds an identifier).

Verification: a log of ``--entries`` entries with a checkpoint every 1000 is built once (an export
file with the domain code the ledger itself uses, or a SQLite database through
``SqlLedger.append_many``), then ``verify_ledger`` is timed reading it back.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.adapters.crypto.ed25519 import Ed25519Signer, ed25519_public_key, ed25519_verify
from gateway.adapters.export_files import ExportFileSource
from gateway.adapters.key_files import FileKeyStore
from gateway.adapters.sql import migrate
from gateway.adapters.sql.engine import make_engine
from gateway.adapters.sql.ledger import SqlLedger
from gateway.adapters.sql.ledger_source import SqlLedgerSource
from gateway.domain.ledger.commitments import SubjectRef, subject_commitment
from gateway.domain.ledger.envelope import canonical_record, envelope_bytes, format_time
from gateway.domain.ledger.export import export_checkpoint_line, export_header_line
from gateway.domain.ledger.records import ItemRelease, QueryRecord, RecordedReason
from gateway.domain.transparency import merkle
from gateway.domain.transparency.checkpoint import Checkpoint, sign_checkpoint
from gateway.services.ledger_verify import VerifyResult, verify_ledger

ORIGIN = "bench.credit-gateway.example/ledger"
POSTGRES_URL = os.environ.get(
    "GATEWAY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
console = Console(stderr=True)


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def record(i: int, secret: bytes) -> QueryRecord:
    """A query record of realistic size (about 750 bytes as a leaf)."""
    ref = SubjectRef(
        "resident_id", "natural_person", subject_commitment(secret, "resident_id", f"S{i % 50000}")
    )
    return QueryRecord(
        request_id=f"req-{i:012d}",
        client_id=f"client-{i % 40}",
        department=("market_regulation", "tax_bureau", "court", "housing")[i % 4],
        purpose=("administrative_licensing", "public_procurement", "credit_repair_review")[i % 3],
        legal_basis="《社会信用体系建设法》第十二条",
        measure=None,
        grant_id=f"grant-{i:010d}",
        subjects=(ref,),
        subject_count=1,
        items=(ItemRelease("court_judgment_dishonest", ("name", "case_no", "court", "decided_on"), i % 4),),
        decision="allow",
        reasons=(RecordedReason("allowed", "(3)"),),
        policy_revision="sha256:" + "ab" * 32,
        catalog_revision="national@2026-11-01;local-beijing@2026-10-15",
        response_digest="sha256:" + secrets.token_hex(32),
    )


def keys(directory: Path) -> FileKeyStore:
    store = FileKeyStore(directory / "keys")
    store.init()
    return store


def migrated(url: str, schema: str | None) -> None:
    """Create the gateway schema, as `gateway db upgrade` does."""
    engine = make_engine(url, schema=schema)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()


# --- appends ---


def bench_appends(backend: str, entries: int, clients: int, directory: Path) -> dict[str, Any]:
    store = keys(directory)
    secret = store.secret("commitment")
    schema = None
    if backend == "sqlite":
        url = f"sqlite:///{directory / 'bench-appends.db'}"
    else:
        url = POSTGRES_URL
        schema = f"ledger_bench_{secrets.token_hex(4)}"
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    migrated(url, schema)
    ledger = SqlLedger(url, store, ORIGIN, SystemClock(), schema=schema)
    records = [record(i, secret) for i in range(entries)]
    ledger.append(records[0])  # warm up: connections, committer thread
    batches: list[int] = []
    write = ledger._write

    def counting(batch: Any) -> Any:
        batches.append(len(batch))
        return write(batch)

    ledger._write = counting  # type: ignore[method-assign]  # instrumented to count batch sizes
    per_client = (entries - 1) // clients
    barrier = threading.Barrier(clients + 1)

    def client(c: int) -> None:
        mine = records[1 + c * per_client : 1 + (c + 1) * per_client]
        barrier.wait()
        for r in mine:
            ledger.append(r)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    ledger.close()
    if schema is not None:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        engine.dispose()
    done = per_client * clients
    return {
        "backend": backend,
        "entries": done,
        "clients": clients,
        "seconds": round(elapsed, 2),
        "appends_per_s": round(done / elapsed),
        "mean_batch": round(sum(batches) / max(len(batches), 1), 1),
    }


# --- the record guard ---


def bench_guard(entries: int, rounds: int = 5) -> dict[str, Any]:
    import json

    from gateway.domain.ledger.guard import contains_identifier, record_holds_identifier

    secret = secrets.token_bytes(32)
    dicts = [record(i, secret).as_dict() for i in range(entries)]
    texts = [json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False) for d in dicts]
    whole: list[float] = []
    pieces: list[float] = []
    for _ in range(rounds):
        started = time.perf_counter()
        refused_whole = sum(contains_identifier(t) for t in texts)
        whole.append((time.perf_counter() - started) / entries)
        started = time.perf_counter()
        refused_pieces = sum(record_holds_identifier(d, t) for d, t in zip(dicts, texts, strict=True))
        pieces.append((time.perf_counter() - started) / entries)
        if refused_whole or refused_pieces:
            raise SystemExit("a bench record was refused")
    ratios = sorted(w / p for w, p in zip(whole, pieces, strict=True))
    return {
        "records": entries,
        "bytes": round(sum(map(len, texts)) / entries),
        "whole_text_us": round(sorted(whole)[rounds // 2] * 1e6, 1),
        "pieces_us": round(sorted(pieces)[rounds // 2] * 1e6, 1),
        "ratio_median": round(ratios[rounds // 2], 1),
        "ratio_range": f"{ratios[0]:.1f}-{ratios[-1]:.1f}",
    }


# --- verification ---


def build_export(path: Path, entries: int, store: FileKeyStore, every: int = 1000) -> None:
    """Write a JSON Lines export of ``entries`` entries exactly as the ledger would."""
    secret = store.secret("commitment")
    signer = Ed25519Signer(store.private_key_pem("ledger"))
    frontier = merkle.Frontier()
    logged_at = format_time(datetime.now(UTC))
    notes: list[bytes] = []
    leaves_path = path.with_suffix(".leaves")
    with leaves_path.open("wb") as leaves, progress() as bar:
        task = bar.add_task("building the log", total=entries)
        for i in range(entries):
            leaf = envelope_bytes(i, logged_at, canonical_record(record(i, secret).as_dict()))
            frontier.append(merkle.leaf_hash(leaf))
            leaves.write(leaf + b"\n")
            if frontier.size % every == 0 or frontier.size == entries:
                signed = sign_checkpoint(
                    Checkpoint(ORIGIN, frontier.size, frontier.root()),
                    public_key=signer.public_key,
                    sign=signer.sign,
                    timestamp=int(time.time()),
                )
                notes.append(export_checkpoint_line(signed.note) + b"\n")
            if i % 10000 == 0:
                bar.update(task, completed=i)
        bar.update(task, completed=entries)
    with path.open("wb") as out:
        out.write(export_header_line(ORIGIN, entries, {}) + b"\n")
        out.writelines(notes)
        with leaves_path.open("rb") as leaves:
            while chunk := leaves.read(1 << 20):
                out.write(chunk)
    leaves_path.unlink()


def build_sqlite(path: Path, entries: int, store: FileKeyStore) -> str:
    """A SQLite ledger of ``entries`` entries written through SqlLedger.append_many."""
    url = f"sqlite:///{path}"
    secret = store.secret("commitment")
    migrated(url, None)
    ledger = SqlLedger(url, store, ORIGIN, SystemClock(), checkpoint_every=1000, max_batch=5000)
    with progress() as bar:
        task = bar.add_task("building the database", total=entries)
        for start in range(0, entries, 5000):
            ledger.append_many([record(i, secret) for i in range(start, min(start + 5000, entries))])
            bar.update(task, completed=min(start + 5000, entries))
    ledger.checkpoint()
    ledger.close()
    return url


def progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def timed_verify(
    source: ExportFileSource | SqlLedgerSource, public: list[bytes]
) -> tuple[VerifyResult, float]:
    with progress() as bar:
        task = bar.add_task("verifying", total=source.size_hint())
        update: Callable[[int, int | None], None] = lambda done, _total: bar.update(task, completed=done)  # noqa: E731
        started = time.perf_counter()
        result = verify_ledger(source, public, ed25519_verify, progress=update)
        elapsed = time.perf_counter() - started
    return result, elapsed


def bench_verify(entries: int, source_kind: str, directory: Path) -> dict[str, Any]:
    store = keys(directory)
    public = [ed25519_public_key(store.public_keys_pem("ledger")[0])]
    source: ExportFileSource | SqlLedgerSource
    if source_kind == "export":
        path = directory / f"bench-{entries}.jsonl"
        if not path.exists():
            build_export(path, entries, store)
        source = ExportFileSource(path)
        size = path.stat().st_size
    else:
        path = directory / f"bench-{entries}.db"
        url = build_sqlite(path, entries, store) if not path.exists() else f"sqlite:///{path}"
        source = SqlLedgerSource(url)
        size = path.stat().st_size
    result, elapsed = timed_verify(source, public)
    if isinstance(source, SqlLedgerSource):
        source.close()
    if not result.ok:
        raise SystemExit(f"verification failed: {result.reason}")
    return {
        "source": source_kind,
        "entries": result.entries,
        "checkpoints": result.checkpoints,
        "bytes": size,
        "seconds": round(elapsed, 2),
        "entries_per_s": round(result.entries / elapsed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=["appends", "verify", "guard", "all"])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--source", choices=["export", "sqlite"], default="export")
    parser.add_argument("--entries", type=int, default=None)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--dir", type=Path, default=None, help="work directory (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as tmp:
        directory = args.dir or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        results = []
        if args.what in ("appends", "all"):
            backends = [args.backend] if args.what == "appends" else ["sqlite", "postgres"]
            for backend in backends:
                results.append(bench_appends(backend, args.entries or 20000, args.clients, directory))
        if args.what == "guard":
            results.append(bench_guard(args.entries or 20000))
        if args.what in ("verify", "all"):
            sources = [args.source] if args.what == "verify" else ["export", "sqlite"]
            for source in sources:
                results.append(bench_verify(args.entries or 1_000_000, source, directory))
    for r in results:
        print(" ".join(f"{k}={v}" for k, v in r.items()))


if __name__ == "__main__":
    main()
