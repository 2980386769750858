"""Throughput and latency of POST /v1/queries: the gateway against a bare endpoint, side by side.

    .venv/bin/python bench/query_bench.py [--seconds 10] [--concurrency 8] [--workers 1]

Both servers run under uvicorn with the same worker count on the same machine; one load generator (threads
with keep-alive httpx clients) drives each in turn with the same request. Prints requests/s, p50/p95/p99
latency and the gateway/bare ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server at {url} did not become ready")


def load(
    url: str, body: dict[str, object], headers: dict[str, str], seconds: float, concurrency: int
) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker() -> None:
        nonlocal errors
        mine: list[float] = []
        bad = 0
        with httpx.Client(headers=headers, timeout=10.0) as client:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                response = client.post(url, json=body)
                mine.append(time.perf_counter() - t0)
                bad += response.status_code != 200
        with lock:
            latencies.extend(mine)
            errors += bad

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / elapsed,
        "p50_ms": q[49] * 1000,
        "p95_ms": q[94] * 1000,
        "p99_ms": q[98] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    from gateway.demo import example_query, prepare_demo

    with tempfile.TemporaryDirectory() as tmp:
        gw_port, bare_port = free_port(), free_port()
        demo = prepare_demo(Path(tmp), ROOT / "policies", host="127.0.0.1", port=gw_port)
        body = example_query(demo)
        body["items"] = ["market.admin_penalty"]
        env = dict(os.environ, GATEWAY_CONFIG_FILE=str(demo.config_file))
        uvicorn = [
            sys.executable,
            "-m",
            "uvicorn",
            "--host",
            "127.0.0.1",
            "--workers",
            str(args.workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        gateway = subprocess.Popen(
            [*uvicorn, "--port", str(gw_port), "--factory", "gateway.wiring:app_from_environment"],
            env=env,
            cwd=ROOT,
        )
        bare = subprocess.Popen(
            [*uvicorn, "--port", str(bare_port), "--app-dir", str(ROOT / "bench"), "bare_app:app"],
            env=dict(env, BARE_SOURCE_URL=json.loads(json.dumps(demo_sources(demo.config_file)))["market"]),
            cwd=ROOT,
        )
        try:
            wait_ready(f"http://127.0.0.1:{gw_port}/healthz")
            wait_ready(f"http://127.0.0.1:{bare_port}/docs")
            client = next(c for c in demo.clients if c["client_id"] == "credit-platform")
            token = httpx.post(
                f"http://127.0.0.1:{gw_port}/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(client["client_id"], client["client_secret"]),
            ).json()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            check = httpx.post(f"http://127.0.0.1:{gw_port}/v1/queries", json=body, headers=auth)
            check.raise_for_status()
            rows = sum(len(r["rows"]) for r in check.json()["results"])
            # warm both up, then measure
            load(f"http://127.0.0.1:{bare_port}/v1/queries", body, {}, 1.0, args.concurrency)
            load(f"http://127.0.0.1:{gw_port}/v1/queries", body, auth, 1.0, args.concurrency)
            base = load(f"http://127.0.0.1:{bare_port}/v1/queries", body, {}, args.seconds, args.concurrency)
            gw = load(f"http://127.0.0.1:{gw_port}/v1/queries", body, auth, args.seconds, args.concurrency)
        finally:
            for proc in (gateway, bare):
                proc.terminate()
                proc.wait(timeout=20)
    print(
        f"query: 1 item, 1 subject, {rows} rows; {args.concurrency} clients, "
        f"{args.workers} worker(s), {args.seconds}s"
    )
    for name, r in (("bare endpoint", base), ("gateway", gw)):
        print(
            f"{name:14s} {r['rps']:8.1f} req/s  p50 {r['p50_ms']:6.2f} ms  p95 {r['p95_ms']:6.2f} ms  "
            f"p99 {r['p99_ms']:6.2f} ms  errors {int(r['errors'])}/{int(r['requests'])}"
        )
    print(f"gateway/bare throughput ratio: {gw['rps'] / base['rps']:.2f}")


def demo_sources(config_file: Path) -> dict[str, str]:
    import yaml

    return dict(yaml.safe_load(config_file.read_text(encoding="utf-8"))["sources"])


if __name__ == "__main__":
    main()
