"""Wire models of the field-key hand-over."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from gateway.ports import Receipt, WrappedFieldKey


class KeyHandoverRequest(BaseModel):
    """The recipient's X25519 public key (base64url of its 32 raw bytes)."""

    model_config = ConfigDict(extra="forbid")

    public_key: str = Field(min_length=43, max_length=44, pattern=r"^[A-Za-z0-9_-]+=?$")


class HandoverReceiptResponse(BaseModel):
    """The ledger entry that registered the hand-over."""

    index: int
    leaf_hash: str


class KeyHandoverResponse(BaseModel):
    """The caller department's field key, wrapped to its public key, and the entry registering it."""

    recipient: str
    algorithm: str
    key_id: str
    wrapping: str
    recipient_key: str
    ephemeral_public_key: str
    nonce: str
    wrapped_key: str
    receipt: HandoverReceiptResponse


def key_handover_response(wrapped: WrappedFieldKey, receipt: Receipt) -> KeyHandoverResponse:
    """The response for one hand-over."""
    return KeyHandoverResponse(
        recipient=wrapped.recipient,
        algorithm=wrapped.algorithm,
        key_id=wrapped.key_id,
        wrapping=wrapped.wrapping,
        recipient_key=wrapped.recipient_key,
        ephemeral_public_key=wrapped.ephemeral_public_key,
        nonce=wrapped.nonce,
        wrapped_key=wrapped.wrapped_key,
        receipt=HandoverReceiptResponse(index=receipt.index, leaf_hash=receipt.leaf_hash),
    )
