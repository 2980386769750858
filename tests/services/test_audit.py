"""The audit service over a real SQLite ledger: listing, proofs, exports, subject reports, reviews."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.adapters.crypto.ed25519 import ed25519_verify
from gateway.adapters.key_files import FileKeyStore
from gateway.adapters.sql.ledger import SqlLedger
from gateway.domain.ledger.commitments import subject_commitment
from gateway.domain.ledger.terms import EntryFilter
from gateway.domain.transparency.checkpoint import open_checkpoint
from gateway.errors import InvalidIdentifier, InvalidRequest, LedgerError, NotFound
from gateway.ports import Actor
from gateway.services.audit import AuditService, build_audit_service
from tests.conftest import FixedClock
from tests.support import rfc9162
from tests.support.ledger import open_ledger, public_keys, resident_id, sample_record, uscc

AUDITOR = Actor("auditor-1", "audit_office")


@pytest.fixture
def ledger(tmp_path: Path, keystore: FileKeyStore, clock: FixedClock) -> Iterator[SqlLedger]:
    secret = keystore.secret("commitment")
    with open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}", keystore, clock, checkpoint_every=8) as store:
        for i in range(21):
            store.append(sample_record(i, secret))
        yield store


@pytest.fixture
def service(ledger: SqlLedger, keystore: FileKeyStore) -> AuditService:
    return build_audit_service(ledger, keystore)


def note_root(note: str) -> tuple[int, bytes]:
    """Size and root read straight off a C2SP checkpoint's text lines."""
    lines = note.split("\n")
    return int(lines[1]), base64.b64decode(lines[2])


def test_list_entries_filters_and_pages(service: AuditService) -> None:
    first = service.list_entries(EntryFilter(department="court", limit=3))
    assert [e.index for e in first.entries] == [2, 5, 8]
    assert first.next_cursor == 8
    second = service.list_entries(EntryFilter(department="court", limit=3, after=first.next_cursor))
    assert [e.index for e in second.entries] == [11, 14, 17]
    last = service.list_entries(EntryFilter(department="court", limit=3, after=17))
    assert [e.index for e in last.entries] == [20]
    assert last.next_cursor is None
    entry = first.entries[0].envelope()
    assert entry.record["department"] == "court"
    assert entry.logged_at == "2026-11-22T08:00:00.000000Z"
    assert len(first.entries[0].leaf_hash.hex()) == 64


def test_an_entry_comes_with_an_inclusion_proof_against_a_signed_checkpoint(
    service: AuditService, keystore: FileKeyStore
) -> None:
    shown = service.entry(19)
    checkpoint = shown.checkpoint
    assert checkpoint is not None
    # 21 entries, checkpoints every 8: the view signs one for 21 on demand.
    opened = open_checkpoint(checkpoint.note, public_keys=public_keys(keystore), verify=ed25519_verify)
    size, root = note_root(checkpoint.note)
    assert size == opened.size == shown.tree_size == 21
    path = shown.inclusion_path
    leaf = shown.entry.leaf_hash
    assert rfc9162.verify_inclusion(19, size, leaf, path, root)
    # Against an older checkpoint too.
    older = service.entry(3, tree_size=16)
    assert older.checkpoint is not None
    size16, root16 = note_root(older.checkpoint.note)
    assert size16 == 16
    path16 = older.inclusion_path
    assert rfc9162.verify_inclusion(3, 16, older.entry.leaf_hash, path16, root16)
    assert shown.verifier_keys["ed25519"].startswith("ledger.credit-gateway.test/log+")


def test_entry_errors(service: AuditService) -> None:
    with pytest.raises(NotFound):
        service.entry(99)
    with pytest.raises(InvalidRequest):
        service.entry(10, tree_size=10)
    with pytest.raises(InvalidRequest):
        service.entry(10, tree_size=50)


