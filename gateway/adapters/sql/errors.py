"""SQLAlchemy's errors translated into the gateway's, in one place, for every call into the database.

Every call site in ``adapters/sql`` that talks to the gateway database runs inside
``map_sql_errors``; nothing else catches ``SQLAlchemyError``. The driver's own message may quote
bound parameters (personal values among them), so it never leaves this module: callers get the
store's error with what was being done and the kind of failure from the table below, and the
log gets the error's type name only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from gateway.errors import GatewayError, Unavailable

log = logging.getLogger("gateway.sql")

# Most specific first: the first class that matches names the failure.
SQL_ERROR_KINDS: tuple[tuple[type[sa.exc.SQLAlchemyError], str], ...] = (
    (sa.exc.IntegrityError, "a constraint refused the write"),
    (sa.exc.OperationalError, "the database is unreachable, busy or missing a table"),
    (sa.exc.ProgrammingError, "the database schema does not match"),
    (sa.exc.DBAPIError, "the database driver failed"),
    (sa.exc.TimeoutError, "no database connection was free in time"),
    (sa.exc.SQLAlchemyError, "the database layer failed"),
)


def failure_kind(exc: sa.exc.SQLAlchemyError) -> str:
    """The table's description of ``exc``."""
    return next(kind for cls, kind in SQL_ERROR_KINDS if isinstance(exc, cls))


@contextmanager
def map_sql_errors(error: type[Unavailable], failed: str) -> Iterator[None]:
    """Turn a SQLAlchemy error raised inside into ``error``; let GatewayErrors through.

    ``error`` is the store's own unavailable error (``LedgerError``, ``GrantStoreError``), which its
    callers fail closed on; ``failed`` says what could not be done ("the ledger could not ...").
    """
    try:
        yield
    except GatewayError:
        raise
    except sa.exc.SQLAlchemyError as exc:
        log.warning(
            "database call failed",
            extra={"failed": failed, "error_type": type(getattr(exc, "orig", None) or exc).__name__},
        )
        raise error(f"{failed} ({failure_kind(exc)})") from exc
