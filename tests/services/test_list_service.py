"""The listing use case on the real components (bootstrap): removal when a repair takes effect."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from gateway.bootstrap import build_components
from gateway.demo.data import demo_manifest
from gateway.domain.identifiers import IdType, parse_subject
from gateway.domain.lists import BasisDocument, ListingDecision, ListingStatus
from gateway.ports import Actor
from tests.conftest import FixedClock
from tests.support.gateway_app import deployment_settings

MARKET = Actor("market", "market_regulation")


def test_a_repair_takes_the_subject_off_every_list_it_is_on(tmp_path: Path) -> None:
    clock = FixedClock()
    components = build_components(deployment_settings(tmp_path), clock)
    try:
        service = components.lists
        assert service is not None
        firm = demo_manifest().legal_person
        subject = parse_subject(str(IdType.USCC), firm.value, today=clock.now().date())
        basis = BasisDocument(
            "penalty_decision", "杭西市监处罚〔2026〕9号", "西湖区市场监督管理局", date(2026, 7, 2)
        )
        entry = service.propose(MARKET, "market_serious_illegal", subject, basis).entry
        service.notify(MARKET, entry.id, "mail")
        clock.current += timedelta(days=6)
        decision = ListingDecision("拒不履行", "第九条", ("restrict_market_access",), "满三年", "行政复议")
        service.decide(MARKET, entry.id, decision)
        commitment = entry.subject_commitment
        assert service.store.current_lists([commitment]) == [frozenset({"market_serious_illegal"})]

        removed = service.remove_on_repair(MARKET, commitment)

        assert [r.entry.status for r in removed] == [ListingStatus.REMOVED]
        assert service.store.current_lists([commitment]) == [frozenset()]
        assert service.remove_on_repair(MARKET, commitment) == []
    finally:
        components.close()
