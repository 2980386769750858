"""Offline verification of the ledger: ``gateway ledger verify``.

Input: a source (a JSON Lines export or the database, see ``gateway.adapters.sql.ledger``), the
log's Ed25519 public keys, and optionally checkpoints the auditor kept from earlier. Nothing the
source says is trusted except what a checkpoint signature covers.

1. Every checkpoint's note signature and timestamped cosignature must verify; two checkpoints of
   the same size must agree (otherwise the log forked).
2. The entries are read once, in order. Each must claim its own position (the envelope starts
   with its index), match its stored leaf hash when the source has one, and is folded into the
   tree with an O(log n) frontier.
3. At each checkpoint's size the recomputed root must equal the signed root, and an RFC 9162
   consistency proof from the previous checkpoint (built from the recomputed tree) must verify
   against both signed roots.
4. At the end: no signed checkpoint may be larger than the log (truncation), the entry count must
   match what the source records, and an export must be covered by a checkpoint to its last entry.
5. A database's head row carries the note the gateway signed over exactly its size and root with every
   batch: it must verify, cover every entry (an entry past it was written without the signing key, a
   forged tail) and match the recomputed root.
6. A database's index, what the audit filters and subject reports read: every indexed column of every
   entry and every terms row is recomputed from the entry bytes; a column that differs, a terms row
   rewritten, deleted or added is reported with its index.

The first failure stops the run and names the first bad index: the exact entry when it betrays
itself (wrong position, wrong hash, missing, duplicated), otherwise the first entry that no
matching checkpoint proves (tampering that recomputed every hash can only be narrowed down to the
span between two checkpoints; the reason says which span).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gateway.domain.ledger.envelope import claimed_index, decode_envelope, parse_time
from gateway.domain.ledger.terms import entry_terms
from gateway.domain.transparency import merkle
from gateway.domain.transparency.checkpoint import (
    SignedCheckpoint,
    Verify,
    open_checkpoint,
    parse_checkpoint_text,
    parse_note,
)
from gateway.errors import InvalidRequest
from gateway.ports import LedgerIndexSource, LedgerSource

Progress = Callable[[int, int | None], None]  # (entries done, entries expected or None)
PROGRESS_EVERY = 1 << 16


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The outcome: ok, or the first bad index (or checkpoint) and why."""

    ok: bool
    entries: int
    checkpoints: int
    proven_size: int
    reason: str
    first_bad_index: int | None = None
    bad_checkpoint: int | None = None
    latest: SignedCheckpoint | None = None

    @property
    def unsigned(self) -> int:
        """Entries read that no checkpoint covers yet."""
        return max(self.entries - self.proven_size, 0)


def _note_size(note: str) -> int | None:
    try:
        text, _ = parse_note(note)
        return parse_checkpoint_text(text).size
    except InvalidRequest:
        return None


def _position_problem(pos: int, claimed: int | None, stored: int | None) -> tuple[int, str]:
    if stored is not None and stored != pos:
        if stored > pos:
            return pos, f"entries {pos}..{stored - 1} are missing (the next stored entry is {stored})"
        return pos, f"entry {pos} is stored under index {stored}"
    if claimed is None:
        return pos, f"entry {pos} is not a ledger envelope"
    if claimed == pos - 1:
        return (
            pos - 1,
            f"entries {pos - 1} and {pos} both claim index {pos - 1}: an entry was inserted or duplicated",
        )
    return (
        pos,
        f"position {pos} holds the entry for index {claimed}: entries are missing, inserted or reordered",
    )


class _Run:
    """Counters of one verification run, and how a failure is reported from them."""

    def __init__(self) -> None:
        self.entries = 0
        self.checkpoints = 0
        self.proven = 0
        self.latest: SignedCheckpoint | None = None

    def fail(self, reason: str, *, bad: int | None = None, checkpoint: int | None = None) -> VerifyResult:
        proven = self.proven if bad is None else min(self.proven, bad)
        return VerifyResult(
            False, self.entries, self.checkpoints, proven, reason, bad, checkpoint, self.latest
        )


