"""The auditor's use cases over the query ledger (clause (13); PIPL art. 45).

Read (scope ``audit:read``): list and filter entries, one entry with its inclusion proof against a
signed checkpoint, the latest checkpoint, consistency proofs, exports (JSON Lines for the offline
verifier, CSV for people), and the subject report: every entry that touched one subject, found
through the keyed commitment, never through a stored identifier. A subject report is itself
registered, so the subject later sees that an auditor looked them up.

Review (scope ``audit:review``): mark an entry reviewed or flagged with a comment; the review is a
ledger entry of its own, pointing at the target's index and leaf hash.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from gateway.domain.identifiers import parse_subject
from gateway.domain.ledger.commitments import commit_subject
from gateway.domain.ledger.envelope import StoredEntry, format_time
from gateway.domain.ledger.export import export_checkpoint_line, export_header_line
from gateway.domain.ledger.guard import contains_identifier
from gateway.domain.ledger.records import ReviewRecord, SubjectReportRecord
from gateway.domain.ledger.terms import EntryFilter
from gateway.domain.transparency.checkpoint import SignedCheckpoint
from gateway.errors import InvalidRequest, NotFound
from gateway.ports import Actor, AuditStore, KeyStore

COMMITMENT_SECRET = "commitment"  # noqa: S105 - the keystore name of the secret, not a secret
MAX_SUBJECT_REPORT = 10000
CSV_COLUMNS = (
    "index",
    "logged_at",
    "kind",
    "client_id",
    "department",
    "purpose",
    "legal_basis",
    "grant_id",
    "decision",
    "reasons",
    "items",
    "fields",
    "rows_total",
    "subjects",
    "policy_revision",
    "catalog_revision",
    "response_digest",
    "target_index",
    "status",
    "comment",
    "leaf_hash",
)


def entry_view(entry: StoredEntry) -> dict[str, Any]:
    """An entry as the API shows it."""
    envelope = entry.envelope()
    return {
        "index": entry.index,
        "leaf_hash": entry.leaf_hash.hex(),
        "logged_at": envelope.logged_at,
        "record": envelope.record,
    }


def checkpoint_view(checkpoint: SignedCheckpoint, verifier_keys: Mapping[str, str]) -> dict[str, Any]:
    """A checkpoint in JSON: its fields, when it was signed, the note itself and the keys to check it."""
    return {
        "origin": checkpoint.checkpoint.origin,
        "tree_size": checkpoint.size,
        "root_hash": checkpoint.root_hash.hex(),
        "timestamp": format_time(datetime.fromtimestamp(checkpoint.timestamp, UTC)),
        "note": checkpoint.note,
        "verifier_keys": dict(verifier_keys),
    }


def _review_view(entry: StoredEntry) -> dict[str, Any]:
    envelope = entry.envelope()
    record = envelope.record
    return {
        "index": entry.index,
        "logged_at": envelope.logged_at,
        "status": record.get("status"),
        "comment": record.get("comment"),
        "client_id": record.get("client_id"),
        "department": record.get("department"),
    }


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # Spreadsheets run cells that start like a formula (CSV injection); keep them inert.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_row(entry: StoredEntry) -> list[str]:
    envelope = entry.envelope()
    r = envelope.record
    items = [i for i in r.get("items") or [] if isinstance(i, Mapping)]
    values: dict[str, Any] = {
        **{k: r.get(k) for k in CSV_COLUMNS},
        "index": entry.index,
        "logged_at": envelope.logged_at,
        "reasons": ";".join(str(x.get("code")) for x in r.get("reasons") or [] if isinstance(x, Mapping)),
        "items": ";".join(str(i.get("item")) for i in items),
        "fields": ";".join(f"{i.get('item')}.{f}" for i in items for f in i.get("fields") or []),
        "subjects": len(r.get("subjects") or []),
        "leaf_hash": entry.leaf_hash.hex(),
    }
    return [_cell(values[c]) for c in CSV_COLUMNS]


class AuditService:
    """Actor use cases over an AuditStore."""

    def __init__(self, store: AuditStore, commitment_secret: bytes) -> None:
        self.store = store
        self._secret = commitment_secret

    # --- reading ---

    def list_entries(self, query: EntryFilter) -> dict[str, Any]:
        """One page of entries matching ``query`` and the cursor of the next page (None at the end)."""
        found = self.store.entries(query)
        next_cursor = found[-1].index if len(found) == query.limit else None
        return {"entries": [entry_view(e) for e in found], "next_cursor": next_cursor}

    def checkpoint(self) -> SignedCheckpoint:
        """The latest checkpoint, signed on demand when entries were appended since."""
        return self.store.checkpoint()

    def checkpoint_json(self) -> dict[str, Any]:
        """The latest checkpoint in JSON form."""
        return checkpoint_view(self.checkpoint(), self.store.verifier_keys())

    def entry(self, index: int, tree_size: int | None = None) -> dict[str, Any]:
        """One entry, its reviews, and its RFC 9162 inclusion proof against a signed checkpoint."""
        found = self.store.entry(index)
        if found is None:
            raise NotFound(f"no ledger entry {index}", field="index")
        if tree_size is None:
            signed: SignedCheckpoint | None = self.store.checkpoint()
            assert signed is not None  # noqa: S101 - checkpoint() always returns one
            size = signed.size
        else:
            size = tree_size
            signed = self.store.checkpoint_at(size)
        if size <= index:
            raise InvalidRequest(
                f"a tree of size {size} does not contain entry {index}",
                field="tree_size",
                accepted=f"> {index}",
            )
        proof = self.store.inclusion_proof(index, size)
        return {
            **entry_view(found),
            "reviews": [_review_view(r) for r in self.store.reviews_of(index)],
            "inclusion_proof": {
                "tree_size": size,
                "leaf_index": index,
                "inclusion_path": [p.hex() for p in proof],
            },
            "checkpoint": checkpoint_view(signed, self.store.verifier_keys()) if signed is not None else None,
        }

    def consistency(self, first: int, second: int) -> dict[str, Any]:
        """An RFC 9162 consistency proof between two tree sizes, both at most the latest checkpoint."""
        latest = self.store.checkpoint().size
        if not 0 <= first <= second:
            raise InvalidRequest(
                "first must not exceed second", field="first", accepted="0 <= first <= second"
            )
        if second > latest:
            raise InvalidRequest(
                f"the latest checkpoint covers {latest} entries", field="second", accepted=f"at most {latest}"
            )
        proof = self.store.consistency_proof(first, second)
        return {
            "tree_size_1": first,
            "tree_size_2": second,
            "consistency_path": [p.hex() for p in proof],
            "first_root": self.store.root_at(first).hex(),
            "second_root": self.store.root_at(second).hex(),
        }

    # --- exports ---

    def export_jsonl(self) -> Iterator[bytes]:
        """The whole log up to a checkpoint signed for the export, as JSON Lines the verifier reads."""
        signed = self.store.checkpoint()
        yield export_header_line(self.store.origin, signed.size, self.store.verifier_keys()) + b"\n"
        for cp in self.store.checkpoints(up_to=signed.size):
            yield export_checkpoint_line(cp.note) + b"\n"
        for entry in self.store.iter_entries(EntryFilter(), up_to=signed.size):
            yield entry.leaf + b"\n"

    def export_csv(self, query: EntryFilter) -> Iterator[str]:
        """Matching entries as CSV (one row per entry, lists joined with ';'), for people."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for entry in self.store.iter_entries(query):
            writer.writerow(_csv_row(entry))
            if buffer.tell() > 1 << 16:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    # --- subject report (PIPL art. 45) ---

    def subject_report(self, id_type: str, value: str, auditor: Actor) -> dict[str, Any]:
        """Every entry that touched one subject, found through its commitment; the lookup is registered."""
        subject = parse_subject(id_type, value, field="value")
        ref = commit_subject(self._secret, subject)
        found = []
        for entry in self.store.iter_entries(EntryFilter(subject=ref.commitment)):
            found.append(entry_view(entry))
            if len(found) > MAX_SUBJECT_REPORT:
                raise InvalidRequest(
                    "too many entries for one report; export and filter instead", field="value"
                )
        receipt = self.store.append(
            SubjectReportRecord(
                subject=ref,
                client_id=auditor.client_id,
                department=auditor.department,
                entries_found=len(found),
            )
        )
        return {"subject": ref.as_dict(), "count": len(found), "entries": found, "receipt": receipt.as_dict()}

    # --- review ---

    def review(self, index: int, status: str, comment: str, auditor: Actor) -> dict[str, Any]:
        """Mark entry ``index`` reviewed or flagged; the review is appended to the ledger."""
        if contains_identifier(comment):
            # Ledger entries carry commitments only; the auditor must not write an identifier in.
            raise InvalidRequest("a review comment may not contain a subject identifier", field="comment")
        target = self.store.entry(index)
        if target is None:
            raise NotFound(f"no ledger entry {index}", field="index")
        record = ReviewRecord(
            target_index=index,
            target_leaf_hash=target.leaf_hash.hex(),
            status=status,
            comment=comment,
            client_id=auditor.client_id,
            department=auditor.department,
        )
        receipt = self.store.append(record)
        return {"receipt": receipt.as_dict(), "review": record.as_dict()}


def build_audit_service(store: AuditStore, keystore: KeyStore) -> AuditService:
    """The audit service over ``store`` with the keystore's commitment secret."""
    return AuditService(store, keystore.secret(COMMITMENT_SECRET))
