"""A few warm engines: policy decisions run on a small fixed set of threads, not on every request thread.

Without it, every thread of the server's request pool (up to 40 under FastAPI) builds and keeps its
own regorus engine, and up to 16 of them take turns under load. regorus holds the GIL for a whole
evaluation, so those threads gain no parallelism by it: they only spread the engines' working sets
over more caches and fight over the GIL (33-73% more time per decision measured at 16 threads).
Here a handful of threads, sized to the cores, each own one engine for their whole life and take
decisions from a queue; a request thread waits for its answer without holding the GIL.

The regorus pitfalls (see ``regorus.py``) are kept by construction: the wrapped engine builds its
per-thread engines lazily, so each pool thread builds, uses and finally drops its own engine (when
the thread ends, on that thread). Nothing that crosses back to a request thread may keep a pool
thread's engine alive: a failure is handed over as a fresh PolicyEngineError whose cause carries the
engine's message as text, never the original exception, whose traceback would hold the pool thread's
frames and, through them, its engine.
"""

from __future__ import annotations

import logging
import queue
import threading
import weakref
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass

from gateway.adapters.policy.regorus import engine_error_text
from gateway.errors import PolicyEngineError
from gateway.ports import JSON, PolicyEngine

log = logging.getLogger("gateway.policy")

STARTUP_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class _Job:
    entrypoint: str
    input_document: Mapping[str, JSON]
    future: Future[JSON]
    engine: PolicyEngine  # the bundle the decision was asked of (see ``swap``)


def _detached(exc: BaseException) -> PolicyEngineError:
    """``exc`` as a new PolicyEngineError that references no frame of the thread it was raised on.

    The engine's own message goes on the cause, as text: it may quote policy source, and, like the
    direct adapter, the pool keeps it off the error the requester sees.
    """
    origin = exc.__cause__ if isinstance(exc, PolicyEngineError) and exc.__cause__ is not None else exc
    if isinstance(exc, PolicyEngineError):
        error = type(exc)(exc.detail)  # the same class, so the same stable code
    else:
        error = PolicyEngineError(f"the policy engine could not evaluate ({type(exc).__name__})")
    error.__cause__ = RuntimeError(f"{type(origin).__name__}: {engine_error_text(origin)}")
    return error


def _stop_threads(jobs: queue.SimpleQueue[_Job | None], threads: list[threading.Thread]) -> None:
    """Let every thread finish the decisions queued before this call, then end (and drop its engine)."""
    for _ in threads:
        jobs.put(None)
    for thread in threads:
        if thread is not threading.current_thread():
            thread.join()


class PooledPolicyEngine:
    """PolicyEngine that runs ``inner.evaluate`` on ``threads`` dedicated threads, and nowhere else.

    ``warm`` runs once on every pool thread before it takes work (e.g. a first evaluation, so each
    thread's engine is built and its caches filled at startup, not on a live request); if it fails
    on any thread the pool stops and the constructor raises.
    """

    def __init__(
        self,
        inner: PolicyEngine,
        threads: int,
        *,
        warm: Callable[[PolicyEngine], object] | None = None,
        name: str = "policy",
    ) -> None:
        if threads < 1:
            raise ValueError("a policy pool needs at least one thread")
        self._inner = inner
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._closed = False
        self._close_lock = threading.Lock()
        started: list[Future[None]] = [Future() for _ in range(threads)]
        self._threads = [
            threading.Thread(target=self._run, args=(started[i], warm), name=f"{name}-{i}", daemon=True)
            for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()
        # Also at interpreter exit, if nobody closed the pool (a startup that failed after building it):
        # a thread still running then would have its engine dropped by the main thread's cleanup.
        self._stop = weakref.finalize(self, _stop_threads, self._jobs, self._threads)
        try:
            for ready in started:
                ready.result(timeout=STARTUP_TIMEOUT_S)
        except BaseException:
            self.close()
            raise

    @property
    def revision(self) -> str:
        return self._inner.revision

    @property
    def threads(self) -> int:
        """How many pool threads (and so engines) serve decisions."""
        return len(self._threads)

    def evaluate(self, entrypoint: str, input_document: Mapping[str, JSON]) -> JSON:
        return self._evaluate(self._inner, entrypoint, input_document)

    def _evaluate(self, engine: PolicyEngine, entrypoint: str, input_document: Mapping[str, JSON]) -> JSON:
        future: Future[JSON] = Future()
        with self._close_lock:  # a job queued after close() would wait for a thread that is gone
            if self._closed:
                raise PolicyEngineError("the policy engine is shut down")
            self._jobs.put(_Job(entrypoint, input_document, future, engine))
        return future.result()

    def swap(self, inner: PolicyEngine) -> PolicyEngine:
        """Serve every decision asked from now on with ``inner``; returns the engine it replaces.

        Decisions already queued finish on the engine they were asked of, so none is dropped. Each
        pool thread builds its own engine of ``inner`` on its first decision (regorus engines never
        cross threads) and drops those of the replaced one when their owner is gone.
        """
        with self._close_lock:
            previous, self._inner = self._inner, inner
        return previous

    def pinned(self) -> PolicyEngine:
        """The engine serving now, fixed: its ``revision`` is the one its decisions are made with."""
        return _Pinned(self, self._inner)

    def close(self) -> None:
        """Stop the threads once the queued decisions are done; each drops its engine as it ends."""
        with self._close_lock:
            self._closed = True
        self._stop()  # runs once

    def _run(self, started: Future[None], warm: Callable[[PolicyEngine], object] | None) -> None:
        try:
            if warm is not None:
                warm(self._inner)
        except BaseException as exc:
            started.set_exception(_detached(exc))
            return
        started.set_result(None)
        while True:
            job = self._jobs.get()
            if job is None:
                return
            if not job.future.set_running_or_notify_cancel():
                continue
            try:
                value = job.engine.evaluate(job.entrypoint, job.input_document)
            except BaseException as exc:  # a pyo3 PanicException derives from BaseException
                job.future.set_exception(_detached(exc))
            else:
                job.future.set_result(value)
            del job


class _Pinned:
    """One bundle of a pool, for one decision: the revision recorded is the revision evaluated."""

    def __init__(self, pool: PooledPolicyEngine, inner: PolicyEngine) -> None:
        self._pool = pool
        self._inner = inner

    @property
    def revision(self) -> str:
        return self._inner.revision

    def evaluate(self, entrypoint: str, input_document: Mapping[str, JSON]) -> JSON:
        return self._pool._evaluate(self._inner, entrypoint, input_document)
