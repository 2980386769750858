"""POST /v1/queries on the gateway against a bare endpoint doing the same reads: throughput, latency, CPU.

    .venv/bin/python bench/query_bench.py [--seconds 5] [--rounds 3] [--connections 16] [--workers 1,2]
                                          [--queries one-item,printed] [--load wrk|python]
                                          [--before DIR] [--only gateway|bare]

What it does, and why each part is there:

- The demo is prepared in a temporary directory; every server reads the same SQLite files.
- Two queries: the demo's printed one (two items, ``gateway demo`` shows it) and a one-item one.
- The bare endpoint (bench/bare_app.py) runs, per item, the statement the gateway runs, with no
  authentication, policy, desensitization or ledger: the ratio gateway/bare is what the gateway's
  work costs on top of reading the data.
- Both are served the same way, by ``python -m gateway.cli.serve`` (one SO_REUSEPORT socket per
  worker, uvloop and httptools), for each worker count in ``--workers``; all of them run at once.
- Load comes from a separate process: wrk (``apt-get install wrk`` on Debian/Ubuntu, ``brew install
  wrk`` on macOS) when it is on the PATH, otherwise a Python generator (one keep-alive connection per
  client thread, request bytes encoded once) in its own processes. wrk costs a few µs of CPU per
  request; the Python generator costs ~10x more, on the same cores as the servers, so prefer wrk.
- Rounds alternate: in each round every (query, server) pair is measured once, gateway and bare
  back to back, the order flipped from one round to the next, so a burst of load from elsewhere on a
  shared machine hits both alike. Each round prints its own ratios; the summary gives the median of
  the per-round figures and their spread (min-max), not the best round.
- CPU per request is the CPU all the server's processes spent (from /proc) over the requests they
  answered. It moves with contention on a shared machine, like everything else here.
- ``--before DIR`` adds the gateway and bare endpoint of another checkout (e.g. ``git archive
  <commit> | tar -x -C DIR``) to the same rounds, for before/after ratios in one run. A checkout
  without gateway/cli/serve.py is served the way it was before that module existed: one shared
  socket for all workers, the asyncio loop and the h11 parser.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
QUERIES = ("one-item", "printed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server for {url} exited with status {proc.returncode}")
        try:
            if httpx.get(url, timeout=2.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
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
    """User + system CPU seconds of ``pid`` and every live descendant (the worker processes)."""
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


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --- load generation, always in processes of its own ---


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    path: str
    body: bytes
    headers: dict[str, str]


_WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK-RESULT {\\"requests\\": %d, \\"duration_us\\": %d, \\"errors\\": %d, \\"status_errors\\": %d, "
    .. "\\"p50_us\\": %d, \\"p90_us\\": %d, \\"p99_us\\": %d}\\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
"""


def _lua_string(data: bytes) -> str:
    return '"' + "".join(f"\\{b}" for b in data) + '"'  # decimal escapes: any byte, no quoting issues


def wrk_script(target: Target, directory: Path) -> Path:
    lines = ['wrk.method = "POST"', f"wrk.body = {_lua_string(target.body)}"]
    headers = {"Content-Type": "application/json", **target.headers}
    lines += [
        f"wrk.headers[{_lua_string(k.encode())}] = {_lua_string(v.encode())}" for k, v in headers.items()
    ]
    path = directory / f"wrk-{target.port}-{abs(hash(target.body))}.lua"
    path.write_text("\n".join(lines) + "\n" + _WRK_DONE, encoding="utf-8")
    return path


