"""Query and catalog p99 while 50 clients hammer the token endpoint with wrong secrets, against idle.

    .venv/bin/python bench/token_burst_bench.py [--seconds 10] [--workers 2] [--burst 50]
                                                [--connections 8] [--same-address]

One ``gateway serve`` (the demo, ``--workers`` workers) is measured twice in the same run: idle, then
during the burst. In each phase the query load (POST /v1/queries, the demo's one-item query) and the
catalog load (GET /v1/catalog) run at the same time, each from its own wrk process (a Python
generator when wrk is not on the PATH). The burst is ``--burst`` threads in their own process, each
sending wrong secrets in a loop for invented client ids; by default each thread leaves from its own
loopback address (127.0.3.x), so each address is locked only after its own ``address_after``
failures and the secret-hashing pool stays saturated for the whole phase (the harder case: one
address would be locked out within a second). ``--same-address`` sends them all from 127.0.0.1.

The figures move with everything else running on the machine: read them as ratios of one run.
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from query_bench import (
    _WRK_DONE,
    ROOT,
    Target,
    free_port,
    load_python,
    load_wrk,
    make_server,
    start,
)


def _get_wrk_script(directory: Path) -> Path:
    path = directory / "wrk-get.lua"
    path.write_text('wrk.method = "GET"\n' + _WRK_DONE, encoding="utf-8")
    return path


def load_catalog_wrk(port: int, seconds: float, connections: int, scratch: Path) -> dict[str, float]:
    script = _get_wrk_script(scratch)
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s"]
    command += ["-s", str(script), f"http://127.0.0.1:{port}/v1/catalog"]
    out = subprocess.run(command, capture_output=True, text=True, check=False, timeout=seconds + 60)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRK-RESULT ")), None)
    if out.returncode or line is None:
        raise RuntimeError(f"wrk failed:\n{out.stdout}\n{out.stderr}")
    import json

    r = json.loads(line.removeprefix("WRK-RESULT "))
    return {
        "requests": r["requests"],
        "errors": r["errors"] + r["status_errors"],
        "p99_ms": r["p99_us"] / 1000,
    }


def _burst_thread(port: int, address: str, stop: float, counts: Any, lock: threading.Lock) -> None:
    transport = httpx.HTTPTransport(local_address=address)
    n = 0
    with httpx.Client(transport=transport, timeout=30) as http:
        while time.monotonic() < stop:
            n += 1
            try:
                status = http.post(
                    f"http://127.0.0.1:{port}/oauth/token",
                    data={"grant_type": "client_credentials"},
                    auth=(f"attacker-{address}-{n}", "wrong-secret"),
                ).status_code
            except httpx.HTTPError:
                status = 0
            with lock:
                counts[status] = counts.get(status, 0) + 1


def _burst_process(port: int, threads: int, seconds: float, same: bool, results: Any) -> None:
    stop = time.monotonic() + seconds
    counts: dict[int, int] = {}
    lock = threading.Lock()
    workers = [
        threading.Thread(
            target=_burst_thread,
            args=(port, "127.0.0.1" if same else f"127.0.3.{i + 1}", stop, counts, lock),
        )
        for i in range(threads)
    ]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    results.put(counts)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--same-address", action="store_true")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.path.insert(0, str(ROOT))
    from gateway.demo.setup import example_query, prepare_demo

    use_wrk = shutil.which("wrk") is not None
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        demo = prepare_demo(scratch / "demo", ROOT / "policies", host="127.0.0.1", port=free_port())
        body = dict(example_query(demo), items=["market.admin_penalty"])
        env = dict(os.environ, GATEWAY_CONFIG_FILE=str(demo.config_file))
        server = make_server("gateway", args.workers, "", ROOT, False, env)
        with open(scratch / "server.log", "wb") as log:
            try:
                start([server], log)
                assert server.proc is not None
                client = next(c for c in demo.clients if c["client_id"] == "credit-platform")

                def target() -> Target:
                    token = httpx.post(
                        f"http://127.0.0.1:{server.port}/oauth/token",
                        data={"grant_type": "client_credentials"},
                        auth=(client["client_id"], client["client_secret"]),
                    ).json()["access_token"]
                    import json

                    payload = json.dumps(body, ensure_ascii=False).encode()
                    return Target(
                        "127.0.0.1", server.port, "/v1/queries", payload, {"Authorization": f"Bearer {token}"}
                    )

                def phase(seconds: float) -> tuple[dict[str, float], dict[str, float]]:
                    out: dict[str, dict[str, float]] = {}
                    pid = server.proc.pid  # type: ignore[union-attr]

                    def run_query() -> None:
                        if use_wrk:
                            out["query"] = load_wrk(target(), seconds, args.connections, 1, pid, scratch)
                        else:
                            out["query"] = load_python(target(), seconds, args.connections, 1, pid)

                    def run_catalog() -> None:
                        if use_wrk:
                            out["catalog"] = load_catalog_wrk(server.port, seconds, 2, scratch)

                    threads = [threading.Thread(target=run_query), threading.Thread(target=run_catalog)]
                    for t in threads:
                        t.start()
                    for t in threads:
                        t.join()
                    return out["query"], out.get("catalog", {"p99_ms": float("nan"), "requests": 0})

                print(
                    f"{'wrk' if use_wrk else 'python'} load, {args.connections}+2 connections, "
                    f"{args.workers} workers, {args.seconds:g}s a phase, burst {args.burst} threads "
                    f"({'one address' if args.same_address else 'one address each'}); {os.cpu_count()} CPUs, "
                    f"load average {os.getloadavg()[0]:.2f} (a shared, loaded machine)"
                )
                phase(2.0)  # warm up
                idle_q, idle_c = phase(args.seconds)
                results: Any = multiprocessing.get_context("spawn").Queue()
                burst = multiprocessing.get_context("spawn").Process(
                    target=_burst_process,
                    args=(server.port, args.burst, args.seconds + 3, args.same_address, results),
                )
                burst.start()
                time.sleep(1.5)  # the burst is at full strength before measuring
                busy_q, busy_c = phase(args.seconds)
                burst.join()
                counts = collections.Counter(results.get(timeout=30))
                print(
                    f"idle : query p99 {idle_q['p99_ms']:.1f} ms ({idle_q['requests']} req, "
                    f"{idle_q['errors']} errors), catalog p99 {idle_c['p99_ms']:.1f} ms"
                )
                print(
                    f"burst: query p99 {busy_q['p99_ms']:.1f} ms ({busy_q['requests']} req, "
                    f"{busy_q['errors']} errors), catalog p99 {busy_c['p99_ms']:.1f} ms"
                )
                print(f"token answers during the burst: {dict(sorted(counts.items()))}")
                print(
                    f"ratio burst/idle: query p99 {busy_q['p99_ms'] / idle_q['p99_ms']:.2f}x, "
                    f"catalog p99 {busy_c['p99_ms'] / idle_c['p99_ms']:.2f}x; "
                    f"load average {os.getloadavg()[0]:.2f}"
                )
            except Exception:
                sys.stderr.write((scratch / "server.log").read_text(errors="replace")[-4000:])
                raise
            finally:
                if server.proc is not None:
                    server.proc.terminate()
                    server.proc.wait(timeout=30)


if __name__ == "__main__":
    main()
