"""After ``gateway keys rotate ledger`` the browser still verifies checkpoints signed before it.

The console publishes the log's rotated keys (``ed25519_previous_<n>``) beside the current one; the
in-browser verifier accepts a checkpoint signed by any of them, so a consistency check from a
checkpoint of the old key to one of the new key succeeds. Its own deployment: the rotation must not
change the key the other console tests see.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.adapters.key_files import FileKeyStore
from tests.conftest import FixedClock
from tests.console.test_console_browser import CHROMIUM, Browser, _seed_queries, sync_api
from tests.support.console import ConsoleSite
from tests.support.gateway_app import deployment_settings, running_gateway


@pytest.fixture
def rotated_site(tmp_path: Path) -> Iterator[Browser]:
    settings = deployment_settings(tmp_path)
    with running_gateway(settings, FixedClock()) as deployment, sync_api.sync_playwright() as playwright:
        site = ConsoleSite(deployment)
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield Browser(site, browser, tmp_path)
        finally:
            browser.close()
            site.close()


def _current_vkey(site: ConsoleSite) -> str:
    deployment = site.deployment
    response = httpx.get(
        deployment.base_url + "/v1/ledger/checkpoint",
        params={"format": "json"},
        headers={"Authorization": f"Bearer {deployment.token('auditor')}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["verifier_keys"]["ed25519"])


def test_consistency_across_a_ledger_key_rotation_verifies_in_the_browser(rotated_site: Browser) -> None:
    site = rotated_site.site
    _seed_queries(site)
    page = rotated_site.page()
    rotated_site.sign_in(page, site.person())
    rotated_site.goto(page, "/console/consistency")  # lists (and signs) the checkpoint of the old key
    old_sizes = page.eval_on_selector_all("#first option", "els => els.map(e => Number(e.value))")
    signed_with_old_key = str(max(old_sizes))
    assert signed_with_old_key != "0"
    before = _current_vkey(site)
    FileKeyStore(site.deployment.settings.keys_dir).rotate("ledger")
    deadline = time.monotonic() + 30
    while _current_vkey(site) == before:  # the running gateway re-checks its key file within a second
        assert time.monotonic() < deadline, "the rotated ledger key was not picked up"
        time.sleep(0.2)
    _seed_queries(site)  # the log grows: the next checkpoint is signed with the new key
    page.reload()
    sizes = page.eval_on_selector_all("#second option", "els => els.map(e => Number(e.value))")
    newest = str(max(sizes))
    assert int(newest) > int(signed_with_old_key)
    page.select_option("#first", value=signed_with_old_key)
    page.select_option("#second", value=newest)  # signed with the new key
    page.click("#check")
    page.wait_for_selector("#verdict:not([data-verdict=pending]):not([data-verdict=idle])")
    assert page.get_attribute("#verdict", "data-verdict") == "ok", page.inner_text("#checks")
