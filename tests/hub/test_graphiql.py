"""GraphiQL served by the hub: the committed bundle is the one the lockfile and sources build (a stale one
fails), the page's headers hold scripts to the hub, and in a real browser (Debian's chromium driven by
Playwright) with every request off loopback blocked, a Blue Badge team signs in, sees only its purpose's
fields in the docs, and runs a query through the hub."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.applications import Starlette

from hub.app import create_app
from hub.config import Settings
from hub.errors import ConfigError
from hub.graphiql import ROOT, STATIC, Bundle, graphiql_routes
from tests import people as P
from tests.conftest import running_client, serving

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "hub" / "static" / "graphiql"
MANIFEST = json.loads((BUNDLE / "manifest.json").read_text())
ARTIFACTS = Path(os.environ.get("WELFARE_HUB_TEST_ARTIFACTS", REPO / "test-artifacts"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FOUND = Path(CHROMIUM).exists()
REBUILD = "stale GraphiQL bundle: run scripts/build-graphiql and commit hub/static/graphiql/"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
BADGE = "query Badge($n: String!) { person(nino: $n, purpose: BLUE_BADGE) { dwp { blueBadgeAutomaticEligibility } } }"


# -- the bundle: what the lockfile and the sources build ---------------------------------------------------


def test_the_bundle_is_built_from_the_lockfile_s_versions() -> None:
    lock = json.loads((REPO / "package-lock.json").read_text())["packages"]
    assert MANIFEST["packages"], "the manifest names no package"
    for name, version in MANIFEST["packages"].items():
        assert lock[f"node_modules/{name}"]["version"] == version, f"{name}: {REBUILD}"
    # What the bundle is built from is pinned exactly (no range): the same lockfile builds the same bundle.
    declared = json.loads((REPO / "package.json").read_text())["devDependencies"]
    for name in ("graphiql", "@graphiql/react", "@graphiql/toolkit", "react", "react-dom", "graphql", "esbuild"):
        assert re.fullmatch(r"\d+\.\d+\.\d+", declared[name]), name
        assert MANIFEST["packages"][name] == declared[name], f"{name}: {REBUILD}"


def test_the_bundle_s_files_are_the_manifest_s_and_built_from_these_sources() -> None:
    listed = {entry["file"] for entry in MANIFEST["assets"].values()}
    assert {p.name for p in BUNDLE.iterdir()} == listed | {"manifest.json"}  # nothing left from an older build
    for name, entry in MANIFEST["assets"].items():
        body = (BUNDLE / entry["file"]).read_bytes()
        assert hashlib.sha256(body).hexdigest() == entry["sha256"], f"{name}: {REBUILD}"
        assert len(body) == entry["bytes"], name
    sources = {f"graphiql/{p.name}" for p in (REPO / "graphiql").iterdir() if p.is_file()}
    assert set(MANIFEST["sources"]) == sources, REBUILD
    for path, digest in MANIFEST["sources"].items():
        assert hashlib.sha256((REPO / path).read_bytes()).hexdigest() == digest, f"{path} changed: {REBUILD}"


def test_nothing_in_the_bundle_loads_from_a_cdn() -> None:
    # The browser test below proves it for what a session loads; this covers what it may not reach.
    cdns = re.compile(rb"(?:unpkg\.com|jsdelivr\.net|esm\.sh|cdnjs\.|googleapis\.com|gstatic\.com)/")
    for entry in MANIFEST["assets"].values():
        assert not cdns.search((BUNDLE / entry["file"]).read_bytes()), entry["file"]


def test_an_altered_bundle_refuses_to_start(tmp_path: Path) -> None:
    shutil.copytree(BUNDLE, tmp_path / "bundle")
    script = tmp_path / "bundle" / MANIFEST["assets"]["graphiql.js"]["file"]
    script.write_bytes(script.read_bytes() + b"alert(1)")
    (tmp_path / "bundle" / MANIFEST["assets"]["json.worker.js"]["file"]).unlink()
    with pytest.raises(ConfigError) as refused:
        Bundle.load(tmp_path / "bundle")
    assert len(refused.value.problems) == 2  # every problem at once
    assert all("scripts/build-graphiql" in p for p in refused.value.problems)
    (tmp_path / "bundle" / "manifest.json").unlink()
    with pytest.raises(ConfigError, match=r"manifest\.json"):
        Bundle.load(tmp_path / "bundle")


# -- the page and its assets over HTTP ----------------------------------------------------------------------


@pytest.fixture
async def graphiql() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=Starlette(routes=graphiql_routes()))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
        yield client


async def test_the_page_runs_only_the_hub_s_script(graphiql: httpx.AsyncClient) -> None:
    page = await graphiql.get(ROOT)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = dict(d.strip().split(" ", 1) for d in page.headers["content-security-policy"].split(";"))
    assert csp["default-src"] == "'none'"
    assert csp["script-src"] == "'self'"  # no inline script, no eval, no other origin
    assert csp["worker-src"] == "'self'"
    assert csp["connect-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", page.text, re.S)
    assert scripts
    assert all(body.strip() == "" and f'src="{STATIC}/' in attrs for attrs, body in scripts)
    assert " on" not in re.sub(r'"[^"]*"', '""', page.text)  # no inline event handler either
    for url in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        assert url.startswith(f"{STATIC}/"), url


async def test_assets_are_served_by_hash_cached_for_a_year_and_gzipped(graphiql: httpx.AsyncClient) -> None:
    script = MANIFEST["assets"]["graphiql.js"]
    plain = await graphiql.get(f"{STATIC}/{script['file']}", headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert plain.headers["content-type"] == "text/javascript; charset=utf-8"
    assert plain.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert plain.headers["x-content-type-options"] == "nosniff"
    assert "content-encoding" not in plain.headers
    assert hashlib.sha256(plain.content).hexdigest() == script["sha256"]
    zipped = await graphiql.get(f"{STATIC}/{script['file']}", headers={"Accept-Encoding": "gzip, br"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert int(zipped.headers["content-length"]) < len(plain.content) / 2
    assert zipped.content == plain.content  # httpx decoded it
    again = await graphiql.get(f"{STATIC}/{script['file']}", headers={"If-None-Match": plain.headers["etag"]})
    assert again.status_code == 304
    css = await graphiql.get(f"{STATIC}/{MANIFEST['assets']['graphiql.css']['file']}")
    assert css.headers["content-type"] == "text/css; charset=utf-8"
    for missing in ("graphiql.js", "manifest.json", "..%2Fgraphiql.py", "nothing-AAAAAAAA.js"):
        assert (await graphiql.get(f"{STATIC}/{missing}")).status_code == 404, missing


# -- in a real browser, off the network ------------------------------------------------------------------


@pytest.fixture
async def served(settings: Settings, people: Any) -> AsyncIterator[str]:
    """The hub on a real uvicorn server on loopback, for the browser."""
    async with serving(settings) as url:
        yield url


async def test_graphiql_offline_shows_only_the_purpose_s_fields(served: str, token: Any) -> None:
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import Route, async_playwright

    assert CHROMIUM_FOUND, "the GraphiQL test needs Debian's chromium: apt-get install chromium"
    os.makedirs(ARTIFACTS, exist_ok=True)
    blocked: list[str] = []
    sent: list[tuple[str, str, str | None]] = []  # method, path, body: what the page asked the hub

    async def off_loopback(route: Route) -> None:
        # A closed council network: nothing but the hub answers. Every attempt is recorded, and must not be.
        host = urlsplit(route.request.url).hostname
        if host is not None and host not in LOOPBACK:
            blocked.append(route.request.url)
            await route.abort("blockedbyclient")
        else:
            await route.continue_()

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            context = await browser.new_context(viewport={"width": 1400, "height": 900})
            await context.route("**/*", off_loopback)
            # The block itself, checked: a page (with no CSP of its own) asking another host is stopped here.
            probe = await context.new_page()
            with pytest.raises(PlaywrightError, match="ERR_BLOCKED_BY_CLIENT"):
                await probe.goto("https://unpkg.com/graphiql")
            await probe.close()
            assert blocked == ["https://unpkg.com/graphiql"]
            blocked.clear()
            page = await context.new_page()
            refused: list[str] = []  # what the page's CSP refused, and any script error

            def console(message: Any) -> None:
                if "Content Security Policy" in message.text:
                    refused.append(message.text)

            def request(r: Any) -> None:
                if urlsplit(r.url).path.startswith("/graphql"):
                    sent.append((r.method, urlsplit(r.url).path, r.post_data))

            page.on("console", console)
            page.on("pageerror", lambda e: refused.append(f"page error: {e}"))
            page.on("request", request)
            opened = await page.goto(f"{served}{ROOT}")
            assert opened is not None
            assert opened.status == 200, "the hub serves no /graphiql: hub.graphiql.graphiql_routes() in create_app"
            await page.wait_for_selector("#sign-in")
            assert await page.locator(".graphiql-container").count() == 0  # nothing before signing in

            # A purpose in the token but not for this organisation's type: the contract is refused, no docs.
            await page.fill("#token", token("council_blue_badge", "HB_OVERNIGHT_CARER_ROOM", org="graphiql-badge"))
            await page.select_option("#purpose", "HB_OVERNIGHT_CARER_ROOM")
            await page.click("#sign-in")
            await page.wait_for_selector("#sign-in-error")
            assert "NOT_FOUND" in await page.inner_text("#sign-in-error")
            assert await page.locator(".graphiql-container").count() == 0

            badge = token("council_blue_badge", "BLUE_BADGE", org="graphiql-badge")
            await page.fill("#token", badge)
            await page.select_option("#purpose", "BLUE_BADGE")
            await page.click("#sign-in")
            await page.wait_for_selector(".graphiql-container")
            assert "BLUE_BADGE" in await page.inner_text("#signed-in")
            # The token: in this tab's storage, never in localStorage; shown in the headers pane it is sent from.
            stored = await page.evaluate("() => [sessionStorage.getItem('welfare-hub:token'), localStorage.length]")
            assert stored == [badge, 0]
            await page.wait_for_function(
                "() => document.querySelector('.graphiql-editor-tool')?.innerText.includes('Bearer')"
            )

            # The docs: Query -> person -> Person -> dwp -> DwpRecord: the one field Blue Badge may see.
            await page.click("[aria-label='Show Documentation Explorer']")
            docs = page.locator(".graphiql-doc-explorer")
            await docs.locator("a.graphiql-doc-explorer-type-name", has_text=re.compile(r"^Query$")).first.click()
            await docs.locator("a.graphiql-doc-explorer-field-name", has_text=re.compile(r"^person$")).click()
            await docs.locator("a.graphiql-doc-explorer-type-name", has_text=re.compile(r"^Person$")).first.click()
            person = await docs.locator("a.graphiql-doc-explorer-field-name").all_inner_texts()
            assert "dwp" in person
            assert not {"hb", "socialCare", "name", "dateOfBirth"} & set(person)
            await docs.locator("a.graphiql-doc-explorer-field-name", has_text=re.compile(r"^dwp$")).click()
            await docs.locator("a.graphiql-doc-explorer-type-name", has_text=re.compile(r"^DwpRecord$")).first.click()
            await page.wait_for_selector(".graphiql-doc-explorer-title:has-text('DwpRecord')")
            fields = await docs.locator("a.graphiql-doc-explorer-field-name").all_inner_texts()
            assert fields == ["blueBadgeAutomaticEligibility"]
            await page.screenshot(path=str(ARTIFACTS / "graphiql-docs.png"))
            # Nowhere in the docs: the search finds no award, no other purpose.
            search = docs.locator(".graphiql-doc-explorer-search-input input")
            for absent in ("awardsInPayment", "HB_OVERNIGHT_CARER_ROOM"):
                await search.fill(absent)
                await page.wait_for_selector(".graphiql-doc-explorer-search-empty")
            await search.fill("blueBadge")
            await page.wait_for_selector(
                ".graphiql-doc-explorer-search-field:has-text('blueBadgeAutomaticEligibility')"
            )
            await search.fill("")
            await search.press("Escape")  # the search's list closed: the editors take clicks again

            # A query, its NINO in the variables: the hub answers it (the token went with it).
            await page.click(".graphiql-query-editor .monaco-editor")
            await page.keyboard.press("ControlOrMeta+A")
            await page.keyboard.press("Delete")
            await page.keyboard.insert_text(BADGE)
            await page.click("button:has-text('Variables')")
            await page.click(".graphiql-editor-tool .monaco-editor")
            await page.keyboard.press("ControlOrMeta+A")
            await page.keyboard.press("Delete")
            await page.keyboard.insert_text(json.dumps({"n": P.PIP_MOVING}))
            await page.click(".graphiql-execute-button")
            response = page.locator(".graphiql-response")
            await response.locator("text=blueBadgeAutomaticEligibility").first.wait_for()
            answer = (await response.inner_text()).replace("\xa0", " ")  # Monaco's spaces
            assert '"blueBadgeAutomaticEligibility": true' in answer  # PIP_MOVING qualifies
            assert '"errors"' not in answer
            await page.screenshot(path=str(ARTIFACTS / "graphiql-answer.png"))

            # A reload keeps this tab signed in: the contract is loaded again, the header prefilled again.
            await page.reload()
            await page.wait_for_selector(".graphiql-container")
            await page.wait_for_function(
                "() => document.querySelector('.graphiql-editor-tool')?.innerText.includes('Bearer')"
            )
            await page.click("#sign-out")
            await page.wait_for_selector("#sign-in")
            assert await page.evaluate("() => sessionStorage.length") == 0  # the token, tabs and history gone
        finally:
            await browser.close()

    assert blocked == []  # nothing was asked of any host but the hub
    assert refused == []  # and the page's CSP refused nothing it needed
    assert [(m, p) for m, p, _ in sent if p == "/graphql/contract"] == [("GET", "/graphql/contract")] * 3
    posted = [body or "" for method, path, body in sent if method == "POST" and path == "/graphql"]
    assert len(posted) == 1  # the query: no introspection, ever (the docs are the contract)
    assert "__schema" not in posted[0]
    assert P.PIP_MOVING not in json.loads(posted[0])["query"]
    assert (ARTIFACTS / "graphiql-docs.png").stat().st_size > 10_000


@pytest.mark.parametrize("method", ["HEAD", "GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
@pytest.mark.parametrize("path", ["/graphql/contract?purpose=BLUE_BADGE", "/graphql?query={__typename}", "/graphql"])
async def test_no_method_reaches_an_api_route_without_a_token(
    settings: Settings, people: Any, method: str, path: str
) -> None:
    """Only a browser's GET of /graphql itself is let through without a token, and it is only redirected.
    HEAD (which Starlette answers on GET routes) is verified like GET; the rest are 405 before anything runs."""
    async with running_client(settings) as client:
        answer = await client.request(method, path, headers={"Accept": "text/html"})
    if method == "GET" and path == "/graphql":
        assert answer.status_code == 303
    elif method in ("HEAD", "GET", "POST"):
        assert answer.status_code == 401
    else:
        assert answer.status_code == 405


async def test_behind_a_root_path_the_routes_are_guarded_all_the_same(settings: Settings, people: Any) -> None:
    """A hub mounted under a root path is asked for /hub/graphql; its guards match what the router matches."""
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, root_path="/hub")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client,
    ):
        posted = await client.post("/hub/graphql", json={"query": "{ __typename }"})
        contract = await client.get("/hub/graphql/contract?purpose=BLUE_BADGE")
    for answer in (posted, contract):
        assert answer.status_code == 401, answer.text
        assert answer.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
