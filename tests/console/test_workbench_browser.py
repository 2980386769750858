"""The policy workbench in the console, as the security team uses it, in real Chromium over real HTTP.

Alice edits the national catalog in the console so that it shares an item with one more department.
Bob runs the draft's checks and sees every test and the coverage of each file, tries a refused
query's kept input on it side by side, replays the past decisions and sees exactly the refused ones
turn into allows, marked dangerous; Alice may not approve her own draft, Bob may; Carol activates
it and the running gateway decides under it without a restart; she then rolls it back. Every page
is checked with axe-core and screenshotted; no request leaves for another host.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.api.test_policy_workbench import CATALOG, HOUSING_ADDED, HOUSING_LINE, rating_query
from tests.conftest import REQUIRE_SERVERS, FixedClock
from tests.support.console import ConsoleSite, Person, next_step
from tests.support.gateway_app import Deployment, deployment_settings, running_gateway

CHROMIUM = Path("/usr/bin/chromium")

if not CHROMIUM.exists():
    if REQUIRE_SERVERS:
        pytest.fail(f"{CHROMIUM} is required on CI (apt-get install chromium)", pytrace=False)
    pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")


class Site:
    """A deployment with a browser whose every request is checked."""

    def __init__(self, site: ConsoleSite, browser: Any, screens: Path) -> None:
        self.site = site
        self.browser = browser
        self.screens = screens
        self.foreign: list[str] = []
        self.csp: list[str] = []

    @property
    def deployment(self) -> Deployment:
        return self.site.deployment

    def page(self) -> Any:
        context = self.browser.new_context(locale="zh-CN")
        gateway = urlsplit(self.deployment.base_url).netloc

        def route(r: Any) -> None:
            parts = urlsplit(r.request.url)
            if parts.scheme in ("data", "blob") or parts.netloc == gateway:
                r.continue_()
            else:
                self.foreign.append(r.request.url)
                r.abort()

        context.route("**/*", route)
        page = context.new_page()
        page.on("console", lambda m: self.csp.append(m.text) if "Content Security Policy" in m.text else None)
        return page

    def sign_in(self, page: Any, person: Person) -> None:
        page.goto(self.deployment.base_url + "/console/login")
        page.fill("#username", person.username)
        page.fill("#password", person.password)
        page.fill("#code", person.code(self.site.clock))
        page.click("#login")
        page.wait_for_load_state()
        if page.url.endswith("/console/enrol"):
            page.fill("#code", person.code(self.site.clock))
            page.click("#confirm")
            page.wait_for_load_state()
        assert page.url.endswith("/console/overview"), page.url
        next_step(self.site.clock)

    def check(self, page: Any, name: str) -> None:
        """No serious accessibility violation; a screenshot."""
        page.add_script_tag(url="/console/static/vendor/axe-core/axe.min.js")
        violations = page.evaluate("async () => (await axe.run(document)).violations")
        serious = [
            f"{v['id']}: {v['help']}" for v in violations if v.get("impact") in ("serious", "critical")
        ]
        assert not serious, f"{name}: {serious}"
        page.screenshot(path=str(self.screens / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = Path(tmp_path_factory.mktemp("workbench-browser"))
    screens = root / "screenshots"
    screens.mkdir()
    with (
        running_gateway(deployment_settings(root), FixedClock()) as deployment,
        sync_api.sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        checked = Site(ConsoleSite(deployment), browser, screens)
        try:
            yield checked
        finally:
            browser.close()
            checked.site.close()
            print(f"\nworkbench screenshots: {screens}")
        assert not checked.foreign, checked.foreign
        assert not checked.csp, checked.csp


def _policy_revision(deployment: Deployment, client: str) -> tuple[int, str]:
    response = deployment.query(client, rating_query(deployment))
    body = response.json()
    if response.status_code == 200:
        return 200, body["decision"]["policy_revision"]
    return response.status_code, deployment.ledger_records()[body["receipt"]["index"]]["policy_revision"]


def test_check_try_replay_approve_activate_and_roll_back_in_the_console(site: Site) -> None:
    deployment = site.deployment
    for _ in range(4):
        assert deployment.query("housing", rating_query(deployment)).status_code == 403
        assert deployment.query("platform", rating_query(deployment)).status_code == 200
    housing = [
        i
        for i, r in enumerate(deployment.ledger_records())
        if r["kind"] == "query" and r["department"] == "housing"
    ]

    # Alice changes the rule in the console: the national catalog shares tax.credit_rating with housing.
    alice = site.site.person("security")
    author = site.page()
    site.sign_in(author, alice)
    author.goto(f"{deployment.base_url}/console/policy")
    author.click("#new-draft")
    author.wait_for_load_state()
    author.select_option("#file-choice", CATALOG)
    author.click("#open-file")
    author.wait_for_load_state()
    site.check(author, "w00-new-draft")
    text = author.input_value("#content")
    assert HOUSING_LINE in text
    author.fill("#content", text.replace(HOUSING_LINE, HOUSING_ADDED))
    author.click("#save-draft")
    author.wait_for_load_state()
    draft_id = int(author.url.rsplit("/", 1)[1])
    draft_revision = author.locator("table.kv code").first.inner_text()

    bob = site.site.person("security")
    page = site.page()
    site.sign_in(page, bob)
    page.click("a[href='/console/policy']")
    page.wait_for_load_state()
    assert "策略工作台" in page.inner_text("h1")
    assert page.locator("a.draft-link").count() == 2  # the deployed base bundle and the draft
    site.check(page, "w01-policy-home")

    page.click(f"a[href='/console/policy/drafts/{draft_id}']")
    page.wait_for_load_state()
    assert "+      departments: [development_reform, housing," in page.inner_text("#diff")
    assert "尚不能启用" in page.inner_text("#blocking")

    # The checks compile on both engines and run every Rego test with coverage: slow on a busy machine.
    page.click("#run-checks", timeout=180_000)
    page.wait_for_load_state()
    assert "0 项失败" in page.inner_text("#tests-summary")
    assert "regorus: ok" in page.inner_text("#compile")
    coverage = page.inner_text("#coverage")
    assert "gateway/query/query.rego" in coverage
    assert "_test.rego" not in coverage
    assert page.locator("svg.chart").count() >= 1
    site.check(page, "w02-checks-and-coverage")

    page.fill("#ledger_index", str(housing[0]))
    page.click("#evaluate")
    page.wait_for_load_state()
    assert "拒绝→允许" in page.inner_text("#whatif-kinds")
    assert '"allow": false' in page.inner_text("#whatif-active")
    assert '"allow": true' in page.inner_text("#whatif-draft")
    site.check(page, "w03-what-if")

    page.fill("#last", "10000")
    page.click("#run-replay", timeout=180_000)
    page.wait_for_load_state()
    assert page.inner_text("#replay-total") == "8"
    assert page.inner_text("#replay-changed") == "4"
    assert page.inner_text("#replay-unchanged") == "4"
    assert page.inner_text("#replay-dangerous") == "4"
    dangerous = page.locator("tr[data-kind=deny_to_allow]")
    assert "dangerous" in str(dangerous.get_attribute("class"))
    assert [int(x) for x in dangerous.locator("a").all_inner_texts()] == housing
    site.check(page, "w04-replay-report")

    # Alice cannot approve her own draft (checks and replay are there: only the two-person rule refuses).
    author.goto(f"{deployment.base_url}/console/policy/drafts/{draft_id}")
    author.click("#approve")
    author.wait_for_load_state()
    assert "two-person" in author.inner_text("#problem")
    assert author.inner_text("#status") == "draft"

    page.click("#approve")
    page.wait_for_load_state()
    assert page.inner_text("#status") == "approved"

    # Carol activates; the running gateway switches without a restart.
    carol = site.site.person("security")
    other = site.page()
    site.sign_in(other, carol)
    other.goto(f"{deployment.base_url}/console/policy/drafts/{draft_id}")
    other.click("#activate")
    other.wait_for_load_state()
    assert other.inner_text("#status") == "active"
    deadline = time.monotonic() + 30
    while _policy_revision(deployment, "housing") != (200, draft_revision):
        assert time.monotonic() < deadline, "the gateway did not switch"
        time.sleep(0.3)

    other.goto(f"{deployment.base_url}/console/policy")
    assert other.inner_text("#active-revision") == draft_revision
    other.click("#rollback")
    other.wait_for_load_state()
    assert other.inner_text("#active-revision") != draft_revision
    assert other.locator("#history tbody tr").count() == 2
    site.check(other, "w05-history")
    deadline = time.monotonic() + 30
    while _policy_revision(deployment, "housing")[0] != 403:
        assert time.monotonic() < deadline, "the rollback did not reach the gateway"
        time.sleep(0.3)