def _open_all(
    run: _Run, notes: Sequence[str], public_keys: Sequence[bytes], verify: Verify, origin: str | None
) -> dict[int, bytes] | VerifyResult:
    """Verify every checkpoint; return the signed root of each size, or the first failure."""
    roots: dict[int, bytes] = {}
    log_origin = origin
    for note in notes:
        try:
            cp = open_checkpoint(note, public_keys=public_keys, verify=verify, name=origin)
        except InvalidRequest as exc:
            size = _note_size(note)
            return run.fail(f"checkpoint of size {size}: {exc.detail}", checkpoint=size)
        log_origin = log_origin or cp.checkpoint.origin
        if cp.checkpoint.origin != log_origin:
            return run.fail(f"checkpoint of size {cp.size} belongs to another log", checkpoint=cp.size)
        if roots.get(cp.size, cp.root_hash) != cp.root_hash:
            return run.fail(
                f"two signed checkpoints of size {cp.size} disagree: the log forked", checkpoint=cp.size
            )
        roots[cp.size] = cp.root_hash
        if run.latest is None or cp.size > run.latest.size:
            run.latest = cp
        run.checkpoints += 1
    if roots.get(0, merkle.EMPTY_ROOT) != merkle.EMPTY_ROOT:
        return run.fail("the checkpoint of size 0 has a non-empty root", checkpoint=0)
    return roots


def verify_ledger(
    source: LedgerSource,
    public_keys: Sequence[bytes],
    verify: Verify,
    *,
    origin: str | None = None,
    progress: Progress | None = None,
    extra_checkpoints: Iterable[str] = (),
    require_signed: bool | None = None,
    index: LedgerIndexSource | None = None,
) -> VerifyResult:
    """Recompute the tree of ``source`` and check it against every signed checkpoint.

    ``public_keys`` are raw Ed25519 keys (current and rotated), ``verify`` the signature check
    (``gateway.adapters.sql.ledger.ed25519_verify``). ``extra_checkpoints`` are notes the auditor
    kept: the log must still be consistent with them. ``require_signed`` (default: the source's
    ``fully_signed``) fails when entries after the latest checkpoint are not covered. ``index`` (a
    database's) has its indexed columns and terms rows recomputed once the tree verified.
    """
    run = _Run()
    notes = [*source.checkpoint_notes(), *extra_checkpoints]
    hint = source.size_hint()
    head = source.signed_head()
    opened = _open_all(run, notes, public_keys, verify, origin)
    if isinstance(opened, VerifyResult):
        return opened
    roots = opened
    log_origin = origin or (run.latest.checkpoint.origin if run.latest is not None else None)
    sizes = sorted(roots)

    # Nodes that the consistency proofs between consecutive checkpoints need, captured on the way.
    pairs = [(m, n) for m, n in itertools.pairwise(sizes) if m > 0]
    wanted_leaves: set[int] = set()
    wanted_inner: set[tuple[int, int]] = set()
    for m, n in pairs:
        for level, node in merkle.consistency_nodes(m, n):
            if level == 0:
                wanted_leaves.add(node)
            else:
                wanted_inner.add((level, node))
    captured: dict[merkle.NodeId, bytes] = {}
    previous = {n: m for m, n in pairs}

    # 2. + 3. one pass over the entries. The hot loop keeps the frontier on a plain list instead of
    # a merkle.Frontier (which builds a list of the nodes each append completes) and binds the
    # hasher's functions locally; the hashing itself is merkle's, as every other reader's is.
    leaf_hash, node_hash = merkle.leaf_hash, merkle.node_hash
    stack: list[bytes] = []
    # The root at the size the head's note claims, recomputed on the way (the log may grow meanwhile).
    head_at = _note_size(head[1]) if head is not None and head[1] is not None else None
    head_root = merkle.EMPTY_ROOT if head_at == 0 else None
    checkpoint_sizes = iter([s for s in sizes if s > 0])
    next_checkpoint = next(checkpoint_sizes, -1)
    pos = 0
    for stored_index, leaf, stored_hash in source.leaves():
        run.entries = pos
        claimed = claimed_index(leaf)
        if claimed != pos or (stored_index is not None and stored_index != pos):
            bad, reason = _position_problem(pos, claimed, stored_index)
            return run.fail(reason, bad=bad)
        h = leaf_hash(leaf)
        if stored_hash is not None and stored_hash != h:
            return run.fail(f"entry {pos} was altered: it no longer matches its leaf hash", bad=pos)
        if pos in wanted_leaves:
            captured[(0, pos)] = h
        n, level = pos, 0
        while n & 1:
            h = node_hash(stack.pop(), h)
            n >>= 1
            level += 1
            if (level, n) in wanted_inner:
                captured[(level, n)] = h
        stack.append(h)
        pos += 1
        if pos == head_at:
            head_root = merkle.fold_nodes(stack)
        if pos == next_checkpoint:
            run.entries = pos
            if merkle.fold_nodes(stack) != roots[pos]:
                return run.fail(
                    f"the first {pos} entries do not match the checkpoint signed for size {pos}: "
                    f"an entry in [{run.proven}, {pos}) was altered, inserted or removed",
                    bad=run.proven,
                    checkpoint=pos,
                )
            before = previous.get(pos)
            if before is not None:
                proof = merkle.consistency_proof(before, pos, merkle.lookup_in(captured))
                if not merkle.verify_consistency(before, pos, proof, roots[before], roots[pos]):
                    return run.fail(
                        f"checkpoints {before} and {pos} are not consistent", bad=run.proven, checkpoint=pos
                    )
            run.proven = pos
            next_checkpoint = next(checkpoint_sizes, -1)
        if progress is not None and pos % PROGRESS_EVERY == 0:
            progress(pos, hint)
    run.entries = pos
    if progress is not None:
        progress(pos, hint)
    result = _finish(
        run, source, sizes, hint, source.fully_signed if require_signed is None else require_signed
    )
    if result.ok and head is not None:
        roots_read = {pos: merkle.fold_nodes(stack)}
        if head_at is not None and head_root is not None:
            roots_read[head_at] = head_root
        result = _check_head(run, source, head, roots_read, public_keys, verify, log_origin)
    if result.ok and index is not None:
        result = _check_index(run, index) or result
    return result


