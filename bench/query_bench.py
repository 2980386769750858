"""Throughput, latency and CPU cost of POST /v1/queries: the gateway against a bare endpoint, side by side.

    .venv/bin/python bench/query_bench.py [--seconds 10] [--concurrency 8] [--workers 1] [--rounds 1]
                                          [--load-procs 1] [--only gateway|bare] [--factory MODULE:FN]
                                          [--compare MODULE:FN]

Both servers run under uvicorn with the same worker count on the same machine. The load generator runs
in its own process(es), apart from this script, with one keep-alive ``http.client`` connection per
client thread and the request bytes encoded once, so it costs little CPU and does not share a GIL with
anything else. Each round drives every server in turn with the same request (the order rotates from
one round to the next); several short rounds interleave them, so a burst of load from elsewhere on
the machine hits all of them alike. ``--compare`` adds a second gateway build (an app factory
importable from PYTHONPATH, e.g. a checkout of another commit) to the same rounds: the fair way to
tell whether a change made the gateway faster on a busy machine.

With ``--workers`` above 1 the servers are started by this script (``--serve``) rather than by
``uvicorn --workers``: uvicorn's supervisor binds the listening socket with ``proto`` 0, and asyncio then
never sets TCP_NODELAY on accepted connections, so every keep-alive request after the first waits ~40 ms
for a delayed ACK (https://github.com/Kludex/uvicorn/issues/3149) and the figures measure Nagle's
algorithm rather than the app. Here the socket is bound with IPPROTO_TCP and handed to the same
supervisor.

Prints, per server: requests/s, p50/p95/p99 latency, errors, and the CPU the server's processes (all
uvicorn workers included) and the load generator spent per request. Server CPU per request is the
better figure to compare two versions by, but on a shared machine it still moves with contention (by
2x on the 2-core development box): compare versions in one run with ``--compare`` and several short
rounds, not across runs. With several rounds, the median of each figure is printed last.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server for {url} exited with status {proc.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server at {url} did not become ready")


# --- CPU accounting (Linux /proc) ---


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                found.extend(int(c) for c in fh.read().split())
        except OSError:
            continue
    return found


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and every live descendant (uvicorn's workers)."""
    total = 0
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
        stack.extend(_children(current))
    return total / CLK_TCK


# --- load generation, in separate processes ---


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    path: str
    body: bytes
    headers: dict[str, str]


