"""What the metrics read of the ledger at scrape time: its size and the age of its signatures."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from gateway.adapters.sql.reads import SqlLedgerReader
from gateway.adapters.sql.witnesses import SqlCosignatures


class SqlLedgerObservation:
    """The ``LedgerObservation`` port over the ledger's database (read-only, no key needed)."""

    def __init__(self, engine: Engine) -> None:
        self._reader = SqlLedgerReader(engine)
        self._cosignatures = SqlCosignatures(engine)

    def size(self) -> int:
        return self._reader.head().size

    def latest_checkpoint_time(self) -> int | None:
        latest = self._reader.latest_checkpoint()
        return latest.timestamp if latest is not None else None

    def latest_cosignature_time(self) -> int | None:
        # Without a witness (or before its first cosignature) there is no age: the series is left
        # out rather than invented.
        latest = self._cosignatures.latest_cosignature_at()
        return None if latest is None else int(latest.timestamp())
