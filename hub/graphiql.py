"""GraphiQL, served whole by the hub: ``GET /graphiql`` and its assets under ``/graphiql/static/``.

Council networks are often closed, so nothing is fetched from a CDN: the page's script, styles, fonts and
Monaco's workers are a bundle built from pinned npm packages (``graphiql/``, ``scripts/build-graphiql``)
and shipped in ``hub/static/graphiql/`` with its ``manifest.json`` (each file's SHA-256, checked here when
the app is built, and the packages' versions, checked against ``package-lock.json`` by the tests).

The page asks for a bearer token and a purpose, then loads the purpose's schema contract
(``GET /graphql/contract``, :func:`hub.http.contract_routes`) for its docs and autocomplete: what a caller is
shown is what that purpose may ask, and introspection is never used. So it is served in production too: it
holds no data and runs no query by itself; every request it sends carries the caller's token and meets the
same checks as any other client's.

Its Content-Security-Policy allows scripts from the hub alone and no inline script (the bundle is all of
it), requests to the hub alone, nothing framing it. Styles may be inline: Monaco (GraphiQL's editor) writes
its theme into ``<style>`` elements at run time and has no nonce support; scripts are what a CSP must hold.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import hashlib
import html
import json
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route

from hub.access.notice import CONTRACT_PATH
from hub.errors import ConfigError

__all__ = ["ROOT", "STATIC", "Bundle", "graphiql_routes"]

ROOT = "/graphiql"
STATIC = f"{ROOT}/static"

#: The bundle's files the page names (the manifest's logical names); the rest (fonts) its stylesheet names.
_SCRIPT, _STYLES, _WORKERS = "graphiql.js", "graphiql.css", ("editor.worker.js", "json.worker.js", "graphql.worker.js")
_MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".ttf": "font/ttf",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
}
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; worker-src 'self'; connect-src 'self'; "
        "style-src 'self' 'unsafe-inline'; font-src 'self' data:; img-src 'self' data:; "
        "form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # The page names the bundle's hashed files: a new release's page must never be answered from a cache.
    "Cache-Control": "no-store",
}
_ASSET_HEADERS = {
    # Named by their content's hash: a year, never revalidated.
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "same-origin",
}
_GZIP_AT_LEAST = 1024


@dataclass(frozen=True)
class Asset:
    file: str
    body: bytes
    sha256: str

    @property
    def media_type(self) -> str:
        return _MEDIA_TYPES.get(self.file[self.file.rfind(".") :], "application/octet-stream")


@dataclass(frozen=True)
class Bundle:
    """The built bundle: its manifest, and every file it names, read and checked against its hash."""

    assets: dict[str, Asset]  # by logical name ("graphiql.js")
    packages: dict[str, str]  # npm package -> version built from

    @classmethod
    def load(cls, folder: Traversable | None = None) -> Bundle:
        """The bundle in ``folder`` (the package's ``static/graphiql``), or ConfigError naming every problem."""
        folder = folder if folder is not None else resources.files("hub") / "static" / "graphiql"
        rebuild = "rebuild it with scripts/build-graphiql"
        try:
            manifest: dict[str, Any] = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
            listed: dict[str, dict[str, Any]] = manifest["assets"]
            packages = {str(k): str(v) for k, v in manifest["packages"].items()}
        except (OSError, ValueError, KeyError, AttributeError) as e:
            raise ConfigError(
                [f"GraphiQL's bundle has no readable manifest.json ({type(e).__name__}): {rebuild}"]
            ) from e
        problems: list[str] = []
        assets: dict[str, Asset] = {}
        for name, entry in listed.items():
            try:
                body = (folder / entry["file"]).read_bytes()
            except (OSError, KeyError, TypeError):
                problems.append(f"GraphiQL's {name} is missing from the bundle: {rebuild}")
                continue
            if hashlib.sha256(body).hexdigest() != entry.get("sha256"):
                problems.append(f"GraphiQL's {entry['file']} does not match its manifest's SHA-256: {rebuild}")
                continue
            assets[name] = Asset(file=str(entry["file"]), body=body, sha256=str(entry["sha256"]))
        problems += [
            f"GraphiQL's bundle has no {name}: {rebuild}"
            for name in (_SCRIPT, _STYLES, *_WORKERS)
            if name not in listed
        ]
        if problems:
            raise ConfigError(problems)
        return cls(assets=assets, packages=packages)


@functools.cache
def _bundle() -> Bundle:
    # Read once per process: every app the process builds (the tests build many) serves the same files.
    return Bundle.load()


#: Each asset gzipped, by its SHA-256: compressed at its first request in the process, then kept.
_GZIPPED: dict[str, bytes] = {}


async def _gzipped(asset: Asset) -> bytes:
    found = _GZIPPED.get(asset.sha256)
    if found is None:
        # Off the event loop: the script is megabytes.
        found = _GZIPPED[asset.sha256] = await asyncio.to_thread(gzip.compress, asset.body, 6, mtime=0)
    return found


def _accepts_gzip(request: Request) -> bool:
    for part in request.headers.get("accept-encoding", "")[:256].split(","):
        coding, *params = (p.strip().lower() for p in part.split(";"))
        if coding == "gzip":
            return not any(p.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in params)
    return False


def _page(bundle: Bundle, root_path: str = "") -> str:
    """The page: the bundle's stylesheet and script, and what the script needs to know (where the API, the
    contracts and Monaco's workers are) as data, never as inline script."""
    static, api = f"{root_path}{STATIC}", f"{root_path}/graphql"
    config = {
        "api": api,
        "contract": f"{root_path}{CONTRACT_PATH}",
        "assets": {name: f"{static}/{bundle.assets[name].file}" for name in _WORKERS},
    }
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>GraphiQL: welfare hub</title>
<link rel="stylesheet" href="{html.escape(f"{static}/{bundle.assets[_STYLES].file}")}">
<script defer src="{html.escape(f"{static}/{bundle.assets[_SCRIPT].file}")}"></script>
</head>
<body>
<div id="graphiql-root" data-config="{html.escape(json.dumps(config, separators=(",", ":")))}">
<noscript>GraphiQL needs JavaScript. The API answers any GraphQL client at {html.escape(api)}.</noscript>
</div>
</body>
</html>
"""


def graphiql_routes(bundle: Bundle | None = None) -> list[Route | Mount]:
    """``GET /graphiql`` (the page) and ``GET /graphiql/static/{file}`` (the bundle's files, by their hashed
    names, gzipped for clients that take it). A missing or altered bundle fails here, at start-up."""
    bundle = bundle if bundle is not None else _bundle()
    by_file = {asset.file: asset for asset in bundle.assets.values()}

    async def graphiql(request: Request) -> Response:
        return HTMLResponse(_page(bundle, request.scope.get("root_path", "")), headers=_PAGE_HEADERS)

    async def static(request: Request) -> Response:
        asset = by_file.get(request.path_params["file"])
        if asset is None:
            return PlainTextResponse("not found", status_code=404, headers={"Cache-Control": "no-store"})
        headers = {**_ASSET_HEADERS, "ETag": f'"{asset.sha256}"', "Vary": "Accept-Encoding"}
        if request.headers.get("if-none-match") == headers["ETag"]:
            return Response(status_code=304, headers=headers)
        body = asset.body
        if len(body) >= _GZIP_AT_LEAST and _accepts_gzip(request):
            body = await _gzipped(asset)
            headers["Content-Encoding"] = "gzip"
        return Response(body, media_type=asset.media_type, headers=headers)

    return [Route(ROOT, graphiql, methods=["GET"]), Route(f"{STATIC}/{{file}}", static, methods=["GET"])]
