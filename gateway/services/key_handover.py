"""Handing a recipient department the key to its ``encrypt``-obligation fields, registered first.

The key is wrapped to a public key the recipient presents (see gateway.adapters.crypto.handover), and
the hand-over is a ledger entry (kind ``key_handover``) appended before the wrapped key is returned:
an auditor sees who obtained which key, when, wrapped to which public key. If the ledger cannot
register it, nothing is returned (fail closed).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.domain.ledger.records import KeyHandoverRecord
from gateway.ports import FieldKeyWrapper, Ledger, Principal, Receipt, WrappedFieldKey


@dataclass(frozen=True, slots=True)
class KeyHandoverService:
    """The hand-over use case over the key wrapper and the ledger."""

    wrapper: FieldKeyWrapper
    ledger: Ledger

    def hand_over(self, caller: Principal, public_key: str) -> tuple[WrappedFieldKey, Receipt]:
        """The caller's department's field key wrapped to ``public_key``, and the entry registering it."""
        wrapped = self.wrapper.wrap_for(caller.department, public_key)
        receipt = self.ledger.append(
            KeyHandoverRecord(
                client_id=caller.client_id,
                department=caller.department,
                algorithm=wrapped.algorithm,
                key_id=wrapped.key_id,
                wrapping=wrapped.wrapping,
                recipient_key=wrapped.recipient_key,
            )
        )
        return wrapped, receipt
