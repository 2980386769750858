"""``gateway ledger verify``: reads an export or a ledger database and reports the verifier's verdict."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

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
) -> int:
    """``gateway ledger verify``: verify an export or a database; print the outcome; exit status.

    0 when the log verifies, 1 when it does not (the first bad index and the reason are printed),
    2 when the input cannot be read. A progress bar runs on stderr unless ``progress`` is False.
    """
    # The tool composes the file and database readers itself; the check above stays I/O-free.
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from gateway.adapters.crypto.ed25519 import ed25519_public_key, ed25519_verify
    from gateway.adapters.export_files import ExportFileSource
    from gateway.adapters.sql.ledger_source import SqlLedgerSource
    from gateway.errors import GatewayError

    err = Console(stderr=True)
    source: ExportFileSource | SqlLedgerSource
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
    except (OSError, ValueError, GatewayError) as exc:
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