def _client_thread(target: Target, stop: float, out: list[float], bad: list[int]) -> None:
    conn = http.client.HTTPConnection(target.host, target.port, timeout=10.0)
    headers = {"content-type": "application/json", **target.headers}
    try:
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            try:
                conn.request("POST", target.path, body=target.body, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(target.host, target.port, timeout=10.0)
                ok = False
            out.append(time.perf_counter() - t0)
            bad[0] += not ok
    finally:
        conn.close()


def _load_process(target: Target, start: float, seconds: float, threads: int, results: Any) -> None:
    # ``start`` is a shared time.time() so every load process begins and ends together.
    time.sleep(max(0.0, start - time.time()))
    stop = time.monotonic() + seconds
    cpu0 = time.process_time()
    outs: list[list[float]] = [[] for _ in range(threads)]
    bads = [[0] for _ in range(threads)]
    workers = [
        threading.Thread(target=_client_thread, args=(target, stop, outs[i], bads[i])) for i in range(threads)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    results.put(([x for o in outs for x in o], sum(b[0] for b in bads), time.process_time() - cpu0))


def load(target: Target, seconds: float, concurrency: int, procs: int, server_pid: int) -> dict[str, float]:
    """Drive ``target`` with ``concurrency`` clients spread over ``procs`` processes for ``seconds``."""
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    start = time.time() + 1.0  # time for the processes to start
    shares = [concurrency // procs + (i < concurrency % procs) for i in range(procs)]
    workers = [
        ctx.Process(target=_load_process, args=(target, start, seconds, n, results)) for n in shares if n
    ]
    for w in workers:
        w.start()
    time.sleep(max(0.0, start - time.time()))
    cpu0, t0 = tree_cpu_s(server_pid), time.monotonic()
    collected = [results.get(timeout=seconds + 60) for _ in workers]
    elapsed, cpu1 = time.monotonic() - t0, tree_cpu_s(server_pid)
    for w in workers:
        w.join()
    latencies = sorted(x for lat, _, _ in collected for x in lat)
    n = len(latencies)
    q = statistics.quantiles(latencies, n=100) if n > 1 else [latencies[0] if n else 0.0] * 99
    return {
        "requests": n,
        "errors": sum(bad for _, bad, _ in collected),
        "rps": n / elapsed,
        "p50_ms": q[49] * 1000,
        "p95_ms": q[94] * 1000,
        "p99_ms": q[98] * 1000,
        "server_cpu_ms": (cpu1 - cpu0) / max(n, 1) * 1000,
        "client_cpu_ms": sum(cpu for _, _, cpu in collected) / max(n, 1) * 1000,
    }


def describe(name: str, r: dict[str, float]) -> str:
    return (
        f"{name:14s} {r['rps']:8.1f} req/s  p50 {r['p50_ms']:6.2f} ms  p95 {r['p95_ms']:6.2f} ms  "
        f"p99 {r['p99_ms']:6.2f} ms  errors {int(r['errors'])}/{int(r['requests'])}  "
        f"CPU/req server {r['server_cpu_ms']:5.2f} ms, load generator {r['client_cpu_ms']:5.2f} ms"
    )


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def serve(app: str, port: int, workers: int, factory: bool, app_dir: str | None) -> None:
    """Run ``app`` under uvicorn's worker supervisor on a listening socket that keeps TCP_NODELAY."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    if app_dir:
        sys.path.insert(0, app_dir)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        workers=workers,
        factory=factory,
        log_level="warning",
        access_log=False,
    )
    # IPPROTO_TCP, not uvicorn's default 0: accepted sockets inherit it, and asyncio only sets
    # TCP_NODELAY on sockets that report it.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.set_inheritable(True)
    Multiprocess(config, sockets=[sock]).run()


def server_command(app: str, port: int, workers: int, *, factory: bool, app_dir: str | None) -> list[str]:
    if workers == 1:
        command = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port)]
        command += ["--log-level", "warning", "--no-access-log"]
        command += ["--factory"] if factory else []
        command += ["--app-dir", app_dir] if app_dir else []
        return [*command, app]
    command = [sys.executable, str(Path(__file__).resolve()), "--serve", app, "--port", str(port)]
    command += ["--workers", str(workers)] + (["--factory-app"] if factory else [])
    return command + (["--app-dir", app_dir] if app_dir else [])


@dataclass
class Server:
    name: str
    command: list[str]
    env: dict[str, str]
    ready_path: str
    port: int
    auth: bool
    proc: subprocess.Popen[bytes] | None = None


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per server and round")
    parser.add_argument("--concurrency", type=int, default=8, help="client connections in total")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes per server")
    parser.add_argument("--rounds", type=int, default=1, help="measure the servers in turn this many times")
    parser.add_argument("--load-procs", type=int, default=1, help="load generator processes")
    parser.add_argument("--only", choices=("gateway", "bare"), help="measure one server only")
    parser.add_argument(
        "--factory",
        default="gateway.bootstrap:app_from_environment",
        help="uvicorn app factory for the gateway",
    )
    parser.add_argument(
        "--compare",
        metavar="MODULE:FN",
        help="also run this gateway factory (e.g. another version on PYTHONPATH) as 'gateway-b', on the "
        "same demo, measured in turn with the others in every round",
    )
    args = parser.parse_args()
    if min(args.concurrency, args.load_procs, args.rounds, args.workers) < 1:
        parser.error("--concurrency, --load-procs, --rounds and --workers must be at least 1")
    return args


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        internal = argparse.ArgumentParser()
        internal.add_argument("--serve", required=True)
        internal.add_argument("--port", type=int, required=True)
        internal.add_argument("--workers", type=int, required=True)
        internal.add_argument("--factory-app", action="store_true")
        internal.add_argument("--app-dir")
        a = internal.parse_args()
        serve(a.serve, a.port, a.workers, a.factory_app, a.app_dir)
        return
    args = parse_args()

    from gateway.demo.setup import example_query, prepare_demo

    with tempfile.TemporaryDirectory() as tmp:
        gw_port = free_port()
        demo = prepare_demo(Path(tmp), ROOT / "policies", host="127.0.0.1", port=gw_port)
        body = example_query(demo)
        body["items"] = ["market.admin_penalty"]
        env = dict(os.environ, GATEWAY_CONFIG_FILE=str(demo.config_file))
        bare_port = free_port()
        servers = [
            Server(
                "bare",
                server_command(
                    "bare_app:app", bare_port, args.workers, factory=False, app_dir=str(ROOT / "bench")
                ),
                dict(env, BARE_SOURCE_URL=demo_sources(demo.config_file)["market"]),
                "/docs",
                bare_port,
                auth=False,
            ),
            Server(
                "gateway",
                server_command(args.factory, gw_port, args.workers, factory=True, app_dir=None),
                env,
                "/healthz",
                gw_port,
                auth=True,
            ),
        ]
        if args.compare:
            port = free_port()
            command = server_command(args.compare, port, args.workers, factory=True, app_dir=None)
            servers.append(Server("gateway-b", command, env, "/healthz", port, auth=True))
        if args.only:
            servers = [s for s in servers if s.name.startswith(args.only)]
        runs: dict[str, list[dict[str, float]]] = {s.name: [] for s in servers}
        # Server output goes to a file: a terminal that scrolls one log line per request would be
        # part of what is measured.
        log_path = Path(tmp) / "servers.log"
        with open(log_path, "wb") as server_log:
            try:
                for server in servers:
                    server.proc = subprocess.Popen(
                        server.command, env=server.env, cwd=ROOT, stdout=server_log, stderr=subprocess.STDOUT
                    )
                for server in servers:
                    assert server.proc is not None
                    wait_ready(f"http://127.0.0.1:{server.port}{server.ready_path}", server.proc)
                auth: dict[str, str] = {}
                if any(s.auth for s in servers):
                    client = next(c for c in demo.clients if c["client_id"] == "credit-platform")
                    token = httpx.post(
                        f"http://127.0.0.1:{gw_port}/oauth/token",
                        data={"grant_type": "client_credentials"},
                        auth=(client["client_id"], client["client_secret"]),
                    ).json()["access_token"]
                    auth = {"Authorization": f"Bearer {token}"}
                rows = 0
                for server in servers:
                    check = httpx.post(
                        f"http://127.0.0.1:{server.port}/v1/queries",
                        json=body,
                        headers=auth if server.auth else {},
                    )
                    check.raise_for_status()
                    results = check.json()["results"]
                    rows = sum(len(r["rows"]) for r in results) if server.auth else len(results)
                payload = json.dumps(body, ensure_ascii=False).encode()
                targets = {
                    s.name: Target("127.0.0.1", s.port, "/v1/queries", payload, auth if s.auth else {})
                    for s in servers
                }
                pids = {s.name: s.proc.pid for s in servers if s.proc is not None}
                load_avg = os.getloadavg()[0]
                for server in servers:  # warm up: per-thread engines, pools, caches
                    load(targets[server.name], 1.0, args.concurrency, args.load_procs, pids[server.name])
                for i in range(args.rounds):
                    # Rotate the order, so no server is always measured right after the same other one.
                    for server in servers[i % len(servers) :] + servers[: i % len(servers)]:
                        name = server.name
                        result = load(
                            targets[name], args.seconds, args.concurrency, args.load_procs, pids[name]
                        )
                        runs[name].append(result)
                        if args.rounds > 1:
                            print(describe(name, result), flush=True)
            except Exception:
                sys.stderr.write(log_path.read_text(errors="replace")[-4000:])
                raise
            finally:
                for server in servers:
                    if server.proc is not None:
                        server.proc.terminate()
                        server.proc.wait(timeout=20)
    print(
        f"query: 1 item, 1 subject, {rows} rows; {args.concurrency} clients over {args.load_procs} load "
        f"process(es), {args.workers} worker(s), {args.seconds}s x {args.rounds} round(s); "
        f"{os.cpu_count()} CPUs, load average {load_avg:.2f} before measuring"
    )
    label = "median " if args.rounds > 1 else ""
    if label:
        print(f"medians over {args.rounds} rounds:")
    results = {name: median_of(r) for name, r in runs.items()}
    for name, display in (("bare", "bare endpoint"), ("gateway", "gateway"), ("gateway-b", "gateway-b")):
        if name in results:
            print(describe(display, results[name]))
    if "bare" in results:
        base = results["bare"]
        for name in ("gateway", "gateway-b"):
            if name in results:
                gw = results[name]
                print(
                    f"{name}/bare {label}throughput ratio: {gw['rps'] / base['rps']:.2f}; "
                    f"server CPU per request ratio: {gw['server_cpu_ms'] / base['server_cpu_ms']:.2f}"
                )
    if "gateway" in results and "gateway-b" in results:
        first, second = results["gateway"], results["gateway-b"]
        print(
            f"gateway-b/gateway {label}throughput ratio: {second['rps'] / first['rps']:.2f}; "
            f"server CPU per request ratio: {second['server_cpu_ms'] / first['server_cpu_ms']:.2f}"
        )


def demo_sources(config_file: Path) -> dict[str, str]:
    import yaml

    return dict(yaml.safe_load(config_file.read_text(encoding="utf-8"))["sources"])


if __name__ == "__main__":
    main()
