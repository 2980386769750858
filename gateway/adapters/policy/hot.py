"""Switching bundles without a restart: each worker polls the active revision and swaps its pool.

Every worker process of every replica runs one ``BundleWatcher`` thread. About once a second it
reads the one-row active pointer (an indexed primary-key read, off the request path); when the
revision differs from what its pool serves, it loads that bundle from the database, builds and
warms an engine for it on the watcher thread, and only then swaps it into the pool. Anything that
fails on the way (the bundle does not load, does not compile, does not answer a warm-up decision,
its catalog does not load) leaves the previous bundle serving; that revision is retried only after
``retry_s``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from gateway.adapters.policy.pool import PooledPolicyEngine
from gateway.adapters.policy.regorus import RegorusEngine
from gateway.adapters.policy.workbench import materialized
from gateway.ports import PolicyBundleStore

log = logging.getLogger("gateway.policy")
DECISION_ENTRYPOINT = "gateway.query.decision"


class BundleWatcher:
    """Keeps ``pool`` on the store's active bundle; ``on_swap(root)`` prepares what goes with it."""

    def __init__(
        self,
        store: PolicyBundleStore,
        pool: PooledPolicyEngine,
        *,
        interval_s: float = 1.0,
        retry_s: float = 30.0,
        on_swap: Callable[[Path], Callable[[], None]] | None = None,
    ) -> None:
        self.store = store
        self.pool = pool
        self.interval_s = interval_s
        self.retry_s = retry_s
        self.on_swap = on_swap
        self.failed: dict[str, float] = {}
        self.swaps = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> bool:
        """One poll: switch if the active revision changed; True when a switch happened."""
        active = self.store.active()
        if active is None or active[1] == self.pool.revision:
            return False
        bundle_id, revision = active
        failed_at = self.failed.get(revision)
        if failed_at is not None and time.monotonic() - failed_at < self.retry_s:
            return False
        try:
            bundle = self.store.get(bundle_id)
            if bundle is None:
                raise LookupError("the active bundle is not stored")
            with materialized(bundle.files) as root:
                engine = RegorusEngine(root)
                if engine.revision != revision:
                    raise ValueError("the stored bundle does not have the active revision")
                if not isinstance(engine.evaluate(DECISION_ENTRYPOINT, {}), dict):
                    raise ValueError("the bundle does not answer a decision")
                commit = self.on_swap(root) if self.on_swap is not None else None
        except Exception as exc:
            self.failed[revision] = time.monotonic()
            log.error(
                "policy bundle not loaded; the previous one keeps serving",
                extra={"revision": revision, "error_type": type(exc).__name__},
            )
            return False
        self.pool.swap(engine)
        if commit is not None:
            commit()
        self.swaps += 1
        log.info("policy bundle switched", extra={"revision": revision})
        return True

    def start(self) -> None:
        """Poll on a daemon thread until ``stop``."""
        self._thread = threading.Thread(target=self._run, name="policy-bundle-watcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.check()
            except Exception as exc:  # the store being down must not end the watcher
                log.warning("active policy revision not read", extra={"error_type": type(exc).__name__})

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
