"""``gateway ledger verify``: reads an export or a ledger database and reports the verifier's verdict."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gateway.domain.transparency.witness import Witnessed
from gateway.ports import LedgerSource
from gateway.services.ledger_verify import verify_ledger


def _pem_blocks(data: bytes) -> list[bytes]:
    """Every PEM block in a file (a key file may hold the current key and rotated ones)."""
    marker = b"-----BEGIN "
    return [marker + block for block in data.split(marker)[1:]]


def run_verify_cli(
    *,
    export: Path | None,
    database: str | None,
    public_key: Path,
    origin: str | None = None,
    progress: bool = True,
    extra_checkpoints: Sequence[Path] = (),
    witness: str | None = None,
    witness_key: str | None = None,
) -> int:
    """``gateway ledger verify``: verify an export or a database; print the outcome; exit status.

    0 when the log verifies, 1 when it does not (the first bad index and the reason are printed),
    2 when the input cannot be read. A progress bar runs on stderr unless ``progress`` is False.
    ``witness`` (a witness URL or a file holding a cosigned checkpoint) with ``witness_key`` (its
    verifier key) adds the latest witnessed checkpoint: a truncation or fork after it is caught.
    """
    # The tool composes the file and database readers itself; the check above stays I/O-free.
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from gateway.adapters.crypto.ed25519 import ed25519_public_key, ed25519_verify
    from gateway.adapters.export_files import ExportFileSource
    from gateway.adapters.sql.ledger_source import SqlLedgerSource
    from gateway.errors import GatewayError

    err = Console(stderr=True)
    source: ExportFileSource | SqlLedgerSource | None = None
    try:
        keys = [ed25519_public_key(pem) for pem in _pem_blocks(public_key.read_bytes())]
        if not keys:
            raise ValueError("no PEM public key in the key file")
        extra = [p.read_text(encoding="utf-8") for p in extra_checkpoints]
        if export is not None:
            source = ExportFileSource(export)
        elif database is not None:
            source = SqlLedgerSource(database)
        else:
            raise ValueError("give an export file or a database URL")
        if witness is not None:
            witnessed = _witnessed_checkpoint(witness, witness_key, origin or _origin_of(source))
            extra.append(witnessed.note)
            print(f"witnessed checkpoint: size {witnessed.size}, cosigned at {witnessed.timestamp}")
    except (OSError, ValueError, GatewayError) as exc:
        if isinstance(source, SqlLedgerSource):
            source.close()
        err.print(f"cannot verify: {exc}")
        return 2
    # A database's index (indexed columns, terms rows) is recomputed too; an export has none.
    index = source if isinstance(source, SqlLedgerSource) else None
    try:
        if progress:
            bar = Progress(
                TextColumn("verifying"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err
            )
            with bar:
                task = bar.add_task("verify", total=source.size_hint())
                result = verify_ledger(
                    source,
                    keys,
                    ed25519_verify,
                    origin=origin,
                    extra_checkpoints=extra,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                    index=index,
                )
        else:
            result = verify_ledger(
                source, keys, ed25519_verify, origin=origin, extra_checkpoints=extra, index=index
            )
    except Exception as exc:  # a database that cannot be read is an input problem, not a verdict
        err.print(f"cannot verify: {type(exc).__name__}")
        return 2
    finally:
        if isinstance(source, SqlLedgerSource):
            source.close()
    if result.ok:
        print(f"OK: {result.reason}")
        if result.latest is not None:
            print(f"latest checkpoint: size {result.latest.size}, root {result.latest.root_hash.hex()}")
        return 0
    where = f" at index {result.first_bad_index}" if result.first_bad_index is not None else ""
    checkpoint = f" (checkpoint {result.bad_checkpoint})" if result.bad_checkpoint is not None else ""
    print(f"FAILED{where}{checkpoint}: {result.reason}")
    if result.proven_size:
        print(f"entries proven by signed checkpoints: 0..{result.proven_size - 1}")
    return 1


def _origin_of(source: LedgerSource) -> str:
    notes = source.checkpoint_notes()
    if not notes:
        raise ValueError("the log has no checkpoint: give --origin")
    return str(notes[-1]).split("\n", 1)[0]


def _witnessed_checkpoint(witness: str, witness_key: str | None, origin: str) -> Witnessed:
    """The latest checkpoint the witness cosigned (from its URL, or a file), its cosignature checked."""
    from gateway.adapters.crypto.ed25519 import ed25519_verify
    from gateway.adapters.witness_client import HttpWitness
    from gateway.domain.transparency.checkpoint import parse_checkpoint_text, parse_note
    from gateway.domain.transparency.witness import cosignature_time, parse_vkey

    if not witness_key:
        raise ValueError("--witness needs --witness-key (the witness's verifier key, or a file holding it)")
    key_path = Path(witness_key)
    vkey = key_path.read_text(encoding="utf-8") if key_path.is_file() else witness_key
    name, public_key = parse_vkey(vkey)
    if witness.startswith(("http://", "https://")):
        client = HttpWitness(witness, name, public_key)
        try:
            note = client.latest_checkpoint(origin)
        finally:
            client.close()
        if note is None:
            raise ValueError(f"the witness has cosigned no checkpoint of {origin}")
    else:
        note = Path(witness).read_text(encoding="utf-8")
    stamp = cosignature_time(note, name=name, public_key=public_key, verify=ed25519_verify)
    checkpoint = parse_checkpoint_text(parse_note(note)[0])
    if checkpoint.origin != origin:
        raise ValueError("the witnessed checkpoint belongs to another log")
    return Witnessed(origin, checkpoint.size, checkpoint.root_hash, note, stamp)
