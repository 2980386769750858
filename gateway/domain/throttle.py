"""How long the token endpoint locks a client or an address out after repeated failures.

Pure arithmetic over failure counts and times given in milliseconds: the store that counts failures
(shared by every worker and replica) and the clock live in adapters.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """Failures allowed before a lockout, and how the lockout grows with each further failure.

    ``factor`` 2 doubles the lockout with every failure past ``after`` (exponential); ``factor`` 1
    keeps it at ``base_s`` (stepped). Failures older than ``window_s`` are forgotten, so a client that
    mistypes once a day is never locked out.
    """

    after: int = 5
    base_s: float = 1.0
    factor: float = 2.0
    max_s: float = 900.0
    window_s: float = 900.0

    def __post_init__(self) -> None:
        if self.after < 1 or self.base_s <= 0 or self.factor < 1 or self.max_s < self.base_s:
            raise ValueError("lockout policy: after >= 1, base_s > 0, factor >= 1, max_s >= base_s")
        if self.window_s <= 0:
            raise ValueError("lockout policy: window_s must be positive")

    def lock_ms(self, failures: int) -> int:
        """How long to lock after the ``failures``-th failure in a row (0: not yet)."""
        if failures < self.after:
            return 0
        steps = min(failures - self.after, 64)  # bounded: factor ** steps must not overflow
        return int(min(self.base_s * self.factor**steps, self.max_s) * 1000)

    def counted(self, failures: int, last_failure_ms: int, now_ms: int) -> int:
        """The failures still counted at ``now_ms`` (all, or none once the window has passed)."""
        return failures if now_ms - last_failure_ms <= self.window_s * 1000 else 0


def retry_after_s(locked_until_ms: int, now_ms: int) -> int:
    """The whole seconds a caller must wait (RFC 9110 ``Retry-After``), at least 1 while locked."""
    remaining = locked_until_ms - now_ms
    return max(1, -(-remaining // 1000))
