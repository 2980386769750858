"""Serving under uvicorn with N worker processes: ``gateway serve`` / ``gateway demo`` and the benchmarks.

    python -m gateway.cli.serve MODULE:APP [--factory] [--host H] [--port P] [--workers N]
                                           [--listen auto|reuseport|shared] [--app-dir DIR]
                                           [--metrics-port P]

How the listening sockets are made, and why:

- Every socket is bound here, with ``IPPROTO_TCP`` rather than uvicorn's protocol 0. asyncio only sets
  TCP_NODELAY on accepted connections whose socket reports IPPROTO_TCP, and without it every
  keep-alive request after the first waits ~40 ms on Nagle's algorithm and a delayed ACK.
- With several workers on Linux, each worker gets its own socket, all bound to the same address with
  SO_REUSEPORT, and the kernel spreads new connections over them. With one shared socket the worker
  that happens to be awake accepts everything: in measurements one worker took all 16 connections of
  a benchmark in most rounds, and two workers served what one does. Elsewhere (macOS and the BSDs
  accept the option but do not balance with it, Windows lacks it) one socket is shared, as before.
- The supervisor keeps every socket open for the workers' whole life, so connections that arrive
  while a crashed worker is being replaced wait in its socket's queue instead of being refused.
- Before joining a SO_REUSEPORT group the address is probed without the option: if another server
  (a stale gateway, say) already listens there, startup fails instead of silently splitting the
  traffic with it.
- With ``--metrics-port`` every worker also listens there (the same way), and the app answers only
  ``/metrics`` on it. The workers' metric files live in a directory of this run, made here and
  removed at the end; a worker that exits has its live gauges dropped (``mark_process_dead``).

Every log line, uvicorn's own included, is one JSON object (``log_config``); uvicorn's access line is
off because it carries the raw path with its query string: the gateway writes its own, with the
route template instead (``gateway.api.metrics``).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

GATEWAY_FACTORY = "gateway.bootstrap:app_from_environment"
# How many worker processes serve this deployment; bootstrap sizes its per-process pools from it.
WORKERS_ENV = "GATEWAY_WORKERS"
CORES_ENV = "GATEWAY_CORES"
Listen = Literal["auto", "reuseport", "shared"]
STARTUP_TIMEOUT_S = 180.0
# uvicorn's default of 5 s kills workers that are merely slow on a busy machine (seen while the
# gateway imports its dependencies on a shared 2-core box); a worker that is really hung still goes.
HEALTHCHECK_TIMEOUT_S = 30.0

# The supervisor speaks through uvicorn's logger, configured by uvicorn.Config like its own supervisor's.
log = logging.getLogger("uvicorn.error")
# Read by bootstrap in every worker: the port on which the app answers /metrics (and nothing else).
METRICS_PORT_ENV = "GATEWAY_METRICS_PORT"


def log_config(level: str = "info") -> dict[str, Any]:
    """uvicorn's loggers (and any library's, through the root) as JSON lines on stderr."""
    json_handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "gateway.logging.JsonFormatter"}},
        "handlers": {"json": json_handler},
        "loggers": {
            "uvicorn": {"handlers": ["json"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
        "root": {"handlers": ["json"], "level": "WARNING"},
    }


def cpu_count() -> int:
    """The cores this process may use: its affinity mask, capped by a cgroup CPU quota (containers).

    A container limited to 2 CPUs on a 64-core node sees 64 in its affinity mask; 64 workers there
    would only queue on the quota.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # no sched_getaffinity on macOS and Windows
        cores = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    return max(1, min(cores, quota) if quota else cores)


