"""Registering the refusals no use case registers itself: requests refused as invalid (clause (13)).

A request to an endpoint whose outcome is registered (a query, a grant registration or revocation, a
review, a subject report) can be refused before its use case runs: the body does not validate, an
identifier sits in a code, the grant named does not exist. Every such refusal of an authenticated
request is still a use of the gateway, so it is registered as an ``invalid`` entry (endpoint,
requester, code, field path; never a value) before the refusal is answered; if that registration
fails the caller gets LedgerError, not the refusal (fail closed).

Unauthenticated requests are not registered: nobody is known to have asked, and registering them
would let anyone without a token fill the ledger.
"""

from __future__ import annotations

import logging
import re
import uuid

from gateway.domain.detector import contains_identifier
from gateway.domain.ledger.records import InvalidRecord
from gateway.ports import Actor, Ledger, Receipt
from gateway.services.registration import register

log = logging.getLogger("gateway.refusals")

# What a field path may look like: positions, schema names, ``*`` for a name the caller chose.
_FIELD = re.compile(r"[A-Za-z0-9_*]+(?:\[[0-9]+\])*(?:\.[A-Za-z0-9_*]+(?:\[[0-9]+\])*)*")
_CODE = re.compile(r"[a-z][a-z0-9_]{0,99}")
MAX_FIELD_LENGTH = 200


def recordable_field(field: str | None) -> str | None:
    """``field`` if it is a plain path of positions and names, else ``*``: the record can never carry
    whatever an error message put there, and the ledger's own guard can never refuse it."""
    if field is None:
        return None
    if len(field) > MAX_FIELD_LENGTH or not _FIELD.fullmatch(field) or contains_identifier(field):
        return "*"
    return field


def recordable_code(code: str) -> str:
    """The stable code, or ``invalid_request`` for anything that does not look like one."""
    return code if _CODE.fullmatch(code) else "invalid_request"


class RefusalRegistry:
    """Registers refused requests of registering endpoints in the ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def register_invalid(self, actor: Actor, endpoint: str, code: str, field: str | None) -> Receipt:
        """Register an invalid request; LedgerError (and nothing else) when that fails."""
        record = InvalidRecord(
            request_id=str(uuid.uuid4()),
            endpoint=endpoint,
            client_id=actor.client_id,
            department=actor.department,
            code=recordable_code(code),
            field=recordable_field(field),
        )
        receipt = register(
            self.ledger, record, log=log, failure="the refused request could not be registered"
        )
        log.info("invalid request registered", extra={"code": record.code, "index": receipt.index})
        return receipt
