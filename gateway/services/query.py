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

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from gateway.domain.catalog import Catalog
from gateway.domain.decision import Decision, Reason, parse_decision
from gateway.domain.identifiers import SubjectId
from gateway.domain.ledger.commitments import SubjectRef, response_digest
from gateway.domain.ledger.envelope import canonical_json
from gateway.domain.ledger.records import ItemRelease, Outcome, QueryRecord, RecordedReason, recorded
from gateway.domain.query import SUBJECT_KEY, QuerySpec, build_policy_input, plan_read
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
    Metrics,
    PolicyEngine,
    Receipt,
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


def released_document(query_id: str, decision: Decision, results: Sequence[SubjectRows]) -> dict[str, JSON]:
    """What the ledger's response digest commits to: everything the caller receives but the receipt."""
    return {
        "query_id": query_id,
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

    def run(self, caller: Actor, spec: QuerySpec) -> QueryOutcome:
        """Decide, read and desensitize; register the outcome; return data only once registered."""
        prepared = self.prepare(caller, spec)
        try:
            receipt = None if prepared.record is None else self._register(prepared.record)
        except LedgerError as exc:
            self._count(prepared, "error", exc.problem_code)
            raise
        return self._finish(prepared, receipt)

    async def conclude(self, prepared: PreparedQuery) -> QueryOutcome:
        """Register what ``prepare`` worked out, awaiting the receipt on the event loop; then answer."""
        try:
            receipt = None if prepared.record is None else await self._register_soon(prepared.record)
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
            rows = self._read(spec, decision, now)
            results, releases = self._desensitize(caller, spec, decision, rows)
            body = released_document(draft.request_id, decision, results)
            record = draft.record(
                "allow",
                recorded(decision.reasons),
                releases=releases,
                digest=response_digest(canonical_json(body)),
            )
        except Exception as exc:
            return self._failed(draft, exc)
        return PreparedQuery(
            record, *draft.labels, draft.request_id, allowed=(decision, results, body, releases)
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
            record, *draft.labels, refusal=(first, [r.as_dict() for r in reasons], field_name)
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
        return PreparedQuery(draft.record("error", (RecordedReason(code, "(13)"),)), *draft.labels, error=exc)

    def _decide(self, draft: _Draft, now: datetime) -> Decision | Reason:
        """The policy's decision, or the refusal reason when the grant named is not registered."""
        spec = draft.spec
        grant = None
        draft.policy_revision = self.engine.revision
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
        )
        with self.metrics.stage("decide"):
            answer = self.engine.evaluate(DECISION_ENTRYPOINT, policy_input)
        decision = parse_decision(answer, draft.policy_revision)
        if not decision.allow and not decision.reasons:
            raise InternalError("the policy refused without a reason")
        return decision

    def _read(self, spec: QuerySpec, decision: Decision, now: datetime) -> list[list[dict[str, JSON]]]:
        """One read-only statement per requested item, with the released columns and row filters."""
        today = now.date()
        rows: list[list[dict[str, JSON]]] = []
        for requested in spec.items:
            item_decision = decision.items.get(requested.item_id)
            item = self.catalog.item(requested.item_id)
            if item_decision is None or item is None:
                # An allow that does not cover every requested item, or covers one the catalog
                # lacks, means policy and catalog disagree: refuse rather than guess.
                raise CatalogMismatch("policy and catalog disagree")
            query = plan_read(item, item_decision, spec.subjects, today, self.max_rows_per_item)
            with self.metrics.stage("read"):
                rows.append(self.sources.source(item.source.database).fetch(query))
        return rows

    def _desensitize(
        self, caller: Actor, spec: QuerySpec, decision: Decision, rows: Sequence[list[dict[str, JSON]]]
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
            grouped: dict[int, list[dict[str, JSON]]] = {}
            for row in item_rows:
                subject_value = str(row.pop(SUBJECT_KEY, "")).upper()
                for i in index_of.get(subject_value, ()):
                    grouped.setdefault(i, []).append(row)
            for i in range(len(spec.subjects)):
                with self.metrics.stage("desensitize"):
                    clean = self.desensitizer.desensitize(
                        grouped.get(i, []), item_decision, item.fields, caller.department
                    )
                results.append(SubjectRows(item_id, i, list(clean)))
            releases.append(ItemRelease(item_id, item_decision.fields, len(item_rows)))
        return results, releases

    async def _register_soon(self, record: QueryRecord) -> Receipt:
        failure = "the query could not be registered; nothing was returned"
        with self.metrics.stage("register"):  # the wait for the group commit, on the event loop
            return await register_soon(self.ledger, record, log=log, failure=failure)

    def _count(self, prepared: PreparedQuery, decision: str, reason: str) -> None:
        self.metrics.count_query(
            department=prepared.department, purpose=prepared.purpose, decision=decision, reason=reason
        )

    def _register(self, record: QueryRecord) -> Receipt:
        failure = "the query could not be registered; nothing was returned"
        with self.metrics.stage("register"):
            return register(self.ledger, record, log=log, failure=failure)


@dataclass(slots=True)
class _Draft:
    """What is known of a query so far; becomes its ledger record whatever the outcome."""

    request_id: str
    caller: Actor
    spec: QuerySpec
    catalog_revision: str
    subjects: list[SubjectRef] = field(default_factory=list)
    policy_revision: str = ""

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
        )


def _reason_field(item: str | None, field: str | None, spec: QuerySpec) -> str | None:
    """Point a refusal at the request field it concerns, e.g. ``items[1].fields``."""
    if item is None:
        return None
    for i, it in enumerate(spec.items):
        if it.item_id == item:
            return f"items[{i}].fields" if field else f"items[{i}]"
    return None
