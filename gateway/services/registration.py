"""Registering a record in the ledger, or failing closed.

Every use case that answers only once its outcome is registered goes through ``register``: the
caller gets the receipt, or LedgerError and nothing else. An unexpected exception from the ledger is
turned into LedgerError too, so no caller mistakes it for a failure of its own and answers anyway.
"""

from __future__ import annotations

import logging

from gateway.domain.ledger.records import LedgerRecord
from gateway.errors import LedgerError
from gateway.ports import Ledger, Receipt


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
