"""A JSON Lines ledger export, read back for ``gateway ledger verify``.

The line format is defined in ``gateway.domain.ledger.export``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from gateway.domain.ledger.export import parse_export_line


class ExportFileSource:
    """The LedgerSource of an export file: its head (header, checkpoints), then one entry per line."""

    fully_signed = True  # an export ends with a checkpoint of its own size

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.location = str(path)
        self._notes: list[str] = []
        self._size: int | None = None
        self._entries_offset = 0
        self._scan_head()

    def _scan_head(self) -> None:
        with self.path.open("rb") as fh:
            while True:
                offset = fh.tell()
                line = fh.readline()
                if not line:
                    break
                kind, value = parse_export_line(line.rstrip(b"\n"))
                if kind == "entry":
                    break
                if kind == "header" and isinstance(value, Mapping):
                    size = value.get("size")
                    self._size = size if isinstance(size, int) else None
                elif kind == "checkpoint" and isinstance(value, str):
                    self._notes.append(value)
            self._entries_offset = offset

    def checkpoint_notes(self) -> list[str]:
        """The checkpoint notes at the head of the export."""
        return list(self._notes)

    def size_hint(self) -> int | None:
        """The entry count the export header states (unsigned)."""
        return self._size

    def signed_head(self) -> tuple[int, str | None] | None:
        """None: an export has no head row; its own final checkpoint covers it (``fully_signed``)."""
        return None

    def leaves(self) -> Iterator[tuple[int | None, bytes, bytes | None]]:
        """(None, leaf bytes, None) per entry line; exports carry no separate index or hash."""
        with self.path.open("rb") as fh:
            fh.seek(self._entries_offset)
            for raw in fh:
                # Anything but an entry line after the entries began fails as "not an envelope".
                yield None, (raw[:-1] if raw.endswith(b"\n") else raw), None

    def close(self) -> None:
        """Nothing to release."""
