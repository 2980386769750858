"""Witness storage on SQLAlchemy: a witness's own state, and the cosignatures the gateway collects.

``SqlWitnessState`` is the database of ``gateway witness serve`` (a SQLite file of its own, never the
gateway's): one row per log, advanced with a conditional UPDATE (or an INSERT that the primary key
refuses twice), so checking the old size and recording the new checkpoint is one atomic step, as
tlog-witness requires. ``SqlCosignatures`` lives in the gateway's ledger database.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.adapters.sql import migrate
from gateway.adapters.sql.engine import make_engine, write_connection
from gateway.adapters.sql.errors import map_sql_errors
from gateway.adapters.sql.schema import ledger_cosignatures, witness_checkpoints
from gateway.domain.transparency.witness import Witnessed
from gateway.errors import LedgerError, WitnessError


class SqlWitnessState:
    """The WitnessState of a witness process: its own database, migrated on open."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        migrate.upgrade(self.engine)

    def latest(self, origin: str) -> Witnessed | None:
        """The latest checkpoint cosigned for ``origin``."""
        t = witness_checkpoints
        with (
            map_sql_errors(WitnessError, "the witness state could not be read"),
            self.engine.connect() as conn,
        ):
            row = conn.execute(sa.select(t).where(t.c.origin == origin)).one_or_none()
        if row is None:
            return None
        return Witnessed(row.origin, int(row.size), bytes(row.root_hash), row.note, int(row.cosigned_at))

    def advance(self, origin: str, old_size: int, cosigned: Witnessed) -> bool:
        """Record ``cosigned`` if the stored size still is ``old_size``; False if it moved."""
        t = witness_checkpoints
        values = {
            "size": cosigned.size,
            "root_hash": cosigned.root_hash,
            "cosigned_at": cosigned.timestamp,
            "note": cosigned.note,
        }
        with (
            map_sql_errors(WitnessError, "the witness state could not be written"),
            write_connection(self.engine) as conn,
            conn.begin(),
        ):
            if conn.execute(sa.select(t.c.size).where(t.c.origin == origin)).scalar() is None:
                if old_size != 0:
                    return False
                conn.execute(t.insert().values(origin=origin, **values))
                return True
            done = conn.execute(
                sa.update(t).where(t.c.origin == origin, t.c.size == old_size).values(**values)
            )
            return done.rowcount == 1

    def close(self) -> None:
        """Release the connections."""
        self.engine.dispose()


class SqlCosignatures:
    """The CosignatureStore in the gateway's database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, witness: str, cosigned: Witnessed) -> None:
        """Keep a cosigned checkpoint (again for the same size: the newer cosignature replaces it)."""
        t = ledger_cosignatures
        with (
            map_sql_errors(LedgerError, "the witness cosignature could not be stored"),
            write_connection(self.engine) as conn,
            conn.begin(),
        ):
            conn.execute(sa.delete(t).where(t.c.witness == witness, t.c.size == cosigned.size))
            conn.execute(
                t.insert().values(
                    witness=witness,
                    size=cosigned.size,
                    root_hash=cosigned.root_hash,
                    cosigned_at=cosigned.timestamp,
                    note=cosigned.note,
                )
            )

    def latest(self, witness: str) -> Witnessed | None:
        """The largest checkpoint ``witness`` cosigned."""
        t = ledger_cosignatures
        stmt = sa.select(t).where(t.c.witness == witness).order_by(t.c.size.desc()).limit(1)
        with (
            map_sql_errors(LedgerError, "the witness cosignatures could not be read"),
            self.engine.connect() as conn,
        ):
            row = conn.execute(stmt).one_or_none()
        if row is None:
            return None
        origin = str(row.note).split("\n", 1)[0]
        return Witnessed(origin, int(row.size), bytes(row.root_hash), row.note, int(row.cosigned_at))

    def latest_cosignature_at(self) -> datetime | None:
        """When the newest cosignature of any witness was made."""
        stmt = sa.select(sa.func.max(ledger_cosignatures.c.cosigned_at))
        with (
            map_sql_errors(LedgerError, "the witness cosignatures could not be read"),
            self.engine.connect() as conn,
        ):
            value = conn.execute(stmt).scalar()
        return None if value is None else datetime.fromtimestamp(int(value), UTC)
