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

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from gateway.domain.identifiers import parse_subject
from gateway.domain.ledger.commitments import SubjectRef, commit_subject
from gateway.domain.ledger.envelope import StoredEntry
from gateway.domain.ledger.export import export_checkpoint_line, export_header_line
from gateway.domain.ledger.guard import contains_identifier
from gateway.domain.ledger.records import ReviewRecord, SubjectReportRecord
from gateway.domain.ledger.terms import EntryFilter
from gateway.domain.transparency.checkpoint import SignedCheckpoint
from gateway.errors import InvalidRequest, NotFound
from gateway.ports import Actor, AuditStore, KeyStore, Receipt

COMMITMENT_SECRET = "commitment"  # noqa: S105 - the keystore name of the secret, not a secret
MAX_SUBJECT_REPORT = 10000


@dataclass(frozen=True, slots=True)
class EntryPage:
    """One page of entries and the cursor of the next page (None at the end)."""

    entries: list[StoredEntry]
    next_cursor: int | None


@dataclass(frozen=True, slots=True)
class EntryProof:
    """One entry, its reviews, and its RFC 9162 inclusion path in a tree of ``tree_size`` entries."""

    entry: StoredEntry
    reviews: list[StoredEntry]
    tree_size: int
    inclusion_path: list[bytes]
    checkpoint: SignedCheckpoint | None  # the checkpoint of ``tree_size``, when one was signed
    verifier_keys: dict[str, str]


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    """An RFC 9162 consistency path between two tree sizes and both roots."""

    first: int
    second: int
    path: list[bytes]
    first_root: bytes
    second_root: bytes


@dataclass(frozen=True, slots=True)
class SubjectReport:
    """Every entry that touched one subject, and the receipt of the report's own registration."""

    subject: SubjectRef
    entries: list[StoredEntry]
    receipt: Receipt


@dataclass(frozen=True, slots=True)
class ReviewOutcome:
    """A registered review: its record and its receipt."""

    record: ReviewRecord
    receipt: Receipt


class AuditService:
    """Actor use cases over an AuditStore."""

    def __init__(self, store: AuditStore, commitment_secret: bytes) -> None:
        self.store = store
        self._secret = commitment_secret

    # --- reading ---

    def list_entries(self, query: EntryFilter) -> EntryPage:
        """One page of entries matching ``query`` and the cursor of the next page (None at the end)."""
        found = self.store.entries(query)
        next_cursor = found[-1].index if len(found) == query.limit else None
        return EntryPage(found, next_cursor)

    def checkpoint(self) -> SignedCheckpoint:
        """The latest checkpoint, signed on demand when entries were appended since."""
        return self.store.checkpoint()

    def verifier_keys(self) -> dict[str, str]:
        """The signed-note verifier keys of the current checkpoint key."""
        return self.store.verifier_keys()

    def entry(self, index: int, tree_size: int | None = None) -> EntryProof:
        """One entry, its reviews, and its RFC 9162 inclusion proof against a signed checkpoint."""
        found = self.store.entry(index)
        if found is None:
            raise NotFound("no such ledger entry", field="index")
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
        return EntryProof(
            entry=found,
            reviews=self.store.reviews_of(index),
            tree_size=size,
            inclusion_path=proof,
            checkpoint=signed,
            verifier_keys=self.store.verifier_keys(),
        )

    def consistency(self, first: int, second: int) -> ConsistencyProof:
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
        return ConsistencyProof(first, second, proof, self.store.root_at(first), self.store.root_at(second))

    # --- exports ---

    def export_jsonl(self) -> Iterator[bytes]:
        """The whole log up to a checkpoint signed for the export, as JSON Lines the verifier reads."""
        signed = self.store.checkpoint()
        yield export_header_line(self.store.origin, signed.size, self.store.verifier_keys()) + b"\n"
        for cp in self.store.checkpoints(up_to=signed.size):
            yield export_checkpoint_line(cp.note) + b"\n"
        for entry in self.store.iter_entries(EntryFilter(), up_to=signed.size):
            yield entry.leaf + b"\n"

    def iter_entries(self, query: EntryFilter) -> Iterator[StoredEntry]:
        """Every entry matching ``query``, ascending, read as it is consumed (for exports)."""
        return self.store.iter_entries(query)

    # --- subject report (PIPL art. 45) ---

    def subject_report(self, id_type: str, value: str, auditor: Actor) -> SubjectReport:
        """Every entry that touched one subject, found through its commitment; the lookup is registered."""
        # A lookup, not a registration: a number born "after today" finds nothing, so no date bound here.
        subject = parse_subject(id_type, value, field="value", today=date.max)
        ref = commit_subject(self._secret, subject)
        found: list[StoredEntry] = []
        for entry in self.store.iter_entries(EntryFilter(subject=ref.commitment)):
            found.append(entry)
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
        return SubjectReport(ref, found, receipt)

    # --- review ---

    def review(self, index: int, status: str, comment: str, auditor: Actor) -> ReviewOutcome:
        """Mark entry ``index`` reviewed or flagged; the review is appended to the ledger."""
        if contains_identifier(comment):
            # Ledger entries carry commitments only; the auditor must not write an identifier in.
            raise InvalidRequest("a review comment may not contain a subject identifier", field="comment")
        target = self.store.entry(index)
        if target is None:
            raise NotFound("no such ledger entry", field="index")
        record = ReviewRecord(
            target_index=index,
            target_leaf_hash=target.leaf_hash.hex(),
            status=status,
            comment=comment,
            client_id=auditor.client_id,
            department=auditor.department,
        )
        receipt = self.store.append(record)
        return ReviewOutcome(record, receipt)


def build_audit_service(store: AuditStore, keystore: KeyStore) -> AuditService:
    """The audit service over ``store`` with the keystore's commitment secret."""
    return AuditService(store, keystore.secret(COMMITMENT_SECRET))
