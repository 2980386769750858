"""The query use case: decide, read, desensitize, register, respond (DESIGN §3).

Every outcome is registered before anything is returned: an allowed query, a refusal, and a failure
anywhere on the path. If registration itself fails the caller gets LedgerError and no data.

Two halves, so the endpoint holds no thread while the ledger commits: ``prepare`` does the CPU and
I/O work (decide, read, desensitize; on a worker thread) and ends with the ledger record of whatever
happened, and ``conclude`` (async, on the event loop) registers it, awaiting the group commit's
receipt, and only then returns the data or raises the refusal. ``run`` does both on the calling
thread. Each stage is its own method (``_decide``, ``_read``, ``_desensitize``, ``_register``), so
each can be measured on its own.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from gateway.domain.catalog import Catalog
from gateway.domain.decision import Decision, Reason, parse_decision
from gateway.domain.identifiers import SubjectId
from gateway.domain.ledger.commitments import SubjectRef, response_digest
from gateway.domain.ledger.envelope import canonical_json
from gateway.domain.ledger.guard import record_holds_identifier
from gateway.domain.ledger.records import ItemRelease, Outcome, QueryRecord, RecordedReason, recorded
from gateway.domain.policy_bundle import kept_input
from gateway.domain.query import (
    RECORD_KEY,
    SUBJECT_KEY,
    QuerySpec,
    SubjectFacts,
    build_policy_input,
    plan_facts_read,
    plan_read,
    subject_facts,
)
from gateway.domain.repairs import RepairEffect, apply_effects
from gateway.errors import (
    CatalogMismatch,
    GatewayError,
    GrantsNotConfigured,
    InternalError,
    LedgerError,
    PolicyDenied,
)
from gateway.ports import (
    JSON,
    Actor,
    Clock,
    Desensitizer,
    GrantLookup,
    Ledger,
    ListMemberships,
    Metrics,
    PinnablePolicyEngine,
    PolicyEngine,
    PolicyInputStore,
    Receipt,
    RepairView,
    SourceRegistry,
)
from gateway.services.registration import register, register_soon

DECISION_ENTRYPOINT = "gateway.query.decision"
log = logging.getLogger("gateway.query")


@dataclass(frozen=True, slots=True)
class SubjectRows:
    """What one catalog item released about one subject of the query, desensitized."""

    item: str
    subject: int  # the subject's position in the query
    rows: list[dict[str, JSON]]


@dataclass(frozen=True, slots=True)
class QueryOutcome:
    """An allowed query: its id, the decision, what was released, and the registration receipt."""

    query_id: str
    decision: Decision
    results: list[SubjectRows]
    receipt: Receipt
    released: dict[str, JSON]  # ``released_document`` as its digest was registered: the body to send


@dataclass(slots=True)
class PreparedQuery:
    """A query worked out up to its registration: the record to register and what follows it.

    Exactly one of three: ``allowed`` (the decision, the desensitized results, the body to send
    once registered and the releases), ``refusal`` (the policy refused: raised with the receipt),
    ``error`` (a failure: raised once the failure is registered, or at once when there is nothing to
    register because the ledger itself failed).
    """

    record: QueryRecord | None
    department: str  # who asked and why: what the query counters are labelled with
    purpose: str
    query_id: str = ""
    allowed: tuple[Decision, list[SubjectRows], dict[str, JSON], list[ItemRelease]] | None = None
    refusal: tuple[Reason, list[dict[str, JSON]], str | None] | None = None  # first, all, field
    error: Exception | None = None
    kept: tuple[str, str] | None = None  # the policy input kept for replay: (canonical text, digest)


def released_document(
    query_id: str, decision: Decision, results: Sequence[SubjectRows], legal_basis: JSON = None
) -> dict[str, JSON]:
    """What the ledger's response digest commits to: everything the caller receives but the receipt.

    ``legal_basis`` is the cited basis as the catalog words it ({code, citation}), clauses (1)(14).
    """
    return {
        "query_id": query_id,
        "legal_basis": legal_basis,
        "decision": {
            "allow": decision.allow,
            "reasons": [r.as_dict() for r in decision.reasons],
            "policy_revision": decision.policy_revision,
        },
        "results": [{"item": r.item, "subject": r.subject, "rows": r.rows} for r in results],
    }


class QueryService:
    """Runs queries end to end against the ports; one instance serves every request."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        engine: PolicyEngine,
        sources: SourceRegistry,
        desensitizer: Desensitizer,
        ledger: Ledger,
        commit: Callable[[SubjectId], str],
        clock: Clock,
        metrics: Metrics,
        grants: GrantLookup | None = None,
        max_rows_per_item: int = 1000,
        inputs: PolicyInputStore | None = None,
        repairs: RepairView | None = None,
        lists: ListMemberships | None = None,
    ) -> None:
        self.catalog = catalog
        self.engine = engine
        self.sources = sources
        self.desensitizer = desensitizer
        self.ledger = ledger
        self.commit = commit
        self.clock = clock
        self.metrics = metrics
        self.grants = grants
        self.max_rows_per_item = max_rows_per_item
        self.inputs = inputs
        self.repairs = repairs
        self.lists = lists

    def run(self, caller: Actor, spec: QuerySpec) -> QueryOutcome:
        """Decide, read and desensitize; register the outcome; return data only once registered."""
        prepared = self.prepare(caller, spec)
        try:
            receipt = None if prepared.record is None else self._register(prepared.record, prepared.kept)
        except LedgerError as exc:
            self._count(prepared, "error", exc.problem_code)
            raise
        return self._finish(prepared, receipt)

    async def conclude(self, prepared: PreparedQuery) -> QueryOutcome:
        """Register what ``prepare`` worked out, awaiting the receipt on the event loop; then answer."""
        try:
            receipt = (
                None if prepared.record is None else await self._register_soon(prepared.record, prepared.kept)
            )
        except LedgerError as exc:
            self._count(prepared, "error", exc.problem_code)
            raise
        return self._finish(prepared, receipt)

    def prepare(self, caller: Actor, spec: QuerySpec) -> PreparedQuery:
        """Everything but the registration: decide, read, desensitize, and the record to register.

        Never raises: a failure becomes a PreparedQuery carrying the error and its failure record.
        """
        now = self.clock.now()
        draft = _Draft(
            request_id=str(uuid.uuid4()),
            caller=caller,
            spec=spec,
            catalog_revision=self.catalog.revision,
        )
        try:
            draft.subjects = [SubjectRef.of(s, self.commit(s)) for s in spec.subjects]
            decision = self._decide(draft, now)
            if isinstance(decision, Reason):  # the grant named does not exist
                return self._refused(draft, [decision])
            if not decision.allow:
                return self._refused(draft, decision.reasons)
            # Repairs are read now, from the store every worker and replica shares (clause (11)).
            effects = self._repair_effects(spec, draft)
            rows = self._read(spec, decision, now, effects)
            results, releases = self._desensitize(
                caller, spec, decision, rows, effects, draft.record_commitments
            )
            citation = self.catalog.legal_basis_citation(spec.purpose, spec.legal_basis)
            cited: JSON = {"code": spec.legal_basis, "citation": citation or ""}
            body = released_document(draft.request_id, decision, results, cited)
            record = draft.record(
                "allow",
                recorded(decision.reasons),
                releases=releases,
                digest=response_digest(canonical_json(body)),
            )
        except Exception as exc:
            return self._failed(draft, exc)
        return PreparedQuery(
            record,
            *draft.labels,
            draft.request_id,
            allowed=(decision, results, body, releases),
            kept=draft.kept,
        )

    def _finish(self, prepared: PreparedQuery, receipt: Receipt | None) -> QueryOutcome:
        """The answer to a registered query: its data, or the refusal or failure raised."""
        if prepared.error is not None:
            error = prepared.error
            code = error.problem_code if isinstance(error, GatewayError) else "internal_error"
            self._count(prepared, "error", code)
            if isinstance(error, GatewayError):
                if prepared.record is not None:
                    error.registered = True  # registered above as a failure: not again as a refusal
                raise error
            raise InternalError("the query could not be completed") from error
        assert receipt is not None  # noqa: S101 - only a failure of the ledger itself has no record
        if prepared.refusal is not None:
            first, reasons, field_name = prepared.refusal
            self._count(prepared, "deny", first.code)
            raise PolicyDenied(
                first.message,
                reason_code=first.code,
                clause=first.clause,
                field=field_name,
                reasons=reasons,
                receipt=receipt.as_dict(),
            )
        assert prepared.allowed is not None  # noqa: S101 - one of the three is always set
        decision, results, body, releases = prepared.allowed
        rows = sum(r.rows for r in releases)
        self._count(prepared, "allow", "none")
        log.info("query allowed", extra={"items": len(releases), "rows": rows, "index": receipt.index})
        return QueryOutcome(prepared.query_id, decision, results, receipt, body)

    def _refused(self, draft: _Draft, reasons: Sequence[Reason]) -> PreparedQuery:
        first = reasons[0]
        field_name = _reason_field(first.item, first.field, draft.spec)
        record = draft.record("deny", recorded(reasons))
        return PreparedQuery(
            record,
            *draft.labels,
            refusal=(first, [r.as_dict() for r in reasons], field_name),
            kept=draft.kept,
        )

    def _failed(self, draft: _Draft, exc: Exception) -> PreparedQuery:
        if isinstance(exc, LedgerError):
            return PreparedQuery(
                None, *draft.labels, error=exc
            )  # the ledger itself failed; a second append would too
        if isinstance(exc, GatewayError):
            code = exc.problem_code
        else:
            code = "internal_error"
            log.error("unexpected failure on the query path", extra={"error_type": type(exc).__name__})
        record = draft.record("error", (RecordedReason(code, "(13)"),))
        return PreparedQuery(record, *draft.labels, error=exc, kept=draft.kept)

    def _decide(self, draft: _Draft, now: datetime) -> Decision | Reason:
        """The policy's decision, or the refusal reason when the grant named is not registered."""
        spec = draft.spec
        grant = None
        # One bundle for the whole decision, so the revision recorded is the one that decided even
        # when an activation switches bundles meanwhile.
        engine = self.engine.pinned() if isinstance(self.engine, PinnablePolicyEngine) else self.engine
        draft.policy_revision = engine.revision
        if spec.grant_id is not None:
            if self.grants is None:
                raise GrantsNotConfigured("grants are not configured on this gateway")
            grant = self.grants.grant_for_query(spec.grant_id, draft.caller.department)
            if grant is None:
                return Reason(
                    "grant_not_found",
                    "no authorization grant with this id is registered for this department",
                    "(14)",
                    field="grant_id",
                )
        policy_input = build_policy_input(
            spec,
            client_id=draft.caller.client_id,
            department=draft.caller.department,
            now=now,
            catalog_revision=self.catalog.revision,
            commitments=[s.commitment for s in draft.subjects],
            grant=grant,
            facts=self._facts(spec, [s.commitment for s in draft.subjects]),
        )
        if self.inputs is not None:
            draft.keep(policy_input)
        with self.metrics.stage("decide"):
            answer = engine.evaluate(DECISION_ENTRYPOINT, policy_input)
        decision = parse_decision(answer, draft.policy_revision)
        if not decision.allow and not decision.reasons:
            raise InternalError("the policy refused without a reason")
        return decision

    def _repair_effects(self, spec: QuerySpec, draft: _Draft) -> Mapping[str, Mapping[str, RepairEffect]]:
        if self.repairs is None:
            return {}
        items = [it.item_id for it in spec.items]
        return self.repairs.effects_for(items, [s.commitment for s in draft.subjects])

    def _facts(self, spec: QuerySpec, commitments: list[str]) -> list[SubjectFacts]:
        """The subjects' list memberships and prudence facts, read before deciding (clauses (9)(10)(16)).

        One read per requested item that records conduct, of its current records' conduct date and
        flags only; nothing of it is released or stored, it only becomes facts in the policy input.
        """
        lists = self.lists.current_lists(commitments) if self.lists is not None else []
        if len(lists) != len(commitments):
            lists = [frozenset() for _ in commitments]
        rows: list[dict[str, JSON]] = []
        for requested in spec.items:
            item = self.catalog.item(requested.item_id)
            query = plan_facts_read(item, spec.subjects, self.max_rows_per_item) if item else None
            if item is not None and query is not None:
                rows.extend(self.sources.source(item.source.database).fetch(query))
        return subject_facts(spec.subjects, rows, lists)

    def _read(
        self,
        spec: QuerySpec,
        decision: Decision,
        now: datetime,
        effects: Mapping[str, Mapping[str, RepairEffect]],
    ) -> list[list[dict[str, JSON]]]:
        """One read-only statement per requested item, with the released columns and row filters;
        a blocked or deleted repair excludes its record in the statement, a marked one is marked."""
        today = now.date()
        rows: list[list[dict[str, JSON]]] = []
        for requested in spec.items:
            item_id = requested.item_id
            item_decision = decision.items.get(item_id)
            item = self.catalog.item(item_id)
            if item_decision is None or item is None:
                # An allow that does not cover every requested item, or covers one the catalog
                # lacks, means policy and catalog disagree: refuse rather than guess.
                raise CatalogMismatch("policy and catalog disagree")
            rule = self.catalog.repair_rule(item_id)
            key_column = rule.record_key_column if self.repairs and rule and rule.repairable else None
            item_effects = effects.get(item_id, {})
            hidden = [key for key, effect in item_effects.items() if effect.hides_record]
            query = plan_read(
                item,
                item_decision,
                spec.subjects,
                today,
                self.max_rows_per_item,
                record_key_column=key_column,
                excluded_keys=hidden,
            )
            with self.metrics.stage("read"):
                fetched = self.sources.source(item.source.database).fetch(query)
            rows.append(apply_effects(fetched, item_effects, RECORD_KEY) if key_column else fetched)
        return rows

    def _desensitize(
        self,
        caller: Actor,
        spec: QuerySpec,
        decision: Decision,
        rows: Sequence[list[dict[str, JSON]]],
        effects: Mapping[str, Mapping[str, RepairEffect]],
        record_commitments: list[str],
    ) -> tuple[list[SubjectRows], list[ItemRelease]]:
        """Each item's rows grouped by subject and desensitized by their obligations."""
        index_of: dict[str, list[int]] = {}
        for i, subject in enumerate(spec.subjects):
            index_of.setdefault(subject.value, []).append(i)
        results: list[SubjectRows] = []
        releases: list[ItemRelease] = []
        for requested, item_rows in zip(spec.items, rows, strict=True):
            item_id = requested.item_id
            item_decision = decision.items[item_id]
            item = self.catalog.item(item_id)
            assert item is not None  # noqa: S101 - _read refused an item the catalog lacks
            item_effects = effects.get(item_id, {})
            grouped: dict[int, list[dict[str, JSON]]] = {}
            extras: dict[int, list[dict[str, JSON]]] = {}
            for row in item_rows:
                subject_value = str(row.pop(SUBJECT_KEY, "")).upper()
                extra = self._repair_extra(caller, item_id, row, item_effects, record_commitments)
                for i in index_of.get(subject_value, ()):
                    grouped.setdefault(i, []).append(row)
                    extras.setdefault(i, []).append(extra)
            for i in range(len(spec.subjects)):
                with self.metrics.stage("desensitize"):
                    clean = self.desensitizer.desensitize(
                        grouped.get(i, []), item_decision, item.fields, caller.department
                    )
                out = [{**row, **extra} for row, extra in zip(clean, extras.get(i, []), strict=True)]
                results.append(SubjectRows(item_id, i, out))
            releases.append(ItemRelease(item_id, item_decision.fields, len(item_rows)))
        return results, releases

    def _repair_extra(
        self,
        caller: Actor,
        item_id: str,
        row: dict[str, JSON],
        effects: Mapping[str, RepairEffect],
        record_commitments: list[str],
    ) -> dict[str, JSON]:
        """Pop the record key; what a recipient sees besides the fields: its record ref and any marker.

        Only records released unrepaired are committed in the ledger: they are the ones whose
        recipients must be told when a repair takes effect.
        """
        if self.repairs is None or RECORD_KEY not in row:
            return {}
        key = str(row.pop(RECORD_KEY))
        commitment = self.repairs.record_commitment(item_id, key)
        extra: dict[str, JSON] = {"record_ref": self.repairs.recipient_ref(caller.department, commitment)}
        effect = effects.get(key)
        if effect is None:
            record_commitments.append(commitment)
        else:
            extra["credit_repair"] = effect.marker()
        return extra

    async def _register_soon(self, record: QueryRecord, kept: tuple[str, str] | None) -> Receipt:
        failure = "the query could not be registered; nothing was returned"
        with self.metrics.stage("register"):  # the wait for the group commit, on the event loop
            receipt = await register_soon(self.ledger, record, log=log, failure=failure)
        if kept is not None and self.inputs is not None:
            # A database write: never on the event loop. Awaited, so a replay right after the answer
            # finds it (a lost input only leaves that one decision out of replays; it is logged).
            await asyncio.to_thread(self._keep_input, receipt, kept)
        return receipt

    def _count(self, prepared: PreparedQuery, decision: str, reason: str) -> None:
        self.metrics.count_query(
            department=prepared.department, purpose=prepared.purpose, decision=decision, reason=reason
        )

    def _register(self, record: QueryRecord, kept: tuple[str, str] | None) -> Receipt:
        failure = "the query could not be registered; nothing was returned"
        with self.metrics.stage("register"):
            receipt = register(self.ledger, record, log=log, failure=failure)
        self._keep_input(receipt, kept)
        return receipt

    def _keep_input(self, receipt: Receipt, kept: tuple[str, str] | None) -> None:
        if kept is None or self.inputs is None:
            return
        # After the entry, which carries the input's digest: a lost input only leaves that one
        # decision out of replays, so it is logged rather than turned into a refusal.
        try:
            self.inputs.keep(receipt.index, kept[1], kept[0])
        except Exception as exc:
            log.warning(
                "policy input not kept", extra={"index": receipt.index, "error_type": type(exc).__name__}
            )


