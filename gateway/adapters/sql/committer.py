"""Group commit: one thread writes every queued ledger entry in one transaction, then wakes its callers.

Callers hand over their record and block; the thread takes everything queued (up to ``max_batch``),
encodes it (outside the transaction), hands the batch to ``write`` and wakes each caller with its
receipt only after ``write`` returned, i.e. after COMMIT. One fsync serves a whole batch, and no
caller returns before its entry is durable. An entry that cannot be encoded fails alone; a failed
write fails its whole batch.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable, Sequence

from gateway.domain.ledger.envelope import canonical_record
from gateway.domain.ledger.records import LedgerRecord
from gateway.domain.ledger.terms import EntryTerms, entry_terms
from gateway.errors import InvalidRequest, LedgerError
from gateway.ports import Receipt

log = logging.getLogger("gateway.ledger")


class Pending:
    """One caller's entry on its way to the database, and the caller's wait for the outcome."""

    __slots__ = ("_done", "entry", "error", "on_done", "receipt", "record", "terms")

    def __init__(
        self,
        entry: LedgerRecord,
        on_done: Callable[[Receipt | None, LedgerError | None], None] | None = None,
    ) -> None:
        self.entry = entry
        self.on_done = on_done  # called on the committer thread with the outcome, for callers that don't wait
        self.record = b""
        self.terms: EntryTerms | None = None
        self.receipt: Receipt | None = None
        self.error: LedgerError | None = None
        self._done = threading.Lock()  # held until the outcome is known: the cheapest wake-up there is
        self._done.acquire()

    def prepare(self) -> None:
        """Canonicalize and index the entry; raise LedgerError when it cannot be registered."""
        try:
            fields = self.entry.as_dict()
            self.record = canonical_record(fields)
            self.terms = entry_terms(fields)
        except InvalidRequest as exc:
            raise LedgerError(f"ledger entry refused: {exc.detail}") from exc

    def resolve(self, receipt: Receipt | None = None, error: LedgerError | None = None) -> None:
        """Hand the outcome to the waiting caller."""
        self.receipt, self.error = receipt, error
        self._done.release()
        if self.on_done is not None:
            try:
                self.on_done(receipt, error)
            except Exception:  # a caller's hand-over must not stop the committer
                log.exception("ledger outcome could not be handed over")

    def wait(self, timeout: float) -> Receipt:
        """The receipt, once committed; LedgerError on failure or when ``timeout`` passes first."""
        if not self._done.acquire(timeout=timeout):
            # The entry may still commit later; the caller fails closed and sends nothing.
            raise LedgerError("the ledger did not confirm the entry in time")
        if self.error is not None:
            raise self.error
        assert self.receipt is not None  # noqa: S101 - resolve() sets one of the two
        return self.receipt


class GroupCommitter:
    """The committer thread of one ledger: started on the first append, stopped by ``close``."""

    def __init__(
        self,
        write: Callable[[Sequence[Pending]], list[Receipt]],
        *,
        max_batch: int,
        timeout_s: float,
        idle_s: float,
        on_idle: Callable[[], None],
    ) -> None:
        self._write = write
        self.max_batch = max_batch
        self.timeout_s = timeout_s
        self._idle_s = idle_s
        self._on_idle = on_idle
        self._queue: collections.deque[Pending] = collections.deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, entry: LedgerRecord) -> Receipt:
        """Queue ``entry`` and wait for its receipt (LedgerError on failure)."""
        # The committer thread encodes the entry: callers only wait, so it is not starved of the GIL
        # every time it hands it over for a database call.
        pending = Pending(entry)
        with self._cond:
            if self._closed:
                raise LedgerError("the ledger is closed")
            self._ensure_thread()
            self._queue.append(pending)
            self._cond.notify()
        return pending.wait(self.timeout_s)

    def submit_nowait(
        self, entry: LedgerRecord, on_done: Callable[[Receipt | None, LedgerError | None], None]
    ) -> None:
        """Queue ``entry``; ``on_done(receipt, error)`` is called on the committer thread after COMMIT.

        For callers that await the outcome elsewhere (an event loop) instead of blocking a thread.
        Raises LedgerError at once when the ledger is closed.
        """
        pending = Pending(entry, on_done)
        with self._cond:
            if self._closed:
                raise LedgerError("the ledger is closed")
            self._ensure_thread()
            self._queue.append(pending)
            self._cond.notify()

    def close(self) -> None:
        """Write what is queued, then stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s)

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="ledger-committer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._queue and not self._closed:
                    self._cond.wait(timeout=self._idle_s)
                if self._closed and not self._queue:
                    return
                batch = [self._queue.popleft() for _ in range(min(self.max_batch, len(self._queue)))]
            if batch:
                self._commit(batch)
            else:
                self._on_idle()

    def _commit(self, pending: list[Pending]) -> None:
        batch: list[Pending] = []
        for p in pending:
            try:
                p.prepare()  # outside the transaction: the write lock is held only for the writes
            except LedgerError as exc:
                p.resolve(error=exc)  # this entry alone fails
            except Exception:  # a malformed mapping must not stop the committer
                p.resolve(error=LedgerError("the ledger could not encode the entry"))
            else:
                batch.append(p)
        if not batch:
            return
        try:
            receipts = self._write(batch)
        except Exception as exc:  # every failure fails the whole batch, closed
            log.error("ledger append failed", extra={"error_type": type(exc).__name__, "batch": len(batch)})
            error = (
                exc
                if isinstance(exc, LedgerError)
                else LedgerError("the ledger could not register the entry")
            )
            for p in batch:
                p.resolve(error=LedgerError(error.detail))  # one exception object per waiting thread
            return
        for p, receipt in zip(batch, receipts, strict=True):
            p.resolve(receipt)
