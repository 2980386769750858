"""The gateway's single error hierarchy: one class per stable machine code.

Every error carries a class-level ``code`` (what a caller may branch on), an HTTP ``status`` hint used
only by ``gateway.api``, a ``title``, and optionally the request ``field`` it concerns and what would be
``accepted`` instead. Messages never contain a personal value. A code belongs to exactly one class and
no instance changes it; the two policy refusals report the policy's own reason code (defined in the
Rego METADATA, not here) through ``problem_code``.

    GatewayError                      gateway_error            500
    ├── InvalidRequest                invalid_request          422
    │   ├── InvalidIdentifier         invalid_identifier
    │   ├── IdentifierInText          identifier_in_text
    │   ├── GrantSubjectNotPersonal   grant_subject_not_personal
    │   ├── CheckpointError           checkpoint_invalid
    │   └── ItemNotRepairable         item_not_repairable
    ├── VerificationError             verification_failed      422
    ├── NotFound                      not_found                404
    │   ├── GrantNotFound             grant_not_found
    │   ├── PolicyDraftNotFound       policy_draft_not_found
    │   ├── RepairNotFound            repair_not_found
    │   └── ListEntryNotFound         list_entry_not_found
    ├── Conflict                      conflict                 409
    │   ├── GrantAlreadyRevoked       grant_already_revoked
    │   ├── PolicyDraftNotReady       policy_draft_not_ready
    │   ├── SameApprover              policy_same_approver
    │   └── RepairAlreadyDecided      repair_already_decided
    ├── AuthenticationFailed          invalid_token            401
    │   ├── MissingToken              missing_token
    │   ├── MalformedToken            malformed_token
    │   ├── UnsignedToken             unsigned_token
    │   ├── DisallowedAlgorithm       disallowed_algorithm
    │   ├── BadSignature              bad_signature
    │   ├── WrongIssuer               wrong_issuer
    │   ├── WrongAudience             wrong_audience
    │   ├── WrongTokenType            wrong_token_type
    │   ├── TokenExpired              token_expired
    │   ├── TokenNotYetValid          token_not_yet_valid
    │   ├── ConsoleLoginRefused       console_login_refused
    │   ├── ConsoleLocked             console_locked
    │   └── ConsoleSessionExpired     console_session_expired
    ├── MethodNotAllowed              method_not_allowed       405
    ├── HttpError                     http_error               400
    │   └── RequestTooLarge           request_too_large        413
    ├── InsufficientScope             insufficient_scope       403
    ├── TokenThrottled                token_throttled          429  (Retry-After)
    ├── PolicyDenied                  policy_denied            403  (problem code: the policy's reason)
    ├── GrantRefused                  grant_refused            422  (problem code: the policy's reason)
    ├── ListingRefused                listing_refused          422  (problem code: the policy's reason)
    ├── InternalError                 internal_error           500
    ├── Unavailable                   unavailable              503
    │   ├── PolicyEngineError         policy_engine_error
    │   │   ├── CatalogMismatch       catalog_mismatch
    │   │   └── PolicyRevisionMismatch policy_revision_mismatch
    │   ├── SourceError               source_unavailable
    │   │   └── SourceTimeout         source_timeout
    │   ├── LedgerError               ledger_unavailable
    │   ├── GrantStoreError           grant_store_unavailable
    │   ├── GrantsNotConfigured       grants_unavailable
    │   ├── PolicyStoreError          policy_store_unavailable
    │   ├── WitnessError              witness_unavailable
    │   ├── ListStoreError            list_store_unavailable
    │   ├── KeyUnavailable            key_unavailable
    │   ├── TokenEndpointBusy         token_endpoint_busy           (Retry-After)
    │   ├── RepairStoreError          repair_store_unavailable
    │   └── DesensitizationError      desensitization_failed
    │       ├── UnreleasedField       unreleased_field
    │       ├── MissingObligation     missing_obligation
    │       ├── UnknownOperator       unknown_operator
    │       ├── UnknownAlgorithm      unknown_algorithm
    │       ├── BadEncryptionKey      bad_encryption_key
    │       ├── DecryptionFailed      decryption_failed
    │       └── ResidualPersonalData  residual_personal_data
    └── ConfigurationError            configuration_error      500
        └── KeyRetirementRefused      key_retirement_refused

``error_classes()`` lists them all; the README's table and the OpenAPI document are tested against it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""

    code: ClassVar[str] = "gateway_error"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Gateway error"
    # Set by a use case that registered this very refusal in the ledger, so it is not registered twice.
    registered: bool = False

    def __init__(
        self,
        detail: str,
        *,
        field: str | None = None,
        accepted: str | None = None,
        clause: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.accepted = accepted
        self.clause = clause
        self.extra: dict[str, Any] = dict(extra or {})

    @property
    def problem_code(self) -> str:
        """The code a caller sees: the class's code, except where a policy names its own reason."""
        return self.code


