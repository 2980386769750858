"""The gateway's single error hierarchy.

Every error carries a stable machine ``code`` (what a caller may branch on), an HTTP ``status`` hint
used only by ``gateway.api``, and optionally the request ``field`` it concerns and what would be
accepted instead. Messages never contain a personal value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""

    code: ClassVar[str] = "gateway_error"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Gateway error"

    def __init__(
        self,
        detail: str,
        *,
        field: str | None = None,
        accepted: str | None = None,
        code: str | None = None,
        clause: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.accepted = accepted
        self.clause = clause
        self.extra: dict[str, Any] = dict(extra or {})
        if code is not None:
            # Instance-level code refines the class default (e.g. a specific policy reason).
            self.code = code  # type: ignore[misc]  # ClassVar default, instance override on purpose


class InvalidRequest(GatewayError):
    """The request is malformed or violates a validation rule."""

    code = "invalid_request"
    status = 422
    title = "Invalid request"


class InvalidIdentifier(InvalidRequest):
    """A resident ID or unified social credit code fails its format or checksum."""

    code = "invalid_identifier"
    title = "Invalid subject identifier"


class NotFound(GatewayError):
    """The named resource does not exist."""

    code = "not_found"
    status = 404
    title = "Not found"


class Conflict(GatewayError):
    """The request conflicts with the current state of a resource."""

    code = "conflict"
    status = 409
    title = "Conflict"


class AuthenticationFailed(GatewayError):
    """No valid bearer token or client credentials were presented."""

    code = "invalid_token"
    status = 401
    title = "Authentication failed"


class InsufficientScope(GatewayError):
    """The token is valid but lacks the scope this endpoint needs."""

    code = "insufficient_scope"
    status = 403
    title = "Insufficient scope"


class PolicyDenied(GatewayError):
    """The policy decided to refuse the request; ``reasons`` say why."""

    code = "policy_denied"
    status = 403
    title = "Refused by policy"

    def __init__(
        self,
        detail: str,
        *,
        reasons: Sequence[Mapping[str, Any]] = (),
        code: str | None = None,
        clause: str | None = None,
        field: str | None = None,
        receipt: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail, code=code, clause=clause, field=field)
        self.reasons = [dict(r) for r in reasons]
        self.receipt = dict(receipt) if receipt is not None else None


class GrantRefused(GatewayError):
    """An authorization grant was refused (blanket, lifetime, mandatory, retroactive...)."""

    code = "grant_refused"
    status = 422
    title = "Authorization grant refused"


class Unavailable(GatewayError):
    """A dependency on the request path failed; the request is refused (fail closed)."""

    code = "unavailable"
    status = 503
    title = "Service unavailable"


class PolicyEngineError(Unavailable):
    """The policy engine failed or returned an undefined or malformed decision."""

    code = "policy_engine_error"
    title = "Policy engine unavailable"


class SourceError(Unavailable):
    """A departmental database could not be read."""

    code = "source_unavailable"
    title = "Source database unavailable"


class LedgerError(Unavailable):
    """The ledger could not durably register an entry."""

    code = "ledger_unavailable"
    title = "Ledger unavailable"


class GrantStoreError(Unavailable):
    """The grant store could not be read or written."""

    code = "grant_store_unavailable"
    title = "Grant store unavailable"


class KeyUnavailable(Unavailable):
    """A key needed on the request path is missing or unusable."""

    code = "key_unavailable"
    title = "Key unavailable"


class DesensitizationError(Unavailable):
    """Desensitization failed, or the residual guard found personal data about to leak."""

    code = "desensitization_failed"
    title = "Desensitization failed"


class ConfigurationError(GatewayError):
    """The gateway's configuration, catalog or policies are invalid."""

    code = "configuration_error"
    status = 500
    title = "Configuration error"