def load_wrk(
    target: Target, seconds: float, connections: int, threads: int, server_pid: int, scratch: Path
) -> dict[str, float]:
    script = wrk_script(target, scratch)
    duration = max(1, round(seconds))  # wrk takes whole seconds
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s"]
    command += ["-s", str(script), f"http://{target.host}:{target.port}{target.path}"]
    client0, cpu0 = children_cpu_s(), tree_cpu_s(server_pid)
    output = subprocess.run(command, capture_output=True, text=True, check=False, timeout=duration + 60)
    cpu1, client1 = tree_cpu_s(server_pid), children_cpu_s()
    line = next((ln for ln in output.stdout.splitlines() if ln.startswith("WRK-RESULT ")), None)
    if output.returncode or line is None:
        raise RuntimeError(f"wrk failed ({output.returncode}):\n{output.stdout}\n{output.stderr}")
    r = json.loads(line.removeprefix("WRK-RESULT "))
    n = max(int(r["requests"]), 1)
    return {
        "requests": r["requests"],
        "errors": r["errors"] + r["status_errors"],
        "rps": r["requests"] / (r["duration_us"] / 1e6),
        "p50_ms": r["p50_us"] / 1000,
        "p90_ms": r["p90_us"] / 1000,
        "p99_ms": r["p99_us"] / 1000,
        "server_cpu_ms": (cpu1 - cpu0) / n * 1000,
        "client_cpu_ms": (client1 - client0) / n * 1000,
    }


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


def load_python(
    target: Target, seconds: float, connections: int, procs: int, server_pid: int
) -> dict[str, float]:
    """Drive ``target`` with ``connections`` clients spread over ``procs`` processes for ``seconds``."""
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    start = time.time() + 1.0  # time for the processes to start
    shares = [connections // procs + (i < connections % procs) for i in range(procs)]
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
        "p90_ms": q[89] * 1000,
        "p99_ms": q[98] * 1000,
        "server_cpu_ms": (cpu1 - cpu0) / max(n, 1) * 1000,
        "client_cpu_ms": sum(cpu for _, _, cpu in collected) / max(n, 1) * 1000,
    }


# --- serving ---


def serve_legacy(app: str, port: int, workers: int, factory: bool, app_dir: str | None) -> None:
    """How the gateway was served before gateway/cli/serve.py: one shared socket, asyncio, h11.

    Kept here, importing nothing from the gateway, so a ``--before`` checkout's code is what runs.
    """
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
        loop="asyncio",
        http="h11",
        log_level="warning",
        access_log=False,
    )
    if workers == 1:
        uvicorn.Server(config).run()
        return
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.set_inheritable(True)
    Multiprocess(config, sockets=[sock]).run()


@dataclass
class Server:
    kind: str  # "gateway" or "bare"
    workers: int
    variant: str  # "" for this checkout, "before" for --before
    port: int
    command: list[str]
    env: dict[str, str]
    cwd: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        return f"{self.kind}{'-' + self.variant if self.variant else ''} {self.workers}w"

    @property
    def ready_path(self) -> str:
        return "/healthz" if self.kind == "gateway" else "/docs"


def make_server(
    kind: str, workers: int, variant: str, tree: Path, legacy: bool, env: dict[str, str]
) -> Server:
    port = free_port()
    if kind == "gateway":
        app, factory, app_dir = "gateway.bootstrap:app_from_environment", True, None
    else:
        app, factory, app_dir = "bare_app:app", False, str(ROOT / "bench")
    if legacy:
        command = [sys.executable, str(Path(__file__).resolve()), "--serve-legacy", app]
        command += ["--port", str(port), "--workers", str(workers)] + (["--factory-app"] if factory else [])
    else:
        command = [sys.executable, "-m", "gateway.cli.serve", app, "--port", str(port)]
        command += ["--workers", str(workers), "--log-level", "warning"] + (["--factory"] if factory else [])
    command += ["--app-dir", app_dir] if app_dir else []
    # The checkout's own code first: PYTHONPATH comes before the installed (editable) package.
    server_env = dict(env, PYTHONPATH=str(tree))
    return Server(kind, workers, variant, port, command, server_env, tree)


# --- reporting ---


def describe(name: str, query: str, r: dict[str, float]) -> str:
    return (
        f"  {query:9s} {name:18s} {r['rps']:8.1f} req/s  "
        f"p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:7.2f} ms  "
        f"CPU/req {r['server_cpu_ms']:5.2f} ms (load generator {r['client_cpu_ms']:4.2f})  "
        f"errors {int(r['errors'])}/{int(r['requests'])}"
    )


