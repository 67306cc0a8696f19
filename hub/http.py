"""The HTTP face of the hub: pure ASGI middleware (body limit, bearer authentication), the GraphQL view, and
the small routes (health, readiness, the audit keys).

Starlette's ``BaseHTTPMiddleware`` would cut the context that spans and the caller live in, so each
middleware here is plain ASGI.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

import asyncpg
import orjson
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.asgi import GraphQL

from hub.access.caller import Caller
from hub.errors import AuthError
from hub.execution.redaction import sanitise_message
from hub.execution.schema import HubSchema
from hub.types import StoreName
from resolvers.context import RequestContext, Services

__all__ = ["BearerAuth", "BodyLimit", "GraphQLView", "health_routes", "json_error"]

log = logging.getLogger("welfare_hub")

#: Where the verified caller travels from the authentication middleware to the GraphQL context.
CALLER = "welfare_hub.caller"


def json_error(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": code}}]}, status, headers=headers)


class _TooLarge(Exception):
    pass


class BodyLimit:
    """Refuse bodies over ``limit`` bytes (413), by their Content-Length or as they stream in."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = json_error(413, "REQUEST_TOO_LARGE", f"request body over {self.limit} bytes")
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await too_large(scope, receive, send)
                return
        received = 0

        async def limited() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await too_large(scope, receive, send)


class RefusalBudget:
    """At most ``per_second`` a second; what is refused beyond it is counted and logged once a second."""

    def __init__(self, *, per_second: float) -> None:
        self.per_second = per_second
        self._second = 0
        self._used = 0
        self._over = 0

    def take(self) -> bool:
        second = int(time.monotonic())
        if second != self._second:
            if self._over:
                log.warning("%d refused tokens beyond the audit rate were not audited one by one", self._over)
            self._second, self._used, self._over = second, 0, 0
        if self._used < self.per_second:
            self._used += 1
            return True
        self._over += 1
        return False


class BearerAuth:
    """The caller of the GraphQL endpoint, from a verified bearer token (signature, expiry, audience,
    issuer), or 401. Every refusal is reported to ``refused`` with its code, to be audited.

    Only the GraphiQL page (outside production: a GET asking for HTML, which runs no query) is let through
    without a token; other methods go on to the router, which answers 405."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        verify: Callable[[str], Awaitable[Caller]],
        refused: Callable[[str], Awaitable[None]],
        paths: Collection[str] = frozenset({"/graphql"}),
        ide: bool = False,
    ) -> None:
        self.app = app
        self.verify = verify
        self.refused = refused
        self.paths = paths
        self.ide = ide

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths or scope["method"] not in {"GET", "POST"}:
            await self.app(scope, receive, send)
            return
        headers: dict[bytes, bytes] = {}
        for name, value in scope.get("headers", []):
            headers.setdefault(name.lower(), value)  # the first of repeated headers, as Starlette reads them
        if self.ide and scope["method"] == "GET" and b"text/html" in headers.get(b"accept", b""):
            await self.app(scope, receive, send)
            return
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            await self.refused("UNAUTHENTICATED")
            response = json_error(
                401, "UNAUTHENTICATED", "a bearer token is required", {"WWW-Authenticate": 'Bearer realm="welfare-hub"'}
            )
            await response(scope, receive, send)
            return
        try:
            caller = await self.verify(token.strip())
        except AuthError as e:
            code = str(e.extensions["code"])
            await self.refused(code)
            await json_error(401, code, e.message, {"WWW-Authenticate": 'Bearer error="invalid_token"'})(
                scope, receive, send
            )
            return
        scope[CALLER] = caller
        await self.app(scope, receive, send)


_NOBODY = Caller(org="anonymous", org_type="none", user="anonymous", role="none", purposes=frozenset())


class GraphQLView(GraphQL[RequestContext, None]):
    """strawberry's ASGI view, with the caller taken from the verified bearer token and JSON by orjson."""

    def __init__(self, schema: HubSchema, services: Callable[[], Services], *, ide: bool) -> None:
        super().__init__(schema, graphql_ide="graphiql" if ide else None, allow_queries_via_get=False)
        self.services = services

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        # orjson refuses invalid UTF-8 and nesting deeper than 1024 with a JSONDecodeError (a 400), where
        # the stdlib parser raised UnicodeDecodeError or RecursionError (a 500).
        value = orjson.loads(data)
        if not isinstance(value, dict):
            raise json.JSONDecodeError("a GraphQL request body is a JSON object", "", 0)
        return value

    async def get_context(self, request: Any, response: Any) -> RequestContext:
        # Only the GraphiQL page (development, GET, no query run) arrives without a verified caller.
        caller: Caller = request.scope.get(CALLER, _NOBODY)
        return RequestContext(services=self.services(), caller=caller)

    async def endpoint(self, request: Request) -> Response:
        try:
            response: Response = await self.run(request)
        except HTTPException as e:
            # strawberry's reasons can quote the request (an unknown operation name): never echo input.
            return json_error(e.status_code, "BAD_REQUEST", sanitise_message(e.reason))
        return response


def health_routes(pools: Mapping[StoreName, asyncpg.Pool], *, timeout: float) -> list[Route]:
    """``/healthz`` (the process is alive) and ``/readyz`` (every store answers now)."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        async def check(store: StoreName, pool: asyncpg.Pool) -> tuple[str, bool]:
            try:
                async with asyncio.timeout(timeout):
                    await pool.fetchval("SELECT 1")
                return store, True
            except Exception:
                return store, False

        results = dict(await asyncio.gather(*(check(s, p) for s, p in pools.items())))
        ready = bool(results) and all(results.values())
        return JSONResponse({"status": "ready" if ready else "not ready", "stores": results}, 200 if ready else 503)

    return [Route("/healthz", healthz), Route("/readyz", readyz)]
