"""The auditor console: over HTTP (headers, cookies, who sees what, escaping), and in a real browser
(Debian's chromium driven by Playwright: sign in with an auditor token, filter, open an event), keeping a
screenshot as a test artefact (test-artifacts/, or WELFARE_HUB_TEST_ARTIFACTS)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.config import Settings
from hub.console import PAGE
from tests import people as P
from tests.conftest import gql, running_client, serving

ROOT = "/audit/console"
ARTIFACTS = Path(os.environ.get("WELFARE_HUB_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FOUND = Path(CHROMIUM).exists()
BADGE = "query($n: String!) { person(nino: $n, purpose: BLUE_BADGE) { dwp { blueBadgeAutomaticEligibility } } }"


async def _sign_in(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(
        f"{ROOT}/login", content=f"token={token}", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )


async def test_signing_in_sets_a_strict_cookie_and_shows_the_log(client: httpx.AsyncClient, token: Any) -> None:
    # Some traffic to see, from an organisation whose name would run as script if it were not escaped.
    evil = token("council_blue_badge", "BLUE_BADGE", org="<script>alert(1)</script>")
    await gql(client, evil, BADGE, {"n": P.PIP_MOVING})
    first = await client.get(ROOT, follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == f"{ROOT}/login"

    signed = await _sign_in(client, token("auditor", "AUDIT", org="console-audit"))
    assert signed.status_code == 303
    cookie = signed.headers["set-cookie"]
    assert cookie.startswith("wh_console=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert f"Path={ROOT}" in cookie
    page = await client.get(ROOT)
    assert page.status_code == 200
    assert "script-src" not in page.headers["content-security-policy"]  # no script may run at all
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    html = page.text
    # "Verified:" when nothing was written since the verification, "Verified through #n only" when some
    # was (this session's client shares one verification across tests): either way the panel is there.
    assert "Verified" in html
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'class="event-link"' in html
    await client.post(f"{ROOT}/logout")


async def test_a_bad_token_is_refused_at_sign_in(client: httpx.AsyncClient) -> None:
    response = await _sign_in(client, "not.a.token")
    assert response.status_code == 401
    assert "UNAUTHENTICATED" in response.text
    assert "set-cookie" not in response.headers


async def test_a_non_auditor_sees_a_refusal_not_the_log(client: httpx.AsyncClient, token: Any) -> None:
    await _sign_in(client, token("council_hb", "HB_OVERNIGHT_CARER_ROOM", org="console-nosy"))
    page = await client.get(ROOT)
    assert page.status_code == 200
    assert "PURPOSE_NOT_GRANTED" in page.text
    assert 'class="event-link"' not in page.text
    assert "Verified" not in page.text
    await client.post(f"{ROOT}/logout")


async def test_an_event_page_shows_the_record_and_its_trace(
    client: httpx.AsyncClient, token: Any, admin: dict[str, Any]
) -> None:
    t = token("council_blue_badge", "BLUE_BADGE", org="console-badge")
    assert "errors" not in (await gql(client, t, BADGE, {"n": P.PIP_MOVING})).json()
    seq = await admin["hub"].fetchval("SELECT max(seq) FROM hub.audit_event WHERE caller_org = 'console-badge'")
    await _sign_in(client, token("auditor", "AUDIT", org="console-audit"))
    for _ in range(50):  # spans are written each second; the server span, ending last, may come a second later
        page = await client.get(f"{ROOT}/events/{seq}")
        if "<svg" in page.text and "POST /graphql" in page.text:
            break
        await asyncio.sleep(0.1)
    assert page.status_code == 200
    assert "console-badge" in page.text
    assert "DwpRecord.blueBadgeAutomaticEligibility" in page.text
    assert re.search(r"<rect x=\"[0-9.]+%\"", page.text)
    assert "POST /graphql" in page.text
    assert P.PIP_MOVING not in page.text
    missing = await client.get(f"{ROOT}/events/999999999")
    assert missing.status_code == 404
    await client.post(f"{ROOT}/logout")


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'class="event-link" href="[^"]*">(\d+)<', html)]


def _state(html: str) -> str | None:
    found = re.search(r'name="state" value="([^"]+)"', html)
    return found.group(1) if found else None


def _no_nino_anywhere(html: str, nino: str) -> None:
    spaced = " ".join([nino[:2], nino[2:4], nino[4:6], nino[6:8], nino[8:]])
    for form in (nino, nino.lower(), spaced):
        assert form not in html
    for url in re.findall(r'(?:href|action|src)="([^"]*)"', html):
        assert nino not in url


async def test_every_filter_survives_paging_and_no_nino_is_in_an_address(
    client: httpx.AsyncClient, token: Any, admin: dict[str, Any]
) -> None:
    badge = token("council_blue_badge", "BLUE_BADGE", org="paging-badge")
    elsewhere = token("council_blue_badge", "BLUE_BADGE", org="paging-elsewhere")
    for _ in range(PAGE + 5):  # two people, interleaved, one organisation: more than a page of each
        for nino in (P.PIP_MOVING, P.PIP_DISTRESS):
            assert "errors" not in (await gql(client, badge, BADGE, {"n": nino})).json()
    for _ in range(3):  # the same person, another organisation
        assert "errors" not in (await gql(client, elsewhere, BADGE, {"n": P.PIP_MOVING})).json()
    seqs = [
        r["seq"]
        for r in await admin["hub"].fetch(
            "SELECT seq FROM hub.audit_event WHERE caller_org = 'paging-badge' ORDER BY seq"
        )
    ]
    assert len(seqs) == 2 * (PAGE + 5)
    moving = sorted(seqs[0::2], reverse=True)  # PIP_MOVING's records, newest first

    await _sign_in(client, token("auditor", "AUDIT", org="console-audit"))
    today = dt.datetime.now(dt.UTC).date()
    form = {
        "organisation": "paging-badge",
        "decision": "RELEASED",
        "subject": P.PIP_MOVING,
        "since": (today - dt.timedelta(days=1)).isoformat(),
        "until": today.isoformat(),
    }
    first = await client.post(ROOT, data=form, headers=FORM)
    assert first.status_code == 200
    assert _ids(first.text) == moving[:PAGE]
    assert 'id="subject-filter"' in first.text
    _no_nino_anywhere(first.text, P.PIP_MOVING)
    state = _state(first.text)
    assert state is not None

    # "Older events": the same person, the same organisation, the same decision and dates; nobody else.
    second = await client.post(ROOT, data={"state": state}, headers=FORM)
    assert second.status_code == 200
    assert _ids(second.text) == moving[PAGE:]
    assert 'id="subject-filter"' in second.text
    assert 'value="paging-badge"' in second.text
    assert _state(second.text) is None  # the last page
    _no_nino_anywhere(second.text, P.PIP_MOVING)

    # The sealed state opens for the auditor who was shown it, and for nobody else; a tampered one not at all.
    for forged in (state[:-4] + ("AAAA" if not state.endswith("AAAA") else "BBBB"), "not-base64!"):
        refused = await client.post(ROOT, data={"state": forged}, headers=FORM)
        assert refused.status_code == 400
        assert _ids(refused.text) == []
    await client.post(f"{ROOT}/logout")
    await _sign_in(client, token("auditor", "AUDIT", org="console-audit-2"))
    stolen = await client.post(ROOT, data={"state": state}, headers=FORM)
    assert stolen.status_code == 400
    assert "expired (or is not yours)" in stolen.text
    assert _ids(stolen.text) == []

    # A subject by address is never applied (nor echoed): the NINO would stay in URLs and logs.
    by_url = await client.get(ROOT, params={"subject": P.PIP_MOVING, "organisation": "paging-badge"})
    assert "never filtered by address" in by_url.text
    assert 'id="subject-filter"' not in by_url.text
    _no_nino_anywhere(by_url.text, P.PIP_MOVING)
    await client.post(f"{ROOT}/logout")


async def test_the_verification_panel_says_what_it_has_not_checked(
    settings: Settings, people: Any, token: Any, admin: dict[str, Any]
) -> None:
    # A hub of its own, so its verification is computed by this test's first page view and kept an hour.
    async with running_client(replace(settings, audit_verify_seconds=3600)) as hub:
        badge = token("council_blue_badge", "BLUE_BADGE", org="stale-badge")
        assert "errors" not in (await gql(hub, badge, BADGE, {"n": P.PIP_MOVING})).json()
        await _sign_in(hub, token("auditor", "AUDIT", org="stale-audit"))
        fresh = await hub.get(ROOT)
        assert '<section id="verification" class="panel ok">' in fresh.text
        assert "Verified:" in fresh.text
        assert "no record written since" in fresh.text

        for _ in range(3):
            assert "errors" not in (await gql(hub, badge, BADGE, {"n": P.PIP_MOVING})).json()
        stale = await hub.get(ROOT)
        assert '<section id="verification" class="panel stale">' in stale.text  # amber, not green
        assert "Verified:" not in stale.text
        found = re.search(r"Verified through #(\d+) only", stale.text)
        unchecked = re.search(r'id="unchecked">(\d+)<', stale.text)
        assert found is not None
        assert unchecked is not None
        through = int(found.group(1))
        head = await admin["hub"].fetchval("SELECT max(seq) FROM hub.audit_event")
        # At least the three lookups (and the first view's own reads); never more than the log holds now.
        assert 3 <= int(unchecked.group(1)) <= head - through
        newest = await admin["hub"].fetchval("SELECT max(seq) FROM hub.audit_event WHERE caller_org = 'stale-badge'")
        assert newest > through
        shown = re.search(r"\(#(\d+)\u2013#(\d+)\)", stale.text)  # the unchecked range, #first-#last
        assert shown is not None
        assert int(shown.group(1)) == through + 1
        assert int(shown.group(2)) >= newest  # the three lookups are among what is said to be unchecked


async def test_the_consoles_own_views_are_audited_but_hidden_unless_asked(
    client: httpx.AsyncClient, token: Any, admin: dict[str, Any]
) -> None:
    await _sign_in(client, token("auditor", "AUDIT", org="views-audit"))
    for _ in range(3):
        assert (await client.get(ROOT)).status_code == 200
    # Audited like any read of the log:
    views = await admin["hub"].fetchval(
        "SELECT count(*) FROM hub.audit_event WHERE caller_org = 'views-audit' AND purpose = 'AUDIT' "
        "AND operation_name IN ('Console', 'ConsoleOverview')"
    )
    assert views >= 6
    hidden = await client.post(ROOT, data={"organisation": "views-audit"}, headers=FORM)
    assert _ids(hidden.text) == []
    assert "No events match." in hidden.text
    shown = await client.post(ROOT, data={"organisation": "views-audit", "views": "on"}, headers=FORM)
    operations = re.findall(r'<td class="operation">([^<]*)</td>', shown.text)
    assert len(operations) >= 6
    assert set(operations) <= {"Console", "ConsoleOverview"}
    assert 'name="views" type="checkbox" value="on" checked' in shown.text

    # Named like the console is not enough to hide: a refused read of the log by a non-auditor stays in view.
    nosy = token("council_hb", "HB_OVERNIGHT_CARER_ROOM", org="views-nosy")
    refused = await gql(client, nosy, "query ConsoleOverview { auditVerification(purpose: AUDIT) { ok } }")
    assert "errors" in refused.json()
    listed = await client.post(ROOT, data={"organisation": "views-nosy"}, headers=FORM)
    assert re.findall(r'<td class="operation">([^<]*)</td>', listed.text) == ["ConsoleOverview"]
    await client.post(f"{ROOT}/logout")


@pytest.fixture
async def served(settings: Settings, people: Any) -> AsyncIterator[str]:
    """The hub on a real uvicorn server on loopback, for the browser."""
    async with serving(settings) as url:
        yield url


async def test_the_console_in_a_real_browser(served: str, token: Any) -> None:
    from playwright.async_api import async_playwright

    assert CHROMIUM_FOUND, "the console test needs Debian's chromium: apt-get install chromium"
    async with httpx.AsyncClient(base_url=served) as api:
        t = token("council_blue_badge", "BLUE_BADGE", org="browser-badge")
        for nino in (P.PIP_MOVING, P.PIP_DISTRESS):
            r = await api.post(
                "/graphql", json={"query": BADGE, "variables": {"n": nino}}, headers={"Authorization": f"Bearer {t}"}
            )
            assert "errors" not in r.json()
    os.makedirs(ARTIFACTS, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            await page.goto(f"{served}{ROOT}")
            assert page.url.endswith("/login")  # signed out: sent to sign in
            await page.fill("#token", token("auditor", "AUDIT", org="browser-audit"))
            await page.click("#sign-in")
            await page.wait_for_selector("#verification")
            assert "Verified:" in await page.inner_text("#verification")  # a hub of its own: fresh, all checked

            await page.fill("input[name=organisation]", "browser-badge")
            await page.fill("input[name=subject]", P.PIP_MOVING)
            await page.click("#apply")
            await page.wait_for_selector("#event-table")
            assert P.PIP_MOVING not in page.url  # posted, not put in the address
            assert P.PIP_MOVING not in await page.content()
            rows = await page.locator("#event-table tbody tr.event").all_inner_texts()
            assert len(rows) == 1
            assert all("browser-badge" in row and "RELEASED" in row for row in rows)
            await page.fill("input[name=subject]", "")
            await page.click("#apply")
            await page.wait_for_selector("#event-table")
            rows = await page.locator("#event-table tbody tr.event").all_inner_texts()
            assert len(rows) == 2
            await page.screenshot(path=str(ARTIFACTS / "console-events.png"), full_page=True)

            await page.locator("a.event-link").first.click()
            await page.wait_for_selector("#decision")
            assert await page.inner_text("#decision") == "RELEASED"
            for _ in range(30):  # the hub writes its spans each second (the server span, ending last, maybe later)
                if await page.locator("#waterfall").count() and "POST /graphql" in (
                    await page.text_content("#waterfall") or ""
                ):
                    break
                await asyncio.sleep(0.2)
                await page.reload()
            assert await page.locator("#waterfall rect").count() >= 5
            await page.screenshot(path=str(ARTIFACTS / "console-event.png"), full_page=True)
        finally:
            await browser.close()
    assert (ARTIFACTS / "console-events.png").stat().st_size > 10_000
    assert (ARTIFACTS / "console-event.png").stat().st_size > 10_000