def spread(values: list[float], digits: int = 2) -> str:
    """Median and range: ``0.42 [0.38-0.47]``."""
    if not values:
        return "-"
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:.{digits}f}"
    return f"{med:.{digits}f} [{min(values):.{digits}f}-{max(values):.{digits}f}]"


@dataclass
class Results:
    # (query, server name) -> {round: result}
    runs: dict[tuple[str, str], dict[int, dict[str, float]]] = field(default_factory=dict)
    failed: int = 0  # measurements left out because requests failed

    def add(self, query: str, server: Server, round_index: int, result: dict[str, float]) -> None:
        if result["errors"]:  # a refusal is fast: it would pass for a fast gateway
            self.failed += 1
            return
        self.runs.setdefault((query, server.name), {})[round_index] = result

    def series(self, query: str, name: str, key: str) -> list[float]:
        return [r[key] for _, r in sorted(self.runs.get((query, name), {}).items())]

    def ratios(self, query: str, top: str, bottom: str, key: str = "rps") -> list[float]:
        """Per-round ratio top/bottom, over the rounds where both were measured."""
        a, b = self.runs.get((query, top), {}), self.runs.get((query, bottom), {})
        return [a[i][key] / b[i][key] for i in sorted(a.keys() & b.keys()) if b[i][key]]


def round_ratios(results: Results, query: str, servers: list[Server], round_index: int) -> str:
    parts = []
    for s in servers:
        if s.kind == "gateway":
            bare = f"bare{'-' + s.variant if s.variant else ''} {s.workers}w"
            if (query, bare) in results.runs:
                gw = results.runs.get((query, s.name), {}).get(round_index)
                base = results.runs[(query, bare)].get(round_index)
                ratio = f"{gw['rps'] / base['rps']:.2f}" if gw and base else "- (failed requests)"
                parts.append(f"{s.name}/bare {ratio}")
    return "  " + query + " gateway/bare this round: " + ", ".join(parts)


def summary(results: Results, servers: list[Server], queries: list[str], rounds: int) -> None:
    names = [s.name for s in servers]
    print(f"\nSummary: median of {rounds} round(s) [min-max over rounds]")
    for query in queries:
        print(f"\n{query} query")
        for name in names:
            if (query, name) not in results.runs:
                continue
            p50, p99 = results.series(query, name, "p50_ms"), results.series(query, name, "p99_ms")
            tail = [b / a for a, b in zip(p50, p99, strict=True) if a]
            print(
                f"  {name:18s} req/s {spread(results.series(query, name, 'rps'), 0):20s} "
                f"CPU/req {spread(results.series(query, name, 'server_cpu_ms'))} ms  "
                f"p50 {spread(p50)} ms  p99 {spread(p99)} ms  p99/p50 {spread(tail)}"
            )
        for s in servers:
            if s.kind != "gateway":
                continue
            bare = f"bare{'-' + s.variant if s.variant else ''} {s.workers}w"
            if (query, bare) in results.runs:
                print(
                    f"  {s.name}/bare: throughput {spread(results.ratios(query, s.name, bare))}, "
                    f"CPU per request {spread(results.ratios(query, s.name, bare, 'server_cpu_ms'))}"
                )
        workers = sorted({s.workers for s in servers})
        for s in servers:
            if s.workers == workers[0] or len(workers) < 2:
                continue
            low = s.name.rsplit(" ", 1)[0] + f" {workers[0]}w"
            if (query, low) in results.runs:
                print(f"  {s.name}/{low}: throughput {spread(results.ratios(query, s.name, low))}")
        for s in servers:
            if s.variant == "before":
                now = f"{s.kind} {s.workers}w"
                if (query, now) in results.runs:
                    print(f"  {now} after/before: throughput {spread(results.ratios(query, now, s.name))}")


