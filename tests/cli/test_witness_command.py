"""The witness as its own process over real HTTP: ``gateway witness serve`` on a free port.

It follows one log (the test ledger's origin and public key), cosigns only after a valid consistency
proof from what it cosigned last, answers as c2sp.org/tlog-witness says; the gateway's submitter stores
its cosignatures; ``gateway ledger verify --witness`` catches a truncation after the witnessed checkpoint.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from gateway.adapters.crypto.ed25519 import Ed25519Signer, ed25519_verify, new_ed25519_pem
from gateway.adapters.key_files import FileKeyStore
from gateway.adapters.sql.engine import make_engine
from gateway.adapters.sql.ledger import SqlLedger
from gateway.adapters.sql.schema import ledger_cosignatures
from gateway.adapters.sql.witnesses import SqlCosignatures
from gateway.adapters.witness_client import HttpWitness
from gateway.cli.main import main as cli_main
from gateway.domain.transparency.checkpoint import Checkpoint, sign_checkpoint
from gateway.domain.transparency.witness import add_checkpoint_body, cosignature_time, parse_vkey
from gateway.errors import WitnessError
from gateway.services.witnessing import WitnessSubmitter
from tests.conftest import FixedClock
from tests.support.ledger import ORIGIN, ledger_target, open_ledger, sample_record, truncate_as_a_writer

REPO = Path(__file__).resolve().parents[2]
WITNESS_NAME = "witness.test/w1"


@dataclass
class WitnessProcess:
    url: str
    vkey: str
    name: str
    public_key: bytes
    state: Path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def witness(tmp_path: Path, keystore: FileKeyStore) -> Iterator[WitnessProcess]:
    """A witness process following the test log, with its own key and state under tmp_path/witness."""
    home = tmp_path / "witness"
    (home / "keys").mkdir(parents=True)
    (home / "keys" / "ledger.pub.pem").write_bytes(keystore.public_keys_pem("ledger")[0])
    config = home / "witness.yaml"
    config.write_text(
        f"name: {WITNESS_NAME}\nkeys_dir: keys\nstate_dir: state\n"
        f"logs:\n  - origin: {ORIGIN}\n    public_key: ledger.pub.pem\n",
        encoding="utf-8",
    )
    gateway = [sys.executable, "-m", "gateway.cli.main", "witness"]
    init = subprocess.run(
        [*gateway, "init", "--config", str(config)], capture_output=True, text=True, cwd=REPO, check=True
    )
    vkey = init.stdout.strip()
    port = _free_port()
    proc = subprocess.Popen(
        [*gateway, "serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{url}/vkey", timeout=1).text.strip() == vkey:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise AssertionError(proc.stderr.read().decode() if proc.stderr else "witness exited")
            time.sleep(0.1)
        else:
            raise AssertionError("the witness did not start")
        name, public_key = parse_vkey(vkey)
        yield WitnessProcess(url, vkey, name, public_key, home / "state" / "witness.db")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str | None]]:
    pg = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    with ledger_target(request.param, tmp_path, pg) as found:
        yield found


def _append(ledger: SqlLedger, keystore: FileKeyStore, start: int, n: int) -> None:
    secret = keystore.secret("commitment")
    for i in range(start, start + n):
        ledger.append(sample_record(i, secret))


_OPEN: list[WitnessSubmitter] = []


@pytest.fixture(autouse=True)
def _close_submitters() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def _submitter(ledger: SqlLedger, witness: WitnessProcess) -> tuple[WitnessSubmitter, SqlCosignatures]:
    store = SqlCosignatures(ledger.engine)
    client = HttpWitness(witness.url, witness.name, witness.public_key)
    submitter = WitnessSubmitter(ledger, [client], store, ed25519_verify)
    _OPEN.append(submitter)
    return submitter, store


def test_the_gateway_collects_cosignatures_only_over_consistent_checkpoints(
    target: tuple[str, str | None], keystore: FileKeyStore, clock: FixedClock, witness: WitnessProcess
) -> None:
    url, schema = target
    with open_ledger(url, keystore, clock, schema=schema, checkpoint_every=5) as ledger:
        submitter, store = _submitter(ledger, witness)
        assert store.latest_cosignature_at() is None
        _append(ledger, keystore, 0, 7)
        status = submitter.submit()[witness.name]
        assert (status.cosigned_size, status.failures) == (7, 0)
        first = store.latest(witness.name)
        assert first is not None
        assert first.size == 7
        assert cosignature_time(
            first.note, name=witness.name, public_key=witness.public_key, verify=ed25519_verify
        )
        _append(ledger, keystore, 7, 6)
        assert submitter.submit()[witness.name].cosigned_size == 13  # with a proof from 7 to 13
        assert store.latest_cosignature_at() is not None

        # The tlog-witness answers, over HTTP, for the checkpoint of size 13 it now knows.
        note = ledger.checkpoint().note
        post = lambda body: httpx.post(f"{witness.url}/add-checkpoint", content=body)  # noqa: E731
        stale = post(add_checkpoint_body(7, ledger.consistency_proof(7, 13), note))
        assert stale.status_code == 409
        assert stale.headers["content-type"].startswith("text/x.tlog.size")
        assert stale.text == "13\n"
        _append(ledger, keystore, 13, 3)
        newer = ledger.checkpoint().note
        wrong_proof = ledger.consistency_proof(12, 16)
        assert post(add_checkpoint_body(13, wrong_proof, newer)).status_code == 422
        assert post(add_checkpoint_body(17, [], newer)).status_code == 400  # old size above the size
        assert post(b"not a request").status_code == 400
        other_key = Ed25519Signer(new_ed25519_pem())
        forged = sign_checkpoint(
            Checkpoint(ORIGIN, 16, b"\x00" * 32),
            public_key=other_key.public_key,
            sign=other_key.sign,
            timestamp=0,
        )
        assert post(add_checkpoint_body(13, wrong_proof, forged.note)).status_code == 403
        stranger = sign_checkpoint(
            Checkpoint("another.example/log", 1, b"\x00" * 32),
            public_key=other_key.public_key,
            sign=other_key.sign,
            timestamp=0,
        )
        assert post(add_checkpoint_body(0, [], stranger.note)).status_code == 404
        good = post(add_checkpoint_body(13, ledger.consistency_proof(13, 16), newer))
        assert good.status_code == 200
        assert good.text.startswith(f"\u2014 {WITNESS_NAME} ")


def test_the_witness_refuses_a_fork_of_the_log_it_cosigned(
    tmp_path: Path, keystore: FileKeyStore, clock: FixedClock, witness: WitnessProcess
) -> None:
    # Two databases of the same log (same origin, same key): one real, one rewritten from entry 3 on.
    with (
        open_ledger(f"sqlite:///{tmp_path / 'a.db'}", keystore, clock) as real,
        open_ledger(f"sqlite:///{tmp_path / 'b.db'}", keystore, clock) as fork,
    ):
        _append(real, keystore, 0, 6)
        _append(fork, keystore, 0, 3)
        _append(fork, keystore, 100, 5)
        submitter, _ = _submitter(real, witness)
        assert submitter.submit()[witness.name].cosigned_size == 6
        forked, store = _submitter(fork, witness)
        status = forked.submit()[witness.name]
        # The fork's submitter learns the witness's size (409), then its proof from 6 fails (422).
        assert status.cosigned_size is None
        assert status.failures == 1
        assert store.latest(witness.name) is None


def test_a_witness_that_is_down_is_logged_and_counted_never_raised(
    tmp_path: Path, keystore: FileKeyStore, clock: FixedClock
) -> None:
    with open_ledger(f"sqlite:///{tmp_path / 'l.db'}", keystore, clock) as ledger:
        _append(ledger, keystore, 0, 2)
        client = HttpWitness(f"http://127.0.0.1:{_free_port()}", WITNESS_NAME, b"\x00" * 32, timeout_s=1)
        submitter = WitnessSubmitter(ledger, [client], SqlCosignatures(ledger.engine), ed25519_verify)
        _OPEN.append(submitter)
        status = submitter.submit()[WITNESS_NAME]
        assert (status.failures, status.cosigned_size) == (1, None)
        assert status.last_error is not None
        assert "could not be reached" in status.last_error
        with pytest.raises(WitnessError):
            client.add_checkpoint(0, [], ledger.checkpoint().note)


def test_verify_catches_a_truncation_after_the_witnessed_checkpoint(
    target: tuple[str, str | None],
    keystore: FileKeyStore,
    clock: FixedClock,
    witness: WitnessProcess,
    tmp_path: Path,
) -> None:
    url, schema = target
    with open_ledger(url, keystore, clock, schema=schema, checkpoint_every=10) as ledger:
        _append(ledger, keystore, 0, 25)
        submitter, store = _submitter(ledger, witness)
        assert submitter.submit()[witness.name].cosigned_size == 25
        witnessed = store.latest(witness.name)
        assert witnessed is not None
    kept = tmp_path / "witnessed.txt"
    kept.write_text(witnessed.note, encoding="utf-8")
    cli_url = url if schema is None else f"{url}?options=-csearch_path%3D{schema}"
    key = tmp_path / "ledger.pub.pem"
    key.write_bytes(keystore.public_keys_pem("ledger")[0])
    base = ["ledger", "verify", "--database", cli_url, "--public-key", str(key), "--quiet"]
    assert cli_main([*base, "--witness", witness.url, "--witness-key", witness.vkey]) == 0

    # A database writer cuts the log back to the signed checkpoint of size 20 and cleans up after
    # itself: nothing in the database contradicts it, only the witness does.
    engine = make_engine(url, schema=schema)
    with engine.begin() as conn:
        truncate_as_a_writer(conn, 20)
        conn.execute(sa.delete(ledger_cosignatures))
    engine.dispose()
    assert cli_main(base) == 0
    assert cli_main([*base, "--witness", witness.url, "--witness-key", witness.vkey]) == 1
    assert cli_main([*base, "--witness", str(kept), "--witness-key", witness.vkey]) == 1
    # A cosignature by another key is no witness: the command refuses to use it.
    other = Ed25519Signer(new_ed25519_pem())
    from gateway.domain.transparency.witness import witness_vkey

    impostor = witness_vkey(WITNESS_NAME, other.public_key)
    assert cli_main([*base, "--witness", str(kept), "--witness-key", impostor]) == 2


def test_verify_names_the_index_after_the_witnessed_checkpoint(
    tmp_path: Path,
    keystore: FileKeyStore,
    clock: FixedClock,
    witness: WitnessProcess,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    with open_ledger(url, keystore, clock, checkpoint_every=10) as ledger:
        _append(ledger, keystore, 0, 25)
        submitter, _ = _submitter(ledger, witness)
        submitter.submit()
    engine = make_engine(url)
    with engine.begin() as conn:
        truncate_as_a_writer(conn, 20)
    engine.dispose()
    key = tmp_path / "ledger.pub.pem"
    key.write_bytes(keystore.public_keys_pem("ledger")[0])
    capsys.readouterr()
    code = cli_main(
        [
            "ledger",
            "verify",
            "--database",
            url,
            "--public-key",
            str(key),
            "--quiet",
            "--witness",
            witness.url,
            "--witness-key",
            witness.vkey,
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "witnessed checkpoint: size 25" in out
    assert "FAILED at index 20" in out
    assert "truncated" in out