def test_consistency_between_two_checkpoints_verifies_independently(
    service: AuditService, ledger: SqlLedger
) -> None:
    latest = service.checkpoint()
    assert latest.size == 21
    old = ledger.checkpoint_at(8)
    assert old is not None
    proof = service.consistency(8, 21)
    path = proof.path
    assert (proof.first, proof.second) == (8, 21)
    assert rfc9162.verify_consistency(8, 21, note_root(old.note)[1], note_root(latest.note)[1], path)
    assert proof.first_root == old.root_hash
    with pytest.raises(InvalidRequest):
        service.consistency(9, 8)
    with pytest.raises(InvalidRequest):
        service.consistency(8, 22)


def test_checkpoint_is_signed_on_demand_only_when_the_log_grew(
    service: AuditService, ledger: SqlLedger, keystore: FileKeyStore
) -> None:
    first = service.checkpoint()
    assert service.checkpoint() == first
    ledger.append(sample_record(99, keystore.secret("commitment")))
    assert service.checkpoint().size == first.size + 1
    assert service.checkpoint().size == first.size + 1


def test_subject_report_finds_the_subjects_entries_and_is_itself_registered(
    service: AuditService, ledger: SqlLedger, tmp_path: Path, keystore: FileKeyStore
) -> None:
    subject = resident_id(3)
    report = service.subject_report("resident_id", subject, AUDITOR)
    assert [e.index for e in report.entries] == [3, 10, 17]
    assert len(report.entries) == 3
    assert report.subject.commitment == subject_commitment(
        keystore.secret("commitment"), "resident_id", subject
    )
    registered = ledger.entry(report.receipt.index)
    assert registered is not None
    assert registered.envelope().record["kind"] == "subject_report"
    # The next report shows the first lookup as well: the subject learns an auditor looked.
    again = service.subject_report("resident_id", subject.lower(), AUDITOR)
    assert [e.index for e in again.entries] == [3, 10, 17, report.receipt.index]
    # A company and a bad checksum.
    assert len(service.subject_report("uscc", uscc(1), AUDITOR).entries) == 0
    with pytest.raises(InvalidIdentifier):
        service.subject_report("resident_id", subject[:-1] + ("0" if subject[-1] != "0" else "1"), AUDITOR)
    # Never the identifier itself, anywhere in the database files.
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("ledger.db*"))
    assert subject.encode() not in stored


def test_review_is_a_ledger_entry_and_shows_on_the_target(service: AuditService, ledger: SqlLedger) -> None:
    result = service.review(4, "flagged", "purpose looks stretched", AUDITOR)
    receipt = result.receipt
    stored = ledger.entry(receipt.index)
    assert stored is not None
    record = stored.envelope().record
    assert record["kind"] == "review"
    assert record["target_index"] == 4
    assert record["target_leaf_hash"] == service.entry(4).entry.leaf_hash.hex()
    service.review(4, "reviewed", "checked with the department", AUDITOR)
    reviews = [r.envelope().record for r in service.entry(4).reviews]
    assert [r["status"] for r in reviews] == ["flagged", "reviewed"]
    assert reviews[0]["client_id"] == "auditor-1"
    assert service.list_entries(EntryFilter(review="reviewed")).entries[0].index == 4


def test_review_errors(service: AuditService) -> None:
    with pytest.raises(NotFound):
        service.review(500, "reviewed", "", AUDITOR)
    with pytest.raises(InvalidRequest):
        service.review(1, "approved", "", AUDITOR)
    with pytest.raises(InvalidRequest) as caught:
        service.review(1, "flagged", f"subject {resident_id(1)} again", AUDITOR)
    assert caught.value.field == "comment"


def test_a_broken_ledger_is_a_503_not_an_answer(service: AuditService, ledger: SqlLedger) -> None:
    ledger.engine.dispose()
    Path(str(ledger.engine.url.database)).unlink()  # the database file is gone
    for suffix in ("-wal", "-shm"):
        Path(str(ledger.engine.url.database) + suffix).unlink(missing_ok=True)
    Path(str(ledger.engine.url.database)).mkdir()  # and a directory is in its way
    with pytest.raises(LedgerError):
        service.review(1, "reviewed", "", AUDITOR)
    with pytest.raises(LedgerError):
        service.list_entries(EntryFilter())
