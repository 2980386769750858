"""Registering a record in the ledger, or failing closed.

Every use case that answers only once its outcome is registered goes through ``register``: the
caller gets the receipt, or LedgerError and nothing else. An unexpected exception from the ledger is
turned into LedgerError too, so no caller mistakes it for a failure of its own and answers anyway.

``register_soon`` is the same for a caller on an event loop: with a QueuedLedger no thread waits for
the group commit; the committer thread completes an asyncio future through
``loop.call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import logging

from gateway.domain.ledger.records import LedgerRecord
from gateway.errors import LedgerError
from gateway.ports import Ledger, QueuedLedger, Receipt


def register(ledger: Ledger, record: LedgerRecord, *, log: logging.Logger, failure: str) -> Receipt:
    """Append ``record`` durably and return its receipt; raise LedgerError (``failure``) otherwise.

    ``log`` is the use case's own logger, so a failed append is reported where its use case logs.
    """
    try:
        return ledger.append(record)
    except LedgerError:
        log.error("ledger append failed", extra={"kind": record.kind})
        raise
    except Exception as exc:
        log.error("ledger append failed", extra={"error_type": type(exc).__name__})
        raise LedgerError(failure) from exc


async def register_soon(
    ledger: Ledger, record: LedgerRecord, *, log: logging.Logger, failure: str
) -> Receipt:
    """``register`` awaited on the running event loop; LedgerError (``failure``) unless committed.

    A ledger that cannot queue (no ``append_soon``) is appended to on a worker thread instead.
    """
    if not isinstance(ledger, QueuedLedger):
        return await asyncio.to_thread(register, ledger, record, log=log, failure=failure)
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Receipt] = loop.create_future()

    def settle(receipt: Receipt | None, error: Exception | None) -> None:
        if future.done():  # timed out (cancelled) meanwhile: the caller has already failed closed
            return
        if error is not None:
            future.set_exception(error)
        elif receipt is None:
            future.set_exception(LedgerError(failure))
        else:
            future.set_result(receipt)

    def done(receipt: Receipt | None, error: Exception | None) -> None:
        loop.call_soon_threadsafe(settle, receipt, error)  # runs on the committer thread

    try:
        ledger.append_soon(record, done)
        return await asyncio.wait_for(future, ledger.append_timeout_s)
    except LedgerError:
        log.error("ledger append failed", extra={"kind": record.kind})
        raise
    except TimeoutError as exc:
        # The entry may still commit later; the caller fails closed and sends nothing.
        log.error("ledger append timed out", extra={"kind": record.kind})
        raise LedgerError("the ledger did not confirm the entry in time") from exc
    except Exception as exc:
        log.error("ledger append failed", extra={"error_type": type(exc).__name__})
        raise LedgerError(failure) from exc
