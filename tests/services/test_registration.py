"""The one register-or-fail-closed helper every use case appends through."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.adapters.key_files import FileKeyStore
from gateway.domain.ledger.records import LedgerRecord
from gateway.errors import LedgerError
from gateway.ports import QueuedLedger, Receipt
from gateway.services.registration import register, register_soon
from tests.conftest import FixedClock
from tests.support.ledger import open_ledger, sample_record

SECRET = bytes(range(32))
log = logging.getLogger("gateway.test_registration")


class _BrokenAdapter:
    """A ledger adapter with a bug: its append raises something that is not a LedgerError."""

    def append(self, entry: LedgerRecord) -> Receipt:
        raise KeyError("a bug in the adapter")


def test_a_committed_record_returns_its_receipt(
    tmp_path: Path, keystore: FileKeyStore, clock: FixedClock
) -> None:
    with open_ledger(f"sqlite:///{tmp_path / 'l.db'}", keystore, clock) as ledger:
        receipt = register(ledger, sample_record(0, SECRET), log=log, failure="not registered")
        stored = ledger.entry(receipt.index)
        assert stored is not None
        assert stored.leaf_hash.hex() == receipt.leaf_hash


def test_a_ledger_failure_is_passed_on_and_logged_with_the_kind(
    tmp_path: Path, keystore: FileKeyStore, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    with open_ledger(f"sqlite:///{tmp_path / 'l.db'}", keystore, clock) as ledger:
        ledger.close()
        with caplog.at_level(logging.ERROR, logger=log.name), pytest.raises(LedgerError, match="closed"):
            register(ledger, sample_record(0, SECRET), log=log, failure="not registered")
    assert [(r.name, getattr(r, "kind", None)) for r in caplog.records] == [(log.name, "query")]


def test_any_other_failure_becomes_a_ledger_error(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger=log.name), pytest.raises(LedgerError, match="not registered"):
        register(_BrokenAdapter(), sample_record(0, SECRET), log=log, failure="not registered")
    assert [getattr(r, "error_type", None) for r in caplog.records] == ["KeyError"]


# --- register_soon: the receipt awaited on an event loop ------------------------------------------


def test_an_awaited_record_returns_its_receipt_without_a_waiting_thread(
    tmp_path: Path, keystore: FileKeyStore, clock: FixedClock
) -> None:
    with open_ledger(f"sqlite:///{tmp_path / 'l.db'}", keystore, clock) as ledger:
        assert isinstance(ledger, QueuedLedger)

        async def many() -> list[Receipt]:
            records = [sample_record(i, SECRET) for i in range(20)]
            return list(
                await asyncio.gather(*(register_soon(ledger, r, log=log, failure="no") for r in records))
            )

        before = threading.active_count()
        receipts = asyncio.run(many())
        # Only the ledger's committer thread (started by the first append) may have been added.
        assert threading.active_count() <= before + 1
        assert sorted(r.index for r in receipts) == list(range(20))
        for receipt in receipts:
            stored = ledger.entry(receipt.index)
            assert stored is not None
            assert stored.leaf_hash.hex() == receipt.leaf_hash


def test_an_awaited_append_to_a_closed_ledger_fails_closed(
    tmp_path: Path, keystore: FileKeyStore, clock: FixedClock
) -> None:
    with open_ledger(f"sqlite:///{tmp_path / 'l.db'}", keystore, clock) as ledger:
        ledger.close()
        with pytest.raises(LedgerError):
            asyncio.run(register_soon(ledger, sample_record(0, SECRET), log=log, failure="no"))


class _SilentLedger:
    """A queueing ledger that never reports back (a committer that hangs)."""

    append_timeout_s = 0.05

    def append(self, entry: LedgerRecord) -> Receipt:
        raise AssertionError("register_soon must queue, not append")

    def append_soon(
        self, entry: LedgerRecord, done: Callable[[Receipt | None, Exception | None], None]
    ) -> None:
        pass


def test_an_awaited_append_that_is_never_confirmed_fails_closed() -> None:
    with pytest.raises(LedgerError, match="in time"):
        asyncio.run(register_soon(_SilentLedger(), sample_record(0, SECRET), log=log, failure="no"))


def test_an_awaited_append_to_a_ledger_that_cannot_queue_runs_on_a_thread_and_fails_closed() -> None:
    with pytest.raises(LedgerError, match="not registered"):
        asyncio.run(
            register_soon(_BrokenAdapter(), sample_record(0, SECRET), log=log, failure="not registered")
        )
