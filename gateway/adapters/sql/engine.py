"""The one way to open the gateway database (ledger and grant store): an engine per URL, one pragma set.

SQLite (the embedded default):

* ``journal_mode=WAL`` lets readers (the audit API, grant reads) run beside the writer.
* ``synchronous=FULL``: in WAL mode NORMAL only syncs at checkpoints, so a power cut could lose
  commits whose receipts (or revocations) already left; FULL syncs the WAL on every commit, and the
  ledger's group commit pays that once per batch.
* ``busy_timeout``: other processes wait for the write lock instead of failing at once.
* pysqlite's own transaction handling is off (``isolation_level=None``) and every transaction is
  opened here: ``BEGIN IMMEDIATE`` on a write connection (see ``write_connection``), so a writer
  takes the database write lock before it reads what it will change (a deferred BEGIN could read a
  stale ledger head and fail later), plain ``BEGIN`` otherwise.

PostgreSQL: a bounded pool with pre-ping; writers serialize on row locks they take themselves
(``SELECT ... FOR UPDATE``). One PostgreSQL schema per deployment (or test) is selected with
``schema``: unqualified tables are translated to it.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from gateway.errors import ConfigurationError

_WRITE = "gateway_write"
BUSY_TIMEOUT_S = 30.0


def make_engine(
    url: str, *, schema: str | None = None, pool_size: int = 5, read_only: bool = False
) -> Engine:
    """An engine on the gateway database at ``url``.

    ``read_only`` leaves the database file as it is (no journal-mode switch), for verification.
    """
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigurationError("the gateway database URL is not a database URL") from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            # Every pooled connection would see its own empty database.
            raise ConfigurationError("the gateway database needs a file, not an in-memory SQLite")
        engine = sa.create_engine(
            parsed,
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_S, "isolation_level": None},
        )

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            try:
                if not read_only:
                    cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=FULL")
                cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            finally:
                cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            immediate = conn.get_execution_options().get(_WRITE, False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    else:
        engine = sa.create_engine(parsed, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
    if schema is not None:
        engine = engine.execution_options(schema_translate_map={None: schema})
    return engine


def write_connection(engine: Engine) -> Connection:
    """A connection whose transactions take the SQLite write lock when they begin."""
    return engine.connect().execution_options(**{_WRITE: True})


def is_sqlite(engine: Engine) -> bool:
    """True on the embedded SQLite database."""
    return engine.dialect.name == "sqlite"


def schema_of(engine: Engine) -> str | None:
    """The PostgreSQL schema ``make_engine`` selected, or None for the default one."""
    translate = engine.get_execution_options().get("schema_translate_map") or {}
    schema = translate.get(None)
    return str(schema) if schema is not None else None


# --- plain SQL for the hot paths (no statement compilation per call) ---


def qualified_name(engine: Engine, table: sa.Table) -> str:
    """The table's name, quoted by the dialect and qualified with the engine's schema."""
    prep = engine.dialect.identifier_preparer
    schema = schema_of(engine)
    name = prep.quote(table.name)
    return name if schema is None else f"{prep.quote_schema(schema)}.{name}"


def param_marker(engine: Engine) -> str:
    """The DBAPI's positional parameter marker."""
    marker = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(engine.dialect.paramstyle)
    if marker is None:
        raise ConfigurationError(f"unsupported DBAPI parameter style {engine.dialect.paramstyle}")
    return marker


def insert_sql(engine: Engine, table: sa.Table) -> str:
    """A plain INSERT of every column, in ``table.columns`` order, for DBAPI executemany."""
    columns = ", ".join(engine.dialect.identifier_preparer.quote(c.name) for c in table.columns)
    placeholders = ", ".join([param_marker(engine)] * len(table.columns))
    # Names come from our own table definitions, quoted by the dialect; values are bound parameters.
    return f"INSERT INTO {qualified_name(engine, table)} ({columns}) VALUES ({placeholders})"  # noqa: S608


def row_values(table: sa.Table, row: dict[str, Any]) -> tuple[Any, ...]:
    """``row`` (column name -> value) as the parameter tuple of ``insert_sql(table)``."""
    return tuple(row[c.name] for c in table.columns)
