"""The CSV export is rendered by the API from the audit service's entries: flat, filtered, formula-safe."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path

from gateway.adapters.key_files import FileKeyStore
from gateway.api.schemas.ledger import CSV_COLUMNS, entries_csv
from gateway.domain.ledger.terms import EntryFilter
from gateway.services.audit import build_audit_service
from tests.conftest import FixedClock
from tests.support.ledger import open_ledger, sample_record


def test_csv_export_is_flat_filtered_and_formula_safe(
    tmp_path: Path, keystore: FileKeyStore, clock: FixedClock
) -> None:
    secret = keystore.secret("commitment")
    with open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}", keystore, clock, checkpoint_every=8) as ledger:
        for i in range(21):
            ledger.append(sample_record(i, secret))
        service = build_audit_service(ledger, keystore)
        record = replace(
            sample_record(50, b"k" * 32), legal_basis='=HYPERLINK("http://x")', department="tax_bureau"
        )
        ledger.append(record)
        text = "".join(entries_csv(service.iter_entries(EntryFilter(department="tax_bureau"))))
    rows = list(csv.reader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    body = [dict(zip(CSV_COLUMNS, r, strict=True)) for r in rows[1:]]
    assert [int(r["index"]) for r in body] == [1, 4, 7, 10, 13, 16, 19, 21]
    assert body[0]["items"] == "tax_violation"
    assert body[0]["fields"] == "tax_violation.case_no;tax_violation.name"
    assert body[-1]["legal_basis"].startswith("'=")
