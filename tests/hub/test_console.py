"""The auditor console: over HTTP (headers, cookies, who sees what, escaping), and in a real browser
(Debian's chromium driven by Playwright: sign in with an auditor token, filter, open an event), keeping a
screenshot as a test artefact (test-artifacts/, or WELFARE_HUB_TEST_ARTIFACTS)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.config import Settings
from tests import people as P
from tests.conftest import gql, serving

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
    assert "Verified:" in html
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
    assert "Verified:" not in page.text
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
            assert "Verified:" in await page.inner_text("#verification")

            await page.fill("input[name=organisation]", "browser-badge")
            await page.click("#apply")
            await page.wait_for_selector("#event-table")
            rows = await page.locator("#event-table tbody tr.event").all_inner_texts()
            assert len(rows) == 2
            assert all("browser-badge" in row and "released" in row for row in rows)
            await page.screenshot(path=str(ARTIFACTS / "console-events.png"), full_page=True)

            await page.locator("a.event-link").first.click()
            await page.wait_for_selector("#decision")
            assert await page.inner_text("#decision") == "released"
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
