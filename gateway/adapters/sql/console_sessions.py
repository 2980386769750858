"""Console sessions, failure counts and TOTP steps in the gateway's own database (SQLite or PostgreSQL).

Why server-side rows rather than signed cookies: the gateway runs with several worker processes, and a
logout, a lockout or a disabled account has to hold in all of them at the very next request. A row per
session in the database every worker already shares (the ledger's) gives that without a revocation
list to distribute. The cookie carries a random 256-bit token; the table keeps only its SHA-256, so a
copy of the database does not hand out live sessions. Failure counts and the last TOTP step used are
kept per account (a digest of the typed name, so arbitrary typed text is never stored).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from gateway.adapters.sql import migrate
from gateway.adapters.sql.engine import make_engine
from gateway.adapters.sql.errors import map_sql_errors
from gateway.adapters.sql.schema import console_accounts, console_sessions
from gateway.errors import ConfigurationError, LedgerError


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())


class SqlConsoleSessions:
    """ConsoleSessionStore on the gateway database; its tables come from the migrations (0004_console)."""

    def __init__(self, url: str, *, engine: Engine | None = None) -> None:
        self.engine: Engine = engine if engine is not None else make_engine(url)
        where = self.engine.url
        if where.get_backend_name() == "sqlite" and where.database in (None, "", ":memory:"):
            raise ConfigurationError("console sessions need a database file shared by every worker")
        with map_sql_errors(LedgerError, "the console session tables could not be read"):
            migrate.require_current(self.engine)

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    def _account_row(self, conn: sa.Connection, account: str) -> None:
        exists = conn.execute(
            sa.select(console_accounts.c.account).where(console_accounts.c.account == account)
        ).first()
        if exists is None:
            try:
                with conn.begin_nested():
                    conn.execute(
                        console_accounts.insert().values(
                            account=account, failures=0, locked_until=0, last_step=-1, enrolled_digest=None
                        )
                    )
            except IntegrityError:
                pass  # another worker created it first

    def locked_until(self, account: str, now: datetime) -> datetime | None:
        with self.engine.connect() as conn:
            until = conn.execute(
                sa.select(console_accounts.c.locked_until).where(console_accounts.c.account == account)
            ).scalar()
        if until is None or until <= _seconds(now):
            return None
        return datetime.fromtimestamp(until, UTC)

    def record_failure(self, account: str, now: datetime, *, limit: int, lock_for_s: int) -> bool:
        with self.engine.begin() as conn:
            self._account_row(conn, account)
            # One UPDATE, so failures counted by two workers at once are both counted.
            conn.execute(
                console_accounts.update()
                .where(console_accounts.c.account == account)
                .values(failures=console_accounts.c.failures + 1)
            )
            failures = conn.execute(
                sa.select(console_accounts.c.failures).where(console_accounts.c.account == account)
            ).scalar_one()
            if failures >= limit:
                conn.execute(
                    console_accounts.update()
                    .where(console_accounts.c.account == account)
                    .values(failures=0, locked_until=_seconds(now) + lock_for_s)
                )
                return True
        return False

    def clear_failures(self, account: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                console_accounts.update().where(console_accounts.c.account == account).values(failures=0)
            )

    def claim_totp_step(self, account: str, step: int) -> bool:
        with self.engine.begin() as conn:
            self._account_row(conn, account)
            claimed = conn.execute(
                console_accounts.update()
                .where(console_accounts.c.account == account, console_accounts.c.last_step < step)
                .values(last_step=step)
            )
            return claimed.rowcount == 1

    def is_enrolled(self, account: str, totp_digest: str) -> bool:
        with self.engine.connect() as conn:
            digest = conn.execute(
                sa.select(console_accounts.c.enrolled_digest).where(console_accounts.c.account == account)
            ).scalar()
        return digest is not None and secrets.compare_digest(digest, totp_digest)

    def mark_enrolled(self, account: str, totp_digest: str) -> None:
        with self.engine.begin() as conn:
            self._account_row(conn, account)
            conn.execute(
                console_accounts.update()
                .where(console_accounts.c.account == account)
                .values(enrolled_digest=totp_digest)
            )

    def create(self, username: str, stage: str, now: datetime) -> str:
        token = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(
                console_sessions.insert().values(
                    token_hash=_token_hash(token),
                    username=username,
                    stage=stage,
                    created_at=_seconds(now),
                    last_seen=_seconds(now),
                    revoked=False,
                )
            )
        return token

    def touch(self, token: str, now: datetime, *, idle_s: int, absolute_s: int) -> tuple[str, str] | None:
        at = _seconds(now)
        digest = _token_hash(token)
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(console_sessions).where(console_sessions.c.token_hash == digest)
            ).first()
            if row is None or row.revoked:
                return None
            if at - row.last_seen > idle_s or at - row.created_at > absolute_s:
                conn.execute(
                    console_sessions.update()
                    .where(console_sessions.c.token_hash == digest)
                    .values(revoked=True)
                )
                return None
            conn.execute(
                console_sessions.update().where(console_sessions.c.token_hash == digest).values(last_seen=at)
            )
            return str(row.username), str(row.stage)

    def revoke(self, token: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                console_sessions.update()
                .where(console_sessions.c.token_hash == _token_hash(token))
                .values(revoked=True)
            )
