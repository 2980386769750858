"""Token-endpoint failure counts and lockouts in the gateway database (SQLite or PostgreSQL).

Why the database and not a table in each process: ``gateway serve`` runs several workers and a
deployment several replicas. Counted per process, an attacker spreading requests over N workers would
get N times the failures the policy allows, and a lockout decided in one worker would not hold in the
next. Every worker already shares this database (the ledger's), and a failure is one short
transaction on one row, so the shared count costs a write only when a secret was wrong.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from gateway.adapters.sql.engine import is_sqlite, write_connection
from gateway.adapters.sql.errors import map_sql_errors
from gateway.adapters.sql.schema import token_throttle
from gateway.domain.throttle import LockoutPolicy
from gateway.errors import Unavailable


class SqlThrottleStore:
    """The TokenThrottleStore port: one row per key, updated in one transaction per failure."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def locked_until_ms(self, keys: Sequence[str]) -> dict[str, int]:
        """The lockout end of each key that has a row (keys without one are not locked)."""
        with (
            map_sql_errors(Unavailable, "the token throttle cannot be read"),
            self.engine.connect() as conn,
        ):
            rows = conn.execute(
                sa.select(token_throttle.c.key, token_throttle.c.locked_until_ms).where(
                    token_throttle.c.key.in_(list(keys))
                )
            ).all()
        return {str(row.key): int(row.locked_until_ms) for row in rows}

    def record_failure(self, key: str, now_ms: int, policy: LockoutPolicy) -> int:
        """Count one failure for ``key``; return its lockout end (0: not locked)."""
        table = token_throttle
        dialect_insert = sqlite.insert if is_sqlite(self.engine) else postgresql.insert
        with (
            map_sql_errors(Unavailable, "the token throttle cannot be written"),
            write_connection(self.engine) as conn,
            conn.begin(),
        ):
            # The row exists before it is locked: two workers' first failures cannot both insert.
            conn.execute(
                dialect_insert(table)
                .values(key=key, failures=0, last_failure_ms=now_ms, locked_until_ms=0)
                .on_conflict_do_nothing()
            )
            row = conn.execute(
                sa.select(table.c.failures, table.c.last_failure_ms, table.c.locked_until_ms)
                .where(table.c.key == key)
                # PostgreSQL: the row lock serializes concurrent failures of one key; SQLite's write
                # lock (BEGIN IMMEDIATE) already does.
                .with_for_update()
            ).one()
            failures = policy.counted(int(row.failures), int(row.last_failure_ms), now_ms) + 1
            lock = policy.lock_ms(failures)
            locked = max(int(row.locked_until_ms), now_ms + lock) if lock else int(row.locked_until_ms)
            conn.execute(
                table.update()
                .where(table.c.key == key)
                .values(failures=failures, last_failure_ms=now_ms, locked_until_ms=locked)
            )
        return locked

    def clear(self, key: str) -> None:
        """Forget the failures and lockout of ``key`` (after a success from it)."""
        with (
            map_sql_errors(Unavailable, "the token throttle cannot be written"),
            write_connection(self.engine) as conn,
            conn.begin(),
        ):
            conn.execute(token_throttle.delete().where(token_throttle.c.key == key))
