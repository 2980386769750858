"""A ledger database read for ``gateway ledger verify``: read-only, no keys, rows by column name.

Besides the leaves and checkpoints it reads the head row (size and signed note: entries past the signed
head were written without the key) and the index (the entries' indexed columns and the terms rows the
audit filters and subject reports use), so the verifier can recompute each from the entry bytes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import sqlalchemy as sa

from gateway.adapters.export_files import ExportFileSource
from gateway.adapters.sql.engine import is_sqlite, make_engine, param_marker, qualified_name
from gateway.adapters.sql.errors import map_sql_errors
from gateway.adapters.sql.schema import ledger_checkpoints, ledger_entries, ledger_head, ledger_terms
from gateway.errors import ConfigurationError, LedgerError


class SqlLedgerSource:
    """The LedgerSource of a ledger database (SQLite file or PostgreSQL schema)."""

    fully_signed = False  # a live log may have entries appended after its latest checkpoint

    def __init__(self, url: str, *, schema: str | None = None, chunk: int = 20000) -> None:
        self.engine = make_engine(url, schema=schema, read_only=True)
        self.chunk = chunk
        self.location = url
        # The leaf bytes as bytes, straight from the driver, in plain SQL: this loop reads millions
        # of rows, and the statement is compiled once.
        as_bytes = "CAST(entry AS BLOB)" if is_sqlite(self.engine) else "convert_to(entry, 'UTF8')"
        marker = param_marker(self.engine)
        self._leaves_sql = (
            f"SELECT idx, leaf_hash, {as_bytes} AS leaf FROM {qualified_name(self.engine, ledger_entries)} "  # noqa: S608
            f"WHERE idx > {marker} ORDER BY idx LIMIT {marker}"
        )
        self._columns = [c.name for c in ledger_entries.c if c.name not in ("entry", "leaf_hash")]
        self._indexed_sql = (
            f"SELECT {', '.join(self._columns)}, {as_bytes} AS leaf "  # noqa: S608
            f"FROM {qualified_name(self.engine, ledger_entries)} "
            f"WHERE idx > {marker} ORDER BY idx LIMIT {marker}"
        )

    def checkpoint_notes(self) -> list[str]:
        """Every stored checkpoint note, smallest size first."""
        stmt = sa.select(ledger_checkpoints.c.note).order_by(ledger_checkpoints.c.size)
        with (
            map_sql_errors(LedgerError, "the ledger's checkpoints could not be read"),
            self.engine.connect() as conn,
        ):
            return [row.note for row in conn.execute(stmt)]

    def size_hint(self) -> int | None:
        """The number of entries the head row records (unsigned; a cross-check, not proof)."""
        with map_sql_errors(LedgerError, "the ledger head could not be read"), self.engine.connect() as conn:
            value = conn.execute(sa.select(ledger_head.c.size)).scalar_one_or_none()
        return int(value) if value is not None else None

    def leaves(self) -> Iterator[tuple[int | None, bytes, bytes | None]]:
        """(stored index, leaf bytes, stored leaf hash) in index order."""
        after = -1
        while True:
            with (
                map_sql_errors(LedgerError, "the ledger's entries could not be read"),
                self.engine.connect() as conn,
            ):
                result = conn.exec_driver_sql(self._leaves_sql, (after, self.chunk))
                names = list(result.keys())
                index, leaf, leaf_hash = (names.index(n) for n in ("idx", "leaf", "leaf_hash"))
                # The driver's own tuples, their columns found by name: building a Row per entry
                # would make this loop over millions of rows much slower.
                rows = result.cursor.fetchall()
                result.close()
            for row in rows:
                yield int(row[index]), bytes(row[leaf]), bytes(row[leaf_hash])
            if len(rows) < self.chunk:
                return
            after = int(rows[-1][index])

    def signed_head(self) -> tuple[int, str | None] | None:
        """(size, signed note) of the head row; a head from before revision 0002 has no note of its
        own, and the checkpoint of exactly its size stands in for it (as the ledger itself reads it)."""
        with map_sql_errors(LedgerError, "the ledger head could not be read"), self.engine.connect() as conn:
            head = conn.execute(sa.select(ledger_head.c.size, ledger_head.c.signed_note)).one_or_none()
            if head is None:
                return None
            note = head.signed_note
            if note is None:
                note = conn.execute(
                    sa.select(ledger_checkpoints.c.note).where(ledger_checkpoints.c.size == head.size)
                ).scalar()
        return int(head.size), None if note is None else str(note)

    def indexed_entries(self) -> Iterator[tuple[int, bytes, Mapping[str, object]]]:
        """(index, leaf bytes, indexed columns) of every entry, in index order."""
        after = -1
        while True:
            with (
                map_sql_errors(LedgerError, "the ledger's entries could not be read"),
                self.engine.connect() as conn,
            ):
                rows = conn.exec_driver_sql(self._indexed_sql, (after, self.chunk)).all()
            for row in rows:
                columns = dict(zip(self._columns, row[:-1], strict=True))
                yield int(row.idx), bytes(row.leaf), columns
            if len(rows) < self.chunk:
                return
            after = int(rows[-1].idx)

    def terms_rows(self) -> Iterator[tuple[int, str, str]]:
        """(index, term, value) of every terms row, ordered by index, term and value."""
        t = ledger_terms
        after = (-1, "", "")
        while True:
            stmt = (
                sa.select(t.c.idx, t.c.term, t.c.value)
                .where(sa.tuple_(t.c.idx, t.c.term, t.c.value) > sa.tuple_(*after))
                .order_by(t.c.idx, t.c.term, t.c.value)
                .limit(self.chunk)
            )
            with (
                map_sql_errors(LedgerError, "the ledger's terms could not be read"),
                self.engine.connect() as conn,
            ):
                rows = [(int(r.idx), str(r.term), str(r.value)) for r in conn.execute(stmt)]
            yield from rows
            if len(rows) < self.chunk:
                return
            after = rows[-1]

    def close(self) -> None:
        """Release the connections."""
        self.engine.dispose()


def open_ledger_source(location: str, *, schema: str | None = None) -> SqlLedgerSource | ExportFileSource:
    """A database URL (``sqlite:///...``, ``postgresql+psycopg://...``) or the path of a JSONL export."""
    if "://" in location:
        return SqlLedgerSource(location, schema=schema)
    path = Path(location)
    if not path.is_file():
        raise ConfigurationError(f"no ledger export at {location}")
    return ExportFileSource(path)
