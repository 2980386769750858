"""Forgeries by someone who can write the ledger database but does not hold the signing key.

Each is built for real on a SQLite file and a PostgreSQL schema: a forged tail (entries appended with
the head and nodes recomputed exactly as the ledger would), a tampered frontier, a ledger opened
under another origin, writers whose clocks disagree. The ledger must refuse, fail closed, and say so.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import yaml

from gateway.adapters.crypto.ed25519 import Ed25519Signer
from gateway.adapters.key_files import FileKeyStore
from gateway.adapters.sql import migrate
from gateway.adapters.sql.engine import make_engine
from gateway.adapters.sql.ledger import SqlLedger
from gateway.adapters.sql.schema import ledger_checkpoints, ledger_entries, ledger_head, ledger_nodes
from gateway.cli.main import main as cli_main
from gateway.domain.ledger.envelope import canonical_record, decode_envelope, envelope_bytes, format_time
from gateway.domain.ledger.records import LedgerRecord
from gateway.domain.transparency import merkle
from gateway.domain.transparency.checkpoint import Checkpoint, sign_checkpoint
from gateway.errors import ConfigurationError, LedgerError
from tests.conftest import FixedClock
from tests.support.gateway_app import deployment_settings, running_gateway
from tests.support.ledger import ORIGIN, ledger_target, migrate_database, open_ledger, sample_record


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str | None]]:
    pg = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    with ledger_target(request.param, tmp_path, pg) as found:
        yield found


@pytest.fixture
def secret(keystore: FileKeyStore) -> bytes:
    return keystore.secret("commitment")


def write_directly(url: str, schema: str | None, change: Any) -> None:
    """Run ``change(conn)`` on the database, as a database writer without the key would."""
    engine = make_engine(url, schema=schema)
    try:
        with engine.begin() as conn:
            change(conn)
    finally:
        engine.dispose()


def forge_tail(conn: sa.Connection, record: LedgerRecord, logged_at: str, note: str) -> None:
    """Append ``record`` and recompute the head and nodes exactly as the ledger does."""
    head = conn.execute(sa.select(ledger_head)).one()
    frontier = merkle.Frontier.from_bytes(int(head.size), bytes(head.frontier))
    index = frontier.size
    leaf = envelope_bytes(index, logged_at, canonical_record(record.as_dict()))
    digest = merkle.leaf_hash(leaf)
    for level, position, node in frontier.append(digest):
        conn.execute(ledger_nodes.insert().values(level=level, position=position, hash=node))
    conn.execute(
        ledger_entries.insert().values(
            idx=index, leaf_hash=digest, logged_at_us=0, kind="query", entry=leaf.decode()
        )
    )
    values: dict[str, Any] = {
        "size": frontier.size,
        "frontier": frontier.to_bytes(),
        "root_hash": frontier.root(),
    }
    if note == "null":
        values["signed_note"] = None
    elif note == "older":
        values["signed_note"] = conn.execute(
            sa.select(ledger_checkpoints.c.note).order_by(ledger_checkpoints.c.size).limit(1)
        ).scalar_one()
    conn.execute(sa.update(ledger_head).values(**values))


@pytest.mark.parametrize("note", ["kept", "null", "older"])
def test_a_forged_tail_is_never_appended_to_nor_signed(
    target: tuple[str, str | None],
    keystore: FileKeyStore,
    clock: FixedClock,
    secret: bytes,
    note: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, schema = target
    with open_ledger(url, keystore, clock, schema=schema) as ledger:
        for i in range(5):
            ledger.append(sample_record(i, secret))
        assert ledger.covered()
        logged_at = decode_envelope(ledger.entry(4).leaf).logged_at  # type: ignore[union-attr]
        write_directly(url, schema, lambda conn: forge_tail(conn, sample_record(99, secret), logged_at, note))
        assert ledger.head().size == 6  # the forgery is in the database
        with caplog.at_level(logging.ERROR, logger="gateway.ledger"):
            with pytest.raises(LedgerError) as caught:
                ledger.append(sample_record(5, secret))
            assert "no signed checkpoint covers" in caught.value.detail
            with pytest.raises(LedgerError):
                ledger.checkpoint()  # the ledger never signs over a head it did not build
        assert any("not covered by a signed checkpoint" in r.getMessage() for r in caplog.records)
        assert not ledger.covered()  # the readiness check
        assert ledger.head().size == 6  # nothing was written on top
        assert max(c.size for c in ledger.checkpoints()) <= 5
    # A restarted gateway refuses just the same.
    with open_ledger(url, keystore, clock, schema=schema) as again:
        assert not again.covered()
        with pytest.raises(LedgerError):
            again.append(sample_record(6, secret))


def test_a_tampered_frontier_is_refused(
    target: tuple[str, str | None], keystore: FileKeyStore, clock: FixedClock, secret: bytes
) -> None:
    url, schema = target
    with open_ledger(url, keystore, clock, schema=schema) as ledger:
        for i in range(3):
            ledger.append(sample_record(i, secret))
        # Same size, root and note, but the next entries would build on another tree.
        write_directly(
            url, schema, lambda conn: conn.execute(sa.update(ledger_head).values(frontier=bytes(64)))
        )
        with pytest.raises(LedgerError):
            ledger.append(sample_record(3, secret))
        assert not ledger.covered()


def test_every_batch_is_covered_by_a_signed_head_before_its_callers_return(
    target: tuple[str, str | None], keystore: FileKeyStore, clock: FixedClock, secret: bytes
) -> None:
    url, schema = target
    with open_ledger(url, keystore, clock, schema=schema, checkpoint_every=1000) as ledger:
        for i in range(4):
            receipt = ledger.append(sample_record(i, secret))
            # Read back by another connection: what is committed when the caller returns.
            engine = make_engine(url, schema=schema)
            with engine.connect() as conn:
                head = conn.execute(sa.select(ledger_head)).one()
            engine.dispose()
            assert head.size == receipt.index + 1
            assert head.signed_note.startswith(f"{ORIGIN}\n{receipt.index + 1}\n")
        assert ledger.covered()


# --- identity: origin and time ---


def test_a_ledger_opened_with_another_origin_refuses_naming_both(
    target: tuple[str, str | None], keystore: FileKeyStore, clock: FixedClock, secret: bytes
) -> None:
    url, schema = target
    with open_ledger(url, keystore, clock, schema=schema) as ledger:
        ledger.append(sample_record(0, secret))
    with pytest.raises(ConfigurationError) as caught:
        SqlLedger(url, keystore, "other.example/log", clock, schema=schema)
    assert ORIGIN in caught.value.detail
    assert "other.example/log" in caught.value.detail
    assert "\n" not in caught.value.detail
    # Rewriting the stored origin does not help a gateway with the ledger's real name either.
    write_directly(url, schema, lambda conn: conn.execute(sa.update(ledger_head).values(origin="forged/log")))
    with pytest.raises(ConfigurationError):
        SqlLedger(url, keystore, ORIGIN, clock, schema=schema)


def test_serve_refuses_another_origin_in_one_line(
    tmp_path: Path, keystore: FileKeyStore, clock: FixedClock, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with open_ledger(url, keystore, clock):
        pass
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump({"ledger_url": url, "ledger_origin": "127.0.0.1:9000/demo"}))
    assert cli_main(["serve", "--config", str(config), "--port", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert ORIGIN in err
    assert "127.0.0.1:9000/demo" in err


def test_entry_times_never_run_backwards_against_the_index(
    target: tuple[str, str | None], keystore: FileKeyStore, clock: FixedClock, secret: bytes
) -> None:
    url, schema = target
    ahead = FixedClock(clock.current + timedelta(seconds=2))
    with (
        open_ledger(url, keystore, ahead, schema=schema) as fast,
        open_ledger(url, keystore, clock, schema=schema) as slow,
    ):
        fast.append(sample_record(0, secret))
        slow.append(sample_record(1, secret))  # its clock is two seconds behind the entry before
        clock.current += timedelta(seconds=3)
        slow.append(sample_record(2, secret))
        times = [decode_envelope(fast.entry(i).leaf).logged_at for i in range(3)]  # type: ignore[union-attr]
    assert times == sorted(times)
    assert times[1] == times[0] == format_time(ahead.current)
    assert times[2] == format_time(clock.current)


def test_a_ledger_from_before_signed_heads_keeps_its_origin_and_grows(
    target: tuple[str, str | None], keystore: FileKeyStore, clock: FixedClock, secret: bytes
) -> None:
    url, schema = target
    engine = make_engine(url, schema=schema)
    migrate.upgrade(engine, migrate.BASELINE)
    signer = Ed25519Signer(keystore.private_key_pem("ledger"))
    genesis = sign_checkpoint(
        Checkpoint(ORIGIN, 0, merkle.EMPTY_ROOT), public_key=signer.public_key, sign=signer.sign, timestamp=1
    )
    with engine.begin() as conn:
        conn.execute(
            ledger_head.insert().values(  # only the columns revision 0001 has
                id=1, size=0, frontier=b"", root_hash=merkle.EMPTY_ROOT, checkpoint_size=0, checkpoint_at=1
            )
        )
        conn.execute(
            ledger_checkpoints.insert().values(
                size=0, root_hash=merkle.EMPTY_ROOT, signed_at=1, note=genesis.note
            )
        )
    engine.dispose()
    migrate_database(url, schema)
    with pytest.raises(ConfigurationError):
        SqlLedger(url, keystore, "other.example/log", clock, schema=schema)
    with open_ledger(url, keystore, clock, schema=schema) as ledger:
        assert ledger.covered()
        assert ledger.append(sample_record(0, secret)).index == 0
        assert ledger.checkpoint().size == 1


def test_a_gateway_on_a_forged_tail_is_not_ready_and_registers_nothing(tmp_path: Path) -> None:
    settings = deployment_settings(tmp_path)
    with running_gateway(settings) as gw:
        assert httpx.get(f"{gw.base_url}/readyz").status_code == 200
        subject = gw.manifest.legal_person
        body = {
            "purpose": "admin_licensing_review",
            "legal_basis": "admin_licensing_law_31",
            "items": ["market.enterprise_registration"],
            "subjects": [{"id_type": "uscc", "value": subject.value}],
        }
        assert gw.query("platform", body).status_code == 200
        secret = gw.keystore.secret("commitment")
        write_directly(
            settings.ledger_url, None, lambda conn: forge_tail(conn, sample_record(7, secret), "x", "kept")
        )
        ready = httpx.get(f"{gw.base_url}/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["ledger"] is False
        refused = gw.query("platform", body)
        assert refused.status_code == 503
        assert refused.json()["code"] == "ledger_unavailable"
        assert "results" not in refused.json()
