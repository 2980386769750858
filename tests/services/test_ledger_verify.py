"""The offline verifier catches every kind of tampering, in the database and in an export, at the right index.

The log: 40 entries, a checkpoint every 10 (so signed sizes 0, 10, 20, 30, 40).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from gateway.adapters.crypto.ed25519 import Ed25519Signer, ed25519_verify
from gateway.adapters.export_files import ExportFileSource
from gateway.adapters.key_files import FileKeyStore
from gateway.adapters.sql.engine import make_engine
from gateway.adapters.sql.ledger_source import SqlLedgerSource, open_ledger_source
from gateway.adapters.sql.schema import ledger_checkpoints, ledger_entries, ledger_head, ledger_terms
from gateway.cli.ledger_verify import run_verify_cli
from gateway.cli.main import main as cli_main
from gateway.domain.ledger.envelope import envelope_bytes
from gateway.domain.transparency import merkle
from gateway.domain.transparency.checkpoint import Checkpoint, sign_checkpoint
from gateway.services.audit import build_audit_service
from gateway.services.ledger_verify import VerifyResult, verify_ledger
from tests.conftest import FixedClock
from tests.support.ledger import (
    ORIGIN,
    forge_tail,
    ledger_target,
    open_ledger,
    public_keys,
    sample_record,
    truncate_as_a_writer,
)

SIZE = 40
REPO = Path(__file__).resolve().parents[2]
EXPORT_SIZE = 43  # not a multiple of 10: the export signs its own final checkpoint


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def log(
    request: pytest.FixtureRequest, tmp_path: Path, keystore: FileKeyStore, clock: FixedClock
) -> Iterator[tuple[str, str | None]]:
    """A database holding the 40-entry log."""
    pg = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    with ledger_target(request.param, tmp_path, pg) as (url, schema):
        secret = keystore.secret("commitment")
        with open_ledger(url, keystore, clock, schema=schema, checkpoint_every=10) as ledger:
            for i in range(SIZE):
                ledger.append(sample_record(i, secret))
        yield url, schema


def verify_db(url: str, schema: str | None, keystore: FileKeyStore, **kw: object) -> VerifyResult:
    source = SqlLedgerSource(url, schema=schema)
    try:
        kw.setdefault("index", source)
        return verify_ledger(source, public_keys(keystore), ed25519_verify, **kw)  # type: ignore[arg-type]
    finally:
        source.close()


def tamper(url: str, schema: str | None, change: Callable[[sa.Connection], object]) -> None:
    engine = make_engine(url, schema=schema)
    with engine.connect() as conn:
        change(conn)
        conn.commit()
    engine.dispose()


def row(conn: sa.Connection, index: int) -> Any:
    e = ledger_entries
    return conn.execute(sa.select(e.c.idx, e.c.leaf_hash, e.c.entry).where(e.c.idx == index)).one()


def set_entry(conn: sa.Connection, index: int, text: str, leaf_hash: bytes | None = None) -> None:
    values: dict[str, object] = {"entry": text}
    if leaf_hash is not None:
        values["leaf_hash"] = leaf_hash
    conn.execute(sa.update(ledger_entries).where(ledger_entries.c.idx == index).values(**values))


def shift_from(conn: sa.Connection, index: int, by: int) -> None:
    e = ledger_entries
    conn.execute(sa.update(e).where(e.c.idx >= index).values(idx=-e.c.idx - by))
    conn.execute(sa.update(e).where(e.c.idx < 0).values(idx=-e.c.idx))


def test_an_untouched_log_verifies(log: tuple[str, str | None], keystore: FileKeyStore) -> None:
    progress: list[tuple[int, int | None]] = []
    result = verify_db(*log, keystore, progress=lambda done, total: progress.append((done, total)))
    assert result.ok, result.reason
    assert (result.entries, result.proven_size, result.checkpoints) == (SIZE, SIZE, 5)
    assert result.first_bad_index is None
    assert progress[-1] == (SIZE, SIZE)


def test_an_altered_entry_is_named(log: tuple[str, str | None], keystore: FileKeyStore) -> None:
    def change(conn: sa.Connection) -> None:
        text = row(conn, 17).entry
        set_entry(conn, 17, text.replace('"department":"court"', '"department":"tax_bureau"'))

    tamper(*log, change)
    result = verify_db(*log, keystore)
    assert not result.ok
    assert result.first_bad_index == 17
    assert "altered" in result.reason


def test_an_altered_entry_with_a_recomputed_hash_is_caught_by_the_next_checkpoint(
    log: tuple[str, str | None], keystore: FileKeyStore
) -> None:
    def change(conn: sa.Connection) -> None:
        text = row(conn, 17).entry.replace('"rows_total":3', '"rows_total":0')
        set_entry(conn, 17, text, merkle.leaf_hash(text.encode()))

    tamper(*log, change)
    result = verify_db(*log, keystore)
    assert not result.ok
    # Nothing but the signed roots betrays this forger: entries before 10 are proven, 17 is in [10, 20).
    assert result.first_bad_index == 10
    assert result.bad_checkpoint == 20
    assert "[10, 20)" in result.reason


def test_a_deleted_entry_is_named(log: tuple[str, str | None], keystore: FileKeyStore) -> None:
    tamper(*log, lambda conn: conn.execute(sa.delete(ledger_entries).where(ledger_entries.c.idx == 17)))
    result = verify_db(*log, keystore)
    assert not result.ok
    assert result.first_bad_index == 17
    assert "missing" in result.reason


def test_a_deleted_entry_with_renumbering_is_named(
    log: tuple[str, str | None], keystore: FileKeyStore
) -> None:
    def change(conn: sa.Connection) -> None:
        conn.execute(sa.delete(ledger_entries).where(ledger_entries.c.idx == 17))
        e = ledger_entries
        conn.execute(sa.update(e).where(e.c.idx > 17).values(idx=-e.c.idx + 1))
        conn.execute(sa.update(e).where(e.c.idx < 0).values(idx=-e.c.idx))

    tamper(*log, change)
    result = verify_db(*log, keystore)
    assert not result.ok
    assert result.first_bad_index == 17


def test_an_inserted_entry_is_named(log: tuple[str, str | None], keystore: FileKeyStore) -> None:
    def change(conn: sa.Connection) -> None:
        # A well-formed forgery: it claims index 17 and carries its correct leaf hash.
        original = json.loads(row(conn, 17).entry)
        record = dict(original["record"], department="forged_department")
        record_bytes = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        fake = envelope_bytes(17, original["logged_at"], record_bytes)
        shift_from(conn, 17, 1)
        values = {
            "idx": 17,
            "leaf_hash": merkle.leaf_hash(fake),
            "logged_at_us": 0,
            "kind": "query",
            "entry": fake.decode(),
        }
        conn.execute(sa.insert(ledger_entries).values(**values))

    tamper(*log, change)
    result = verify_db(*log, keystore)
    assert not result.ok
    assert result.first_bad_index == 17
    assert "inserted" in result.reason


def test_a_replayed_entry_is_named(log: tuple[str, str | None], keystore: FileKeyStore) -> None:
    def change(conn: sa.Connection) -> None:
        copy = row(conn, 5)
        shift_from(conn, 17, 1)
        values = {
            "idx": 17,
            "leaf_hash": copy.leaf_hash,
            "logged_at_us": 0,
            "kind": "query",
            "entry": copy.entry,
        }
        conn.execute(sa.insert(ledger_entries).values(**values))

    tamper(*log, change)
    result = verify_db(*log, keystore)
    assert not result.ok
    assert result.first_bad_index == 17


def test_two_swapped_entries_are_named(log: tuple[str, str | None], keystore: FileKeyStore) -> None:
    def change(conn: sa.Connection) -> None:
        a, b = row(conn, 12), row(conn, 25)
        set_entry(conn, 12, b.entry, b.leaf_hash)
        set_entry(conn, 25, a.entry, a.leaf_hash)

    tamper(*log, change)
    result = verify_db(*log, keystore)
    assert not result.ok
    assert result.first_bad_index == 12


def test_a_truncated_tail_is_named(log: tuple[str, str | None], keystore: FileKeyStore) -> None:
    tamper(*log, lambda conn: conn.execute(sa.delete(ledger_entries).where(ledger_entries.c.idx >= 35)))
    result = verify_db(*log, keystore)
    assert not result.ok
    assert result.first_bad_index == 35
    assert "truncated" in result.reason


def test_a_cleaned_up_truncation_is_caught_by_a_checkpoint_the_auditor_kept(
    log: tuple[str, str | None], keystore: FileKeyStore
) -> None:
    source = SqlLedgerSource(log[0], schema=log[1])
    kept = source.checkpoint_notes()[-1]  # the auditor saved the latest checkpoint (size 40) earlier
    source.close()

    def change(conn: sa.Connection) -> None:
        # The tamperer removes the tail, the checkpoints that cover it, and fixes the head's size.
        conn.execute(sa.delete(ledger_entries).where(ledger_entries.c.idx >= 35))
        conn.execute(sa.delete(ledger_checkpoints).where(ledger_checkpoints.c.size > 30))
        conn.execute(sa.update(ledger_head).values(size=35))

    tamper(*log, change)
    # The head's own signed note still covers 40 entries: the head betrays the cut by itself.
    result = verify_db(*log, keystore)
    assert not result.ok
    assert result.first_bad_index == 35
    # Cut back to a size the gateway signed (its checkpoint becomes the head's note): only a checkpoint
    # kept outside the database contradicts it.
    tamper(*log, lambda conn: truncate_as_a_writer(conn, 30))
    assert verify_db(*log, keystore).ok
    result = verify_db(*log, keystore, extra_checkpoints=[kept])
    assert not result.ok
    assert result.first_bad_index == 30


def test_entries_added_behind_the_ledgers_back_are_named(
    log: tuple[str, str | None], keystore: FileKeyStore
) -> None:
    def change(conn: sa.Connection) -> None:
        copy = row(conn, 3)
        fake = copy.entry.replace('"index":3,', f'"index":{SIZE},', 1)
        values = {
            "idx": SIZE,
            "leaf_hash": merkle.leaf_hash(fake.encode()),
            "logged_at_us": 0,
            "kind": "query",
            "entry": fake,
        }
        conn.execute(sa.insert(ledger_entries).values(**values))

    tamper(*log, change)
    result = verify_db(*log, keystore)
    assert not result.ok
    assert result.first_bad_index == SIZE


def test_a_forged_checkpoint_is_named(log: tuple[str, str | None], keystore: FileKeyStore) -> None:
    def change(conn: sa.Connection) -> None:
        c = ledger_checkpoints
        note = conn.execute(sa.select(c.c.note).where(c.c.size == 20)).scalar_one()
        lines = note.split("\n")
        lines[2] = "A" * 43 + "="  # another root, same signatures
        conn.execute(sa.update(c).where(c.c.size == 20).values(note="\n".join(lines)))

    tamper(*log, change)
    result = verify_db(*log, keystore)
    assert not result.ok
    assert result.bad_checkpoint == 20
    assert "signature" in result.reason


def test_a_fork_signed_by_the_log_is_caught(log: tuple[str, str | None], keystore: FileKeyStore) -> None:
    signer = Ed25519Signer(keystore.private_key_pem("ledger"))
    other = sign_checkpoint(
        Checkpoint(ORIGIN, 20, bytes(32)), public_key=signer.public_key, sign=signer.sign, timestamp=1
    )
    result = verify_db(*log, keystore, extra_checkpoints=[other.note])
    assert not result.ok
    assert result.bad_checkpoint == 20
    assert "forked" in result.reason


def test_the_wrong_key_or_origin_fails_and_a_rotated_key_still_verifies(
    log: tuple[str, str | None], keystore: FileKeyStore, tmp_path: Path
) -> None:
    stranger = FileKeyStore(tmp_path / "stranger")
    stranger.init()
    assert not verify_db(*log, stranger).ok
    assert not verify_db(*log, keystore, origin="other.example/log").ok
    keystore.rotate("ledger")
    result = verify_db(*log, keystore)  # current and previous public keys
    assert result.ok, result.reason


# --- exports ---


@pytest.fixture
def export(tmp_path: Path, keystore: FileKeyStore, clock: FixedClock) -> Path:
    url = f"sqlite:///{tmp_path / 'export-src.db'}"
    secret = keystore.secret("commitment")
    with open_ledger(url, keystore, clock, checkpoint_every=10) as ledger:
        for i in range(EXPORT_SIZE):
            ledger.append(sample_record(i, secret))
        assert ledger.checkpoints()[-1].size == 40
        service = build_audit_service(ledger, keystore)
        path = tmp_path / "ledger.jsonl"
        with path.open("wb") as fh:
            for chunk in service.export_jsonl():
                fh.write(chunk)
    return path


def verify_file(path: Path, keystore: FileKeyStore) -> VerifyResult:
    source = open_ledger_source(str(path))
    assert isinstance(source, ExportFileSource)
    return verify_ledger(source, public_keys(keystore), ed25519_verify)


def edit(path: Path, change: Callable[[list[bytes], int], object]) -> None:
    lines = path.read_bytes().split(b"\n")[:-1]
    first_entry = next(i for i, line in enumerate(lines) if line.startswith(b'{"index":'))
    change(lines, first_entry)
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def test_an_export_verifies_and_ends_with_its_own_checkpoint(export: Path, keystore: FileKeyStore) -> None:
    result = verify_file(export, keystore)
    assert result.ok, result.reason
    assert (result.entries, result.proven_size) == (EXPORT_SIZE, EXPORT_SIZE)
    assert result.latest is not None
    assert result.latest.size == EXPORT_SIZE  # signed on demand for the export
    header = json.loads(export.read_bytes().split(b"\n")[0])["ledger"]
    assert header["size"] == EXPORT_SIZE
    assert header["origin"] == ORIGIN


def test_an_altered_export_line_is_caught_at_its_checkpoint_span(
    export: Path, keystore: FileKeyStore
) -> None:
    edit(export, lambda lines, e: lines.__setitem__(e + 17, lines[e + 17].replace(b'"rows":3', b'"rows":9')))
    result = verify_file(export, keystore)
    assert not result.ok
    assert result.first_bad_index == 10
    assert result.bad_checkpoint == 20


def test_a_deleted_export_line_is_named(export: Path, keystore: FileKeyStore) -> None:
    edit(export, lambda lines, e: lines.pop(e + 17))
    result = verify_file(export, keystore)
    assert (result.ok, result.first_bad_index) == (False, 17)


def test_an_inserted_export_line_is_named(export: Path, keystore: FileKeyStore) -> None:
    edit(export, lambda lines, e: lines.insert(e + 17, lines[e + 5]))
    result = verify_file(export, keystore)
    assert (result.ok, result.first_bad_index) == (False, 17)


def test_swapped_export_lines_are_named(export: Path, keystore: FileKeyStore) -> None:
    def swap(lines: list[bytes], e: int) -> None:
        lines[e + 12], lines[e + 25] = lines[e + 25], lines[e + 12]

    edit(export, swap)
    result = verify_file(export, keystore)
    assert (result.ok, result.first_bad_index) == (False, 12)


def test_a_truncated_export_is_named(export: Path, keystore: FileKeyStore) -> None:
    edit(export, lambda lines, e: lines.__delitem__(slice(e + 35, None)))
    result = verify_file(export, keystore)
    assert (result.ok, result.first_bad_index) == (False, 35)


def test_an_appended_export_line_is_named(export: Path, keystore: FileKeyStore) -> None:
    def append(lines: list[bytes], e: int) -> None:
        lines.append(lines[e + 3].replace(b'{"index":3,', b'{"index":43,', 1))

    edit(export, append)
    result = verify_file(export, keystore)
    assert (result.ok, result.first_bad_index) == (False, EXPORT_SIZE)


# --- the command-line tool ---


def public_pem_file(keystore: FileKeyStore, path: Path) -> Path:
    path.write_bytes(b"".join(keystore.public_keys_pem("ledger")))
    return path


def test_cli_verifies_an_export_and_names_the_first_bad_index(
    export: Path, keystore: FileKeyStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = public_pem_file(keystore, tmp_path / "ledger.pem")
    assert run_verify_cli(export=export, database=None, public_key=key, progress=False) == 0
    assert capsys.readouterr().out.startswith(f"OK: {EXPORT_SIZE} entries")
    edit(export, lambda lines, e: lines.pop(e + 17))
    assert run_verify_cli(export=export, database=None, public_key=key, progress=True) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAILED at index 17:")
    assert run_verify_cli(export=tmp_path / "missing.jsonl", database=None, public_key=key) == 2


def test_cli_verifies_a_database_through_the_gateway_command(
    log: tuple[str, str | None], keystore: FileKeyStore, tmp_path: Path
) -> None:
    url, schema = log
    # PostgreSQL: the schema travels in the URL, as an operator would pass it.
    cli_url = url if schema is None else f"{url}?options=-csearch_path%3D{schema}"
    key = public_pem_file(keystore, tmp_path / "ledger.pem")
    command = [
        sys.executable,
        "-m",
        "gateway.cli.main",
        "ledger",
        "verify",
        "--database",
        cli_url,
        "--public-key",
        str(key),
    ]
    done = subprocess.run(
        [*command, "--quiet"], capture_output=True, text=True, cwd=REPO, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"OK: {SIZE} entries, 5 checkpoints and the signed head verified")
    tamper(url, schema, lambda conn: conn.execute(sa.delete(ledger_entries).where(ledger_entries.c.idx == 3)))
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=120, check=False)
    assert done.returncode == 1
    assert done.stdout.startswith("FAILED at index 3:")


def test_cli_checks_the_log_against_checkpoints_the_auditor_kept(
    log: tuple[str, str | None], keystore: FileKeyStore, tmp_path: Path
) -> None:
    url, schema = log
    source = SqlLedgerSource(url, schema=schema)
    kept = tmp_path / "kept-checkpoint.txt"
    kept.write_text(source.checkpoint_notes()[-1], encoding="utf-8")  # saved by the auditor earlier
    source.close()

    tamper(url, schema, lambda conn: truncate_as_a_writer(conn, 30))
    cli_url = url if schema is None else f"{url}?options=-csearch_path%3D{schema}"
    key = public_pem_file(keystore, tmp_path / "ledger.pem")
    base = ["ledger", "verify", "--database", cli_url, "--public-key", str(key), "--quiet"]
    assert cli_main(base) == 0  # nothing inside the database contradicts the truncation any more
    assert cli_main([*base, "--checkpoint", str(kept)]) == 1


# --- forgeries by a database writer without the signing key (issue 9, parts 5 and 7) ----------


def test_a_forged_tail_is_caught_at_its_index(log: tuple[str, str | None], keystore: FileKeyStore) -> None:
    forged: list[int] = []
    tamper(*log, lambda conn: forged.append(forge_tail(conn, copy_of=7)))
    assert forged == [SIZE]
    result = verify_db(*log, keystore)
    assert not result.ok
    assert result.first_bad_index == SIZE
    assert "forged tail" in result.reason


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("department", "forged_dept"),
        ("purpose", "forged_purpose"),
        ("kind", "review"),
        ("decision", "forged"),
    ],
)
def test_a_rewritten_indexed_column_is_caught_at_its_index(
    log: tuple[str, str | None], keystore: FileKeyStore, column: str, value: str
) -> None:
    e = ledger_entries
    tamper(*log, lambda conn: conn.execute(sa.update(e).where(e.c.idx == 23).values({column: value})))
    result = verify_db(*log, keystore)
    assert not result.ok
    assert result.first_bad_index == 23
    assert f"indexed column {column}" in result.reason


def test_a_rewritten_entry_time_is_caught_at_its_index(
    log: tuple[str, str | None], keystore: FileKeyStore
) -> None:
    e = ledger_entries
    tamper(*log, lambda conn: conn.execute(sa.update(e).where(e.c.idx == 5).values(logged_at_us=0)))
    result = verify_db(*log, keystore)
    assert (result.ok, result.first_bad_index) == (False, 5)
    assert "logged_at_us" in result.reason


def _terms(conn: sa.Connection, index: int) -> list[Any]:
    t = ledger_terms
    return list(conn.execute(sa.select(t.c.term, t.c.value).where(t.c.idx == index)).all())


def test_a_rewritten_terms_row_is_caught_at_its_index(
    log: tuple[str, str | None], keystore: FileKeyStore
) -> None:
    t = ledger_terms

    def change(conn: sa.Connection) -> None:
        term, value = next(r for r in _terms(conn, 12) if r.term == "subject")
        # The subject's report would no longer find entry 12.
        stmt = sa.update(t).where(t.c.idx == 12, t.c.term == term, t.c.value == value)
        conn.execute(stmt.values(value="0" * 64))

    tamper(*log, change)
    result = verify_db(*log, keystore)
    assert (result.ok, result.first_bad_index) == (False, 12)
    assert "terms rows" in result.reason


def test_a_deleted_terms_row_is_caught_at_its_index(
    log: tuple[str, str | None], keystore: FileKeyStore
) -> None:
    t = ledger_terms
    stmt = sa.delete(t).where(t.c.idx == 31, t.c.term == "item")
    tamper(*log, lambda conn: conn.execute(stmt))
    result = verify_db(*log, keystore)
    assert (result.ok, result.first_bad_index) == (False, 31)
    assert "item row missing" in result.reason


@pytest.mark.parametrize("index", [9, SIZE + 5])
def test_an_added_terms_row_is_caught_at_its_index(
    log: tuple[str, str | None], keystore: FileKeyStore, index: int
) -> None:
    row_values = {"term": "reason", "value": "forged_reason", "idx": index}
    tamper(*log, lambda conn: conn.execute(sa.insert(ledger_terms).values(**row_values)))
    result = verify_db(*log, keystore)
    assert (result.ok, result.first_bad_index) == (False, index)


def test_the_index_is_not_checked_without_an_index_source(
    log: tuple[str, str | None], keystore: FileKeyStore
) -> None:
    # The check can fail only because of the index: the same tampering passes the tree checks alone.
    e = ledger_entries
    tamper(*log, lambda conn: conn.execute(sa.update(e).where(e.c.idx == 23).values(department="x")))
    assert verify_db(*log, keystore, index=None).ok
    assert not verify_db(*log, keystore).ok


def test_a_log_that_grows_while_it_is_verified_is_no_forgery(
    log: tuple[str, str | None], keystore: FileKeyStore, clock: FixedClock
) -> None:
    url, schema = log
    secret = keystore.secret("commitment")
    with open_ledger(url, keystore, clock, schema=schema, checkpoint_every=10) as ledger:

        class Growing(SqlLedgerSource):
            def leaves(self) -> Iterator[tuple[int | None, bytes, bytes | None]]:
                for n, leaf in enumerate(super().leaves()):
                    if n == 20:  # the gateway appends while the auditor reads
                        ledger.append(sample_record(SIZE, secret))
                    yield leaf
                ledger.append(sample_record(SIZE + 1, secret))  # and once more after the last chunk

        source = Growing(url, schema=schema, chunk=15)
        try:
            result = verify_ledger(source, public_keys(keystore), ed25519_verify, index=source)
        finally:
            source.close()
    assert result.ok, result.reason
    assert result.entries == SIZE + 1
    assert result.proven_size == SIZE
    assert "appended while verifying" in result.reason