class InvalidRequest(GatewayError):
    """The request is malformed or violates a validation rule."""

    code = "invalid_request"
    status = 422
    title = "Invalid request"


class InvalidIdentifier(InvalidRequest):
    """A resident ID or unified social credit code fails its format or checksum."""

    code = "invalid_identifier"
    title = "Invalid subject identifier"


class IdentifierInText(InvalidRequest):
    """A field that would be stored or logged holds a checksum-valid identifier."""

    code = "identifier_in_text"
    title = "Identifier in text"


class GrantSubjectNotPersonal(InvalidRequest):
    """An authorization grant names a legal person, which needs none."""

    code = "grant_subject_not_personal"
    title = "Grants are given by natural persons"


class CheckpointError(InvalidRequest):
    """A signed checkpoint does not parse, or its signature does not verify."""

    code = "checkpoint_invalid"
    title = "Invalid checkpoint"


class ItemNotRepairable(InvalidRequest):
    """The catalog says this item's information may not be repaired; ``extra`` cites the provision."""

    code = "item_not_repairable"
    title = "Information not repairable"


class VerificationError(GatewayError):
    """A Merkle proof or a ledger does not verify."""

    code = "verification_failed"
    status = 422
    title = "Verification failed"


class NotFound(GatewayError):
    """The named resource does not exist."""

    code = "not_found"
    status = 404
    title = "Not found"


class GrantNotFound(NotFound):
    """No authorization grant has this id (or the caller may not see it)."""

    code = "grant_not_found"
    title = "Authorization grant not found"


class PolicyDraftNotFound(NotFound):
    """No policy draft (or bundle) with this id."""

    code = "policy_draft_not_found"
    title = "Policy draft not found"


class RepairNotFound(NotFound):
    """No repair application with this id is visible to the caller."""

    code = "repair_not_found"
    title = "Repair not found"


class ListEntryNotFound(NotFound):
    """No list entry has this id."""

    code = "list_entry_not_found"
    title = "List entry not found"


class Conflict(GatewayError):
    """The request conflicts with the current state of a resource."""

    code = "conflict"
    status = 409
    title = "Conflict"


class GrantAlreadyRevoked(Conflict):
    """The grant was revoked before."""

    code = "grant_already_revoked"
    title = "Authorization grant already revoked"


class PolicyDraftNotReady(Conflict):
    """The draft cannot be activated yet: it failed a check, or has no check or replay report."""

    code = "policy_draft_not_ready"
    title = "Policy draft not ready"


class SameApprover(Conflict):
    """The two-person rule: whoever wrote a draft may not approve or activate it."""

    code = "policy_same_approver"
    title = "Approver is the author"


class RepairAlreadyDecided(Conflict):
    """The repair application was already accepted or refused."""

    code = "repair_already_decided"
    title = "Repair already decided"


class AuthenticationFailed(GatewayError):
    """No valid bearer token or client credentials were presented."""

    code = "invalid_token"
    status = 401
    title = "Authentication failed"


class MissingToken(AuthenticationFailed):
    """No bearer token was sent."""

    code = "missing_token"


class MalformedToken(AuthenticationFailed):
    """The token is not a well-formed JWS with the claims an access token needs."""

    code = "malformed_token"


class UnsignedToken(AuthenticationFailed):
    """The token is unsigned (``alg: none``)."""

    code = "unsigned_token"


class DisallowedAlgorithm(AuthenticationFailed):
    """The token is signed with an algorithm the gateway does not accept."""

    code = "disallowed_algorithm"


