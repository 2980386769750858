"""The in-memory ledger registers what the SQL ledger registers: same receipts, same tree root."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from gateway.adapters.key_files import FileKeyStore
from gateway.errors import LedgerError
from tests.conftest import FixedClock
from tests.support.ledger import open_ledger, resident_id, sample_record
from tests.support.memory_ledger import MemoryLedger


def test_receipts_and_root_equal_the_sql_ledgers(tmp_path: Path, keystore: FileKeyStore) -> None:
    clock = FixedClock()
    secret = keystore.secret("commitment")
    memory = MemoryLedger(clock)
    with open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}", keystore, clock) as sql:
        for i in range(9):
            assert memory.append(sample_record(i, secret)) == sql.append(sample_record(i, secret))
        head = sql.head()
    assert head is not None
    assert (head.size, head.root_hash) == (len(memory.leaves), memory.root())
    assert memory.records()[3].record["request_id"] == "req-3"


def test_an_identifier_in_clear_is_refused_as_by_the_sql_ledger() -> None:
    memory = MemoryLedger(FixedClock())
    record = replace(sample_record(1, b"k" * 32), legal_basis=f"about {resident_id(1)}")
    with pytest.raises(LedgerError):
        memory.append(record)
    assert memory.leaves == []
