"""What the metrics read of the ledger at scrape time: its size and the age of its signatures."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from gateway.adapters.sql.reads import SqlLedgerReader


class SqlLedgerObservation:
    """The ``LedgerObservation`` port over the ledger's database (read-only, no key needed)."""

    def __init__(self, engine: Engine) -> None:
        self._reader = SqlLedgerReader(engine)

    def size(self) -> int:
        return self._reader.head().size

    def latest_checkpoint_time(self) -> int | None:
        latest = self._reader.latest_checkpoint()
        return latest.timestamp if latest is not None else None

    def latest_cosignature_time(self) -> int | None:
        # No witness cosigns checkpoints yet (it is being built separately); until its cosignatures
        # are stored, there is no age to report and the series is left out rather than invented.
        return None
