"""What the console's pages compute, over a real SQLite ledger: grant states, spikes, exports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

from gateway.adapters.key_files import FileKeyStore
from gateway.console.views import SPIKE_MINIMUM, ConsoleViews
from gateway.domain.ledger.records import LedgerRecord
from gateway.domain.ledger.terms import EntryFilter
from gateway.services.audit import build_audit_service
from tests.conftest import FixedClock
from tests.support.ledger import open_ledger, sample_record


@dataclass(frozen=True)
class GrantShaped(LedgerRecord):
    """A grant entry with the fields the grants page reads, written as GrantRecord writes them."""

    kind: ClassVar[str] = "grant"
    fields: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.fields}


def _grant(grant_id: str, *, until: str, accepted: bool = True, action: str = "register") -> GrantShaped:
    return GrantShaped(
        {
            "grant_id": grant_id,
            "action": action,
            "client_id": "consent-desk",
            "department": "finance",
            "subjects": [],
            "recipient": "housing",
            "purpose": "admin_licensing_review",
            "items": [{"item": "market.admin_penalty", "fields": [], "rows": 0}],
            "valid_from": "2026-11-01T00:00:00Z",
            "valid_until": until,
            "decision": "allow" if accepted else "deny",
            "reason_codes": [] if accepted else ["grant_lifetime"],
        }
    )


def test_grants_are_shown_by_their_state_today(
    tmp_path: Path, keystore: FileKeyStore, clock: FixedClock
) -> None:
    with open_ledger(f"sqlite:///{tmp_path / 'l.db'}", keystore, clock) as ledger:
        ledger.append(_grant("g-active", until="2027-05-01T00:00:00Z"))
        ledger.append(_grant("g-expiring", until="2026-11-25T00:00:00Z"))
        ledger.append(_grant("g-expired", until="2026-11-21T00:00:00Z"))
        ledger.append(_grant("g-revoked", until="2027-05-01T00:00:00Z"))
        ledger.append(_grant("g-revoked", until="2027-05-01T00:00:00Z", action="revoke"))
        ledger.append(_grant("g-refused", until="2099-01-01T00:00:00Z", accepted=False))
        views = ConsoleViews(build_audit_service(ledger, keystore))
        states = {row.grant_id: row.state for row in views.grants(clock.now())}
    assert states == {
        "g-active": "active",
        "g-expiring": "expiring",
        "g-expired": "expired",
        "g-revoked": "revoked",
        "g-refused": "refused",
    }


def test_a_department_far_above_its_usual_volume_is_named(
    tmp_path: Path, keystore: FileKeyStore, clock: FixedClock
) -> None:
    secret = keystore.secret("commitment")
    today = clock.current
    with open_ledger(f"sqlite:///{tmp_path / 'l.db'}", keystore, clock) as ledger:
        # A week of one query a day from every department (sample_record cycles through three).
        for day in range(7, 0, -1):
            clock.current = today - timedelta(days=day)
            for i in range(3):
                ledger.append(sample_record(i, secret))
        clock.current = today
        # Today: department 0 asks SPIKE_MINIMUM times, the others once.
        for i in range(SPIKE_MINIMUM):
            ledger.append(sample_record(3 * i, secret))
        ledger.append(sample_record(1, secret))
        views = ConsoleViews(build_audit_service(ledger, keystore))
        overview = views.overview(clock.now())
    assert [s["department"] for s in overview.spikes] == [sample_record(0, secret).as_dict()["department"]]
    assert overview.spikes[0]["today"] == SPIKE_MINIMUM
    assert overview.total == 21 + SPIKE_MINIMUM + 1
    assert sum(sum(d.values()) for d in overview.by_day_decision.values()) == overview.total


def test_an_export_stops_at_the_checkpoint_it_is_stamped_with(
    tmp_path: Path, keystore: FileKeyStore, clock: FixedClock
) -> None:
    secret = keystore.secret("commitment")
    with open_ledger(f"sqlite:///{tmp_path / 'l.db'}", keystore, clock) as ledger:
        for i in range(5):
            ledger.append(sample_record(i, secret))
        views = ConsoleViews(build_audit_service(ledger, keystore))
        signed, body = views.export(EntryFilter(), "jsonl")
        ledger.append(sample_record(9, secret))  # after the cut: not in this export
        lines = b"".join(body).splitlines()
    assert signed.size == 5
    assert len(lines) == 1 + 5
