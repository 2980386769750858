"""Departmental databases behind the gateway, read through SQLAlchemy Core, read-only.

One ``SourceQuery`` becomes exactly one ``SELECT``: only the requested columns (labelled by their
released field names), ``subject_column IN (...)`` and the row conditions as bound parameters, a
deterministic ``ORDER BY`` (the primary key) and a ``LIMIT``. No SQL is ever built from strings: table
and column names are checked to be plain identifiers and must exist in the reflected table, values are
always bound.

Read-only is enforced by the database, not only by this code:

* SQLite: opened through a ``file:...?mode=ro`` URI, plus ``PRAGMA query_only=ON``;
* PostgreSQL: ``SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY`` on every new connection;
* MariaDB/MySQL: ``SET SESSION TRANSACTION READ ONLY`` on every new connection.

Production deployments should also connect as a role that holds only ``SELECT``.

Released values are JSON-friendly: dates and datetimes as ISO 8601 strings, ``Decimal`` (money) as a
string with the column's scale (``"5000.00"``, so no precision is lost and every engine gives the same
text), booleans as booleans (MariaDB's ``TINYINT(1)`` included), other numbers and strings unchanged.

Every read is bounded by a statement timeout that the database enforces (``statement_timeout_s``,
``source_statement_timeout_s`` in the settings): PostgreSQL's ``statement_timeout`` and MariaDB's
``max_statement_time`` (MySQL's ``max_execution_time``) set on every new connection, and on SQLite a
progress handler that interrupts a statement running past its deadline (set as each statement starts;
it also covers fetching the rows). A read cut off so is a ``SourceTimeout`` (``source_timeout``), which
the query path registers and answers with 503, instead of a worker thread held until the source answers.

Any database failure becomes a ``SourceError`` naming the source and the error type only: driver
messages can quote values (an identifier, a date) and never leave this module.

Statements are prepared once per shape (table, selected columns, subject column, conditions and limit)
and kept in a small LRU per source: the subjects are one expanding bound parameter and each condition
value a bound parameter, so a request only binds its values to an already built ``SELECT`` (and
SQLAlchemy's compiled cache, keyed by the same statement, skips compiling it again). The database
receives the same statement, bound values and bind types as when the statement is built afresh with
literal values; only the bound parameters' names differ.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import time as clock
import urllib.parse
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import Engine, MetaData, Select, Table, bindparam, create_engine, event, func, inspect, select
from sqlalchemy.dialects.mysql import TINYINT
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, NoSuchTableError, SQLAlchemyError
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import ColumnElement

from gateway.errors import ConfigurationError, SourceError, SourceTimeout
from gateway.ports import JSON, SourceQuery

log = logging.getLogger("gateway.sources")

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
MAX_LIMIT = 10_000
CONNECT_TIMEOUT_S = 5
DEFAULT_STATEMENT_TIMEOUT_S = 10.0
# SQLite calls the progress handler every this many virtual machine instructions (~µs each).
_SQLITE_PROGRESS_STEPS = 10_000
_DEADLINE = "gw_statement_deadline"
# What the drivers report when the database cut a statement off at its timeout.
_PG_QUERY_CANCELED = "57014"
_MYSQL_TIMEOUTS = frozenset({1969, 3024})  # MariaDB max_statement_time, MySQL max_execution_time
CONDITION_OPS = frozenset({"is_null", "on_or_after", "in"})
STATEMENT_CACHE_SIZE = 256
_SUBJECTS_PARAM = "gw_subjects"
_EXCLUDED_PARAM = "gw_excluded_keys"


def _check_identifier(name: str, what: str) -> str:
    if not isinstance(name, str) or not IDENTIFIER.fullmatch(name):
        raise SourceError(f"{what} is not a plain SQL identifier", field=what)
    return name


def _sqlite_engine(url: URL, statement_timeout_s: float) -> Engine:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:") or url.query:
        raise ConfigurationError(
            "a SQLite source must be a database file",
            accepted="sqlite:///<relative path> or sqlite:////<absolute path>, without query options",
        )
    path = Path(database).resolve()
    # mode=ro: the file is opened read-only by SQLite itself, and a missing file is an error
    # instead of a freshly created empty database.
    target = f"file:{urllib.parse.quote(str(path))}?mode=ro"

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(target, uri=True, check_same_thread=False, timeout=CONNECT_TIMEOUT_S)

    engine = create_engine(url.set(database=str(path)), creator=connect, hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _query_only(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.execute("PRAGMA query_only = ON")
        deadline = [float("inf")]
        record.info[_DEADLINE] = deadline
        # A nonzero answer makes SQLite abandon the running statement with "interrupted".
        dbapi_connection.set_progress_handler(
            lambda: int(clock.monotonic() > deadline[0]), _SQLITE_PROGRESS_STEPS
        )

    @event.listens_for(engine, "before_cursor_execute")
    def _start_deadline(conn: Any, *_: Any) -> None:
        deadline = conn.info.get(_DEADLINE)
        if deadline is not None:
            deadline[0] = clock.monotonic() + statement_timeout_s

    return engine


def _server_engine(url: URL, read_only_sql: str, timeout_sql: tuple[str, ...]) -> Engine:
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    engine = create_engine(url, pool_pre_ping=True, hide_parameters=True, connect_args=connect_args)

    @event.listens_for(engine, "connect")
    def _read_only(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(read_only_sql)
            _set_timeout(dbapi_connection, cursor, timeout_sql)
        finally:
            cursor.close()
        # PostgreSQL's SET is transactional: commit so the pool's reset-on-return rollback keeps it.
        dbapi_connection.commit()

    return engine


def _set_timeout(dbapi_connection: Any, cursor: Any, statements: tuple[str, ...]) -> None:
    """Run the first of ``statements`` the server accepts (MariaDB and MySQL name the setting
    differently); a server that accepts none is not used, rather than read without a bound."""
    for statement in statements:
        try:
            cursor.execute(statement)
            return
        except Exception:  # the driver's own error type: an unknown variable on this server
            dbapi_connection.rollback()
    raise SourceError("the source database accepts no statement timeout")


def read_only_engine(url: str, statement_timeout_s: float = DEFAULT_STATEMENT_TIMEOUT_S) -> Engine:
    """An engine whose every connection refuses writes and cuts off statements running longer than
    ``statement_timeout_s``; ConfigurationError for an unusable URL."""
    if not statement_timeout_s > 0:
        raise ConfigurationError("the source statement timeout must be positive", accepted="seconds > 0")
    ms = max(1, round(statement_timeout_s * 1000))
    try:
        parsed = make_url(url)
        backend = parsed.get_backend_name()
        if backend == "sqlite":
            return _sqlite_engine(parsed, statement_timeout_s)
        if backend == "postgresql":
            return _server_engine(
                parsed,
                "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
                (f"SET SESSION statement_timeout = {ms}",),
            )
        if backend in ("mysql", "mariadb"):
            return _server_engine(
                parsed,
                "SET SESSION TRANSACTION READ ONLY",
                (
                    f"SET SESSION max_statement_time = {ms / 1000:.3f}",
                    f"SET SESSION max_execution_time = {ms}",
                ),
            )
    except (ArgumentError, NoSuchModuleError, ImportError, ValueError) as exc:
        raise ConfigurationError(f"source URL is not usable ({type(exc).__name__})") from None
    raise ConfigurationError(
        f"unsupported source database {backend!r}", accepted="sqlite, postgresql, mysql or mariadb"
    )


def _json_value(value: Any, as_bool: bool) -> JSON:
    if value is None:
        return None
    if as_bool:
        return bool(value)
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date | time):  # datetime before date: it is a subclass
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, UUID):
        return str(value)
    raise SourceError(f"a source column holds a value of unsupported type {type(value).__name__}")


def _is_mysql_bool(column: Any) -> bool:
    # MariaDB/MySQL have no boolean type: BOOL is TINYINT(1), which reflection reports as such.
    return isinstance(column.type, TINYINT) and getattr(column.type, "display_width", None) == 1


_ShapeKey = tuple[str, str, tuple[tuple[str, str], ...], tuple[tuple[str, str, type], ...], int, str | None]


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A built statement for one query shape: bind the subjects and condition values, then execute."""

    statement: Select[Any]
    as_bool: tuple[bool, ...]
    value_params: tuple[str | None, ...]  # per condition: its bound parameter, None for is_null
    key_type: type | None = None  # the Python type of the key column, when keys are excluded

    def parameters(self, query: SourceQuery) -> dict[str, Any]:
        params: dict[str, Any] = {_SUBJECTS_PARAM: list(query.subjects)}
        if self.key_type is not None:
            params[_EXCLUDED_PARAM] = _typed_keys(query.excluded_keys, self.key_type)
        for name, condition in zip(self.value_params, query.conditions, strict=True):
            if name is not None:
                params[name] = (
                    list(condition.value) if isinstance(condition.value, tuple) else condition.value
                )
        return params


