"""The console as a person uses it, in real Chromium (Debian's) driven by Playwright, over real HTTP.

Every request the browser makes is routed through the test: anything for another host is aborted and
counted, and the module fails if there was any. Each page is checked with axe-core (vendored, served
by the gateway itself) and a screenshot of it is saved under the test's temporary folder.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import REQUIRE_SERVERS, FixedClock
from tests.support import rfc9162
from tests.support.console import ConsoleSite, Person, next_step
from tests.support.gateway_app import deployment_settings, running_gateway

CHROMIUM = Path("/usr/bin/chromium")
LICENSING = "admin_licensing_law_34"

if not CHROMIUM.exists():
    if REQUIRE_SERVERS:
        pytest.fail(f"{CHROMIUM} is required on CI (apt-get install chromium)", pytrace=False)
    pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")


@dataclass
class Browser:
    """A running gateway, a Chromium browser with every request checked, and where screenshots go."""

    site: ConsoleSite
    browser: Any
    screens: Path
    foreign: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)

    def page(self) -> Any:
        """A page in a fresh context (its own cookies), every request routed through ``_route``."""
        context = self.browser.new_context(accept_downloads=True, locale="zh-CN")
        gateway = urlsplit(self.site.deployment.base_url).netloc

        def route(r: Any) -> None:
            url = r.request.url
            self.urls.append(url)
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob") or parts.netloc == gateway:
                r.continue_()
            else:
                self.foreign.append(url)
                r.abort()

        context.route("**/*", route)
        page = context.new_page()
        page.on(
            "console",
            lambda m: self.csp_violations.append(m.text) if "Content Security Policy" in m.text else None,
        )
        return page

    def shot(self, page: Any, name: str) -> None:
        page.screenshot(path=str(self.screens / f"{name}.png"), full_page=True)

    def axe(self, page: Any, name: str) -> None:
        """No serious or critical accessibility violation on the page (axe-core run in the page)."""
        page.add_script_tag(url="/console/static/vendor/axe-core/axe.min.js")
        result = page.evaluate("async () => (await axe.run(document)).violations")
        serious = [
            f"{v['id']}: {v['help']} ({len(v['nodes'])} node(s))"
            for v in result
            if v.get("impact") in ("serious", "critical")
        ]
        assert not serious, f"{name}: {serious}"
        self.shot(page, name)

    def goto(self, page: Any, path: str) -> None:
        page.goto(self.site.deployment.base_url + path)

    def sign_in(self, page: Any, person: Person) -> None:
        """Sign in through the form; enrol the seed from the QR page when asked."""
        self.goto(page, "/console/login")
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


def _seed_queries(site: ConsoleSite) -> None:
    deployment = site.deployment
    subject = deployment.manifest.legal_person
    body = {
        "purpose": "admin_licensing_review",
        "legal_basis": LICENSING,
        "items": ["market.enterprise_registration", "market.admin_penalty"],
        "subjects": [{"id_type": "uscc", "value": subject.value}],
    }
    for _ in range(3):
        assert deployment.query("platform", body).status_code == 200
    refused = {**body, "items": ["tax.major_violation"], "purpose": "credit_evaluation"}
    for _ in range(2):
        assert deployment.query("platform", refused).status_code == 403


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    root = Path(tmp_path_factory.mktemp("console-browser"))
    screens = root / "screenshots"
    screens.mkdir()
    settings = deployment_settings(root)
    with running_gateway(settings, FixedClock()) as deployment, sync_api.sync_playwright() as playwright:
        site = ConsoleSite(deployment)
        _seed_queries(site)
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        checked = Browser(site, browser, screens)
        try:
            yield checked
        finally:
            browser.close()
            site.close()
            print(f"\nconsole screenshots: {screens}")
        assert not checked.foreign, f"the console asked for other hosts: {checked.foreign}"
        assert not checked.csp_violations, checked.csp_violations


@pytest.fixture
def auditor(chromium: Browser) -> tuple[Any, Person]:
    page = chromium.page()
    person = chromium.site.person()
    chromium.sign_in(page, person)
    return page, person


def _verdict(page: Any) -> str:
    """Wait for the in-browser check to finish; its verdict, with the checks when it failed."""
    page.wait_for_selector("#verdict:not([data-verdict=pending]):not([data-verdict=idle])")
    verdict = str(page.get_attribute("#verdict", "data-verdict"))
    return verdict if verdict == "ok" else f"{verdict}: {page.inner_text('#checks')}"


def _first_entry(page: Any, **filters: str) -> int:
    page.goto(page.url.split("/console/")[0] + "/console/ledger")
    for name, value in filters.items():
        if page.locator(f"select[name={name}]").count():
            page.select_option(f"select[name={name}]", value)
        else:
            page.fill(f"input[name={name}]", value)
    page.click("#apply")
    page.wait_for_load_state()
    return int(page.locator("a.entry-link").first.inner_text())


def test_enrolment_shows_a_qr_code_and_sign_in_reaches_the_overview(chromium: Browser) -> None:
    page = chromium.page()
    person = chromium.site.person()
    chromium.goto(page, "/console/login")
    chromium.axe(page, "01-login")
    page.fill("#username", person.username)
    page.fill("#password", person.password)
    page.click("#login")
    page.wait_for_url("**/console/enrol")
    assert page.locator("#qr").evaluate("img => img.naturalWidth > 0")
    assert page.inner_text("#seed") == person.seed
    chromium.axe(page, "02-enrol")
    page.fill("#code", person.code(chromium.site.clock))
    page.click("#confirm")
    page.wait_for_url("**/console/overview")
    next_step(chromium.site.clock)
    assert page.locator("svg.chart").count() >= 3
    assert "签名检查点" in page.inner_text("main")
    chromium.axe(page, "03-overview")
    page.click("a[lang=en]")
    page.wait_for_load_state()
    assert "Latest signed checkpoint" in page.inner_text("main")
    chromium.shot(page, "03-overview-en")


def test_filter_open_an_entry_and_see_its_proof_verified(
    chromium: Browser, auditor: tuple[Any, Person]
) -> None:
    page, _ = auditor
    index = _first_entry(page, kind="query", decision="deny")
    assert "decision=deny" in page.url
    chromium.axe(page, "04-ledger-filtered")
    page.click("a.entry-link >> nth=0")
    assert _verdict(page) == "ok"
    assert page.locator("#checks li.fail").count() == 0
    assert f'"index": {index}' in page.inner_text("#leaf")
    chromium.axe(page, "05-entry-verified")


def test_the_same_page_says_the_proof_fails_after_the_database_is_tampered_with(
    chromium: Browser, auditor: tuple[Any, Person]
) -> None:
    page, _ = auditor
    index = _first_entry(page, kind="query", decision="allow")
    chromium.goto(page, f"/console/entries/{index}")
    assert _verdict(page) == "ok"
    database = chromium.site.deployment.settings.ledger_url.removeprefix("sqlite:///")
    with sqlite3.connect(database) as db:
        (entry,) = db.execute("SELECT entry FROM ledger_entries WHERE idx = ?", (index,)).fetchone()
        forged = entry.replace('"rows_total":', '"rows_total":1', 1)
        assert forged != entry
        # A careful forger rewrites the stored leaf hash too; only the signed root still tells.
        leaf_hash = hashlib.sha256(b"\x00" + forged.encode()).digest()
        db.execute(
            "UPDATE ledger_entries SET entry = ?, leaf_hash = ? WHERE idx = ?", (forged, leaf_hash, index)
        )
    page.reload()
    page.wait_for_selector("#verdict[data-verdict=fail]")
    assert page.locator("#checks li[data-check=inclusion].fail").count() == 1
    chromium.shot(page, "06-entry-tampered")


def test_a_forged_or_foreign_checkpoint_is_rejected_in_the_browser(
    chromium: Browser, auditor: tuple[Any, Person]
) -> None:
    page, _ = auditor
    index = _first_entry(page, kind="console")
    chromium.goto(page, f"/console/entries/{index}")
    assert _verdict(page) == "ok"
    verdicts = page.evaluate(
        """async (index) => {
          const enc = new TextEncoder();
          const cat = (...p) => { const o = new Uint8Array(p.reduce((n, x) => n + x.length, 0));
            let at = 0; for (const x of p) { o.set(x, at); at += x.length; } return o; };
          const data = await (await fetch('/console/api/entries/' + index)).json();
          const vkey = Object.values(data.verifier_keys)[0];
          const honest = (await LedgerVerify.verifyEntry(data, vkey)).ok;
          // 1. the signed text altered (a bigger tree): the log's signature no longer covers it
          const lines = data.checkpoint_note.split('\\n');
          lines[1] = String(Number(lines[1]) + 1);
          const grown = {...data, checkpoint_note: lines.join('\\n')};
          const bigger = (await LedgerVerify.verifyEntry(grown, vkey)).ok;
          // 2. a well-formed checkpoint signed by another Ed25519 key under the log's name
          const pair = await crypto.subtle.generateKey({name: 'Ed25519'}, true, ['sign', 'verify']);
          const pub = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
          const cut = data.checkpoint_note.lastIndexOf('\\n\\n');
          const text = data.checkpoint_note.slice(0, cut + 1);
          const name = text.split('\\n')[0];
          const id = async (type) => new Uint8Array(await crypto.subtle.digest('SHA-256',
              cat(enc.encode(name + '\\n'), Uint8Array.of(type), pub))).slice(0, 4);
          const sign = async (m) =>
              new Uint8Array(await crypto.subtle.sign({name: 'Ed25519'}, pair.privateKey, m));
          const b64 = (b) => btoa(String.fromCharCode(...b));
          const time = new Uint8Array(8); time[7] = 1;
          const timed = await sign(cat(enc.encode('cosignature/v1\\ntime 1\\n'), enc.encode(text)));
          const note = text + '\\n\\u2014 ' + name + ' ' + b64(cat(await id(1), await sign(enc.encode(text))))
              + '\\n\\u2014 ' + name + ' ' + b64(cat(await id(4), time, timed)) + '\\n';
          const forgedKey = name + '+' + LedgerVerify.hex(await id(1))
              + '+' + b64(cat(Uint8Array.of(1), pub));
          const selfConsistent = (await LedgerVerify.openCheckpoint(note, forgedKey)).size > 0;
          const forged = (await LedgerVerify.verifyEntry({...data, checkpoint_note: note}, vkey)).ok;
          return {honest, bigger, selfConsistent, forged};
        }""",
        index,
    )
    # The forged note is a valid checkpoint for its own key, and is refused against the log's key.
    assert verdicts == {"honest": True, "bigger": False, "selfConsistent": True, "forged": False}


def test_consistency_between_two_checkpoints_is_checked_in_the_browser(
    chromium: Browser, auditor: tuple[Any, Person]
) -> None:
    page, _ = auditor
    chromium.goto(page, "/console/consistency")
    chromium.site.deployment.query("platform", {"purpose": "x"})  # the log grows: a newer checkpoint
    page.reload()
    options = page.locator("#second option")
    assert options.count() >= 2
    page.select_option("#first", index=0)
    page.select_option("#second", index=0)
    page.click("#check")
    page.wait_for_selector("#verdict[data-verdict=ok]")
    chromium.axe(page, "07-consistency")


def test_review_flags_an_entry_with_a_comment_and_the_queue_shows_it(
    chromium: Browser, auditor: tuple[Any, Person]
) -> None:
    page, person = auditor
    index = _first_entry(page, kind="query", decision="deny")
    chromium.goto(page, f"/console/entries/{index}")
    page.fill("#comment", "用途与事项不符，需要复核")
    page.click("#mark-flagged")
    page.wait_for_url(f"**/console/entries/{index}")
    assert "flagged" in page.inner_text("#reviews")
    chromium.goto(page, "/console/review")
    assert page.locator(f"a.entry-link:text-is('{index}')").count() == 1
    chromium.axe(page, "08-review-queue")
    reviews = [r for r in chromium.site.deployment.ledger_records() if r["kind"] == "review"]
    assert reviews[-1]["target_index"] == index
    assert reviews[-1]["client_id"] == f"console:{person.username}"


def test_subject_report_is_a_post_and_is_registered(chromium: Browser, auditor: tuple[Any, Person]) -> None:
    page, _ = auditor
    value = chromium.site.deployment.manifest.legal_person.value
    chromium.goto(page, "/console/subject")
    chromium.axe(page, "09-subject-form")
    page.select_option("#id_type", "uscc")
    page.fill("#value", value)
    page.click("#make-report")
    page.wait_for_selector("#report-count")
    assert page.locator("#report tbody tr").count() >= 5
    assert "market.admin_penalty" in page.inner_text("#report")  # which items were asked about
    assert value not in page.url
    assert not any(value in url for url in chromium.urls)
    assert value not in page.content()
    chromium.axe(page, "10-subject-report")
    page.emulate_media(media="print")
    assert not page.locator("header.top").is_visible()
    chromium.shot(page, "10-subject-report-print")
    page.emulate_media(media="screen")
    records = chromium.site.deployment.ledger_records()
    assert records[-1]["kind"] == "subject_report"


def test_export_downloads_csv_with_the_current_filters(
    chromium: Browser, auditor: tuple[Any, Person]
) -> None:
    page, _ = auditor
    _first_entry(page, kind="query", decision="deny")
    with page.expect_download() as caught:
        page.click("#export-csv")
    path = caught.value.path()
    text = Path(path).read_text(encoding="utf-8")
    first, header, *rows = text.splitlines()
    assert first.startswith("# cut at checkpoint")
    assert header.startswith("index,")
    assert rows
    assert all(",deny," in row for row in rows)
    events = [r for r in chromium.site.deployment.ledger_records() if r.get("event") == "export"]
    assert events[-1]["filters"]["decision"] == "deny"


def test_grants_page(chromium: Browser, auditor: tuple[Any, Person]) -> None:
    page, _ = auditor
    chromium.goto(page, "/console/grants")
    assert page.locator("#grant-counts li").count() == 5
    chromium.axe(page, "11-grants")


def test_logout_ends_the_session(chromium: Browser, auditor: tuple[Any, Person]) -> None:
    page, _ = auditor
    page.click("#logout")
    page.wait_for_url("**/console/login")
    chromium.goto(page, "/console/ledger")
    assert "/console/login" in page.url


def test_an_idle_session_expires(chromium: Browser, auditor: tuple[Any, Person]) -> None:
    page, _ = auditor
    chromium.site.clock.current += timedelta(minutes=16)
    chromium.goto(page, "/console/ledger")
    assert page.url.endswith("/console/login?problem=expired")
    assert page.locator("#problem").is_visible()
    chromium.shot(page, "12-expired")


def test_a_post_without_the_csrf_token_is_refused(chromium: Browser, auditor: tuple[Any, Person]) -> None:
    page, _ = auditor
    status = page.evaluate(
        """async () => (await fetch('/console/entries/0/review', {method: 'POST',
             body: new URLSearchParams({status: 'flagged', comment: 'no token'})})).status"""
    )
    assert status == 403


def test_the_api_docs_render_offline(chromium: Browser) -> None:
    page = chromium.page()
    chromium.goto(page, "/docs")
    page.wait_for_selector(".swagger-ui .info", timeout=30000)
    chromium.shot(page, "13-swagger")
    chromium.goto(page, "/redoc")
    page.wait_for_selector("#redoc h1", timeout=30000)
    chromium.shot(page, "14-redoc")
    # ReDoc's bundle shows its maker's logo from their CDN; the page's policy blocks it before any
    # request is made (so the route above never sees it). That block is the only one allowed.
    blocked = [m for m in chromium.csp_violations if "cdn.redoc.ly/redoc/logo" in m]
    chromium.csp_violations[:] = [m for m in chromium.csp_violations if m not in blocked]
    assert (chromium.screens / "14-redoc.png").exists()


def test_the_browser_verifier_agrees_with_rfc_9162_on_every_small_tree(chromium: Browser) -> None:
    """Inclusion and consistency paths from the RFC's own definitions, for trees of 1 to 17 leaves."""
    page = chromium.page()
    chromium.goto(page, "/console/login")
    page.add_script_tag(url="/console/static/verify.js")
    entries = [f"entry {i}".encode() for i in range(17)]  # the RFC's D[n]: MTH and PATH hash them
    cases = []
    for n in range(1, 18):
        tree = entries[:n]
        root = rfc9162.MTH(tree).hex()
        for m in range(n):
            leaf = rfc9162.HASH(b"\x00" + tree[m]).hex()
            cases.append(["inclusion", m, n, leaf, [p.hex() for p in rfc9162.PATH(m, tree)], root])
        for m in range(1, n + 1):
            old = rfc9162.MTH(entries[:m]).hex()
            cases.append(["consistency", m, n, old, [p.hex() for p in rfc9162.PROOF(m, tree)], root])
    results = page.evaluate(
        """async (cases) => {
          const V = LedgerVerify, u = V.unhex;
          const check = async ([kind, m, n, first, path, root]) => {
            const p = path.map(u);
            if (kind === 'inclusion') {
              const r = await V.rootFromInclusion(m, n, u(first), p);
              return r !== null && V.hex(r) === root;
            }
            return V.verifyConsistency(m, n, p, u(first), u(root));
          };
          const out = [];
          for (const c of cases) {
            const good = await check(c);
            // the same case with one byte of one path element changed must fail (when there is a path)
            let bad = false;
            if (c[4].length) {
              const path = c[4].slice();
              path[0] = (path[0][0] === '0' ? '1' : '0') + path[0].slice(1);
              bad = await check([c[0], c[1], c[2], c[3], path, c[5]]);
            }
            out.push([good, bad]);
          }
          return out;
        }""",
        cases,
    )
    wrong = [(c[:3], r) for c, r in zip(cases, results, strict=True) if r != [True, False]]
    assert not wrong
    assert len(cases) == 2 * sum(range(1, 18))
