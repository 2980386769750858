"""A Ledger kept in memory, for tests whose subject is not the ledger (the ledger has its own tests).

It registers exactly what the SQL ledger would: the record is canonicalized and guarded by the same
domain function (so an identifier in clear is refused here too), wrapped in the same envelope, hashed
as an RFC 6962 leaf and appended to a Merkle frontier. Receipts are therefore real: the index and
leaf hash a caller gets verify against ``root()``. Nothing is written to disk, nothing is signed.
"""

from __future__ import annotations

import threading

from gateway.domain.ledger.envelope import (
    Envelope,
    canonical_record,
    decode_envelope,
    envelope_bytes,
    format_time,
)
from gateway.domain.ledger.records import LedgerRecord
from gateway.domain.transparency import merkle
from gateway.errors import InvalidRequest, LedgerError
from gateway.ports import Clock, Receipt


class MemoryLedger:
    """The Ledger port over a list of leaves and a Merkle frontier."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._frontier = merkle.Frontier()
        self.leaves: list[bytes] = []

    def append(self, entry: LedgerRecord) -> Receipt:
        """Append one entry; raise LedgerError when the entry may not be registered (as the SQL one)."""
        try:
            record = canonical_record(entry.as_dict())
        except InvalidRequest as exc:
            raise LedgerError(f"ledger entry refused: {exc.detail}") from exc
        logged_at = format_time(self._clock.now())
        with self._lock:
            index = self._frontier.size
            leaf = envelope_bytes(index, logged_at, record)
            digest = merkle.leaf_hash(leaf)
            self._frontier.append(digest)
            self.leaves.append(leaf)
        return Receipt(index, digest.hex())

    def root(self) -> bytes:
        """The Merkle tree hash of every entry appended so far."""
        with self._lock:
            return self._frontier.root()

    def records(self) -> list[Envelope]:
        """Every entry, decoded, in log order."""
        return [decode_envelope(leaf) for leaf in self.leaves]
