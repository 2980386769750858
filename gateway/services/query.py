"""The query use case: decide, read, desensitize, register, respond (DESIGN §3).

Every outcome is registered before anything is returned: an allowed query, a refusal, and a failure
anywhere on the path. If registration itself fails the caller gets LedgerError and no data.
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
from gateway.domain.query import (
    SUBJECT_KEY,
    QuerySpec,
    SubjectFacts,
    build_policy_input,
    plan_facts_read,
    plan_read,
    subject_facts,
)
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
    PolicyEngine,
    Receipt,
    SourceRegistry,
)
from gateway.services.registration import register

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
        grants: GrantLookup | None = None,
        max_rows_per_item: int = 1000,
        lists: ListMemberships | None = None,
    ) -> None:
        self.catalog = catalog
        self.engine = engine
        self.sources = sources
        self.desensitizer = desensitizer
        self.ledger = ledger
        self.commit = commit
        self.clock = clock
        self.grants = grants
        self.max_rows_per_item = max_rows_per_item
        self.lists = lists

    def run(self, caller: Actor, spec: QuerySpec) -> QueryOutcome:
        """Decide, read and desensitize; register the outcome; return data only once registered."""
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
        except PolicyDenied:
            raise
        except Exception as exc:
            self._register_failure(draft, exc)
            if isinstance(exc, GatewayError):
                raise
            raise InternalError("the query could not be completed") from exc

        try:
            results, releases = self._read(caller, spec, decision, now)
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
            self._register_failure(draft, exc)
            if isinstance(exc, GatewayError):
                raise
            raise InternalError("the query could not be completed") from exc
        receipt = self._register(record)
        log.info(
            "query allowed",
            extra={"items": len(releases), "rows": sum(r.rows for r in releases), "index": receipt.index},
        )
        return QueryOutcome(draft.request_id, decision, results, receipt, body)

    def _decide(self, draft: _Draft, now: datetime) -> Decision:
        spec = draft.spec
        grant = None
        draft.policy_revision = self.engine.revision
        if spec.grant_id is not None:
            if self.grants is None:
                raise GrantsNotConfigured("grants are not configured on this gateway")
            grant = self.grants.grant_for_query(spec.grant_id, draft.caller.department)
            if grant is None:
                reason = Reason(
                    "grant_not_found",
                    "no authorization grant with this id is registered for this department",
                    "(14)",
                    field="grant_id",
                )
                receipt = self._register(draft.record("deny", recorded([reason])))
                raise PolicyDenied(
                    reason.message,
                    reason_code=reason.code,
                    clause=reason.clause,
                    field=reason.field,
                    reasons=[reason.as_dict()],
                    receipt=receipt.as_dict(),
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
        decision = parse_decision(
            self.engine.evaluate(DECISION_ENTRYPOINT, policy_input), draft.policy_revision
        )
        if not decision.allow:
            reasons = [r.as_dict() for r in decision.reasons]
            receipt = self._register(draft.record("deny", recorded(decision.reasons)))
            first = decision.reasons[0]
            raise PolicyDenied(
                first.message,
                reason_code=decision.primary_code,
                clause=first.clause,
                field=_reason_field(first.item, first.field, spec),
                reasons=reasons,
                receipt=receipt.as_dict(),
            )
        return decision

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
        self, caller: Actor, spec: QuerySpec, decision: Decision, now: datetime
    ) -> tuple[list[SubjectRows], list[ItemRelease]]:
        index_of: dict[str, list[int]] = {}
        for i, subject in enumerate(spec.subjects):
            index_of.setdefault(subject.value, []).append(i)
        results: list[SubjectRows] = []
        releases: list[ItemRelease] = []
        for requested in spec.items:
            item_id = requested.item_id
            item_decision = decision.items.get(item_id)
            item = self.catalog.item(item_id)
            if item_decision is None or item is None:
                # An allow that does not cover every requested item, or covers one the catalog
                # lacks, means policy and catalog disagree: refuse rather than guess.
                raise CatalogMismatch("policy and catalog disagree")
            query = plan_read(item, item_decision, spec.subjects, now.date(), self.max_rows_per_item)
            rows = self.sources.source(item.source.database).fetch(query)
            grouped: dict[int, list[dict[str, JSON]]] = {}
            for row in rows:
                subject_value = str(row.pop(SUBJECT_KEY, "")).upper()
                for i in index_of.get(subject_value, ()):
                    grouped.setdefault(i, []).append(row)
            for i in range(len(spec.subjects)):
                clean = self.desensitizer.desensitize(
                    grouped.get(i, []), item_decision, item.fields, caller.department
                )
                results.append(SubjectRows(item_id, i, list(clean)))
            releases.append(ItemRelease(item_id, item_decision.fields, len(rows)))
        return results, releases

    def _register(self, record: QueryRecord) -> Receipt:
        return register(
            self.ledger, record, log=log, failure="the query could not be registered; nothing was returned"
        )

    def _register_failure(self, draft: _Draft, exc: BaseException) -> None:
        if isinstance(exc, LedgerError):
            return  # the ledger itself failed; a second append would fail the same way
        if isinstance(exc, GatewayError):
            code = exc.problem_code
        else:
            code = "internal_error"
            log.error("unexpected failure on the query path", extra={"error_type": type(exc).__name__})
        self._register(draft.record("error", (RecordedReason(code, "(13)"),)))


@dataclass(slots=True)
class _Draft:
    """What is known of a query so far; becomes its ledger record whatever the outcome."""

    request_id: str
    caller: Actor
    spec: QuerySpec
    catalog_revision: str
    subjects: list[SubjectRef] = field(default_factory=list)
    policy_revision: str = ""

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
