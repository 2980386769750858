"""The console's page of unacknowledged repair notices, over real HTTP with a real session."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import FixedClock
from tests.support.console import ConsoleSite
from tests.support.gateway_app import deployment_settings, running_gateway
from tests.support.repairs import RECORDS, apply, call, record_key, rows_of


def test_auditors_see_unacknowledged_notices_until_they_are_acknowledged(tmp_path: Path) -> None:
    with running_gateway(deployment_settings(tmp_path), FixedClock()) as gw:
        site = ConsoleSite(gw)
        try:
            page = site.sign_in(site.person())
            assert 'id="repair-notices"' not in page.get("/console/repairs").text
            subject = gw.manifest.legal_person
            item = "market.admin_penalty"
            row = rows_of(gw, "platform", item, subject)[0]
            key = record_key(gw.settings.sources, item, subject, row[RECORDS[item][3]])
            repair = apply(gw, item, key, subject).json()["repair"]
            assert call(gw, "POST", f"/v1/repairs/{repair['id']}/accept", "market-desk").status_code == 200
            shown = page.get("/console/repairs")
            assert shown.status_code == 200
            assert 'id="repair-notices"' in shown.text
            assert "development_reform" in shown.text
            assert subject.value not in shown.text
            (note,) = call(gw, "GET", "/v1/notifications", "platform").json()["notifications"]
            assert (
                call(gw, "POST", f"/v1/notifications/{note['notification_id']}/ack", "platform").status_code
                == 200
            )
            assert 'id="repair-notices"' not in page.get("/console/repairs").text
        finally:
            site.close()
