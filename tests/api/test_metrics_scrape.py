"""/metrics scraped from a real ``gateway serve`` with 2 workers after real queries: the counts add up
over both workers whichever one answers the scrape, and survive a worker being killed."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.adapters.policy.regorus import load_policy_sources
from tests.support.gateway_app import ROOT, deployment_settings
from tests.support.metrics import samples
from tests.support.served import ServedGateway, bearer, served_gateway, write_config

LICENSING = "admin_licensing_law_34"
ALLOWED = 5
DENIED_ITEM = 3  # an item no catalog lists
DENIED_PURPOSE = 2  # a purpose no catalog lists: counted as purpose "other"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServedGateway, dict[str, object]]]:
    tmp = tmp_path_factory.mktemp("metrics")
    settings = deployment_settings(tmp)
    config = write_config(settings, tmp / "gateway.yaml")
    from gateway.demo.data import demo_manifest

    subject = {"id_type": "uscc", "value": demo_manifest().legal_person.value}
    allowed = {
        "purpose": "admin_licensing_review",
        "legal_basis": LICENSING,
        "items": ["market.enterprise_registration", "market.admin_penalty"],
        "subjects": [subject],
    }
    bad_item = dict(allowed, items=["tax.tax_violation"])
    bad_purpose = dict(allowed, purpose="public_procurement", items=["market.admin_penalty"])
    with served_gateway(config, workers=2, log_dir=tmp / "logs") as gw:
        wait_for_workers(gw, 2)
        headers = bearer(settings, "platform")
        url = f"{gw.base_url}/v1/queries"
        statuses = []
        # A new connection per request, so the kernel spreads them over both workers' sockets.
        for body, times in ((allowed, ALLOWED), (bad_item, DENIED_ITEM), (bad_purpose, DENIED_PURPOSE)):
            for _ in range(times):
                statuses.append(httpx.post(url, json=body, headers=headers).status_code)
        statuses.append(httpx.get(f"{gw.base_url}/v1/ledger/entries/7").status_code)
        statuses.append(
            httpx.get(f"{gw.base_url}/no/such/{subject['value']}?id={subject['value']}").status_code
        )
        yield gw, {"statuses": statuses, "subject": subject["value"], "settings": settings}


def _value(scraped: str, name: str, **labels: str) -> float:
    return samples(scraped).get((name, tuple(sorted(labels.items()))), 0.0)


def wait_for_workers(gw: ServedGateway, count: int) -> None:
    """Until ``count`` workers have built their components (the second starts after the first)."""
    deadline = time.monotonic() + 240
    while _value(gw.scrape(), "gateway_workers") != count:
        if time.monotonic() > deadline:
            pytest.fail(f"{count} workers did not start")
        time.sleep(0.5)


Served = tuple[ServedGateway, dict[str, object]]


def test_counts_add_up_over_both_workers_whoever_answers(served: Served) -> None:
    gw, seen = served
    assert seen["statuses"] == [200] * ALLOWED + [403] * (DENIED_ITEM + DENIED_PURPOSE) + [401, 404]
    # Each scrape is a new connection, answered by either worker: every one must give the same totals.
    scrapes = [gw.scrape() for _ in range(6)]
    for scraped in scrapes:
        assert _value(scraped, "gateway_workers") == 2
        q = "gateway_queries_total"
        common = {"department": "development_reform"}
        allow = {"purpose": "admin_licensing_review", "decision": "allow", "reason": "none"}
        assert _value(scraped, q, **common, **allow) == ALLOWED
        deny_item = {"purpose": "admin_licensing_review", "decision": "deny", "reason": "item_not_in_catalog"}
        assert _value(scraped, q, **common, **deny_item) == DENIED_ITEM
        deny_purpose = {"purpose": "other", "decision": "deny", "reason": "purpose_unknown"}
        assert _value(scraped, q, **common, **deny_purpose) == DENIED_PURPOSE

        r = "gateway_requests_total"
        assert _value(scraped, r, route="/v1/queries", status="200") == ALLOWED
        assert _value(scraped, r, route="/v1/queries", status="403") == DENIED_ITEM + DENIED_PURPOSE
        assert _value(scraped, r, route="/v1/ledger/entries/{index}", status="401") == 1
        assert _value(scraped, r, route="unmatched", status="404") == 1

        queries = ALLOWED + DENIED_ITEM + DENIED_PURPOSE
        s = "gateway_stage_seconds_count"
        assert _value(scraped, s, stage="decide") == queries
        assert _value(scraped, s, stage="register") == queries  # refusals are registered too
        assert _value(scraped, s, stage="read") == ALLOWED * 2  # one statement per item
        assert _value(scraped, s, stage="desensitize") == ALLOWED * 2  # per item and subject
        assert _value(scraped, "gateway_token_throttled_total", reason="client") == 0
        assert _value(scraped, "gateway_ledger_size") >= queries
        assert _value(scraped, "gateway_checkpoint_age_seconds") >= 0
        revision = load_policy_sources(ROOT / "policies").revision
        assert _value(scraped, "gateway_policy_revision_info", revision=revision) == 1
        # No witness cosigns yet: the series is absent rather than made up.
        assert "gateway_witness_cosignature_age_seconds " not in scraped
        # The raw paths, their query strings and the subject's identifier appear nowhere.
        assert str(seen["subject"]) not in scraped
        assert "/no/such" not in scraped


def test_metrics_only_on_the_metrics_port(served: Served) -> None:
    gw, _ = served
    assert httpx.get(f"{gw.base_url}/metrics").status_code == 404
    assert httpx.get(f"http://127.0.0.1:{gw.metrics_port}/healthz").status_code == 404
    assert httpx.get(f"http://127.0.0.1:{gw.metrics_port}/v1/catalog").status_code == 404
    assert httpx.post(f"http://127.0.0.1:{gw.metrics_port}/metrics").status_code == 404


def _workers(supervisor: int) -> list[int]:
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    out = []
    for child in children:
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in command and b"resource_tracker" not in command:
            out.append(int(child))
    return out


def test_a_killed_worker_keeps_its_counts_and_leaves_the_live_gauges(served: Served) -> None:
    gw, _ = served
    before = gw.scrape()
    workers = _workers(gw.process.pid)
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        now = _workers(gw.process.pid)
        if len(now) == 2 and workers[0] not in now and _value(gw.scrape(), "gateway_workers") == 2:
            break
        time.sleep(0.5)
    else:
        pytest.fail("the killed worker was not replaced")
    # The new worker counts itself once it has built its components, which takes a while under load;
    # a dead worker still counted would keep the gauge at 3 and time this out.
    wait_for_workers(gw, 2)
    for _ in range(4):
        after = gw.scrape()
        # Without mark_process_dead the killed worker would still count as serving: 3.
        assert _value(after, "gateway_workers") == 2
        q = ("gateway_queries_total", "development_reform", "admin_licensing_review")
        labels = {"department": q[1], "purpose": q[2], "decision": "allow", "reason": "none"}
        assert _value(after, q[0], **labels) == _value(before, q[0], **labels) == ALLOWED
