"""Alembic migrations of the gateway database, run programmatically (no alembic.ini on disk).

``upgrade`` creates or migrates the database to the newest revision; it takes the database's write
lock first (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL), so several processes
starting at once migrate it exactly once. ``require_current`` is what a gateway checks before it
serves: an un-migrated or out-of-date schema refuses the start, naming the command that fixes it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from gateway.adapters.sql.engine import is_sqlite, make_engine, schema_of, write_connection
from gateway.adapters.sql.errors import map_sql_errors
from gateway.errors import ConfigurationError, GatewayError, LedgerError

log = logging.getLogger("gateway.sql")

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version"
BASELINE = "0001"  # the schema the gateway created before it had migrations
UPGRADE_COMMAND = "gateway db upgrade --config FILE"
_ADVISORY_KEY = 0x6C6564676572  # "ledger": serializes schema changes on PostgreSQL

_version = sa.Table(VERSION_TABLE, sa.MetaData(), sa.Column("version_num", sa.String(32), primary_key=True))


@dataclass(frozen=True, slots=True)
class Upgrade:
    """What ``upgrade`` did: the revision before (None: an empty database) and after."""

    before: str | None
    after: str


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


@cache
def head_revision() -> str:
    """The newest revision this gateway's migrations know."""
    head = _script().get_current_head()
    if head is None:  # pragma: no cover - the package ships its revisions
        raise ConfigurationError("the gateway's migrations are missing")
    return head


def known_revisions() -> frozenset[str]:
    """Every revision this gateway's migrations know."""
    return frozenset(script.revision for script in _script().walk_revisions())


def _revision(conn: Connection, schema: str | None) -> str | None:
    inspector = sa.inspect(conn)
    if not inspector.has_table(VERSION_TABLE, schema=schema):
        return BASELINE if inspector.has_table("ledger_head", schema=schema) else None
    return conn.execute(sa.select(_version.c.version_num)).scalar_one_or_none()


def current_revision(engine: Engine) -> str | None:
    """The database's revision; None when it holds no gateway schema."""
    with (
        map_sql_errors(LedgerError, "the gateway database schema could not be read"),
        engine.connect() as conn,
    ):
        return _revision(conn, schema_of(engine))


def upgrade(engine: Engine, revision: str | None = None) -> Upgrade:
    """Create or migrate the gateway database to ``revision`` (default: the newest).

    Safe from several processes at once.
    """
    target = revision or head_revision()
    schema = schema_of(engine)
    with (
        map_sql_errors(LedgerError, "the gateway database could not be migrated"),
        write_connection(engine) as conn,
        conn.begin(),
    ):
        if not is_sqlite(engine):
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_ADVISORY_KEY)))
            if schema is not None:
                # Alembic looks its version table up in the search path; our tables are
                # translated to the schema, so both must name the same one.
                prep = engine.dialect.identifier_preparer
                conn.exec_driver_sql(f"SET LOCAL search_path TO {prep.quote_schema(schema)}")
        before = _revision(conn, schema)
        if before == BASELINE and not sa.inspect(conn).has_table(VERSION_TABLE, schema=schema):
            log.debug("stamping a database created before migrations", extra={"revision": BASELINE})
            command.stamp(_config(conn), BASELINE)
        if before != target:
            command.upgrade(_config(conn), target)
        after = _revision(conn, schema)
    if after != target:  # pragma: no cover - alembic raised otherwise
        raise LedgerError(f"the gateway database did not reach schema revision {target}")
    if before != after:
        log.debug("gateway database migrated", extra={"from_revision": before, "to_revision": after})
    return Upgrade(before, after)


def require_current(engine: Engine) -> None:
    """Refuse (ConfigurationError) a database whose schema is not the one this gateway needs."""
    found = current_revision(engine)
    wanted = head_revision()
    if found == wanted:
        return
    if found is not None and found not in known_revisions():
        raise ConfigurationError(
            f"the gateway database is at schema revision {found}, newer than this gateway ({wanted})",
            accepted="a gateway at least as new as the one that migrated the database",
        )
    state = "has no gateway schema" if found is None else f"is at schema revision {found}"
    raise ConfigurationError(
        f"the gateway database {state}, this gateway needs {wanted}: run `{UPGRADE_COMMAND}`",
        accepted=f"a database migrated to revision {wanted}",
    )


def prepare_for_serving(engine: Engine) -> None:
    """Migrate the embedded SQLite database; refuse (ConfigurationError) any other one not migrated.

    A production database is migrated on purpose, by ``gateway db upgrade``, never by a gateway
    that happens to start against it.
    """
    if is_sqlite(engine):
        upgrade(engine)
    else:
        require_current(engine)


def migrated_engine(url: str, *, schema: str | None = None, engine: Engine | None = None) -> Engine:
    """``engine`` (shared by the stores of one deployment), or a new one for ``url``, holding the
    schema this gateway needs; a store's constructor refuses anything else. A new engine is
    disposed when refused; a shared one belongs to its owner."""
    found = engine if engine is not None else make_engine(url, schema=schema)
    try:
        require_current(found)
    except GatewayError:
        if engine is None:
            found.dispose()
        raise
    return found
