"""Prometheus metrics (``prometheus-client``), shared by the worker processes of one ``gateway serve``.

Counters and histograms are written by every worker into files of one per-run directory
(``PROMETHEUS_MULTIPROC_DIR``, multiprocess mode); whichever worker answers a scrape adds them up
over all workers, living and exited, so a count never depends on which worker was asked. The gauges
that describe the log (size, checkpoint and cosignature age) and the policy revision are read when
the scrape comes, by the worker answering it, from the shared database and its own engine: an age
stored by a worker would be stale by the time it is scraped.

``multiprocess_directory`` is the supervisor's side: it makes the per-run directory, removes the
directories of runs whose supervisor is gone (killed before it could clean up), and
``worker_exited`` drops an exited worker's live gauges.

Label values are never taken as given: departments and purposes must be the catalog's, reasons the
policies' or the error codes', decisions one of the ledger's outcomes; anything else is counted as
``other``. So no label ever carries a personal value or a subject commitment, whatever a caller sends.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from gateway.adapters.token_throttle import REASONS as THROTTLE_REASONS
from gateway.domain.detector import might_hold_identifier
from gateway.ports import LedgerObservation, RepairObservation

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
RUN_PREFIX = "gateway-run-"
STAGES = frozenset({"decide", "read", "desensitize", "register"})
DECISIONS = frozenset({"allow", "deny", "error", "invalid"})
OTHER = "other"
NONE = "none"
UNMATCHED = "unmatched"
_ROUTE = re.compile(r"^/[A-Za-z0-9_./{}:-]{0,127}$")
# Identifiers, phone and card numbers hold digit runs; subject commitments and digests are long hex.
_VALUE_LIKE = re.compile(r"\d{3,}|[0-9a-fA-F]{12,}")
# Stage latencies run from ~100 µs (a decision) to seconds (a source under load).
STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_REGO_CODE = re.compile(r"^#\s+code:\s*([a-z][a-z0-9_]*)\s*$", re.MULTILINE)

log = logging.getLogger("gateway.metrics")


@dataclass(frozen=True, slots=True)
class LabelVocabulary:
    """The label values a query may be counted under: codes of the catalog, policies and errors."""

    departments: frozenset[str]
    purposes: frozenset[str]
    reasons: frozenset[str]

    @staticmethod
    def route(value: str) -> str:
        """A route template ("/v1/ledger/entries/{index}") or "unmatched"; never anything like a value.

        The HTTP layer passes only the templates of its routes; this is the second line: a label with
        a run of digits or hex, or anything the identifier detector flags, is counted as ``other``.
        """
        if value == UNMATCHED:
            return value
        if not _ROUTE.match(value) or _VALUE_LIKE.search(value) or might_hold_identifier(value):
            return OTHER
        return value

    def department(self, value: str) -> str:
        return value if value in self.departments else OTHER

    def purpose(self, value: str) -> str:
        return value if value in self.purposes else OTHER

    def reason(self, value: str) -> str:
        if value == NONE:
            return NONE
        return value if value in self.reasons else OTHER


def policy_reason_codes(policies_dir: Path) -> frozenset[str]:
    """Every ``custom.code`` in the METADATA of the Rego files under ``policies_dir``."""
    codes: set[str] = set()
    for path in sorted(policies_dir.rglob("*.rego")):
        if not path.name.endswith("_test.rego"):
            codes.update(_REGO_CODE.findall(path.read_text(encoding="utf-8")))
    return frozenset(codes)


class _LiveCollector(Collector):
    """The gauges read at scrape time by the worker answering the scrape."""

    def __init__(
        self,
        ledger: LedgerObservation | None,
        revision: Callable[[], str],
        now: Callable[[], float],
        repairs: RepairObservation | None = None,
    ) -> None:
        self._ledger = ledger
        self._revision = revision
        self._now = now
        self._repairs = repairs

    def collect(self) -> Iterable[Metric]:
        info = GaugeMetricFamily(
            "gateway_policy_revision_info",
            "The policy revision this worker decides with.",
            labels=["revision"],
        )
        info.add_metric([self._revision()], 1.0)
        yield info
        yield from self._repair_gauges()
        if self._ledger is None:
            return
        try:
            size = self._ledger.size()
            checkpoint_at = self._ledger.latest_checkpoint_time()
            cosigned_at = self._ledger.latest_cosignature_time()
        except Exception as exc:
            # The scrape still answers; the missing series (and /readyz) tell that the ledger is down.
            log.warning("ledger gauges unavailable", extra={"error_type": type(exc).__name__})
            return
        yield GaugeMetricFamily("gateway_ledger_size", "Entries in the ledger.", value=size)
        now = self._now()
        if checkpoint_at is not None:
            yield GaugeMetricFamily(
                "gateway_checkpoint_age_seconds",
                "Seconds since the latest signed checkpoint.",
                value=max(0.0, now - checkpoint_at),
            )
        if cosigned_at is not None:
            yield GaugeMetricFamily(
                "gateway_witness_cosignature_age_seconds",
                "Seconds since the latest witness cosignature.",
                value=max(0.0, now - cosigned_at),
            )

    def _repair_gauges(self) -> Iterable[Metric]:
        if self._repairs is None:
            return
        try:
            overdue = self._repairs.overdue_count()
        except Exception as exc:
            log.warning("repair gauges unavailable", extra={"error_type": type(exc).__name__})
            return
        yield GaugeMetricFamily(
            "gateway_repairs_overdue",
            "Credit repair applications undecided past their time limit (clause (12)).",
            value=overdue,
        )


class PrometheusMetrics:
    """The ``Metrics`` port on prometheus-client; multiprocess when ``PROMETHEUS_MULTIPROC_DIR`` is set."""

    def __init__(
        self,
        vocabulary: LabelVocabulary,
        *,
        revision: Callable[[], str],
        ledger: LedgerObservation | None = None,
        now: Callable[[], float] = time.time,
        multiproc_dir: str | None = None,
        repairs: RepairObservation | None = None,
    ) -> None:
        self.vocabulary = vocabulary
        self.multiproc_dir = multiproc_dir if multiproc_dir is not None else os.environ.get(MULTIPROC_ENV)
        # A registry of our own, not the process-wide default: several apps can be built in one
        # process (tests) without clashing, and nothing another library registers is exposed.
        own = CollectorRegistry(auto_describe=True)
        self._requests = Counter(
            "gateway_requests",
            "HTTP responses by route template and status.",
            ["route", "status"],
            registry=own,
        )
        self._queries = Counter(
            "gateway_queries",
            "Query outcomes by department, purpose, decision and primary reason code.",
            ["department", "purpose", "decision", "reason"],
            registry=own,
        )
        self._stages = Histogram(
            "gateway_stage_seconds",
            "Seconds spent per stage of the query path.",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=own,
        )
        self._throttled = Counter(
            "gateway_token_throttled",
            "Token requests refused by the token endpoint's throttle, by what was locked or full.",
            ["reason"],
            registry=own,
        )
        self._workers = Gauge(
            "gateway_workers", "Worker processes serving.", registry=own, multiprocess_mode="livesum"
        )
        self._workers.set(1)
        if self.multiproc_dir:
            self._exposed = CollectorRegistry(auto_describe=False)
            multiprocess.MultiProcessCollector(  # type: ignore[no-untyped-call]  # untyped in the library
                self._exposed, path=self.multiproc_dir
            )
        else:
            self._exposed = own
        self._exposed.register(_LiveCollector(ledger, revision, now, repairs))

    @contextmanager
    def _timed(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self._stages.labels(stage=name).observe(time.perf_counter() - started)

    def stage(self, name: str) -> AbstractContextManager[None]:
        if name not in STAGES:
            raise ValueError(f"unknown stage {name!r}")  # a programming error, not a request's
        return self._timed(name)

    def count_query(self, *, department: str, purpose: str, decision: str, reason: str) -> None:
        v = self.vocabulary
        self._queries.labels(
            department=v.department(department),
            purpose=v.purpose(purpose),
            decision=decision if decision in DECISIONS else OTHER,
            reason=v.reason(reason),
        ).inc()

    def count_request(self, route: str, status: int) -> None:
        code = str(status) if 100 <= status <= 599 else OTHER
        self._requests.labels(route=self.vocabulary.route(route), status=code).inc()

    def count_throttled(self, reason: str) -> None:
        self._throttled.labels(reason=reason if reason in THROTTLE_REASONS else OTHER).inc()

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self._exposed), CONTENT_TYPE_LATEST


# --- the supervisor's side ---


@contextmanager
def multiprocess_directory(base: Path | None = None) -> Iterator[Path]:
    """A fresh directory for this run's metric files, named in ``PROMETHEUS_MULTIPROC_DIR`` meanwhile.

    Under ``base`` (default: the directory ``PROMETHEUS_MULTIPROC_DIR`` already names, such as the
    chart's ``/run/prometheus`` volume, else the temporary directory). Files of an earlier run would be
    added to this run's counts, so each run gets its own directory and removes it at the end; the
    directory of a run that was killed is removed by the next one, known by its lock being free.
    """
    previous = os.environ.get(MULTIPROC_ENV)
    root = base or Path(previous or tempfile.gettempdir())
    root.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(root)
    run = Path(tempfile.mkdtemp(prefix=RUN_PREFIX, dir=root))
    lock = (run / ".lock").open("w")
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held until this process ends, however it ends
    os.environ[MULTIPROC_ENV] = str(run)
    try:
        yield run
    finally:
        if previous is None:
            os.environ.pop(MULTIPROC_ENV, None)
        else:
            os.environ[MULTIPROC_ENV] = previous
        lock.close()
        shutil.rmtree(run, ignore_errors=True)


def _remove_abandoned(root: Path) -> None:
    for run in root.glob(f"{RUN_PREFIX}*"):
        try:
            lock: IO[str] = (run / ".lock").open("a")
        except OSError:
            continue
        with lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a running supervisor holds it
            shutil.rmtree(run, ignore_errors=True)


def worker_exited(pid: int) -> None:
    """Drop the live gauges of a worker that exited (its counters stay: they were counted)."""
    path = os.environ.get(MULTIPROC_ENV)
    if path:
        multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]  # untyped in the library
