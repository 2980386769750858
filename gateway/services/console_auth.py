"""Signing people in to the console: password, then TOTP, lockout, idle timeout, logout.

A login needs the password and a TOTP code of the seed the person enrolled. Someone who has never
confirmed their current seed (a new account, or after ``gateway users reset``) is first shown the
enrolment QR code in a short "enrol" session and confirms it with a code. Every outcome is a ledger
entry of kind ``console``: who (only when the name is a known account), what happened, never the
password, the code or the typed name of an unknown account. Failed attempts are counted per account
across every worker; ``MAX_FAILURES`` in a row lock the account for ``LOCKOUT_S`` seconds. A TOTP step
is accepted once, so a code seen over someone's shoulder cannot be replayed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.domain.ledger.records import ConsoleRecord
from gateway.errors import ConsoleLocked, ConsoleLoginRefused, ConsoleSessionExpired
from gateway.ports import Clock, ConsoleSessionStore, ConsoleUser, ConsoleUserDirectory, Ledger, Receipt

MAX_FAILURES = 5
LOCKOUT_S = 15 * 60
IDLE_S = 15 * 60
ABSOLUTE_S = 8 * 3600
ENROL_S = 10 * 60
STAGE_FULL = "full"
STAGE_ENROL = "enrol"


def account_key(username: str) -> str:
    """What failure counts and TOTP steps are kept under: a digest of the normalized typed name."""
    return hashlib.sha256(
        b"credit-gateway/console-account/v1\x00" + username.strip().lower().encode()
    ).hexdigest()


def console_record(event: str, user: ConsoleUser | None, **details: Any) -> ConsoleRecord:
    """A ledger record of a console event (login, login_failed, enrolled, logout, export)."""
    return ConsoleRecord(
        event=event,
        client_id=user.actor.client_id if user else None,
        department=user.department if user else None,
        details=details,
    )


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A signed-in person and their session token (the cookie value)."""

    token: str
    user: ConsoleUser
    stage: str


class ConsoleAuth:
    """Sign-in use cases over the user directory, the session store and the ledger."""

    def __init__(
        self,
        users: ConsoleUserDirectory,
        sessions: ConsoleSessionStore,
        ledger: Ledger,
        clock: Clock,
        *,
        idle_s: int = IDLE_S,
        absolute_s: int = ABSOLUTE_S,
        max_failures: int = MAX_FAILURES,
        lockout_s: int = LOCKOUT_S,
    ) -> None:
        self.users = users
        self.sessions = sessions
        self.ledger = ledger
        self.clock = clock
        self.idle_s = idle_s
        self.absolute_s = absolute_s
        self.max_failures = max_failures
        self.lockout_s = lockout_s

    def _fail(
        self, account: str, user: ConsoleUser | None, reason: str
    ) -> ConsoleLoginRefused | ConsoleLocked:
        locked = self.sessions.record_failure(
            account, self.clock.now(), limit=self.max_failures, lock_for_s=self.lockout_s
        )
        self.ledger.append(console_record("login_failed", user, reason=reason, locked=locked))
        if locked:
            return ConsoleLocked("too many failed attempts; the account is locked for a while")
        return ConsoleLoginRefused("the name, password or code is wrong")

    def login(self, username: str, password: str, code: str) -> ConsoleSession:
        """Check the password and the TOTP code; a person not yet enrolled gets an enrolment session."""
        account = account_key(username)
        now = self.clock.now()
        if self.sessions.locked_until(account, now) is not None:
            known = self.users.get(username)
            self.ledger.append(console_record("login_failed", known, reason="locked", locked=True))
            raise ConsoleLocked("too many failed attempts; the account is locked for a while")
        user = self.users.check_password(username, password)
        if user is None:
            raise self._fail(account, self.users.get(username), "bad_password")
        if not self.sessions.is_enrolled(account, user.totp_digest):
            token = self.sessions.create(user.username, STAGE_ENROL, now)
            return ConsoleSession(token, user, STAGE_ENROL)
        self._check_code(account, user, code)
        return self._open(account, user, "login")

    def enrol(self, token: str, code: str) -> ConsoleSession:
        """Confirm the enrolment QR code with a first code; the enrolment session becomes a full one."""
        found = self.sessions.touch(token, self.clock.now(), idle_s=ENROL_S, absolute_s=ENROL_S)
        user = self.users.get(found[0]) if found else None
        if found is None or user is None or found[1] != STAGE_ENROL:
            raise ConsoleSessionExpired("the enrolment has expired; sign in again")
        account = account_key(user.username)
        self._check_code(account, user, code)
        self.sessions.revoke(token)
        self.sessions.mark_enrolled(account, user.totp_digest)
        return self._open(account, user, "enrolled")

    def _check_code(self, account: str, user: ConsoleUser, code: str) -> None:
        step = self.users.totp_step(user.username, code.strip(), self.clock.now())
        if step is None:
            raise self._fail(account, user, "bad_code")
        if not self.sessions.claim_totp_step(account, step):
            raise self._fail(account, user, "code_reused")

    def _open(self, account: str, user: ConsoleUser, event: str) -> ConsoleSession:
        self.sessions.clear_failures(account)
        # The session row exists before the ledger entry: if the ledger cannot write, no one is let in.
        token = self.sessions.create(user.username, STAGE_FULL, self.clock.now())
        try:
            self.ledger.append(console_record(event, user))
        except Exception:
            self.sessions.revoke(token)
            raise
        return ConsoleSession(token, user, STAGE_FULL)

    def session(self, token: str, stage: str = STAGE_FULL) -> ConsoleUser | None:
        """The person a live session of ``stage`` belongs to, or None (expired, revoked, disabled)."""
        idle = ENROL_S if stage == STAGE_ENROL else self.idle_s
        absolute = ENROL_S if stage == STAGE_ENROL else self.absolute_s
        found = self.sessions.touch(token, self.clock.now(), idle_s=idle, absolute_s=absolute)
        if found is None or found[1] != stage:
            return None
        return self.users.get(found[0])

    def enrolment_uri(self, user: ConsoleUser) -> str:
        """The otpauth:// URI shown as a QR code while the person enrols."""
        return self.users.enrolment_uri(user.username)

    def logout(self, token: str, user: ConsoleUser) -> None:
        """End the session and register it."""
        self.sessions.revoke(token)
        self.ledger.append(console_record("logout", user))

    def record(self, event: str, user: ConsoleUser, details: Mapping[str, Any]) -> Receipt:
        """Register something a person did in the console (an export, say)."""
        return self.ledger.append(console_record(event, user, **details))