class BadSignature(AuthenticationFailed):
    """The signature does not verify with a known key of the issuer."""

    code = "bad_signature"


class WrongIssuer(AuthenticationFailed):
    """The token's issuer is not trusted."""

    code = "wrong_issuer"


class WrongAudience(AuthenticationFailed):
    """The token is meant for another audience."""

    code = "wrong_audience"


class WrongTokenType(AuthenticationFailed):
    """The token is not an access token (``typ: at+jwt``)."""

    code = "wrong_token_type"


class TokenExpired(AuthenticationFailed):
    """The token has expired."""

    code = "token_expired"


class TokenNotYetValid(AuthenticationFailed):
    """The token is not valid yet, or was issued in the future."""

    code = "token_not_yet_valid"


class ConsoleLoginRefused(AuthenticationFailed):
    """A console sign-in failed: the name, the password or the one-time code is wrong (not said which)."""

    code = "console_login_refused"


class ConsoleLocked(AuthenticationFailed):
    """Too many failed console sign-ins in a row: the account is locked for a while."""

    code = "console_locked"


class ConsoleSessionExpired(AuthenticationFailed):
    """The console session (or the enrolment in progress) has ended; sign in again."""

    code = "console_session_expired"


class MethodNotAllowed(GatewayError):
    """The path exists but not with this HTTP method."""

    code = "method_not_allowed"
    status = 405
    title = "Method not allowed"


class HttpError(GatewayError):
    """Any other refusal of the HTTP layer itself (before a route runs)."""

    code = "http_error"
    status = 400
    title = "HTTP error"


class RequestTooLarge(HttpError):
    """The request body is larger than the configured limit (``max_body_bytes``)."""

    code = "request_too_large"
    status = 413
    title = "Request body too large"


class InsufficientScope(GatewayError):
    """The token is valid but lacks the scope this endpoint needs."""

    code = "insufficient_scope"
    status = 403
    title = "Insufficient scope"


class _PolicyRefusal(GatewayError):
    """A refusal decided by a Rego policy: the caller sees the policy's first reason code."""

    def __init__(
        self,
        detail: str,
        *,
        reasons: Sequence[Mapping[str, Any]] = (),
        reason_code: str | None = None,
        clause: str | None = None,
        field: str | None = None,
        receipt: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail, clause=clause, field=field, extra=extra)
        self.reasons = [dict(r) for r in reasons]
        self.reason_code = reason_code
        self.receipt = dict(receipt) if receipt is not None else None

    @property
    def problem_code(self) -> str:
        """The policy's reason code (stable, from the rule's METADATA), else the class code."""
        return self.reason_code or self.code


class PolicyDenied(_PolicyRefusal):
    """The policy decided to refuse the request; ``reasons`` say why."""

    code = "policy_denied"
    status = 403
    title = "Refused by policy"


class GrantRefused(_PolicyRefusal):
    """An authorization grant was refused (blanket, lifetime, mandatory, retroactive...)."""

    code = "grant_refused"
    status = 422
    title = "Authorization grant refused"


class ListingRefused(_PolicyRefusal):
    """A step of the listing procedure was refused (out of order, too early, unanswered objection...)."""

    code = "listing_refused"
    status = 422
    title = "Listing step refused"


class InternalError(GatewayError):
    """Something unexpected failed; the request is refused and nothing is returned."""

    code = "internal_error"
    status = 500
    title = "Internal error"


class Unavailable(GatewayError):
    """A dependency on the request path failed; the request is refused (fail closed)."""

    code = "unavailable"
    status = 503
    title = "Service unavailable"


class PolicyEngineError(Unavailable):
    """The policy engine failed or returned an undefined or malformed decision."""

    code = "policy_engine_error"
    title = "Policy engine unavailable"


class CatalogMismatch(PolicyEngineError):
    """The policy released something the gateway's catalog does not describe."""

    code = "catalog_mismatch"
    title = "Policy and catalog disagree"


class PolicyRevisionMismatch(PolicyEngineError):
    """The OPA sidecar reports another bundle revision than the gateway's active one: refuse."""

    code = "policy_revision_mismatch"


