"""Throughput of 1, 2 and 3 ``gateway serve`` replicas (2 workers each) on one PostgreSQL ledger.

    .venv/bin/python bench/replica_bench.py [--seconds 20] [--rounds 2] [--connections 16]
                                            [--workers 2] [--min-requests 10000]

Three replicas are started on a fresh PostgreSQL schema (migrated first, as the chart's Job does)
with the demo's SQLite sources; a measurement with k replicas drives the first k of them at once,
one wrk per replica with the connections split between them, all posting the demo's printed query.
The order of 1, 2, 3 alternates from round to round. Afterwards the ledger must hold an entry for
every 2xx wrk saw (fail closed: nothing answered that is not registered), and the whole run must have
made at least ``--min-requests`` requests, or the figures are not reported as valid.

On a 2-core machine every replica shares the same two cores and the one PostgreSQL server, so more
replicas cannot add CPU here: the ratios show what the shared ledger costs (row locks on the head,
one signing per batch per replica), not what a cluster of nodes would gain.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from gateway.adapters.sql.ledger_source import open_ledger_source  # noqa: E402
from gateway.demo.data import demo_manifest  # noqa: E402
from tests.support.gateway_app import deployment_settings  # noqa: E402
from tests.support.ledger import migrate_database  # noqa: E402
from tests.support.served import (  # noqa: E402
    ServedGateway,
    bearer,
    start_gateway,
    stop_gateway,
    wait_ready,
    write_config,
)

POSTGRES = os.environ.get("GATEWAY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

_WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK-RESULT {\\"requests\\": %d, \\"duration_us\\": %d, \\"errors\\": %d, \\"status_errors\\": %d, "
    .. "\\"p50_us\\": %d, \\"p99_us\\": %d}\\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
"""


def _lua_string(data: bytes) -> str:
    return '"' + "".join(f"\\{b}" for b in data) + '"'


def wrk_script(body: dict[str, Any], headers: dict[str, str], path: Path) -> Path:
    lines = ['wrk.method = "POST"', f"wrk.body = {_lua_string(json.dumps(body).encode())}"]
    for k, v in {"Content-Type": "application/json", **headers}.items():
        lines.append(f"wrk.headers[{_lua_string(k.encode())}] = {_lua_string(v.encode())}")
    path.write_text("\n".join(lines) + "\n" + _WRK_DONE, encoding="utf-8")
    return path


def wrk(gw: ServedGateway, script: Path, connections: int, seconds: int) -> dict[str, float]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script)]
    command.append(f"{gw.base_url}/v1/queries")
    out = subprocess.run(command, capture_output=True, text=True, check=False, timeout=seconds + 60)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRK-RESULT ")), None)
    if out.returncode or line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return dict(json.loads(line.removeprefix("WRK-RESULT ")))


def measure(replicas: list[ServedGateway], script: Path, connections: int, seconds: int) -> dict[str, float]:
    """Drive every replica in ``replicas`` at once; total requests, errors and requests per second."""
    share = max(1, connections // len(replicas))
    with ThreadPoolExecutor(len(replicas)) as pool:
        results = list(pool.map(lambda gw: wrk(gw, script, share, seconds), replicas))
    requests = sum(r["requests"] for r in results)
    bad = sum(r["errors"] + r["status_errors"] for r in results)
    duration = max(r["duration_us"] for r in results) / 1e6
    return {
        "requests": requests,
        "ok": requests - bad,
        "bad": bad,
        "rps": (requests - bad) / duration,
        "p50_ms": statistics.median(r["p50_us"] for r in results) / 1000,
        "p99_ms": max(r["p99_us"] for r in results) / 1000,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=20, help="each measurement's duration")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16, help="in all, split between the replicas")
    parser.add_argument("--workers", type=int, default=2, help="workers per replica")
    parser.add_argument("--min-requests", type=int, default=10_000)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        parser.error("wrk is needed (apt-get install wrk)")
    scratch = Path(tempfile.mkdtemp(prefix="replica-bench-"))
    schema = f"gw_bench_{secrets.token_hex(4)}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    replicas: list[ServedGateway] = []
    try:
        url = make_url(POSTGRES).update_query_dict({"options": f"-csearch_path={schema}"})
        ledger_url = url.render_as_string(hide_password=False)
        migrate_database(ledger_url)
        settings = deployment_settings(scratch, ledger_url=ledger_url)
        config = write_config(settings, scratch / "gateway.yaml")
        subject = demo_manifest().legal_person
        body = {
            "purpose": "admin_licensing_review",
            "legal_basis": "admin_licensing_law_34",
            "items": ["market.enterprise_registration", "market.admin_penalty"],
            "subjects": [{"id_type": str(subject.id_type), "value": subject.value}],
        }
        script = wrk_script(body, bearer(settings, "platform"), scratch / "query.lua")
        replicas = [start_gateway(config, workers=args.workers, log_dir=scratch / f"r{i}") for i in range(3)]
        for gw in replicas:
            wait_ready(gw, "/readyz")
        for gw in replicas:  # warm every worker's engines and connections
            measure([gw], script, 4, 2)
        before = _ledger_size(ledger_url)
        results: dict[int, list[dict[str, float]]] = {1: [], 2: [], 3: []}
        for round_index in range(args.rounds):
            order = [1, 2, 3] if round_index % 2 == 0 else [3, 2, 1]
            for k in order:
                r = measure(replicas[:k], script, args.connections, args.seconds)
                results[k].append(r)
                print(
                    f"round {round_index + 1} replicas {k}: {r['rps']:.1f} req/s, {r['ok']:.0f} ok, "
                    f"{r['bad']:.0f} failed, p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms",
                    flush=True,
                )
        ok = sum(r["ok"] for rs in results.values() for r in rs)
        total = sum(r["requests"] for rs in results.values() for r in rs)
        registered = _ledger_size(ledger_url) - before
        print(f"requests {total:.0f}, 2xx {ok:.0f}, ledger entries added {registered}")
        valid = total >= args.min_requests and registered >= ok
        for k in (1, 2, 3):
            rps = [r["rps"] for r in results[k]]
            print(f"replicas {k}: median {statistics.median(rps):.1f} req/s [{min(rps):.1f}-{max(rps):.1f}]")
        for k in (2, 3):
            ratios = [a["rps"] / b["rps"] for a, b in zip(results[k], results[1], strict=True)]
            spread = f"[{min(ratios):.2f}-{max(ratios):.2f}]"
            print(f"{k} replicas / 1 replica: {statistics.median(ratios):.2f} {spread}")
        if not valid:
            print(f"NOT VALID: fewer than {args.min_requests} requests, or a 2xx without its entry")
            return 1
        return 0
    finally:
        for gw in replicas:
            stop_gateway(gw)
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
        shutil.rmtree(scratch, ignore_errors=True)


def _ledger_size(url: str) -> int:
    source = open_ledger_source(url)
    try:
        return int(source.size_hint() or 0)
    finally:
        source.close()


if __name__ == "__main__":
    sys.exit(main())
