"""The one register-or-fail-closed helper every use case appends through."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.adapters.key_files import FileKeyStore
from gateway.domain.ledger.records import LedgerRecord
from gateway.errors import LedgerError
from gateway.ports import Receipt
from gateway.services.registration import register
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
