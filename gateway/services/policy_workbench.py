"""The policy workbench: push a draft, check it, try it, replay the past under it, activate, roll back.

The rules a change goes through, in order:

* a draft is a full bundle (every Rego module, its tests, the catalog data) with its author, the
  revision it was written against (the active one) and a unified diff against it;
* its checks compile it on the embedded engine (and OPA's Go library where installed), run every
  Rego test with coverage, and check the catalog;
* a replay evaluates kept policy inputs under the active bundle and the draft and reports every
  changed decision, the dangerous kinds (deny to allow, a field now released in clear) first;
* it can be approved, and then activated, only when the checks passed, a replay was made against the
  bundle active now, and the person approving is not its author (the two-person rule);
* an activation and a rollback are ledger entries first: when the ledger cannot register one,
  nothing switches. Workers and replicas then switch on their own (``adapters/policy/hot.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.domain.ledger.records import PolicyChangeRecord
from gateway.domain.policy_bundle import (
    ChangeKind,
    classify,
    document_difference,
    files_digest,
    summarize,
    unified_diff,
)
from gateway.errors import (
    ConfigurationError,
    InvalidRequest,
    PolicyDraftNotFound,
    PolicyDraftNotReady,
    PolicyEngineError,
    SameApprover,
)
from gateway.ports import (
    Actor,
    Clock,
    Ledger,
    PolicyBundle,
    PolicyBundleStore,
    PolicyHistoryEntry,
    PolicyInputStore,
    PolicyLab,
    Receipt,
)

BASE_AUTHOR = "gateway"
MAX_REPLAY = 200_000


@dataclass(frozen=True, slots=True)
class WhatIf:
    """One input on the active bundle and on a draft: both documents and how they differ."""

    active_revision: str
    draft_revision: str
    active: Any
    draft: Any
    kinds: tuple[ChangeKind, ...]
    difference: list[dict[str, Any]]
    ledger_index: int | None


def _person(actor: Actor) -> str:
    return actor.client_id


class PolicyWorkbench:
    """The workbench use cases over the bundle store, the kept inputs, the lab and the ledger."""

    def __init__(
        self,
        *,
        store: PolicyBundleStore,
        inputs: PolicyInputStore,
        lab: PolicyLab,
        ledger: Ledger,
        clock: Clock,
        bundler: Callable[[Mapping[str, bytes], str], bytes] | None = None,
    ) -> None:
        self.bundler = bundler
        self.store = store
        self.inputs = inputs
        self.lab = lab
        self.ledger = ledger
        self.clock = clock

    # --- bundles ---

    def ensure_base(self, files: Mapping[str, bytes]) -> tuple[int, str]:
        """The active bundle; on the very first start, the files the gateway was deployed with."""
        active = self.store.active()
        if active is not None:
            return active
        revision = self.lab.revision_of(files)
        bundle_id = self.store.add(
            PolicyBundle(
                id=0,
                revision=revision,
                content_digest=files_digest(files),
                parent_revision=None,
                author=BASE_AUTHOR,
                department="",
                created_at=self.clock.now(),
                files=dict(files),
                diff="",
                status="base",
            )
        )
        self.store.set_active(bundle_id, revision, self.clock.now())
        active = self.store.active()
        if active is None:  # pragma: no cover - set_active just wrote it or another worker did
            raise ConfigurationError("no active policy bundle could be set")
        return active

    def active_bundle(self) -> PolicyBundle:
        """The bundle serving now."""
        active = self.store.active()
        if active is None:
            raise PolicyDraftNotFound("no policy bundle is active yet")
        return self.bundle(active[0])

    def bundle(self, bundle_id: int) -> PolicyBundle:
        """One bundle, or PolicyDraftNotFound."""
        bundle = self.store.get(bundle_id)
        if bundle is None:
            raise PolicyDraftNotFound("no policy draft with this id", field="draft_id")
        return bundle

    def drafts(self, limit: int = 100) -> list[PolicyBundle]:
        """The latest bundles, newest first."""
        return self.store.recent(limit)

    def history(self, limit: int = 100) -> list[PolicyHistoryEntry]:
        """Activations and rollbacks, newest first."""
        return self.store.history(limit)

    def push(self, author: Actor, files: Mapping[str, bytes]) -> PolicyBundle:
        """Store a draft written against the active bundle, with its diff; not checked yet."""
        parent = self.active_bundle()
        try:
            revision = self.lab.revision_of(files)
        except ConfigurationError as exc:
            raise InvalidRequest(
                "the draft cannot be loaded", field="files", accepted=exc.detail[:300]
            ) from exc
        bundle_id = self.store.add(
            PolicyBundle(
                id=0,
                revision=revision,
                content_digest=files_digest(files),
                parent_revision=parent.revision,
                author=_person(author),
                department=author.department,
                created_at=self.clock.now(),
                files=dict(files),
                diff=unified_diff(parent.files, files),
                status="draft",
            )
        )
        return self.bundle(bundle_id)

    def opa_bundle(self) -> tuple[str, bytes]:
        """The active bundle in OPA's signed bundle format, and its revision (for the OPA sidecar)."""
        if self.bundler is None:
            raise ConfigurationError("no OPA bundle signing key is configured")
        bundle = self.active_bundle()
        return bundle.revision, self.bundler(bundle.files, bundle.revision)

    # --- checks, what-if, replay ---

    def check(self, bundle_id: int) -> dict[str, Any]:
        """Run every check of the draft and keep the report."""
        bundle = self.bundle(bundle_id)
        report = self.lab.check(bundle.files)
        self.store.save_check(bundle_id, bool(report["ok"]), report)
        return report

    def kept_input(self, ledger_index: int) -> dict[str, Any]:
        """The policy input kept with a ledger entry."""
        text = self.inputs.get_input(ledger_index)
        if text is None:
            raise PolicyDraftNotFound("no policy input is kept for this entry", field="ledger_index")
        value = json.loads(text)
        if not isinstance(value, dict):
            raise InvalidRequest("the kept input is not an object", field="ledger_index")
        return value

    def what_if(
        self, bundle_id: int, input_document: Mapping[str, Any] | None = None, ledger_index: int | None = None
    ) -> WhatIf:
        """Evaluate an input (given, or kept with ``ledger_index``) on the active bundle and the draft."""
        if (input_document is None) == (ledger_index is None):
            raise InvalidRequest("give an input or a ledger index, not both", field="input")
        document = dict(input_document) if input_document is not None else self.kept_input(ledger_index or 0)
        draft = self.bundle(bundle_id)
        active = self.active_bundle()
        before = self._decide(active.files, document)
        after = self._decide(draft.files, document)
        return WhatIf(
            active.revision,
            draft.revision,
            before,
            after,
            classify(before, after),
            document_difference(before, after),
            ledger_index,
        )

    def _decide(self, files: Mapping[str, bytes], document: Mapping[str, Any]) -> Any:
        try:
            return self.lab.evaluate(files, document)
        except PolicyEngineError as exc:
            return {"error": exc.problem_code}

    def replay(
        self,
        bundle_id: int,
        *,
        last: int | None = None,
        first_index: int | None = None,
        last_index: int | None = None,
        progress: Callable[[int], None] | None = None,
        on_total: Callable[[int], None] | None = None,
    ) -> dict[str, Any]:
        """Replay kept inputs (the last N, or a window of ledger indexes) under the draft; keep the report."""
        if last is None and first_index is None and last_index is None:
            raise InvalidRequest("say which decisions to replay", field="last", accepted="last or a window")
        if last is not None and not 1 <= last <= MAX_REPLAY:
            raise InvalidRequest("too many decisions to replay", field="last", accepted=f"1..{MAX_REPLAY}")
        draft = self.bundle(bundle_id)
        active = self.active_bundle()
        inputs = self.inputs.select(last=last, first_index=first_index, last_index=last_index)
        if on_total is not None:
            on_total(len(inputs))
        replayed = self.lab.replay(active.files, draft.files, inputs, progress)
        summary = summarize(replayed, base_revision=active.revision, draft_revision=draft.revision)
        report = summary.as_dict() | {"digest": summary.digest, "replayed_at": self.clock.now().isoformat()}
        self.store.save_replay(bundle_id, report, summary.digest)
        return report

    # --- approval, activation, rollback ---

    def readiness(self, bundle: PolicyBundle) -> list[str]:
        """What still stops the bundle from being activated (empty: ready)."""
        missing: list[str] = []
        if bundle.status not in ("draft", "approved"):
            missing.append(f"status is {bundle.status}")
        if bundle.check_ok is not True:
            missing.append("checks not run" if bundle.check_ok is None else "checks failed")
        report = bundle.replay_report
        if report is None:
            missing.append("no replay report")
        else:
            active = self.store.active()
            if active is None or report.get("base_revision") != active[1]:
                missing.append("the replay was made against another active bundle")
        return missing

    def approve(self, bundle_id: int, approver: Actor) -> PolicyBundle:
        """Approve a ready draft; the approver must not be its author."""
        bundle = self.bundle(bundle_id)
        if _person(approver) == bundle.author:
            raise SameApprover("the author of a draft cannot approve it (two-person rule)")
        missing = self.readiness(bundle)
        if missing:
            raise PolicyDraftNotReady("the draft cannot be approved: " + "; ".join(missing))
        self.store.set_status(bundle_id, "approved", approver=_person(approver))
        return self.bundle(bundle_id)

    def activate(self, bundle_id: int, actor: Actor) -> Receipt:
        """Activate an approved draft: registered in the ledger first, then switched for every worker."""
        bundle = self.bundle(bundle_id)
        if _person(actor) == bundle.author:
            raise SameApprover("the author of a draft cannot activate it (two-person rule)")
        if bundle.status != "approved" or bundle.approver is None:
            raise PolicyDraftNotReady("the draft must be approved first", accepted="approved")
        missing = self.readiness(bundle)
        if missing:
            raise PolicyDraftNotReady("the draft cannot be activated: " + "; ".join(missing))
        report = bundle.replay_report or {}
        return self._switch(
            "activate",
            bundle,
            actor=_person(actor),
            approver=bundle.approver,
            department=actor.department,
            replay_digest=bundle.replay_digest,
            replay_summary={k: int(report.get(k, 0)) for k in ("total", "unchanged", "changed", "errors")}
            | {"dangerous": int(report.get("dangerous", 0))},
        )

    def rollback(self, actor: Actor, to_bundle_id: int | None = None) -> Receipt:
        """Serve again the bundle active before the current one (or ``to_bundle_id``, one that served)."""
        current = self.active_bundle()
        if to_bundle_id is None:
            history = self.store.history(2)
            if not history or history[0].bundle_id != current.id:
                raise PolicyDraftNotReady("nothing to roll back to: the active bundle is the first")
            target = self.bundle(history[1].bundle_id) if len(history) > 1 else self._base()
        else:
            target = self.bundle(to_bundle_id)
            if target.status not in ("retired", "base"):
                raise PolicyDraftNotReady("only a bundle that served before can be rolled back to")
        if target.id == current.id:
            raise PolicyDraftNotReady("that bundle is already active")
        return self._switch(
            "rollback",
            target,
            actor=_person(actor),
            approver=_person(actor),
            department=actor.department,
            replay_digest=None,
            replay_summary={},
        )

    def _base(self) -> PolicyBundle:
        """The bundle the gateway was first deployed with (the first one stored without a parent)."""
        bases = [b for b in self.store.recent(1000) if b.parent_revision is None]
        if not bases:
            raise PolicyDraftNotReady("the previous bundle is no longer stored")
        return self.bundle(bases[-1].id)

    def _switch(
        self,
        action: str,
        bundle: PolicyBundle,
        *,
        actor: str,
        approver: str,
        department: str,
        replay_digest: str | None,
        replay_summary: Mapping[str, int],
    ) -> Receipt:
        current = self.active_bundle()
        record = PolicyChangeRecord(
            action="activate" if action == "activate" else "rollback",
            revision=bundle.revision,
            parent_revision=current.revision,
            draft_id=str(bundle.id),
            author=bundle.author,
            approver=approver,
            department=department,
            replay_digest=replay_digest,
            replay_summary=dict(replay_summary),
            actor=actor,
        )
        receipt = self.ledger.append(record)  # nothing switches unless this is registered
        self.store.switch(
            PolicyHistoryEntry(
                seq=0,
                action=record.action,
                bundle_id=bundle.id,
                revision=bundle.revision,
                parent_revision=current.revision,
                author=bundle.author,
                approver=approver,
                at=self.clock.now(),
                ledger_index=receipt.index,
            ),
            current.id,
        )
        return receipt
