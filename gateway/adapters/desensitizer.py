"""The Desensitizer port: a decision's obligations applied field by field, then the residual guard.

For one item and recipient the obligations are compiled once into a plan, one function per field:

* structured fields apply their class's operator directly (mask, generalize, pseudonymize, encrypt,
  suppress, none); they never go through a text scanner;
* ``free_text`` fields (and ``public`` fields the catalog does not describe) under ``none``, ``mask``
  or ``generalize`` are scanned: the cheap pre-check first, the scanner only where it finds a
  candidate, and every personal finding replaced by its entity's mask;
* encrypted and pseudonymized fields are transformed whole; suppressed fields become ``None``.

Then every released value passes the residual guard: a checksum-valid resident ID, individual-business
credit code (``92...``), Luhn-valid bank card or valid mobile number may leave in clear only in a field
whose obligation is ``none`` for that very class (``subject_id`` covers resident IDs and 92-codes). Any
other occurrence refuses the whole response with ``DesensitizationError`` (code
``residual_personal_data``); the caller registers the refusal. The value itself never appears in the
error or in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from gateway.adapters.crypto.ciphers import (
    AES_256_GCM,
    ALGORITHMS,
    FieldCipher,
    associated_data,
    recipient_key,
)
from gateway.domain.catalog import FieldClass, FieldSpec, Operator
from gateway.domain.decision import ItemDecision, Obligation
from gateway.domain.desensitize.operators import (
    ValueFn,
    generalize_function,
    mask_findings,
    mask_function,
    pseudonym_function,
    pseudonym_key,
)
from gateway.domain.desensitize.text_scan import (
    GuardEntity,
    has_candidate,
    might_leak,
    residual_entities,
)
from gateway.errors import (
    ConfigurationError,
    MissingObligation,
    ResidualPersonalData,
    UnknownOperator,
    UnreleasedField,
)
from gateway.ports import JSON, Clock, KeyStore, TextScanner

log = logging.getLogger("gateway.desensitize")

# Ages and "today" are counted in China Standard Time (no daylight saving).
CHINA_TIME = timezone(timedelta(hours=8))

_CLEARED_BY_CLASS: dict[FieldClass, frozenset[GuardEntity]] = {
    FieldClass.RESIDENT_ID: frozenset({GuardEntity.RESIDENT_ID}),
    FieldClass.USCC: frozenset({GuardEntity.INDIVIDUAL_BUSINESS}),
    FieldClass.SUBJECT_ID: frozenset({GuardEntity.RESIDENT_ID, GuardEntity.INDIVIDUAL_BUSINESS}),
    FieldClass.BANK_CARD: frozenset({GuardEntity.BANK_CARD}),
    FieldClass.PHONE: frozenset({GuardEntity.MOBILE}),
}
_SCANNED_OPERATORS = frozenset({Operator.NONE, Operator.MASK, Operator.GENERALIZE})
_RESCANS = 3


def cleared_entities(obligation: Obligation) -> frozenset[GuardEntity]:
    """What may leave in clear under ``obligation``: only ``none`` clears, and only its own class."""
    if obligation.operator is not Operator.NONE:
        return frozenset()
    return _CLEARED_BY_CLASS.get(obligation.field_class, frozenset())


def _text(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime | date) else str(value)


def _leaks(value: Any, cleared: frozenset[GuardEntity]) -> set[GuardEntity]:
    """Guarded identifiers in ``value`` (walking lists and objects) that ``cleared`` does not allow."""
    if value is None or isinstance(value, bool):
        return set()
    if isinstance(value, str):
        return residual_entities(value) - cleared if might_leak(value) else set()
    if isinstance(value, int | float | Decimal):
        return residual_entities(str(value)) - cleared
    if isinstance(value, Mapping):
        found: set[GuardEntity] = set()
        for k, v in value.items():
            found |= _leaks(k, cleared) | _leaks(v, cleared)
        return found
    if isinstance(value, list | tuple):
        return set().union(*(_leaks(v, cleared) for v in value)) if value else set()
    return residual_entities(_text(value)) - cleared


@dataclass(frozen=True, slots=True)
class FieldPlan:
    """How one released field is transformed and what the guard lets through in it."""

    name: str
    apply: ValueFn
    cleared: frozenset[GuardEntity]
    scanned: bool


@dataclass(frozen=True, slots=True)
class ItemPlan:
    """The compiled plan of one item decision for one recipient."""

    item_id: str
    fields: tuple[FieldPlan, ...]
    names: frozenset[str]
    steps: tuple[tuple[str, ValueFn, frozenset[GuardEntity]], ...]  # (name, apply, cleared), hot loop


def _suppress(_: Any) -> None:
    return None


def _identity(value: Any) -> Any:
    return value


class CatalogDesensitizer:
    """Desensitizer (``gateway.ports.Desensitizer``) driven by decision obligations and field classes."""

    def __init__(
        self,
        keystore: KeyStore,
        scanner: TextScanner,
        clock: Clock,
        *,
        algorithm: str = AES_256_GCM,
        plan_cache_size: int = 512,
    ) -> None:
        if algorithm not in ALGORITHMS:
            raise ConfigurationError(
                f"unknown encryption algorithm {algorithm!r}", accepted=", ".join(ALGORITHMS)
            )
        self._keystore = keystore
        self._scanner = scanner
        self._clock = clock
        self._algorithm = algorithm
        self._plans: dict[tuple[Any, ...], ItemPlan] = {}
        self._ciphers: dict[str, FieldCipher] = {}
        self._pseudonyms: dict[str, Callable[[Any], str]] = {}
        self._plan_cache_size = plan_cache_size

    # --- the port ---------------------------------------------------------------------------------

    def desensitize(
        self,
        rows: Sequence[Mapping[str, JSON]],
        item: ItemDecision,
        fields: Mapping[str, FieldSpec],
        recipient: str,
    ) -> list[dict[str, JSON]]:
        """Desensitized copies of ``rows``; DesensitizationError if anything would leak."""
        plan = self.plan(item, fields, recipient)
        names, steps = plan.names, plan.steps
        out: list[dict[str, JSON]] = []
        for row in rows:
            if not row.keys() <= names:
                # A column with no obligation would leave undesensitized: refuse rather than guess.
                raise UnreleasedField(
                    f"row of item {item.item_id!r} carries fields the decision did not release",
                    extra={"item": item.item_id, "fields": sorted(row.keys() - names)},
                )
            released: dict[str, JSON] = {}
            for name, apply, cleared in steps:
                if name not in row:
                    continue
                value = apply(row[name])
                # The common case inline: a string the guard's pre-check already clears.
                if value is not None and (type(value) is not str or might_leak(value)):
                    leaked = _leaks(value, cleared)
                    if leaked:
                        self._refuse(item.item_id, name, leaked)
                released[name] = value
            out.append(released)
        return out

    # --- plans ------------------------------------------------------------------------------------

    def today(self) -> date:
        """The reference date for age bands: today in China Standard Time."""
        return self._clock.now().astimezone(CHINA_TIME).date()

    def plan(self, item: ItemDecision, fields: Mapping[str, FieldSpec], recipient: str) -> ItemPlan:
        """The compiled plan for ``item`` and ``recipient`` (cached; keys are read once)."""
        today = self.today()
        key = (
            item.item_id,
            recipient,
            today,
            tuple((name, item.obligations.get(name), fields.get(name)) for name in item.fields),
        )
        plan = self._plans.get(key)
        if plan is None:
            plan = self._compile(item, fields, recipient, today)
            if len(self._plans) >= self._plan_cache_size:
                self._plans.clear()
            self._plans[key] = plan
        return plan

    def _compile(
        self, item: ItemDecision, fields: Mapping[str, FieldSpec], recipient: str, today: date
    ) -> ItemPlan:
        plans: list[FieldPlan] = []
        for name in item.fields:
            obligation = item.obligations.get(name)
            if obligation is None:
                raise MissingObligation(
                    f"field {name!r} of item {item.item_id!r} has no obligation",
                    field=name,
                )
            spec = fields.get(name)
            # Free text is scanned; so is a field the policy calls public when the catalog does not
            # know it (unknown content is not trusted to be public). Known structured classes never are.
            scanned = obligation.operator in _SCANNED_OPERATORS and (
                obligation.field_class is FieldClass.FREE_TEXT
                or (spec is not None and spec.field_class is FieldClass.FREE_TEXT)
                or (spec is None and obligation.field_class is FieldClass.PUBLIC)
            )
            apply = (
                self._scan_function()
                if scanned
                else self._operator_function(obligation, recipient, item.item_id, name, today)
            )
            plans.append(FieldPlan(name, apply, cleared_entities(obligation), scanned))
        return ItemPlan(
            item.item_id,
            tuple(plans),
            frozenset(p.name for p in plans),
            tuple((p.name, p.apply, p.cleared) for p in plans),
        )

    def _operator_function(
        self, obligation: Obligation, recipient: str, item_id: str, field: str, today: date
    ) -> ValueFn:
        op, cls = obligation.operator, obligation.field_class
        if op is Operator.NONE:
            return _identity
        if op is Operator.MASK:
            return mask_function(cls)
        if op is Operator.GENERALIZE:
            return generalize_function(cls, today)
        if op is Operator.SUPPRESS:
            return _suppress
        if op is Operator.PSEUDONYMIZE:
            pseudonym_of = self._pseudonym_function(recipient)
            return lambda v: None if v is None else pseudonym_of(v)
        if op is Operator.ENCRYPT:
            cipher = self._cipher(recipient)
            aad = associated_data(self._algorithm, recipient, item_id, field)
            return lambda v: None if v is None else cipher.encrypt(v, aad)
        raise UnknownOperator(f"unknown operator {op!r}", field=field)

    def _scan_function(self) -> ValueFn:
        scanner = self._scanner

        def scan(value: Any) -> Any:
            if value is None:
                return None
            text = value if isinstance(value, str) else _text(value)
            if not has_candidate(text):
                return text
            masked = mask_findings(text, scanner.scan(text))
            # What a mask keeps (a card's last four digits) can join the digits next to it into a new
            # candidate; scan the masked text again while the guard would still object.
            for _ in range(_RESCANS):
                if not (might_leak(masked) and residual_entities(masked)):
                    break
                masked = mask_findings(masked, scanner.scan(masked))
            return masked

        return scan

    def _pseudonym_function(self, recipient: str) -> Callable[[Any], str]:
        fn = self._pseudonyms.get(recipient)
        if fn is None:
            fn = pseudonym_function(pseudonym_key(self._keystore.secret("pseudonym"), recipient))
            self._pseudonyms[recipient] = fn
        return fn

    def _cipher(self, recipient: str) -> FieldCipher:
        cipher = self._ciphers.get(recipient)
        if cipher is None:
            secret = self._keystore.secret("encryption")
            cipher = FieldCipher(recipient_key(secret, recipient, self._algorithm), self._algorithm)
            self._ciphers[recipient] = cipher
        return cipher

    def _refuse(self, item_id: str, field: str, leaked: set[GuardEntity]) -> None:
        entities = sorted(e.value for e in leaked)
        log.warning(
            "residual personal data blocked",
            extra={"item": item_id, "field": field, "entities": entities},
        )
        raise ResidualPersonalData(
            f"field {field!r} of item {item_id!r} would release {', '.join(entities)} in clear",
            field=field,
            extra={"item": item_id, "entities": entities},
        )