@dataclass(slots=True)
class _Draft:
    """What is known of a query so far; becomes its ledger record whatever the outcome."""

    request_id: str
    caller: Actor
    spec: QuerySpec
    catalog_revision: str
    subjects: list[SubjectRef] = field(default_factory=list)
    policy_revision: str = ""
    kept: tuple[str, str] | None = None  # the policy input kept for replay: (canonical text, digest)
    record_commitments: list[str] = field(default_factory=list)

    def keep(self, policy_input: dict[str, JSON]) -> None:
        """Keep the policy input, unless it holds an identifier (it never should: refuse the query)."""
        text, digest = kept_input(policy_input)
        # The ledger's guard: the same verdict as the whole-text detector, reading only the pieces
        # that can hold an identifier (this runs on every query).
        if record_holds_identifier(policy_input, text):
            raise InternalError("the policy input would keep a personal identifier")
        self.kept = (text, digest)

    @property
    def labels(self) -> tuple[str, str]:
        """(department, purpose): what the query counters are labelled with."""
        return self.caller.department, self.spec.purpose

    def record(
        self,
        decision: Outcome,
        reasons: tuple[RecordedReason, ...],
        *,
        releases: list[ItemRelease] | None = None,
        digest: str | None = None,
    ) -> QueryRecord:
        """The ledger record: on a refusal or failure every requested item is listed with no rows."""
        spec = self.spec
        items = releases if releases is not None else [ItemRelease(it.item_id, (), 0) for it in spec.items]
        return QueryRecord(
            request_id=self.request_id,
            client_id=self.caller.client_id,
            department=self.caller.department,
            purpose=spec.purpose,
            legal_basis=spec.legal_basis,
            measure=spec.measure,
            grant_id=spec.grant_id,
            subjects=tuple(self.subjects),
            subject_count=len(spec.subjects),
            items=tuple(items),
            decision=decision,
            reasons=reasons,
            policy_revision=self.policy_revision,
            catalog_revision=self.catalog_revision,
            response_digest=digest,
            input_digest=None if self.kept is None else self.kept[1],
            record_commitments=tuple(self.record_commitments) if decision == "allow" else (),
        )


def _reason_field(item: str | None, field: str | None, spec: QuerySpec) -> str | None:
    """Point a refusal at the request field it concerns, e.g. ``items[1].fields``."""
    if item is None:
        return None
    for i, it in enumerate(spec.items):
        if it.item_id == item:
            return f"items[{i}].fields" if field else f"items[{i}]"
    return None