# --- main ---


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="measured seconds per server, query, round"
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (medians need 3 or more)")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts to measure")
    parser.add_argument("--queries", default=",".join(QUERIES), help=f"comma-separated, of {QUERIES}")
    parser.add_argument("--load", choices=("auto", "wrk", "python"), default="auto", help="load generator")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk -t (one is enough on 2 cores)")
    parser.add_argument("--load-procs", type=int, default=1, help="processes of the Python load generator")
    parser.add_argument(
        "--before", metavar="DIR", help="also measure the checkout in DIR, in the same rounds"
    )
    parser.add_argument("--only", choices=("gateway", "bare"), help="measure one kind of server only")
    args = parser.parse_args()
    args.workers = [int(w) for w in str(args.workers).split(",") if w]
    args.queries = [q for q in str(args.queries).split(",") if q]
    if min([args.connections, args.rounds, args.load_procs, args.wrk_threads, *args.workers]) < 1:
        parser.error("--connections, --rounds, --load-procs, --wrk-threads and --workers must be at least 1")
    if unknown := set(args.queries) - set(QUERIES):
        parser.error(f"unknown queries {sorted(unknown)}; choose from {QUERIES}")
    if args.load == "auto":
        args.load = "wrk" if shutil.which("wrk") else "python"
    elif args.load == "wrk" and not shutil.which("wrk"):
        parser.error("wrk is not on the PATH (Debian/Ubuntu: apt-get install wrk)")
    return args


def start(servers: list[Server], server_log: Any) -> None:
    """Start every server and wait until each answers; the first gateway starts alone.

    It creates the tables the others then find: gateways racing to create them in one SQLite file fail.
    """
    first = [s for s in servers if s.kind == "gateway"][:1]
    for batch in (first, [s for s in servers if s not in first]):
        for s in batch:
            # Output to a file: a terminal scrolling log lines would be part of what is measured.
            s.proc = subprocess.Popen(s.command, env=s.env, cwd=s.cwd, stdout=server_log, stderr=server_log)
        for s in batch:
            assert s.proc is not None
            wait_ready(f"http://127.0.0.1:{s.port}{s.ready_path}", s.proc)


