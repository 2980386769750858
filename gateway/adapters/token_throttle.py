"""Throttling of the token endpoint: per-client and per-address lockouts, shared by every worker.

Two counters are kept for a failed token request: one for the client it named (only a registered
client: an unknown id counts against the address alone, so typed text is never stored and an
attacker cannot fill the table with invented ids) and one for the address it came from. Either
counter past its policy locks its key; a locked client or address is refused before any secret is
hashed. A success clears the client's counter and the counter of the address it came from, never
another address's: an attacker's lockout outlives the real client's next login.

Every refusal for throttling, a lockout or a full hashing pool, is built by ``TokenThrottle.refuse``:
the one place the ``gateway_token_throttled_total{reason}`` counter is incremented.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from dataclasses import dataclass, field

from gateway.domain.throttle import LockoutPolicy, retry_after_s
from gateway.errors import GatewayError, TokenEndpointBusy, TokenThrottled
from gateway.ports import Clock, Metrics, TokenThrottleStore

log = logging.getLogger("gateway.adapters.token_throttle")

METRIC = "gateway_token_throttled_total"
REASONS = ("client", "address", "busy")


def throttled(reason: str, retry_after: int) -> GatewayError:
    """The refusal for one throttling decision (``reason`` in REASONS); every one passes here."""
    log.warning("token request throttled", extra={"reason": reason, "retry_after_s": retry_after})
    if reason == "busy":
        return TokenEndpointBusy(
            "every secret-checking slot is taken; try again shortly", retry_after_s=retry_after
        )
    return TokenThrottled(
        f"too many failed token requests for this {reason}; try again later",
        retry_after_s=retry_after,
        extra={"reason": reason},
    )


def address_key(address: str | None) -> str | None:
    """The throttling key of an address: IPv6 by its /64 (one host usually holds a whole /64)."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is None:
        net = ipaddress.ip_network(f"{ip}/64", strict=False)
        text = str(net)
    else:
        text = str(ip.ipv4_mapped or ip) if ip.version == 6 else str(ip)
    return hashlib.sha256(b"address\0" + text.encode()).hexdigest()


def client_key(client_id: str) -> str:
    """The throttling key of a registered client."""
    return hashlib.sha256(b"client\0" + client_id.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ThrottlePolicies:
    """The lockout policy of clients and of addresses (an address may fail more: it may be a NAT)."""

    client: LockoutPolicy = field(default_factory=lambda: LockoutPolicy(after=10))
    address: LockoutPolicy = field(default_factory=lambda: LockoutPolicy(after=20))


class TokenThrottle:
    """Decides whether a token request may be checked at all, and counts its outcome."""

    def __init__(
        self,
        store: TokenThrottleStore,
        clock: Clock,
        metrics: Metrics,
        policies: ThrottlePolicies | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._metrics = metrics
        self.policies = policies or ThrottlePolicies()

    def refuse(self, reason: str, retry_after: int) -> GatewayError:
        """The refusal for one throttling decision, counted (``reason`` in REASONS)."""
        self._metrics.count_throttled(reason)
        return throttled(reason, retry_after)

    def _now_ms(self) -> int:
        return int(self._clock.now().timestamp() * 1000)

    def _keys(self, client: str | None, address: str | None) -> list[tuple[str, str, LockoutPolicy]]:
        keys = []
        if client is not None:
            keys.append(("client", client_key(client), self.policies.client))
        addr = address_key(address)
        if addr is not None:
            keys.append(("address", addr, self.policies.address))
        return keys

    def check(self, client: str | None, address: str | None) -> frozenset[str]:
        """Raise the throttling refusal when the (registered) client or the address is locked;
        return the keys that have failures recorded (what a success has to clear)."""
        keys = self._keys(client, address)
        if not keys:
            return frozenset()
        locked = self._store.locked_until_ms([key for _, key, _ in keys])
        now = self._now_ms()
        for reason, key, _ in keys:
            until = locked.get(key, 0)
            if until > now:
                raise self.refuse(reason, retry_after_s(until, now))
        return frozenset(locked)

    def failed(self, client: str | None, address: str | None) -> None:
        """Count a failed client authentication against the client and the address."""
        now = self._now_ms()
        for _, key, policy in self._keys(client, address):
            self._store.record_failure(key, now, policy)

    def succeeded(self, client: str, address: str | None, recorded: frozenset[str]) -> None:
        """Clear the client's counter and this address's (those ``check`` found); other addresses
        keep theirs. Nothing is written when neither had failures: a success costs no write."""
        for _, key, _ in self._keys(client, address):
            if key in recorded:
                self._store.clear(key)
