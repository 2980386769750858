"""What the console's pages show, computed over the audit store: proofs, overview, grants, exports.

The auditor's own use cases (list, review, subject report) stay in ``AuditService``; this module adds
what a page needs on top: the exact leaf bytes of an entry (the browser hashes them itself), the list
of signed checkpoints, an overview over the recent log, the grants as the ledger registered them, and
exports cut at one signed checkpoint.
"""

from __future__ import annotations

import base64
import json
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.api.schemas.ledger import consistency_response, entries_csv, entry_proof_response, entry_response
from gateway.domain.ledger.envelope import format_time
from gateway.domain.ledger.terms import EntryFilter
from gateway.domain.transparency.checkpoint import SignedCheckpoint
from gateway.errors import NotFound
from gateway.services.audit import AuditService

OVERVIEW_DAYS = 14
# A department is "far above its usual volume" today when today's count is at least SPIKE_FACTOR times
# its mean daily count over the previous BASELINE_DAYS days, and at least SPIKE_MINIMUM entries (so
# two queries after a quiet week do not raise an alarm). A department with no history counts as 1/day.
SPIKE_FACTOR = 3.0
SPIKE_MINIMUM = 10
BASELINE_DAYS = 7
EXPIRING_DAYS = 7


@dataclass
class Overview:
    """Counts over the last OVERVIEW_DAYS days, for the overview page's charts."""

    days: list[str]
    by_day_decision: dict[str, dict[str, int]]
    by_department: dict[str, int]
    by_purpose: dict[str, int]
    by_decision: dict[str, int]
    refusal_reasons: list[tuple[str, int]]
    spikes: list[dict[str, Any]]
    open_reviews: int
    checkpoint: SignedCheckpoint
    checkpoint_age_s: int
    total: int = 0
    kinds: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GrantRow:
    """One grant as the ledger registered it, with its state today."""

    grant_id: str
    state: str  # active | expiring | expired | revoked | refused
    department: str | None
    recipient: str | None
    purpose: str | None
    items: tuple[str, ...]
    valid_until: str | None
    index: int
    reasons: tuple[str, ...]