def _shape(query: SourceQuery) -> _ShapeKey:
    """Everything the statement's SQL depends on, and nothing that is only a bound value.

    A condition value's Python type is part of the shape: it chooses the bound parameter's SQL type
    (a ``datetime`` binds differently from a ``date``). Subjects are always ``str`` (``_check``).
    """
    conditions = tuple((c.column, c.op, type(c.value)) for c in query.conditions)
    excluding = query.key_column if query.excluded_keys else None
    return (query.table, query.subject_column, tuple(query.columns), conditions, query.limit, excluding)


def _typed_keys(keys: tuple[str, ...], key_type: type) -> list[Any]:
    """Record keys as the key column's type; a key that cannot be one names no row and is dropped."""
    if key_type is int:
        return [int(k) for k in keys if k.lstrip("-").isdigit()]
    return list(keys)


class SqlSource:
    """A read-only ``DataSource`` over one SQLAlchemy URL (SQLite file, PostgreSQL, MariaDB/MySQL).

    Thread-safe: connections come from the engine's pool; reflected tables and prepared statements are
    cached per source (a table whose columns change needs a restart, as any schema change in a source
    does).
    """

    def __init__(
        self, url: str, *, name: str = "source", statement_timeout_s: float = DEFAULT_STATEMENT_TIMEOUT_S
    ) -> None:
        self.name = name
        self.statement_timeout_s = statement_timeout_s
        self._engine = read_only_engine(url, statement_timeout_s)
        self._tables: dict[str, Table] = {}
        self._statements: OrderedDict[_ShapeKey, _Prepared] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        """The read-only engine (for health checks and tests; every connection refuses writes)."""
        return self._engine

    def fetch(self, query: SourceQuery) -> list[dict[str, JSON]]:
        """Run ``query`` as one SELECT; rows keyed by released field name. SourceError on any failure."""
        names = self._check(query)
        if not query.subjects:
            return []
        try:
            with self._engine.connect() as conn:
                prepared = self._prepared(conn, query)
                result = conn.execute(prepared.statement, prepared.parameters(query))
                as_bool = prepared.as_bool
                return [
                    {
                        name: _json_value(value, flag)
                        for name, value, flag in zip(names, row, as_bool, strict=True)
                    }
                    for row in result
                ]
        except SQLAlchemyError as exc:
            raise self._error(exc) from None

    def count_unaccepted(self, table: str, column: str, accepted: tuple[str, ...]) -> int:
        """Rows of ``table`` whose ``column`` is NULL or not one of ``accepted`` (clause (2) report)."""
        _check_identifier(table, "table")
        _check_identifier(column, "column")
        try:
            with self._engine.connect() as conn:
                target = self._table(conn, table)
                if column not in target.c:
                    raise SourceError(f"column {column!r} is not in source table {table!r}")
                col = target.c[column]
                missing = col.is_(None)
                condition = missing | col.not_in(list(accepted)) if accepted else missing | col.is_not(None)
                statement = select(func.count()).select_from(target).where(condition)
                return int(conn.execute(statement).scalar_one())
        except SQLAlchemyError as exc:
            raise self._error(exc) from None

    def columns(self) -> dict[str, set[str]]:
        """Every table of the source and its column names (used to check the catalog's mappings)."""
        try:
            with self._engine.connect() as conn:
                inspector = inspect(conn)
                return {
                    table: {str(col["name"]) for col in inspector.get_columns(table)}
                    for table in inspector.get_table_names()
                }
        except SQLAlchemyError as exc:
            raise self._error(exc) from None

    def ping(self) -> None:
        """Check that the source answers; SourceError when it does not."""
        try:
            with self._engine.connect() as conn:
                conn.execute(select(1))
        except SQLAlchemyError as exc:
            raise self._error(exc) from None

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    # --- internals ---

    def _check(self, query: SourceQuery) -> list[str]:
        _check_identifier(query.table, "table")
        _check_identifier(query.subject_column, "subject_column")
        names = [_check_identifier(name, "field") for name, _ in query.columns]
        for _, column in query.columns:
            _check_identifier(column, "column")
        if not names:
            raise SourceError("a source query must select at least one column")
        if len(set(names)) != len(names):
            raise SourceError("a source query names a released field twice")
        if query.excluded_keys:
            _check_identifier(query.key_column or "", "key_column")
            if not all(isinstance(k, str) for k in query.excluded_keys):
                raise SourceError("excluded record keys must be strings")
        for condition in query.conditions:
            _check_identifier(condition.column, "condition column")
            if condition.op not in CONDITION_OPS:
                raise SourceError(f"unknown row condition {condition.op!r}")
            if condition.op == "on_or_after" and not isinstance(condition.value, date):
                raise SourceError("an on_or_after condition needs a date")
            if condition.op == "in" and not (
                isinstance(condition.value, tuple) and all(isinstance(v, str) for v in condition.value)
            ):
                raise SourceError("an in condition needs a tuple of strings")
        limit = query.limit
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise SourceError(f"limit must be between 1 and {MAX_LIMIT}")
        if not all(isinstance(s, str) for s in query.subjects):
            raise SourceError("subjects must be strings")
        return names

    def _table(self, conn: Any, name: str) -> Table:
        table = self._tables.get(name)
        if table is None:
            # A MetaData per table: reflection never mutates an object another thread is reading.
            table = Table(name, MetaData(), autoload_with=conn)
            with self._lock:
                table = self._tables.setdefault(name, table)
        return table

    def _prepared(self, conn: Any, query: SourceQuery) -> _Prepared:
        key = _shape(query)
        with self._lock:
            prepared = self._statements.get(key)
            if prepared is not None:
                self._statements.move_to_end(key)
                return prepared
        prepared = self._prepare(self._table(conn, query.table), query)
        with self._lock:
            self._statements[key] = prepared
            self._statements.move_to_end(key)
            while len(self._statements) > STATEMENT_CACHE_SIZE:
                self._statements.popitem(last=False)
        return prepared

    @staticmethod
    def _prepare(table: Table, query: SourceQuery) -> _Prepared:
        def column(name: str) -> ColumnElement[Any]:
            if name not in table.c:
                raise SourceError(f"column {name!r} is not in source table {table.name!r}")
            return table.c[name]

        selected = [column(col).label(name) for name, col in query.columns]
        as_bool = tuple(_is_mysql_bool(table.c[col]) for _, col in query.columns)
        subject = column(query.subject_column)
        # Bound parameters typed exactly as ``column.in_(values)`` and ``column >= value`` type them,
        # so the SQL and the bind casts sent are the same as building the statement with the values.
        subjects_type = subject.type.coerce_compared_value(operators.in_op, query.subjects[0])
        statement = select(*selected).where(
            subject.in_(bindparam(_SUBJECTS_PARAM, expanding=True, type_=subjects_type))
        )
        value_params: list[str | None] = []
        for i, condition in enumerate(query.conditions):
            target = column(condition.column)
            if condition.op == "is_null":
                statement = statement.where(target.is_(None))
                value_params.append(None)
            elif condition.op == "in":
                # NULL is never IN a list: a missing basis document is excluded with a wrong one.
                name = f"gw_condition_{i}"
                statement = statement.where(target.in_(bindparam(name, expanding=True)))
                value_params.append(name)
            else:
                name = f"gw_condition_{i}"
                value_type = target.type.coerce_compared_value(operators.ge, condition.value)
                statement = statement.where(target >= bindparam(name, type_=value_type))
                value_params.append(name)
        key_type: type | None = None
        if query.excluded_keys and query.key_column:
            # Repaired records (block, delete) are excluded by the database itself: one expanding
            # bound NOT IN over the keys the repair store holds for the queried subjects.
            key = column(query.key_column)
            try:
                key_type = key.type.python_type
            except NotImplementedError:
                key_type = str
            key_type = int if key_type is int else str
            statement = statement.where(
                key.not_in(bindparam(_EXCLUDED_PARAM, expanding=True, type_=key.type))
            )
        order: list[ColumnElement[Any]] = [*table.primary_key.columns]
        order = order or [column(col) for _, col in query.columns]
        statement = statement.order_by(*order).limit(query.limit)
        return _Prepared(statement, as_bool, tuple(value_params), key_type)

    def _error(self, exc: SQLAlchemyError) -> SourceError:
        orig = getattr(exc, "orig", None)
        cause = type(orig or exc).__name__
        if _timed_out(orig):
            log.warning("source read timed out", extra={"source": self.name, "error_type": cause})
            return SourceTimeout(
                f"source {self.name!r} did not answer within {self.statement_timeout_s:g} s",
                accepted="a retry later; the source is slow or overloaded",
            )
        log.warning("source read failed", extra={"source": self.name, "error_type": cause})
        if isinstance(exc, NoSuchTableError):
            return SourceError(f"source {self.name!r} has no such table")
        return SourceError(f"source {self.name!r} could not be read ({cause})")


