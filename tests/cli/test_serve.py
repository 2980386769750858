"""Serving with several workers: one SO_REUSEPORT socket per worker, TCP_NODELAY, no stale co-tenant."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gateway.cli.main import build_parser
from gateway.cli.serve import (
    _cgroup_cpu_quota,
    cpu_count,
    listening_socket,
    reuseport_balances,
    worker_sockets,
)
from gateway.errors import ConfigurationError

ROOT = Path(__file__).resolve().parents[2]
linux_only = pytest.mark.skipif(not reuseport_balances(), reason="SO_REUSEPORT balances on Linux only")


def test_sockets_are_tcp_so_accepted_connections_get_nodelay() -> None:
    with listening_socket("127.0.0.1", 0) as sock:
        assert sock.proto == socket.IPPROTO_TCP
        assert sock.get_inheritable()


@linux_only
def test_each_worker_gets_its_own_socket_on_one_port() -> None:
    sockets = worker_sockets("127.0.0.1", 0, 3)
    try:
        assert len(sockets) == 3
        assert len({s.fileno() for s in sockets}) == 3
        assert len({s.getsockname() for s in sockets}) == 1
        assert all(s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) for s in sockets)
    finally:
        for s in sockets:
            s.close()


def test_one_worker_or_shared_listening_uses_one_socket() -> None:
    for workers, listen in ((1, "auto"), (2, "shared")):
        sockets = worker_sockets("127.0.0.1", 0, workers, listen)  # type: ignore[arg-type]
        try:
            assert len(sockets) == 1
            assert not sockets[0].getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
        finally:
            for s in sockets:
                s.close()


@linux_only
def test_a_server_already_listening_is_not_joined() -> None:
    # Another server that set SO_REUSEPORT too (a stale gateway): joining its group would silently
    # split the traffic with it.
    with listening_socket("127.0.0.1", 0, reuse_port=True) as stale:
        stale.listen()
        with pytest.raises(OSError, match="in use"):
            worker_sockets("127.0.0.1", stale.getsockname()[1], 2)


def test_workers_default_to_the_cores() -> None:
    args = build_parser().parse_args(["serve", "--config", "x.yaml"])
    assert args.workers is None  # serve_gateway then uses cpu_count()
    assert cpu_count() >= 1


def test_zero_workers_is_a_configuration_error() -> None:
    from gateway.cli.serve import serve

    with pytest.raises(ConfigurationError):
        serve("tests.support.pid_app:app", workers=0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _serving(workers: int) -> Iterator[int]:
    port = _free_port()
    command = [sys.executable, "-m", "gateway.cli.serve", "tests.support.pid_app:app"]
    command += ["--port", str(port), "--workers", str(workers), "--log-level", "warning"]
    proc = subprocess.Popen(command, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def _pid(port: int) -> str | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/")
        return conn.getresponse().read().decode()
    except OSError:
        return None
    finally:
        conn.close()


def _listening_sockets(port: int) -> int:
    """How many sockets listen on 127.0.0.1:``port`` (from /proc/net/tcp: state 0A is LISTEN)."""
    wanted = f"0100007F:{port:04X}"
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for row in rows if row.split()[1] == wanted and row.split()[3] == "0A")


@linux_only
def test_connections_reach_every_worker_without_nagle_stalls() -> None:
    with _serving(2) as port:
        pids: set[str] = set()
        deadline = time.monotonic() + 90  # two interpreters starting on a busy machine
        while len(pids) < 2 and time.monotonic() < deadline:
            pid = _pid(port)
            if pid is None:
                time.sleep(0.2)
            else:
                pids.add(pid)
        assert len(pids) == 2, "new connections all went to one worker"
        # The kernel balances only between listening sockets: one per worker, not one shared.
        assert _listening_sockets(port) == 2
        # Keep-alive requests on one connection: with Nagle's algorithm on, each waits ~40 ms for the
        # delayed ACK of the previous response.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        timings = []
        for _ in range(25):
            t0 = time.perf_counter()
            conn.request("POST", "/", body=b"x" * 2000)
            conn.getresponse().read()
            timings.append(time.perf_counter() - t0)
        conn.close()
        assert statistics.median(timings) < 0.02


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu.max": "200000 100000\n"}, 2),
        ({"cpu.max": "150000 100000\n"}, 2),  # 1.5 CPUs: two workers, not one
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({"cpu/cpu.cfs_quota_us": "100000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 1),
        ({}, None),
    ],
)
def test_a_container_cpu_quota_caps_the_default_workers(
    tmp_path: Path, files: dict[str, str], expected: int | None
) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert _cgroup_cpu_quota(tmp_path) == expected