class SourceError(Unavailable):
    """A departmental database could not be read."""

    code = "source_unavailable"
    title = "Source database unavailable"


class SourceTimeout(SourceError):
    """A departmental database did not answer within the statement timeout; the read was cancelled."""

    code = "source_timeout"
    title = "Source database too slow"


class LedgerError(Unavailable):
    """The ledger could not durably register an entry."""

    code = "ledger_unavailable"
    title = "Ledger unavailable"


class GrantStoreError(Unavailable):
    """The grant store could not be read or written."""

    code = "grant_store_unavailable"
    title = "Grant store unavailable"


class ListStoreError(Unavailable):
    """The list store could not be read or written."""

    code = "list_store_unavailable"
    title = "List store unavailable"


class GrantsNotConfigured(Unavailable):
    """A query names a grant but this gateway has no grant store."""

    code = "grants_unavailable"
    title = "Grants unavailable"


class PolicyStoreError(Unavailable):
    """The policy bundle store (drafts, the active bundle, kept inputs) cannot be read or written."""

    code = "policy_store_unavailable"


class WitnessError(Unavailable):
    """A ledger witness could not be reached, or refused a checkpoint (never on the request path)."""

    code = "witness_unavailable"
    title = "Witness unavailable"

    def __init__(self, detail: str, *, known_size: int | None = None) -> None:
        super().__init__(detail)
        self.known_size = known_size  # the witness's own size, when it answered 409


class KeyUnavailable(Unavailable):
    """A key needed on the request path is missing or unusable."""

    code = "key_unavailable"
    title = "Key unavailable"


class RepairStoreError(Unavailable):
    """The repair store could not be read or written; queries are refused rather than answered unrepaired."""

    code = "repair_store_unavailable"
    title = "Repair store unavailable"


class DesensitizationError(Unavailable):
    """Desensitization failed, or the residual guard found personal data about to leak."""

    code = "desensitization_failed"
    title = "Desensitization failed"


class UnreleasedField(DesensitizationError):
    """A row carries a field the decision did not release."""

    code = "unreleased_field"


class MissingObligation(DesensitizationError):
    """A released personal field has no desensitization obligation."""

    code = "missing_obligation"


class UnknownOperator(DesensitizationError):
    """An obligation names an operator the desensitizer does not have."""

    code = "unknown_operator"


class UnknownAlgorithm(DesensitizationError):
    """An encryption algorithm the gateway does not implement."""

    code = "unknown_algorithm"


class BadEncryptionKey(DesensitizationError):
    """An encryption key of the wrong size for its algorithm."""

    code = "bad_encryption_key"


class DecryptionFailed(DesensitizationError):
    """A ciphertext is malformed, of another algorithm, or fails authentication."""

    code = "decryption_failed"


class ResidualPersonalData(DesensitizationError):
    """The residual guard found an uncleared identifier about to leave; the response is refused."""

    code = "residual_personal_data"


class ConfigurationError(GatewayError):
    """The gateway's configuration, catalog or policies are invalid."""

    code = "configuration_error"
    status = 500
    title = "Configuration error"


class TokenThrottled(GatewayError):
    """Too many failed token requests from this client or address: locked out for ``Retry-After`` s."""

    code = "token_throttled"
    status = 429
    title = "Too many token requests"

    def __init__(self, detail: str, *, retry_after_s: int, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.retry_after_s = retry_after_s


class TokenEndpointBusy(Unavailable):
    """Every secret-hashing slot is taken: the token request is refused at once, try again shortly."""

    code = "token_endpoint_busy"
    title = "Token endpoint busy"

    def __init__(self, detail: str, *, retry_after_s: int = 1, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.retry_after_s = retry_after_s


class KeyRetirementRefused(ConfigurationError):
    """A key cannot be retired yet (it may have signed something still valid) or ever (a ledger key)."""

    code = "key_retirement_refused"


def error_classes() -> list[type[GatewayError]]:
    """Every error class, parents before children: the one list of the gateway's stable codes."""
    out: list[type[GatewayError]] = []

    def walk(cls: type[GatewayError]) -> None:
        if not cls.__name__.startswith("_"):
            out.append(cls)
        for sub in cls.__subclasses__():
            walk(sub)

    walk(GatewayError)
    return out