def _timed_out(orig: object) -> bool:
    """Whether the driver's error says the database cut the statement off at its timeout."""
    if isinstance(orig, sqlite3.OperationalError):
        return str(orig) == "interrupted"
    if getattr(orig, "sqlstate", None) == _PG_QUERY_CANCELED:
        return True
    args: tuple[object, ...] = tuple(getattr(orig, "args", ()))
    return bool(args) and args[0] in _MYSQL_TIMEOUTS


class SqlSourceRegistry:
    """The ``SourceRegistry`` over database id -> URL; engines are built once, connections lazily."""

    def __init__(
        self, urls: Mapping[str, str], *, statement_timeout_s: float = DEFAULT_STATEMENT_TIMEOUT_S
    ) -> None:
        self._sources = {
            database: SqlSource(url, name=database, statement_timeout_s=statement_timeout_s)
            for database, url in urls.items()
        }

    @property
    def databases(self) -> tuple[str, ...]:
        """The configured database ids, sorted."""
        return tuple(sorted(self._sources))

    def source(self, database: str) -> SqlSource:
        """The source for ``database``; SourceError when it is not configured."""
        try:
            return self._sources[database]
        except KeyError:
            raise SourceError(f"source database {database!r} is not configured") from None

    def columns(self) -> dict[str, dict[str, set[str]]]:
        """database -> table -> column names, reflected from every configured source."""
        return {database: self._sources[database].columns() for database in self.databases}

    def close(self) -> None:
        """Dispose of every engine."""
        for source in self._sources.values():
            source.close()