class ConsoleViews:
    """Read models for the console over the audit service and its store."""

    def __init__(self, audit: AuditService) -> None:
        self.audit = audit
        self.store = audit.store

    # --- one entry, checked in the browser ---

    def entry_proof(self, index: int) -> dict[str, Any]:
        """The entry's exact leaf bytes, receipt, inclusion path and the checkpoint it is proved against."""
        found = self.store.entry(index)
        if found is None:
            raise NotFound(f"no ledger entry {index}", field="index")
        proved = entry_proof_response(self.audit.entry(index)).model_dump(mode="json")
        checkpoint = proved["checkpoint"]
        return {
            "index": index,
            "leaf_b64": base64.b64encode(found.leaf).decode(),
            "receipt": {"index": index, "leaf_hash": found.leaf_hash.hex()},
            "inclusion_proof": proved["inclusion_proof"],
            "checkpoint_note": checkpoint["note"] if checkpoint else None,
            "verifier_keys": self.store.verifier_keys(),
            "reviews": proved["reviews"],
        }

    def checkpoints(self) -> list[dict[str, Any]]:
        """Every signed checkpoint, newest first (sizes to pick for a consistency check)."""
        self.store.checkpoint()  # signs one now if the log grew
        return [
            {
                "size": cp.size,
                "timestamp": format_time(datetime.fromtimestamp(cp.timestamp, UTC)),
                "root_b64": base64.b64encode(cp.root_hash).decode(),
            }
            for cp in reversed(self.store.checkpoints())
        ]

    def consistency(self, first: int, second: int) -> dict[str, Any]:
        """A consistency path between two signed checkpoints, with both notes (the browser checks them)."""
        old = self.store.checkpoint_at(first)
        new = self.store.checkpoint_at(second)
        if old is None or new is None:
            raise NotFound("both sizes must be sizes of signed checkpoints", field="first")
        proof = consistency_response(self.audit.consistency(first, second)).model_dump(mode="json")
        return {
            "first": first,
            "second": second,
            "consistency_path": proof["consistency_path"],
            "first_note": old.note,
            "second_note": new.note,
            "verifier_keys": self.store.verifier_keys(),
        }

    # --- overview ---

    def overview(self, now: datetime) -> Overview:
        """Counts for the charts, top refusal reasons, spikes by department, the checkpoint's age."""
        today = now.astimezone(UTC).date()
        start = datetime.combine(today - timedelta(days=OVERVIEW_DAYS - 1), datetime.min.time(), UTC)
        days = [(today - timedelta(days=d)).isoformat() for d in range(OVERVIEW_DAYS - 1, -1, -1)]
        by_day: dict[str, Counter[str]] = {d: Counter() for d in days}
        dept_day: dict[str, Counter[str]] = defaultdict(Counter)
        by_department: Counter[str] = Counter()
        by_purpose: Counter[str] = Counter()
        by_decision: Counter[str] = Counter()
        reasons: Counter[str] = Counter()
        kinds: Counter[str] = Counter()
        total = 0
        for entry in self.store.iter_entries(EntryFilter(since=start)):
            envelope = entry.envelope()
            record = envelope.record
            kind = str(record.get("kind"))
            kinds[kind] += 1
            if kind != "query":
                continue
            total += 1
            day = envelope.logged_at[:10]
            decision = str(record.get("decision"))
            department = str(record.get("department"))
            by_day.setdefault(day, Counter())[decision] += 1
            dept_day[department][day] += 1
            by_department[department] += 1
            by_purpose[str(record.get("purpose"))] += 1
            by_decision[decision] += 1
            if decision != "allow":
                reasons.update(str(c) for c in record.get("reason_codes") or [])
        spikes = []
        today_key = today.isoformat()
        baseline_days = days[-1 - BASELINE_DAYS : -1]
        for department, counts in sorted(dept_day.items()):
            usual = sum(counts[d] for d in baseline_days) / BASELINE_DAYS or 1.0
            now_count = counts[today_key]
            if now_count >= SPIKE_MINIMUM and now_count >= SPIKE_FACTOR * usual:
                spikes.append({"department": department, "today": now_count, "usual": round(usual, 1)})
        open_reviews = len(self.store.entries(EntryFilter(kind="query", review="flagged", limit=10000)))
        checkpoint = self.store.checkpoint()
        return Overview(
            days=days,
            by_day_decision={d: dict(by_day[d]) for d in days},
            by_department=dict(by_department.most_common()),
            by_purpose=dict(by_purpose.most_common()),
            by_decision=dict(by_decision.most_common()),
            refusal_reasons=reasons.most_common(10),
            spikes=spikes,
            open_reviews=open_reviews,
            checkpoint=checkpoint,
            checkpoint_age_s=max(0, int(now.timestamp()) - checkpoint.timestamp),
            total=total,
            kinds=dict(kinds),
        )

    # --- grants, across departments ---

    def grants(self, now: datetime) -> list[GrantRow]:
        """Every grant the ledger registered or refused, with its state at ``now``, newest first."""
        latest: dict[str, dict[str, Any]] = {}
        revoked: set[str] = set()
        order: dict[str, int] = {}
        for entry in self.store.iter_entries(EntryFilter(kind="grant")):
            record = entry.envelope().record
            grant_id = str(record.get("grant_id"))
            if record.get("action") == "revoke":
                if record.get("decision") == "allow":
                    revoked.add(grant_id)
                continue
            latest[grant_id] = record
            order[grant_id] = entry.index
        soon = now + timedelta(days=EXPIRING_DAYS)
        rows = []
        for grant_id, record in latest.items():
            until = record.get("valid_until")
            if record.get("decision") != "allow":
                state = "refused"
            elif grant_id in revoked:
                state = "revoked"
            elif isinstance(until, str) and _parse(until) <= now:
                state = "expired"
            elif isinstance(until, str) and _parse(until) <= soon:
                state = "expiring"
            else:
                state = "active"
            rows.append(
                GrantRow(
                    grant_id=grant_id,
                    state=state,
                    department=record.get("department"),
                    recipient=record.get("recipient"),
                    purpose=record.get("purpose"),
                    items=tuple(
                        str(i.get("item")) for i in record.get("items") or [] if isinstance(i, Mapping)
                    ),
                    valid_until=until if isinstance(until, str) else None,
                    index=order[grant_id],
                    reasons=tuple(str(c) for c in record.get("reason_codes") or []),
                )
            )
        return sorted(rows, key=lambda r: -r.index)

    # --- exports cut at a checkpoint ---

    def export(self, query: EntryFilter, fmt: str) -> tuple[SignedCheckpoint, Iterator[bytes]]:
        """Matching entries up to a checkpoint signed now, as CSV or JSON Lines, stamped with it."""
        signed = self.store.checkpoint()
        query = query.with_page(after=None, limit=1, descending=False)
        root = base64.b64encode(signed.root_hash).decode()
        stamp = f"{signed.checkpoint.origin} size {signed.size} root {root}"

        def csv_rows() -> Iterator[bytes]:
            # The first line names the checkpoint the export was cut at; a spreadsheet shows it as a row.
            entries = self.store.iter_entries(query, up_to=signed.size)
            for chunk in entries_csv(entries, preamble=[[f"# cut at checkpoint {stamp}"]]):
                yield chunk.encode()

        def jsonl_rows() -> Iterator[bytes]:
            yield json.dumps({"checkpoint": signed.note}, ensure_ascii=False).encode() + b"\n"
            for entry in self.store.iter_entries(query, up_to=signed.size):
                yield (
                    json.dumps(
                        entry_response(entry).model_dump(mode="json"), ensure_ascii=False, sort_keys=True
                    ).encode()
                    + b"\n"
                )

        return signed, csv_rows() if fmt == "csv" else jsonl_rows()


def _parse(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