def targets_for(
    servers: list[Server], bodies: dict[str, dict[str, Any]], token: str
) -> tuple[dict[tuple[str, str], Target], dict[str, int]]:
    """The request each server gets for each query, after checking they all return the same rows."""
    targets: dict[tuple[str, str], Target] = {}
    rows: dict[str, int] = {}
    for query, body in bodies.items():
        payload = json.dumps(body, ensure_ascii=False).encode()
        counts = set()
        for s in servers:
            headers = {"Authorization": f"Bearer {token}"} if s.kind == "gateway" else {}
            check = httpx.post(
                f"http://127.0.0.1:{s.port}/v1/queries",
                content=payload,
                headers={"content-type": "application/json", **headers},
                timeout=60,
            )
            check.raise_for_status()
            counts.add(sum(len(r["rows"]) for r in check.json()["results"]))
            targets[(query, s.name)] = Target("127.0.0.1", s.port, "/v1/queries", payload, headers)
        if len(counts) != 1:  # the same reads must give the same rows
            raise RuntimeError(f"the servers disagree on the rows of the {query} query: {sorted(counts)}")
        rows[query] = counts.pop()
    return targets, rows


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-legacy":
        internal = argparse.ArgumentParser()
        internal.add_argument("--serve-legacy", required=True)
        internal.add_argument("--port", type=int, required=True)
        internal.add_argument("--workers", type=int, required=True)
        internal.add_argument("--factory-app", action="store_true")
        internal.add_argument("--app-dir")
        a = internal.parse_args()
        serve_legacy(a.serve_legacy, a.port, a.workers, a.factory_app, a.app_dir)
        return
    args = parse_args()
    # SIGTERM (timeout, kill) unwinds like Ctrl-C, so the servers started here are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.path.insert(0, str(ROOT))  # not at import: a --before checkout's workers re-import this file
    from gateway.demo.setup import example_query, prepare_demo

    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        demo = prepare_demo(scratch / "demo", ROOT / "policies", host="127.0.0.1", port=free_port())
        printed = example_query(demo)
        every = {"printed": printed, "one-item": dict(printed, items=["market.admin_penalty"])}
        bodies = {q: every[q] for q in args.queries}
        env = dict(os.environ, GATEWAY_CONFIG_FILE=str(demo.config_file))
        env["BARE_SOURCE_URL"] = demo_sources(demo.config_file)["market"]
        trees: list[tuple[str, Path, bool]] = [("", ROOT, False)]
        if args.before:
            before = Path(args.before).resolve()
            trees.append(("before", before, not (before / "gateway" / "cli" / "serve.py").exists()))
        kinds = [k for k in ("bare", "gateway") if args.only in (None, k)]
        servers = [
            make_server(kind, workers, variant, tree, legacy, env)
            for variant, tree, legacy in trees
            for workers in args.workers
            for kind in kinds
        ]
        log_path = scratch / "servers.log"
        results = Results()
        with open(log_path, "wb") as server_log:
            try:
                start(servers, server_log)
                client = next(c for c in demo.clients if c["client_id"] == "credit-platform")
                issuer = next((s.port for s in servers if s.kind == "gateway"), None)

                def new_token() -> str:
                    if issuer is None:
                        return ""
                    return str(
                        httpx.post(
                            f"http://127.0.0.1:{issuer}/oauth/token",
                            data={"grant_type": "client_credentials"},
                            auth=(client["client_id"], client["client_secret"]),
                        ).json()["access_token"]
                    )

                targets, rows = targets_for(servers, bodies, new_token())

                def measure(query: str, s: Server, seconds: float) -> dict[str, float]:
                    assert s.proc is not None
                    target = targets[(query, s.name)]
                    if s.kind == "gateway":  # tokens live minutes; a run lasts longer
                        target = replace(target, headers={"Authorization": f"Bearer {new_token()}"})
                    if args.load == "wrk":
                        return load_wrk(
                            target, seconds, args.connections, args.wrk_threads, s.proc.pid, scratch
                        )
                    return load_python(target, seconds, args.connections, args.load_procs, s.proc.pid)

                print(
                    f"{args.load} from a separate process, {args.connections} connections, "
                    f"{args.seconds:g}s per measurement, {args.rounds} round(s); {os.cpu_count()} CPUs, "
                    f"load average {os.getloadavg()[0]:.2f}"
                )
                for query in bodies:
                    print(f"  {query} query: {len(bodies[query]['items'])} item(s), {rows[query]} rows")
                for query in bodies:  # warm up: engines, pools, caches, statement cache
                    for s in servers:
                        measure(query, s, 1.0)
                groups = [
                    [s for s in servers if (s.workers, s.variant) == g]
                    for g in dict.fromkeys((s.workers, s.variant) for s in servers)
                ]
                for i in range(args.rounds):
                    print(f"round {i + 1}, load average {os.getloadavg()[0]:.2f}")
                    for query in bodies:
                        # Rotate the groups and flip gateway/bare each round: no server always follows
                        # the same other one.
                        shift = i % len(groups)
                        for group in groups[shift:] + groups[:shift]:
                            for s in group if i % 2 == 0 else group[::-1]:
                                result = measure(query, s, args.seconds)
                                results.add(query, s, i, result)
                                print(describe(s.name, query, result), flush=True)
                        if len(kinds) == 2:
                            print(round_ratios(results, query, servers, i), flush=True)
            except Exception:
                sys.stderr.write(log_path.read_text(errors="replace")[-4000:])
                raise
            finally:
                for s in servers:
                    if s.proc is not None:
                        s.proc.terminate()
                for s in servers:
                    if s.proc is not None:
                        s.proc.wait(timeout=30)
    summary(results, servers, list(bodies), args.rounds)
    if results.failed:
        print(f"WARNING: {results.failed} measurement(s) had failed requests and were left out")


def demo_sources(config_file: Path) -> dict[str, str]:
    import yaml

    return dict(yaml.safe_load(config_file.read_text(encoding="utf-8"))["sources"])


if __name__ == "__main__":
    main()
