"""POST /v1/queries: the query a department sends and the released, desensitized answer."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from gateway.api.guards import NoIdentifier
from gateway.api.schemas.receipts import ReceiptResponse
from gateway.api.schemas.subjects import SubjectRequest
from gateway.ports import JSON
from gateway.services.query import QueryOutcome

CODE_PATTERN = r"^[a-z][a-z0-9_.]{0,99}$"
# Codes and the legal basis are written to the ledger: none may carry an identifier (gateway.api.guards).
_Code = Annotated[str, Field(pattern=CODE_PATTERN), NoIdentifier]


class ItemFieldsRequest(BaseModel):
    """A catalog item and, optionally, the fields wanted from it."""

    model_config = ConfigDict(extra="forbid")

    id: _Code
    fields: Annotated[list[_Code] | None, Field(max_length=50)] = None


class QueryRequest(BaseModel):
    """What a requesting department asks for, why, and about whom."""

    model_config = ConfigDict(extra="forbid")

    purpose: Annotated[_Code, Field(examples=["admin_licensing_review"])]
    legal_basis: Annotated[str, Field(min_length=2, max_length=300), NoIdentifier]
    items: Annotated[list[ItemFieldsRequest | _Code], Field(min_length=1, max_length=20)]
    subjects: Annotated[list[SubjectRequest], Field(min_length=1, max_length=1000)]
    measure: _Code | None = None
    grant_id: Annotated[str | None, Field(max_length=64), NoIdentifier] = None


class ReasonResponse(BaseModel):
    """Why the policy decided as it did: a stable code, a message and the clause it implements."""

    code: str
    message: str
    clause: str
    item: str | None = None
    field: str | None = None


class DecisionResponse(BaseModel):
    """The policy's decision on the query."""

    allow: bool
    reasons: list[ReasonResponse]
    policy_revision: str


class SubjectRowsResponse(BaseModel):
    """One item's desensitized rows about one subject (``subject`` is its position in the query)."""

    item: str
    subject: int
    rows: list[dict[str, Any]]


class LegalBasisCitedResponse(BaseModel):
    """The legal basis the query cited: its catalog code and the catalog's citation text."""

    code: str
    citation: str


class QueryResponse(BaseModel):
    """Desensitized results, the decision's reasons and the ledger receipt."""

    query_id: str
    legal_basis: LegalBasisCitedResponse
    decision: DecisionResponse
    results: list[SubjectRowsResponse]
    receipt: ReceiptResponse


def query_body(outcome: QueryOutcome) -> dict[str, JSON]:
    """The QueryResponse body: exactly the document the ledger's response digest commits to, plus the
    receipt (built as a dict so the rows are not validated a second time on the way out)."""
    return {
        **outcome.released,
        "receipt": outcome.receipt.as_dict(),
    }
