"""Public disclosure (clauses (4)(5)): what the catalog marks public, to anyone, without a token.

The decision is the policy's (``data.gateway.disclosure.decision``): the item must be public, the
subject a legal person, the fields those the catalog discloses, desensitized by the public rules;
the row filters drop repaired, removed, out-of-period and undocumented records in SQL, so a record
stops being disclosed the moment it is repaired or removed. Every disclosure, served or refused, is
registered in the ledger before anything leaves, as a query by the requester ``public``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from gateway.domain.catalog import Catalog
from gateway.domain.decision import parse_decision
from gateway.domain.identifiers import SubjectId
from gateway.domain.ledger.commitments import SubjectRef, response_digest
from gateway.domain.ledger.envelope import canonical_json
from gateway.domain.ledger.records import ItemRelease, Outcome, QueryRecord, RecordedReason, recorded
from gateway.domain.query import SUBJECT_KEY, plan_read
from gateway.domain.times import rfc3339
from gateway.errors import CatalogMismatch, GatewayError, InternalError, LedgerError, PolicyDenied
from gateway.ports import JSON, Clock, Desensitizer, Ledger, PolicyEngine, Receipt, SourceRegistry
from gateway.services.registration import register

DISCLOSURE_ENTRYPOINT = "gateway.disclosure.decision"
PUBLIC = "public"
log = logging.getLogger("gateway.disclosure")


@dataclass(frozen=True, slots=True)
class Disclosure:
    """What was disclosed and the receipt of its registration."""

    body: dict[str, JSON]
    receipt: Receipt


class DisclosureService:
    """Serves public disclosures; one instance serves every request."""

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
        max_rows: int = 100,
    ) -> None:
        self.catalog = catalog
        self.engine = engine
        self.sources = sources
        self.desensitizer = desensitizer
        self.ledger = ledger
        self.commit = commit
        self.clock = clock
        self.max_rows = max_rows

    def disclose(self, item_id: str, subject: SubjectId) -> Disclosure:
        """Decide, read, desensitize and register one public disclosure; PolicyDenied when refused."""
        now = self.clock.now()
        request_id = str(uuid.uuid4())
        ref = SubjectRef.of(subject, self.commit(subject))
        revision = self.engine.revision

        def record(
            outcome: Outcome, reasons: tuple[RecordedReason, ...], rows: int, digest: str | None
        ) -> QueryRecord:
            return QueryRecord(
                request_id=request_id,
                client_id=PUBLIC,
                department=PUBLIC,
                purpose="public_disclosure",
                legal_basis="guofa_2020_49_4_5",
                measure=None,
                grant_id=None,
                subjects=(ref,),
                subject_count=1,
                items=(ItemRelease(item_id, (), rows),),
                decision=outcome,
                reasons=reasons,
                policy_revision=revision,
                catalog_revision=self.catalog.revision,
                response_digest=digest,
            )

        try:
            document = {
                "item": item_id,
                "subject": {"kind": str(subject.kind)},
                "now": rfc3339(now),
                "catalog_revision": self.catalog.revision,
            }
            decision = parse_decision(self.engine.evaluate(DISCLOSURE_ENTRYPOINT, document), revision)
            if not decision.allow:
                receipt = self._register(record("deny", recorded(decision.reasons), 0, None))
                first = decision.reasons[0]
                raise PolicyDenied(
                    first.message,
                    reason_code=first.code,
                    clause=first.clause,
                    field=first.field,
                    reasons=[r.as_dict() for r in decision.reasons],
                    receipt=receipt.as_dict(),
                )
            item = self.catalog.item(item_id)
            released = decision.items.get(item_id)
            if item is None or released is None:
                raise CatalogMismatch("policy and catalog disagree")
            query = plan_read(item, released, (subject,), now.date(), self.max_rows)
            rows = self.sources.source(item.source.database).fetch(query)
            for row in rows:
                row.pop(SUBJECT_KEY, None)
            clean = self.desensitizer.desensitize(rows, released, item.fields, PUBLIC)
            body: dict[str, JSON] = {
                "disclosure_id": request_id,
                "item": item_id,
                "reasons": [r.as_dict() for r in decision.reasons],
                "policy_revision": revision,
                "rows": list(clean),
            }
            allowed = record(
                "allow", recorded(decision.reasons), len(rows), response_digest(canonical_json(body))
            )
        except PolicyDenied:
            raise
        except LedgerError:
            raise
        except Exception as exc:
            code = exc.problem_code if isinstance(exc, GatewayError) else "internal_error"
            self._register(record("error", (RecordedReason(code, "(13)"),), 0, None))
            if isinstance(exc, GatewayError):
                raise
            raise InternalError("the disclosure could not be completed") from exc
        return Disclosure(body, self._register(allowed))

    def _register(self, record: QueryRecord) -> Receipt:
        return register(self.ledger, record, log=log, failure="the disclosure could not be registered")
