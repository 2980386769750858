"""The ledger receipt handed back with every registered action."""

from __future__ import annotations

from pydantic import BaseModel

from gateway.ports import Receipt


class ReceiptResponse(BaseModel):
    """Where an action was registered: its ledger index and leaf hash, provable against a checkpoint."""

    index: int
    leaf_hash: str


def receipt_response(receipt: Receipt) -> ReceiptResponse:
    """The wire form of a receipt."""
    return ReceiptResponse(index=receipt.index, leaf_hash=receipt.leaf_hash)
