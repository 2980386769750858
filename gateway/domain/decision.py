"""The policy decision document and its strict parsing.

The Rego entrypoint ``data.gateway.query.decision`` yields one JSON document::

    {
      "allow": true | false,
      "reasons": [{"code": "...", "message": "...", "clause": "(3)", "item": "...", "field": "..."}],
      "items": {
        "<item id>": {
          "fields": ["name", ...],
          "obligations": {"<field>": {"operator": "mask", "class": "name"}},
          "row_filters": [{"kind": "exclude_repaired"}, {"kind": "exclude_removed"},
                          {"kind": "within_disclosure_period", "years": 5}]
        }
      }
    }

The grant registration entrypoint ``data.gateway.grants.registration`` yields the same verdict
without items, and there ``allow`` must hold exactly when no reason is given::

    {"allow": true | false, "reasons": [{"code": "...", "message": "...", "clause": "(14)", "field": "..."}]}

Anything else (undefined, a missing key, a wrong type, an unknown operator or filter) is a
PolicyEngineError: the request is refused, never defaulted to allow. Every entrypoint's document is
parsed here, with the same reason parser.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.domain.catalog import FieldClass, Operator
from gateway.errors import PolicyEngineError

ROW_FILTER_KINDS = frozenset(
    {"exclude_repaired", "exclude_removed", "within_disclosure_period", "basis_document_accepted"}
)


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a decision came out as it did: a stable code, a message and the clause it implements."""

    code: str
    message: str
    clause: str
    item: str | None = None
    field: str | None = None

    def as_dict(self) -> dict[str, str]:
        """The reason as it goes to callers and into the ledger (no empty keys)."""
        out = {"code": self.code, "message": self.message, "clause": self.clause}
        if self.item is not None:
            out["item"] = self.item
        if self.field is not None:
            out["field"] = self.field
        return out


@dataclass(frozen=True, slots=True)
class Obligation:
    """How one released field must be desensitized before it leaves."""

    operator: Operator
    field_class: FieldClass


@dataclass(frozen=True, slots=True)
class RowFilter:
    """A restriction on which rows may be read, applied in SQL by the source."""

    kind: str
    years: int | None = None
    types: tuple[str, ...] = ()  # basis_document_accepted: the document types the item accepts


@dataclass(frozen=True, slots=True)
class ItemDecision:
    """What may be read and released for one catalog item."""

    item_id: str
    fields: tuple[str, ...]
    obligations: Mapping[str, Obligation]
    row_filters: tuple[RowFilter, ...]


@dataclass(frozen=True, slots=True)
class Decision:
    """A complete, validated policy decision."""

    allow: bool
    reasons: tuple[Reason, ...]
    items: Mapping[str, ItemDecision]
    policy_revision: str

    @property
    def primary_code(self) -> str:
        """The code a refusal is reported under: the first reason's, or a generic one."""
        return self.reasons[0].code if self.reasons else "policy_denied"


def _fail(what: str) -> PolicyEngineError:
    return PolicyEngineError(f"malformed policy decision: {what}")


def _str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise _fail(f"{what} must be a string")
    return value


def _reason(raw: Any) -> Reason:
    if not isinstance(raw, Mapping):
        raise _fail("reason must be an object")
    item = raw.get("item")
    fld = raw.get("field")
    return Reason(
        code=_str(raw.get("code"), "reason.code"),
        message=_str(raw.get("message"), "reason.message"),
        clause=_str(raw.get("clause"), "reason.clause"),
        item=None if item is None else _str(item, "reason.item"),
        field=None if fld is None else _str(fld, "reason.field"),
    )


def _row_filter(raw: Any) -> RowFilter:
    if not isinstance(raw, Mapping) or raw.get("kind") not in ROW_FILTER_KINDS:
        raise _fail("unknown row filter")
    years = raw.get("years")
    if raw["kind"] == "within_disclosure_period" and (
        not isinstance(years, int) or isinstance(years, bool) or years < 0
    ):
        raise _fail("within_disclosure_period needs a non-negative integer 'years'")
    types = raw.get("types", [])
    if raw["kind"] == "basis_document_accepted" and (
        not isinstance(types, list) or not all(isinstance(t, str) for t in types)
    ):
        raise _fail("basis_document_accepted needs a list of document types 'types'")
    return RowFilter(
        kind=raw["kind"],
        years=years if isinstance(years, int) else None,
        types=tuple(types) if raw["kind"] == "basis_document_accepted" else (),
    )


def _item(item_id: str, raw: Any) -> ItemDecision:
    if not isinstance(raw, Mapping):
        raise _fail("item decision must be an object")
    fields = raw.get("fields")
    obligations = raw.get("obligations")
    filters = raw.get("row_filters")
    if not isinstance(fields, list) or not isinstance(obligations, Mapping) or not isinstance(filters, list):
        raise _fail("item decision needs fields, obligations and row_filters")
    parsed: dict[str, Obligation] = {}
    for name in fields:
        ob = obligations.get(_str(name, "field"))
        if not isinstance(ob, Mapping):
            # A released field with no obligation would leave undesensitized by accident.
            raise _fail(f"field {name!r} of {item_id!r} has no obligation")
        try:
            parsed[name] = Obligation(Operator(str(ob.get("operator"))), FieldClass(str(ob.get("class"))))
        except ValueError as exc:
            raise _fail(f"bad obligation for {name!r}") from exc
    return ItemDecision(
        item_id=item_id,
        fields=tuple(sorted(set(fields))),
        obligations=parsed,
        row_filters=tuple(_row_filter(f) for f in filters),
    )


def _verdict(document: Any, *, reasons_required: bool) -> tuple[bool, tuple[Reason, ...]]:
    """The ``allow`` and ``reasons`` every decision document carries, strictly parsed."""
    if not isinstance(document, Mapping):
        raise _fail("undefined or not an object")
    allow = document.get("allow")
    if not isinstance(allow, bool):
        raise _fail("allow must be a boolean")
    reasons = document.get("reasons") if reasons_required else document.get("reasons", [])
    if not isinstance(reasons, list):
        raise _fail("reasons must be a list")
    return allow, tuple(_reason(r) for r in reasons)


def parse_decision(document: Any, policy_revision: str) -> Decision:
    """Validate the query engine's raw output and turn it into a Decision; fail closed on anything odd."""
    allow, parsed_reasons = _verdict(document, reasons_required=False)
    items = document.get("items", {})
    if not isinstance(items, Mapping):
        raise _fail("items must be an object")
    if not allow and not parsed_reasons:
        raise _fail("a refusal must give at least one reason")
    parsed_items = {str(k): _item(str(k), v) for k, v in items.items()} if allow else {}
    return Decision(allow, parsed_reasons, parsed_items, policy_revision)


@dataclass(frozen=True, slots=True)
class RegistrationDecision:
    """The grant registration policy's verdict: accepted with no reason, or refused with reasons."""

    allow: bool
    reasons: tuple[Reason, ...]


def parse_registration_decision(document: Any) -> RegistrationDecision:
    """Validate the registration entrypoint's raw output; fail closed on anything odd."""
    allow, reasons = _verdict(document, reasons_required=True)
    if allow == bool(reasons):
        raise _fail("a registration is accepted exactly when there is no reason")
    return RegistrationDecision(allow, reasons)
