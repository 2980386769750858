"""The query use case: decide, read, desensitize, register, respond (DESIGN §3).

Every outcome is registered before anything is returned: an allowed query, a refusal, and a failure
anywhere on the path. If registration itself fails the caller gets LedgerError and no data.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from gateway.domain.catalog import Catalog
from gateway.domain.decision import Decision, parse_decision
from gateway.domain.identifiers import SubjectId
from gateway.domain.query import SUBJECT_KEY, QuerySpec, build_policy_input, digest, plan_read
from gateway.errors import GatewayError, LedgerError, PolicyDenied, Unavailable
from gateway.ports import JSON, Clock, Desensitizer, Ledger, PolicyEngine, Receipt, SourceRegistry

DECISION_ENTRYPOINT = "gateway.query.decision"
log = logging.getLogger("gateway.query")


class GrantLookup(Protocol):
    """Reads a stored grant for the query path; always from the store, never from a cache."""

    def grant_for_query(self, grant_id: str, department: str) -> Mapping[str, Any] | None:
        """The grant as the policy input expects it, or None if there is no such grant."""
        ...


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated requester, as the query service needs it."""

    client_id: str
    department: str


@dataclass(frozen=True, slots=True)
class QueryOutcome:
    """An allowed query's response body and its registration receipt."""

    body: dict[str, JSON]
    receipt: Receipt


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

    def run(self, caller: Caller, spec: QuerySpec) -> QueryOutcome:
        """Decide, read and desensitize; register the outcome; return data only once registered."""
        now = self.clock.now()
        query_id = str(uuid.uuid4())
        entry: dict[str, JSON] = {
            "kind": "query",
            "time": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "query_id": query_id,
            "client_id": caller.client_id,
            "department": caller.department,
            "purpose": spec.purpose,
            "legal_basis": spec.legal_basis,
            "measure": spec.measure,
            "grant_id": spec.grant_id,
            "items": [it.item_id for it in spec.items],
            "catalog_revision": self.catalog.revision,
            "subject_count": len(spec.subjects),
        }
        try:
            commitments = [self.commit(s) for s in spec.subjects]
            entry["subjects"] = commitments
            decision = self._decide(caller, spec, commitments, entry, now)
        except PolicyDenied:
            raise
        except Exception as exc:
            self._register_failure(entry, exc)
            if isinstance(exc, GatewayError):
                raise
            raise Unavailable("the query could not be completed", code="internal_error") from exc

        try:
            results, fields, counts = self._read(caller, spec, decision, now)
            body: dict[str, JSON] = {
                "query_id": query_id,
                "decision": {
                    "allow": True,
                    "reasons": [r.as_dict() for r in decision.reasons],
                    "policy_revision": decision.policy_revision,
                },
                "results": results,
            }
            entry.update(
                decision="allow",
                reason_codes=[r.code for r in decision.reasons],
                fields=fields,
                row_counts=counts,
                rows_total=sum(counts.values()),
                response_digest=digest(body),
            )
        except Exception as exc:
            self._register_failure(entry, exc)
            if isinstance(exc, GatewayError):
                raise
            raise Unavailable("the query could not be completed", code="internal_error") from exc
        receipt = self._register(entry)
        body["receipt"] = receipt.as_dict()
        log.info("query allowed", extra={"items": len(spec.items), "rows": entry["rows_total"]})
        return QueryOutcome(body, receipt)

    def _decide(
        self,
        caller: Caller,
        spec: QuerySpec,
        commitments: list[str],
        entry: dict[str, JSON],
        now: datetime,
    ) -> Decision:
        grant = None
        if spec.grant_id is not None:
            if self.grants is None:
                raise Unavailable("grants are not configured on this gateway", code="grants_unavailable")
            grant = self.grants.grant_for_query(spec.grant_id, caller.department)
            if grant is None:
                self._deny(
                    entry,
                    "grant_not_found",
                    "no authorization grant with this id",
                    "(14)",
                    "grant_id",
                    policy_revision=self.engine.revision,
                )
        policy_input = build_policy_input(
            spec,
            client_id=caller.client_id,
            department=caller.department,
            now=now,
            catalog_revision=self.catalog.revision,
            commitments=commitments,
            grant=grant,
        )
        revision = self.engine.revision
        decision = parse_decision(self.engine.evaluate(DECISION_ENTRYPOINT, policy_input), revision)
        entry["policy_revision"] = revision
        if not decision.allow:
            reasons = [r.as_dict() for r in decision.reasons]
            entry.update(decision="deny", reason_codes=[r.code for r in decision.reasons])
            receipt = self._register(entry)
            first = decision.reasons[0]
            raise PolicyDenied(
                first.message,
                code=decision.primary_code,
                clause=first.clause,
                field=_reason_field(first.item, first.field, spec),
                reasons=reasons,
                receipt=receipt.as_dict(),
            )
        return decision

    def _deny(
        self, entry: dict[str, JSON], code: str, message: str, clause: str, field: str, policy_revision: str
    ) -> None:
        reason = {"code": code, "message": message, "clause": clause}
        entry.update(decision="deny", reason_codes=[code], policy_revision=policy_revision)
        receipt = self._register(entry)
        raise PolicyDenied(
            message, code=code, clause=clause, field=field, reasons=[reason], receipt=receipt.as_dict()
        )

    def _read(
        self, caller: Caller, spec: QuerySpec, decision: Decision, now: datetime
    ) -> tuple[list[JSON], dict[str, JSON], dict[str, int]]:
        index_of: dict[str, list[int]] = {}
        for i, subject in enumerate(spec.subjects):
            index_of.setdefault(subject.value, []).append(i)
        results: list[JSON] = []
        fields: dict[str, JSON] = {}
        counts: dict[str, int] = {}
        for item_id, item_decision in decision.items.items():
            item = self.catalog.item(item_id)
            if item is None:  # the policy allowed an item the catalog lacks: inconsistent, refuse
                raise Unavailable("policy and catalog disagree", code="catalog_mismatch")
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
                results.append({"item": item_id, "subject": i, "rows": list(clean)})
            fields[item_id] = list(item_decision.fields)
            counts[item_id] = len(rows)
        return results, fields, counts

    def _register(self, entry: Mapping[str, JSON]) -> Receipt:
        try:
            return self.ledger.append(entry)
        except LedgerError:
            log.error("ledger append failed", extra={"kind": entry.get("kind")})
            raise
        except Exception as exc:
            log.error("ledger append failed", extra={"error_type": type(exc).__name__})
            raise LedgerError("the query could not be registered; nothing was returned") from exc

    def _register_failure(self, entry: dict[str, JSON], exc: BaseException) -> None:
        code = exc.code if isinstance(exc, GatewayError) else "internal_error"
        if not isinstance(exc, GatewayError):
            log.error("unexpected failure on the query path", extra={"error_type": type(exc).__name__})
        entry.update(decision="error", reason_codes=[code])
        entry.pop("response_digest", None)
        if isinstance(exc, LedgerError):
            return  # the ledger itself failed; a second append would fail the same way
        self._register(entry)


def _reason_field(item: str | None, field: str | None, spec: QuerySpec) -> str | None:
    """Point a refusal at the request field it concerns, e.g. ``items[1].fields``."""
    if item is None:
        return None
    for i, it in enumerate(spec.items):
        if it.item_id == item:
            return f"items[{i}].fields" if field else f"items[{i}]"
    return None
