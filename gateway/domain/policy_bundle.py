"""Policy bundles and what a change to one does: the diff, the decision difference, the replay summary.

A bundle is the policies directory as files (relative path -> bytes): Rego modules, their tests and
the catalog data. Its revision is the digest the engine reports for it (computed by the engine's own
loader, over the modules and data it loads), so the revision a draft is tested under is the revision
every decision made under it records.

Pure: no file, clock or engine here. The decision documents compared are the raw documents of
``data.gateway.query.decision`` (see ``gateway.domain.decision``), or None when evaluation failed.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

MAX_DIFF_LINES = 20000


def unified_diff(before: Mapping[str, bytes], after: Mapping[str, bytes]) -> str:
    """A unified diff of every file added, removed or changed between two bundles (paths sorted)."""
    out: list[str] = []
    for rel in sorted(set(before) | set(after)):
        old = before.get(rel)
        new = after.get(rel)
        if old == new:
            continue
        old_lines = [] if old is None else old.decode("utf-8", "replace").splitlines(keepends=True)
        new_lines = [] if new is None else new.decode("utf-8", "replace").splitlines(keepends=True)
        lines = difflib.unified_diff(
            old_lines,
            new_lines,
            fromfile="/dev/null" if old is None else f"a/{rel}",
            tofile="/dev/null" if new is None else f"b/{rel}",
        )
        for line in lines:
            out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out[:MAX_DIFF_LINES])


def files_digest(files: Mapping[str, bytes]) -> str:
    """``sha256:<hex>`` over every file of a bundle, tests included (names a draft's exact content)."""
    digest = hashlib.sha256()
    for rel in sorted(files):
        name = rel.encode("utf-8")
        digest.update(len(name).to_bytes(8, "big") + name + len(files[rel]).to_bytes(8, "big") + files[rel])
    return "sha256:" + digest.hexdigest()


class ChangeKind(StrEnum):
    """How a decision changed between two bundles; ``DENY_TO_ALLOW`` is the dangerous kind."""

    DENY_TO_ALLOW = "deny_to_allow"
    ALLOW_TO_DENY = "allow_to_deny"
    UNMASKED = "field_unmasked"  # a field masked (or withheld) before is released in clear now
    OBLIGATIONS = "obligations_changed"
    FIELDS = "fields_changed"
    REASONS = "reasons_changed"
    ERROR = "error"


# The order changes are reported in: the dangerous kinds first.
CHANGE_ORDER = (
    ChangeKind.DENY_TO_ALLOW,
    ChangeKind.UNMASKED,
    ChangeKind.ALLOW_TO_DENY,
    ChangeKind.OBLIGATIONS,
    ChangeKind.FIELDS,
    ChangeKind.REASONS,
    ChangeKind.ERROR,
)
DANGEROUS = frozenset({ChangeKind.DENY_TO_ALLOW, ChangeKind.UNMASKED})


def _allow(document: Any) -> bool | None:
    if not isinstance(document, Mapping) or not isinstance(document.get("allow"), bool):
        return None
    return bool(document["allow"])


def _reason_keys(document: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    reasons = document.get("reasons") or []
    return sorted(
        (str(r.get("code")), str(r.get("clause")), str(r.get("item") or ""), str(r.get("field") or ""))
        for r in reasons
        if isinstance(r, Mapping)
    )


def _released(document: Mapping[str, Any]) -> dict[tuple[str, str], str]:
    """(item, field) -> operator for every field the decision releases."""
    out: dict[tuple[str, str], str] = {}
    items = document.get("items") or {}
    if not isinstance(items, Mapping):
        return out
    for item, decision in items.items():
        if not isinstance(decision, Mapping):
            continue
        obligations = decision.get("obligations") or {}
        for name in decision.get("fields") or []:
            ob = obligations.get(name) if isinstance(obligations, Mapping) else None
            operator = str(ob.get("operator")) if isinstance(ob, Mapping) else "?"
            out[(str(item), str(name))] = operator
    return out


CLEAR_OPERATORS = frozenset({"none"})  # released as stored


def classify(before: Any, after: Any) -> tuple[ChangeKind, ...]:
    """Every way ``after`` differs from ``before`` (empty: unchanged), in ``CHANGE_ORDER``.

    A field is *unmasked* when the new decision releases it with the clear operator (``none``) and the
    old one withheld it or released it under any other operator: an allowed query that now sees a
    value in clear is as serious as a refusal turned into an allow.
    """
    old_allow, new_allow = _allow(before), _allow(after)
    if old_allow is None or new_allow is None:
        return () if old_allow is None and new_allow is None else (ChangeKind.ERROR,)
    kinds: set[ChangeKind] = set()
    if not old_allow and new_allow:
        kinds.add(ChangeKind.DENY_TO_ALLOW)
    elif old_allow and not new_allow:
        kinds.add(ChangeKind.ALLOW_TO_DENY)
    if _reason_keys(before) != _reason_keys(after):
        kinds.add(ChangeKind.REASONS)
    if old_allow and new_allow:
        old, new = _released(before), _released(after)
        if set(old) != set(new):
            kinds.add(ChangeKind.FIELDS)
        for key, operator in new.items():
            if operator in CLEAR_OPERATORS and old.get(key) != operator:
                kinds.add(ChangeKind.UNMASKED)
            elif key in old and old[key] != operator:
                kinds.add(ChangeKind.OBLIGATIONS)
        old_items = before.get("items") or {}
        new_items = after.get("items") or {}
        if isinstance(old_items, Mapping) and isinstance(new_items, Mapping):
            for item in set(old_items) & set(new_items):
                a, b = old_items[item], new_items[item]
                both = isinstance(a, Mapping) and isinstance(b, Mapping)
                if both and a.get("row_filters") != b.get("row_filters"):
                    kinds.add(ChangeKind.OBLIGATIONS)
    return tuple(k for k in CHANGE_ORDER if k in kinds)


def _flatten(value: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping) and value:
        for key in sorted(value):
            _flatten(value[key], f"{path}.{key}" if path else str(key), out)
    elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
        for i, v in enumerate(value):
            _flatten(v, f"{path}[{i}]", out)
    else:
        out[path] = value


def document_difference(before: Any, after: Any) -> list[dict[str, Any]]:
    """The leaves that differ between two decision documents: ``{"path", "before", "after"}``."""
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    _flatten(before, "", old)
    _flatten(after, "", new)
    missing = object()
    out = []
    for path in sorted(set(old) | set(new)):
        a, b = old.get(path, missing), new.get(path, missing)
        if a != b:
            out.append(
                {
                    "path": path or "$",
                    "before": None if a is missing else a,
                    "after": None if b is missing else b,
                }
            )
    return out


@dataclass(frozen=True, slots=True)
class ReplayedDecision:
    """One kept input evaluated on both bundles (documents None where evaluation failed)."""

    ledger_index: int
    before: Any
    after: Any
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ReplayChange:
    """One decision that changed, with its kinds."""

    ledger_index: int
    kinds: tuple[ChangeKind, ...]
    before_allow: bool | None
    after_allow: bool | None
    difference: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        """Report form."""
        return {
            "ledger_index": self.ledger_index,
            "kinds": [str(k) for k in self.kinds],
            "dangerous": any(k in DANGEROUS for k in self.kinds),
            "before_allow": self.before_allow,
            "after_allow": self.after_allow,
            "difference": self.difference,
        }


@dataclass(frozen=True, slots=True)
class ReplaySummary:
    """Counts and changes of one replay; ``by_kind`` lists indexes per kind, dangerous kinds first."""

    base_revision: str
    draft_revision: str
    total: int
    unchanged: int
    changed: int
    errors: int
    by_kind: dict[str, list[int]]
    changes: list[ReplayChange] = field(default_factory=list)
    first_index: int | None = None
    last_index: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """Report form (what is stored, shown and digested)."""
        return {
            "base_revision": self.base_revision,
            "draft_revision": self.draft_revision,
            "total": self.total,
            "unchanged": self.unchanged,
            "changed": self.changed,
            "errors": self.errors,
            "first_index": self.first_index,
            "last_index": self.last_index,
            "by_kind": {k: list(v) for k, v in self.by_kind.items()},
            "dangerous": sum(len(self.by_kind.get(str(k), [])) for k in DANGEROUS),
            "changes": [c.as_dict() for c in self.changes],
        }

    @property
    def digest(self) -> str:
        """``sha256:<hex>`` of the canonical report (what an activation entry cites)."""
        text = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def summarize(
    replayed: Iterable[ReplayedDecision], *, base_revision: str, draft_revision: str, max_changes: int = 1000
) -> ReplaySummary:
    """Count and group the replayed decisions; an evaluation error on either side counts as an error."""
    total = unchanged = changed = errors = 0
    by_kind: dict[str, list[int]] = {str(k): [] for k in CHANGE_ORDER}
    changes: list[ReplayChange] = []
    first: int | None = None
    last: int | None = None
    for r in replayed:
        total += 1
        first = r.ledger_index if first is None else min(first, r.ledger_index)
        last = r.ledger_index if last is None else max(last, r.ledger_index)
        if r.error is not None:
            errors += 1
            by_kind[str(ChangeKind.ERROR)].append(r.ledger_index)
            continue
        kinds = classify(r.before, r.after)
        if not kinds:
            unchanged += 1
            continue
        if ChangeKind.ERROR in kinds:
            errors += 1
        else:
            changed += 1
        for kind in kinds:
            by_kind[str(kind)].append(r.ledger_index)
        if len(changes) < max_changes:
            changes.append(
                ReplayChange(
                    r.ledger_index,
                    kinds,
                    _allow(r.before),
                    _allow(r.after),
                    document_difference(r.before, r.after),
                )
            )
    for indexes in by_kind.values():
        indexes.sort()
    changes.sort(key=lambda c: (CHANGE_ORDER.index(c.kinds[0]), c.ledger_index))
    return ReplaySummary(
        base_revision, draft_revision, total, unchanged, changed, errors, by_kind, changes, first, last
    )


def kept_input(policy_input: Mapping[str, Any]) -> tuple[str, str]:
    """The policy input as it is kept for replay (canonical JSON text) and its ``sha256:`` digest.

    Canonical (sorted keys, no spaces) so the digest in the ledger entry can be recomputed from the
    kept text alone.
    """
    text = json.dumps(
        policy_input, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text, "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