def _open_head(
    run: _Run, head: tuple[int, str | None], public_keys: Sequence[bytes], verify: Verify, origin: str | None
) -> SignedCheckpoint | VerifyResult:
    size, note = head
    if note is None:
        return run.fail(
            f"the ledger head (size {size}) is covered by no signed note", bad=min(size, run.entries)
        )
    try:
        return open_checkpoint(note, public_keys=public_keys, verify=verify, name=origin)
    except InvalidRequest as exc:
        return run.fail(f"the ledger head's signed note: {exc.detail}", bad=min(size, run.entries))


def _check_head(
    run: _Run,
    source: LedgerSource,
    head: tuple[int, str | None],
    roots_read: dict[int, bytes],
    public_keys: Sequence[bytes],
    verify: Verify,
    origin: str | None,
) -> VerifyResult:
    """5. The signed head covers exactly the entries read, with the root recomputed from them.

    The head is read before the entries; a live log may grow while they are read, so a head that
    covers fewer entries than were read is read again: entries past the newest signed head are a tail
    written without the key.
    """
    count = run.entries
    signed = _open_head(run, head, public_keys, verify, origin)
    if isinstance(signed, VerifyResult):
        return signed
    if signed.size > count:
        return run.fail(
            f"the log was truncated: the signed head covers {signed.size} entries but only {count} remain",
            bad=count,
        )
    if roots_read.get(signed.size) != signed.root_hash:
        return run.fail(
            f"the first {signed.size} entries do not match the signed head: an entry in "
            f"[{run.proven}, {signed.size}) was altered, inserted or removed",
            bad=run.proven,
        )
    note = f"{count} entries, {run.checkpoints} checkpoints and the signed head verified"
    if signed.size < count:
        fresh = source.signed_head()
        later = _open_head(run, fresh, public_keys, verify, origin) if fresh is not None else signed
        if isinstance(later, VerifyResult):
            return later
        if later.size < count:
            return run.fail(
                f"entries from {later.size} on are not covered by the signed head: they were written "
                "without the signing key (a forged tail)",
                bad=later.size,
            )
        if later.size == count and roots_read.get(count) != later.root_hash:
            return run.fail(
                f"the {count} entries do not match the signed head: an entry in [{signed.size}, {count}) "
                "was altered, inserted or removed",
                bad=signed.size,
            )
        if later.size > count:  # appended after the entries were read: proven up to the first head
            count = signed.size
            note += f"; entries from {count} on were appended while verifying: run again to cover them"
    elif head[0] != count:
        return run.fail(
            f"the ledger head records {head[0]} entries but its signed note covers {count}: "
            "the head was rewritten without the signing key",
            bad=min(head[0], count),
        )
    run.proven = max(run.proven, count)
    return VerifyResult(True, run.entries, run.checkpoints, run.proven, note, latest=run.latest)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INDEXED = ("kind", "client_id", "department", "purpose", "decision", "target_index", "review_status")