def _cgroup_cpu_quota(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """CPUs allowed by the cgroup (v2 ``cpu.max``, v1 ``cfs_quota_us``), rounded up; None if unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        try:
            quota = (root / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (root / "cpu" / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    try:
        q, p = int(quota), int(period)
    except ValueError:  # "max": no limit
        return None
    if q <= 0 or p <= 0:  # v1 writes -1 for no limit
        return None
    return -(-q // p)


def reuseport_balances() -> bool:
    """Whether SO_REUSEPORT spreads connections over the sockets here (Linux), not just permits them."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def listening_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A bound (not yet listening) TCP socket that workers can inherit."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def worker_sockets(host: str, port: int, workers: int, listen: Listen = "auto") -> list[socket.socket]:
    """One socket per worker (SO_REUSEPORT) or a single shared one; see the module docstring."""
    per_worker = workers > 1 and (listen == "reuseport" or (listen == "auto" and reuseport_balances()))
    if not per_worker:
        return [listening_socket(host, port)]
    # A socket without SO_REUSEPORT cannot bind where anyone listens, with or without the option.
    with listening_socket(host, port) as probe:
        port = probe.getsockname()[1]  # the kernel's choice when asked for port 0
    sockets: list[socket.socket] = []
    try:
        for _ in range(workers):
            sockets.append(listening_socket(host, port, reuse_port=True))
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def uvicorn_config(app: str, *, factory: bool, workers: int, log_level: str = "info") -> Any:
    import uvicorn

    return uvicorn.Config(
        app,
        factory=factory,
        workers=workers,
        log_level=log_level,
        log_config=log_config(log_level),
        # uvicorn's access line carries the URL with its query string; the gateway logs its own.
        access_log=False,
        # loop and http stay "auto": uvloop and httptools when installed (uvicorn[standard]).
    )


def _supervise(
    config: Any, sockets: Sequence[socket.socket], metrics_sockets: Sequence[socket.socket] = ()
) -> int:
    """Run one worker per socket until SIGINT/SIGTERM; replace a worker that dies after starting."""
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors.multiprocess import Process

    from gateway.adapters.metrics import worker_exited

    def listening(i: int) -> list[socket.socket]:
        return [sockets[i], metrics_sockets[i]] if metrics_sockets else [sockets[i]]

    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    workers: list[Any] = []
    status = 0
    try:
        for i in range(len(sockets)):
            workers.append(Process(config, listening(i)))
            workers[-1].start()
            # The first worker starts alone: whatever an app does once at startup (creating missing
            # tables, say) is then not raced by its siblings.
            if i == 0 and not workers[0].wait_until_ready(STARTUP_TIMEOUT_S, stop):
                log.error("the first worker did not start; stopping")
                return 1
        log.info("serving with %d workers, one SO_REUSEPORT socket each", len(workers))
        while not stop.wait(0.5):
            for i, worker in enumerate(workers):
                if worker.is_alive(timeout=HEALTHCHECK_TIMEOUT_S):
                    continue
                worker.kill()  # dead or hung
                worker.join()
                if worker.pid is not None:
                    worker_exited(worker.pid)
                if worker.exitcode == STARTUP_FAILURE:
                    # The app itself does not start (bad settings, missing keys): a new worker would
                    # fail the same way, so stop rather than loop.
                    log.error("a worker failed to start; stopping")
                    status = 1
                    stop.set()
                    break
                log.warning("worker %s exited (%s); starting a replacement", worker.pid, worker.exitcode)
                workers[i] = Process(config, listening(i))
                workers[i].start()
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status


def serve(
    app: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int | None = None,
    factory: bool = False,
    listen: Listen = "auto",
    log_level: str = "info",
    metrics_port: int | None = None,
) -> int:
    """Serve the ASGI ``app`` (``module:attribute``) with ``workers`` processes (default: one per core).

    ``metrics_port``: also listen there, for the app's ``/metrics`` (see the module docstring).
    """
    import uvicorn

    from gateway.adapters.metrics import multiprocess_directory

    if workers is not None and workers < 1:
        from gateway.errors import ConfigurationError

        raise ConfigurationError(f"cannot serve with {workers} workers", accepted="at least 1 worker")
    count = workers or cpu_count()
    # Read by bootstrap in every worker (environment variables reach spawned processes), to share
    # the cores among the workers' policy threads.
    os.environ[WORKERS_ENV] = str(count)
    os.environ[CORES_ENV] = str(cpu_count())
    config = uvicorn_config(app, factory=factory, workers=count, log_level=log_level)
    sockets = worker_sockets(host, port, count, listen)
    metrics_sockets: list[socket.socket] = []
    try:
        if metrics_port is not None:
            metrics_sockets = worker_sockets(host, metrics_port, len(sockets), listen)
            os.environ[METRICS_PORT_ENV] = str(metrics_sockets[0].getsockname()[1])
        with multiprocess_directory():
            if count == 1 or len(sockets) == 1:
                everything = [*sockets, *metrics_sockets]
                if count == 1:
                    uvicorn.Server(config).run(sockets=everything)
                    return 0
                from uvicorn.supervisors import Multiprocess

                Multiprocess(config, sockets=everything).run()
                return 0
            return _supervise(config, sockets, metrics_sockets)
    finally:
        for sock in [*sockets, *metrics_sockets]:
            sock.close()


def serve_gateway(
    config_file: Path, host: str, port: int, workers: int | None, metrics_port: int | None = None
) -> int:
    """Serve the deployment described by ``config_file`` (what ``gateway serve`` and ``demo`` run)."""
    os.environ["GATEWAY_CONFIG_FILE"] = str(config_file.resolve())  # read by bootstrap in every worker
    return serve(
        GATEWAY_FACTORY, host=host, port=port, workers=workers, factory=True, metrics_port=metrics_port
    )


def workers_from_environment() -> int:
    """The worker count ``serve_gateway`` announced, or 1 when the app runs some other way."""
    try:
        return max(1, int(os.environ.get(WORKERS_ENV, "1")))
    except ValueError:
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.cli.serve", description=__doc__.split("\n")[0])
    parser.add_argument("app", help="MODULE:ATTRIBUTE of an ASGI app (or of a factory, with --factory)")
    parser.add_argument("--factory", action="store_true", help="APP is a function returning the app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, help="worker processes (default: one per core)")
    parser.add_argument("--listen", choices=("auto", "reuseport", "shared"), default="auto")
    parser.add_argument("--app-dir", help="directory to import APP from (put first on sys.path)")
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--metrics-port", type=int, help="also listen here, for /metrics only")
    args = parser.parse_args(argv)
    if args.app_dir:
        sys.path.insert(0, str(Path(args.app_dir).resolve()))  # spawned workers get the same sys.path
    return serve(
        args.app,
        host=args.host,
        port=args.port,
        workers=args.workers,
        factory=args.factory,
        listen=args.listen,
        log_level=args.log_level,
        metrics_port=args.metrics_port,
    )


if __name__ == "__main__":
    sys.exit(main())