def _expected_index(leaf: bytes) -> tuple[dict[str, object], list[tuple[str, str]]]:
    """The indexed columns and the terms rows an entry's bytes call for."""
    envelope = decode_envelope(leaf)
    terms = entry_terms(envelope.record)
    columns: dict[str, object] = {name: getattr(terms, name) for name in _INDEXED}
    columns["idx"] = envelope.index
    columns["logged_at_us"] = (parse_time(envelope.logged_at) - _EPOCH) // timedelta(microseconds=1)
    rows = [("item", v) for v in terms.items]
    rows += [("reason", v) for v in terms.reasons]
    rows += [("subject", v) for v in terms.commitments]
    return columns, sorted(rows)


def _check_index(run: _Run, index: LedgerIndexSource) -> VerifyResult | None:
    """6. Every indexed column and terms row against the entry bytes; None when all agree."""
    terms: Iterator[tuple[int, str, str]] = iter(index.terms_rows())
    pending = next(terms, None)
    for idx, leaf, stored in index.indexed_entries():
        try:
            columns, expected = _expected_index(leaf)
        except (InvalidRequest, ValueError, KeyError):
            return run.fail(f"entry {idx} cannot be indexed: its bytes are not a ledger record", bad=idx)
        for name, value in columns.items():
            if _column(stored.get(name)) != value:
                return run.fail(
                    f"entry {idx}: the indexed column {name} does not match the entry "
                    "(the audit filters would miss or misplace it)",
                    bad=idx,
                )
        if pending is not None and pending[0] < idx:
            return _stray_term(run, pending[0])
        found: list[tuple[str, str]] = []
        while pending is not None and pending[0] == idx:
            found.append((pending[1], pending[2]))
            pending = next(terms, None)
        if sorted(found) != expected:
            missing = sorted(set(expected) - set(found))
            extra = sorted(set(found) - set(expected))
            what = ", ".join(
                [*(f"{term} row missing" for term, _ in missing), *(f"{term} row added" for term, _ in extra)]
            )
            return run.fail(
                f"entry {idx}: its terms rows do not match the entry ({what or 'duplicated'}): "
                "filters and subject reports would miss or misplace it",
                bad=idx,
            )
    if pending is not None:
        return _stray_term(run, pending[0])
    return None


def _column(value: object) -> object:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _stray_term(run: _Run, idx: int) -> VerifyResult:
    return run.fail(f"a terms row names entry {idx}, which the log does not hold", bad=idx)


def _finish(
    run: _Run, source: LedgerSource, sizes: list[int], hint: int | None, signed: bool
) -> VerifyResult:
    """4. What is missing or unaccounted for once every entry was read."""
    count = run.entries
    if sizes and sizes[-1] > count:
        return run.fail(
            f"the log was truncated: a checkpoint of size {sizes[-1]} is signed "
            f"but only {count} entries remain",
            bad=count,
            checkpoint=sizes[-1],
        )
    if hint is not None and hint > count:
        return run.fail(
            f"the log records {hint} entries but only {count} are present: "
            f"entries from {count} on were removed",
            bad=count,
        )
    if hint is not None and hint < count:
        fresh = source.size_hint()  # a live database may have grown while it was read
        recorded = hint if fresh is None else fresh
        if recorded < count:
            return run.fail(
                f"entries from {recorded} on are not recorded by the log: they were added outside the ledger",
                bad=recorded,
            )
    if signed and run.proven < count:
        return run.fail(
            f"entries from {run.proven} on are not covered by any signed checkpoint", bad=run.proven
        )
    tail = f"; {count - run.proven} newer entries await the next checkpoint" if run.proven < count else ""
    return VerifyResult(
        True,
        count,
        run.checkpoints,
        run.proven,
        f"{count} entries and {run.checkpoints} checkpoints verified{tail}",
        latest=run.latest,
    )
