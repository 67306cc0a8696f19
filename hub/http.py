"""The HTTP face of the hub: pure ASGI middleware (body limit, bearer authentication with the per-address
throttle, rate limits), the GraphQL view, and the small routes (health, readiness, the audit keys).

Starlette's ``BaseHTTPMiddleware`` would cut the context that spans and the caller live in, so each
middleware here is plain ASGI.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import datetime as dt
import functools
import hashlib
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any

import asyncpg
import orjson
from cross_web import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.asgi import GraphQL

from hub.access.caller import Caller
from hub.access.notice import CONTRACT_PATH
from hub.access.policy import Register
from hub.access.ratelimit import (
    BASE_COST,
    REFUSAL_CODES,
    Bucket,
    BucketSpec,
    LocalBuckets,
    RateLimits,
    outcome_price,
    retry_after,
)
from hub.errors import (
    AuthError,
    BadUserInput,
    HubError,
    OperationNotRegistered,
    PersistedQueryMismatch,
    PersistedQueryNotFound,
    RateLimited,
)
from hub.execution.contract import purpose_sdl
from hub.execution.record import reasons_of, refused_token
from hub.execution.record import write as write_record
from hub.execution.redaction import sanitise_message
from hub.execution.schema import HubSchema
from hub.logs import REQUEST_ID
from hub.metrics import RATE_LIMITED
from hub.records.operations import operation_hash
from hub.records.ratelimits import RateLimiter
from hub.types import StoreName
from linkage import user_hash
from resolvers.arguments import public_period
from resolvers.context import RequestContext, Services

__all__ = [
    "CONTRACT_PATH",
    "GRAPHQL_RESPONSE",
    "LEGACY_JSON",
    "AddressThrottle",
    "BearerAuth",
    "BodyLimit",
    "GraphQLView",
    "RateLimit",
    "ThrottleLog",
    "health_routes",
    "is_request_error",
    "json_error",
    "negotiate",
    "publication_routes",
    "request_error_status",
    "route_path",
]

log = logging.getLogger("welfare_hub")

#: Where the verified caller travels from the authentication middleware to the GraphQL context.
CALLER = "welfare_hub.caller"
#: Where the GraphQL view leaves the request's context (was it refused?) and the codes of its answers,
#: for the rate limit to price the outcome once the response is sent.
REQUEST_CONTEXT = "welfare_hub.request_context"
OUTCOME_REFUSALS = "welfare_hub.outcome_refusals"
_REQUEST_ERROR = "welfare_hub.request_error"


class OrjsonResponse(JSONResponse):
    """A JSON response rendered by orjson (starlette's uses the standard library's encoder)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def json_error(
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, object] | None = None,
    *,
    media_type: str = "application/json",
) -> JSONResponse:
    body = {"errors": [{"message": message, "extensions": {"code": code, **(extensions or {})}}]}
    return OrjsonResponse(body, status, headers=headers, media_type=media_type)


# -- GraphQL over HTTP: the media types ------------------------------------------------------------------

#: The GraphQL-over-HTTP media types a response can have: the specification's own, and the legacy one.
GRAPHQL_RESPONSE = "application/graphql-response+json"
LEGACY_JSON = "application/json"


#: The most of an ``Accept`` or ``Content-Type`` header the hub reads: real clients send tens of bytes, and
#: parsing megabytes of media ranges held the event loop for seconds.
MAX_MEDIA_HEADER = 1024
# RFC 9110 12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
_SHA256 = re.compile(r"[0-9a-f]{64}")
#: The verified caller of the request being parsed (strawberry's request adapter does not say).
_SENDER: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("welfare_hub_sender", default=None)
_QVALUE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")


def _accepted(accept: str) -> dict[str, float]:
    """Each media range's weight (the highest where one is repeated); a range whose ``q`` is not a qvalue
    (``q=nan``, ``q=2``, ``q=abc``) is ignored, as if it were not there."""
    ranges: dict[str, float] = {}
    for part in accept.split(","):
        kind, *params = (p.strip() for p in part.split(";"))
        q: float | None = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                value = value.strip()
                q = float(value) if _QVALUE.fullmatch(value) else None
        if kind and q is not None:
            kind = kind.lower()
            ranges[kind] = max(q, ranges.get(kind, 0.0))
    return ranges


def _utf8(params: str) -> bool:
    """Whether a JSON request's media type parameters leave it UTF-8 (JSON is UTF-8: RFC 8259 8.1)."""
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            return False
    return True


def request_error_status(result: Any) -> int:
    """A request error's status for a client of ``application/graphql-response+json``: 400 for what the
    request was (a document, variables or a purpose refused), 503 when the hub could not decide now (a
    store it must write or read first was unavailable: it failed closed), 500 for the hub's own fault."""
    found = {str((e.extensions or {}).get("code", "")) for e in getattr(result, "errors", None) or []}
    if "INTERNAL_SERVER_ERROR" in found:
        return 500
    if any(c.endswith("_UNAVAILABLE") or c.endswith("_TIMEOUT") for c in found):
        return 503
    return 400


def negotiate(accept: str | None) -> str | None:
    """The response's media type for a request's ``Accept`` header, or None when it accepts neither.

    ``application/graphql-response+json`` when the client names it (and does not prefer JSON); otherwise
    ``application/json`` (what a client that sends no ``Accept``, or only wildcards, has always had: the
    specification's rule for legacy clients)."""
    if accept is None or not accept.strip():
        return LEGACY_JSON
    ranges = _accepted(accept)
    q_response = ranges.get(GRAPHQL_RESPONSE, 0.0)
    q_json = max((ranges.get(kind, 0.0) for kind in (LEGACY_JSON, "application/*", "*/*")), default=0.0)
    if q_response > 0 and q_response >= q_json:
        return GRAPHQL_RESPONSE
    if q_json > 0:
        return LEGACY_JSON
    return None


def is_request_error(result: Any) -> bool:
    """Whether an execution result is a request error: refused before execution began (a document that does
    not parse or validate, variables that do not coerce, a purpose refused up front), so that no ``data``
    entry belongs in it. A field error has a path; a request error's errors have none."""
    errors = getattr(result, "errors", None) or []
    return bool(errors) and getattr(result, "data", None) is None and all(e.path is None for e in errors)


def too_many_requests(limit: str, wait: int) -> JSONResponse:
    """429, with the wait in whole seconds (rounded up) in ``Retry-After`` and in the error's extensions."""
    RATE_LIMITED.add(1, _limited(limit))
    error = RateLimited(limit, wait)
    code = str(error.extensions.pop("code"))
    return json_error(429, code, error.message, {"Retry-After": str(wait)}, error.extensions)


@functools.lru_cache(maxsize=64)
def _limited(limit: str) -> dict[str, str]:
    return {"welfare_hub.rate_limit.limit": limit}


def client_address(scope: Scope) -> str:
    """The peer's address as the server saw it (behind a proxy, uvicorn's ``--proxy-headers`` with
    ``--forwarded-allow-ips`` makes it the client's)."""
    client = scope.get("client")
    return str(client[0]) if client else "(unknown)"


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
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await self._too_large()(scope, receive, send)
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
            await self._too_large()(scope, receive, send)

    def _too_large(self) -> JSONResponse:
        # Made when refusing, not for every request (it was 1.6% of the hub's CPU under load, made and thrown
        # away).
        return json_error(413, "REQUEST_TOO_LARGE", f"request body over {self.limit} bytes")


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


class ThrottleLog:
    """Which 429s are audited one by one: the first for each key (a bucket, an address) in each
    ``interval`` seconds; the rest are counted and the count logged once per interval. A flood of 429s
    is one audit record per throttled caller a minute, not one per request."""

    def __init__(self, *, interval: float = 60.0, max_keys: int = 10000) -> None:
        self.interval = interval
        self.max_keys = max_keys
        self._last: dict[str, float] = {}
        self._counted = 0
        self._report_at = 0.0

    def first(self, key: str) -> bool:
        now = time.monotonic()
        if self._counted and now >= self._report_at:
            log.warning("%d rate-limited requests were counted, not audited one by one", self._counted)
            self._counted = 0
        if now >= self._report_at:
            self._report_at = now + self.interval
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._counted += 1
            return False
        if len(self._last) >= self.max_keys:
            self._last = {k: t for k, t in self._last.items() if now - t < self.interval}
            if len(self._last) >= self.max_keys:
                self._counted += 1
                return False
        self._last[key] = now
        return True


class AddressThrottle:
    """Requests refused at the door, per client address, in this process's memory: each takes one unit
    before its token is checked (a valid token gets it back), so a flood of bad tokens from one address
    costs at most ``spec`` signature checks, and is answered 429 without one.

    A token that verified here lately (its digest remembered, at most ``max_tokens``) passes the throttle:
    it costs no signature check (the verifier's cache re-checks it only against the clock), so a caller
    already at work is not stopped by a flood from its address (a shared proxy)."""

    def __init__(self, spec: BucketSpec, *, max_addresses: int = 10000, max_tokens: int = 10000) -> None:
        self.spec = spec
        self.buckets = LocalBuckets(max_keys=max_addresses)
        self.log = ThrottleLog()
        self.max_tokens = max_tokens
        self._verified: OrderedDict[bytes, None] = OrderedDict()

    def _bucket(self, address: str) -> Bucket:
        return Bucket(f"address:{address}", "user", self.spec)

    @staticmethod
    def _digest(token: str) -> bytes:
        return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()

    def known(self, token: str) -> bool:
        """Whether ``token`` verified here lately (it will be verified again, from the verifier's cache)."""
        return bool(token) and self._digest(token) in self._verified

    def take(self, address: str) -> int | None:
        """None if admitted, else the seconds to wait."""
        levels = self.buckets.take([self._bucket(address)], BASE_COST, time.monotonic())
        if all(lv.granted for lv in levels):
            return None
        self.log.first(address)  # counted and logged, not audited: an unverified caller names no one
        return retry_after(levels)

    async def admit(self, address: str, token: str, verify: Callable[[str], Awaitable[Caller]]) -> Caller:
        """The caller ``token`` names, for every door a token comes in by: a token not verified lately costs
        ``address`` a unit first (RateLimited when it has none), and gets it back once verified; AuthError
        from ``verify`` as it is (a remembered token found expired is forgotten)."""
        took = not self.known(token)
        if took and (wait := self.take(address)) is not None:
            raise RateLimited("client address", wait)
        try:
            caller = await verify(token)
        except AuthError:
            if not took:
                self.forget(token)  # expired since: throttled like any other from now on
            raise
        self.verified(address, token, took=took)
        return caller

    def forget(self, token: str) -> None:
        self._verified.pop(self._digest(token), None)

    def verified(self, address: str, token: str, *, took: bool) -> None:
        """``token`` verified: its unit goes back, and it passes the throttle from now on."""
        if took:
            self.buckets.refund([self._bucket(address)], BASE_COST, time.monotonic())
        digest = self._digest(token)
        self._verified[digest] = None
        self._verified.move_to_end(digest)
        while len(self._verified) > self.max_tokens:
            self._verified.popitem(last=False)


class _NoToken(AuthError):
    """No bearer token at all (answered with the realm, not as an invalid token)."""


_VERIFIED = frozenset({"GET", "HEAD", "POST"})


def route_path(scope: Scope) -> str:
    """The path the router matches: the request's, less the root path it is mounted under (a hub served
    behind ``--root-path /hub`` is asked for ``/hub/graphql``, and its router matches ``/graphql``). Every
    middleware that guards a route matches this, never ``scope["path"]`` alone."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and (len(path) == len(root) or path[len(root)] == "/"):
        return path[len(root) :] or "/"
    return path


class BearerAuth:
    """The caller of the GraphQL endpoint, from a verified bearer token (signature, expiry, audience,
    issuer), or 401. Every refusal is reported to ``refused`` with its code, to be audited. With a
    ``throttle``, an address whose requests keep being refused is answered 429 before any token is read.

    Only a browser opening GraphiQL's old address is answered without a token: a GET of ``browser_redirect``'s
    path alone, asking for HTML, is sent to its location (303) here, and reaches nothing behind; other methods
    go on to the router, which answers 405."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        verify: Callable[[str], Awaitable[Caller]],
        refused: Callable[[str], Awaitable[None]],
        paths: Collection[str] = frozenset({"/graphql"}),
        browser_redirect: tuple[str, str] | None = None,
        throttle: AddressThrottle | None = None,
    ) -> None:
        self.app = app
        self.verify = verify
        self.refused = refused
        self.paths = paths
        self.browser_redirect = browser_redirect
        self.throttle = throttle

    async def _verify_given(self, token: str) -> Caller:
        if not token:
            raise _NoToken("a bearer token is required")
        return await self.verify(token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # GET, HEAD (which Starlette answers on every GET route) and POST are verified; any other method goes
        # on to the router, whose routes answer it 405 without running anything.
        if scope["type"] != "http" or route_path(scope) not in self.paths or scope["method"] not in _VERIFIED:
            await self.app(scope, receive, send)
            return
        headers: dict[bytes, bytes] = {}
        for name, value in scope.get("headers", []):
            headers.setdefault(name.lower(), value)  # the first of repeated headers, as Starlette reads them
        if (
            self.browser_redirect is not None
            and route_path(scope) == self.browser_redirect[0]
            and scope["method"] == "GET"
            and not scope.get("query_string")
            and b"text/html" in headers.get(b"accept", b"")
        ):
            # strawberry's own GraphiQL (a CDN's scripts, introspection) is never served: the hub's instead.
            location = scope.get("root_path", "") + self.browser_redirect[1]
            await RedirectResponse(location, status_code=303)(scope, receive, send)
            return
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        address = client_address(scope)
        try:
            if self.throttle is not None:
                caller = await self.throttle.admit(address, token, self._verify_given)
            else:
                caller = await self._verify_given(token)
        except RateLimited as e:
            await too_many_requests("client address", e.retry_after)(scope, receive, send)
            return
        except _NoToken:
            await self.refused("UNAUTHENTICATED")
            response = json_error(
                401, "UNAUTHENTICATED", "a bearer token is required", {"WWW-Authenticate": 'Bearer realm="welfare-hub"'}
            )
            await response(scope, receive, send)
            return
        except AuthError as e:
            code = str(e.extensions["code"])
            await self.refused(code)
            await json_error(401, code, e.message, {"WWW-Authenticate": 'Bearer error="invalid_token"'})(
                scope, receive, send
            )
            return
        scope[CALLER] = caller
        await self.app(scope, receive, send)


class RateLimit:
    """Token buckets per user and per organisation (:mod:`hub.access.ratelimit`), shared by every pod
    (:mod:`hub.records.ratelimits`): a verified caller over either budget is answered 429 before its
    document is read. The base cost is taken before the request runs; the extra price of a refusal or a
    not-found answer is charged after, from the outcome the GraphQL view leaves in the scope.

    ``throttled`` hears of each 429 (the caller, and the bucket that refused), to audit or count it."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: RateLimiter,
        limits: RateLimits,
        user_hash: Callable[[Caller], str],
        throttled: Callable[[Caller, Bucket], Awaitable[None]],
        paths: Collection[str] = frozenset({"/graphql"}),
        in_flight: int = 32,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.limits = limits
        self.in_flight = in_flight  # requests one user may have running at once on this pod
        self._running: dict[str, int] = {}
        self.user_hash = user_hash
        self.throttled = throttled
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        caller: Caller | None = (
            scope.get(CALLER) if scope["type"] == "http" and route_path(scope) in self.paths else None
        )
        if caller is None or not self.limits.enabled:
            await self.app(scope, receive, send)
            return
        buckets = self.limits.buckets(org=caller.org, org_type=caller.org_type, user_hash=self.user_hash(caller))
        # The base is taken before the request runs; the price of its outcome is settled after, per lookup
        # that named no one (eight aliased lookups in one document cost eight). A burst sent all at once
        # would each pay only the base until their outcomes are charged: each user has at most
        # ``in_flight`` requests running on this pod (a slot taken before anything is awaited), so the debt
        # catches up within that many.
        user_key = next(b.key for b in buckets if b.scope == "user")
        if self._running.get(user_key, 0) >= self.in_flight:
            await too_many_requests("user", 1)(scope, receive, send)
            return
        self._running[user_key] = self._running.get(user_key, 0) + 1
        try:
            await self._limited(caller, buckets, scope, receive, send)
        finally:
            left = self._running.pop(user_key) - 1
            if left:
                self._running[user_key] = left

    async def _limited(
        self, caller: Caller, buckets: Sequence[Bucket], scope: Scope, receive: Receive, send: Send
    ) -> None:
        upfront = BASE_COST
        levels = await self.limiter.take(buckets, upfront)
        refused = [lv for lv in levels if not lv.granted]
        if refused:
            wait = retry_after(levels, upfront)
            worst = max(refused, key=lambda lv: (upfront - lv.tokens) / lv.bucket.spec.per_second)
            await self.throttled(caller, worst.bucket)
            await too_many_requests(worst.bucket.scope, wait)(scope, receive, send)
            return
        await self.app(scope, receive, send)
        ctx: RequestContext | None = scope.get(REQUEST_CONTEXT)
        price = outcome_price(
            refused=ctx is not None and ctx.refused,
            refusals=scope.get(OUTCOME_REFUSALS, 0),
            refusal_cost=self.limits.for_type(caller.org_type).refusal_cost,
        )
        if price > upfront:
            await self.limiter.charge(buckets, price - upfront)


_NOBODY = Caller(org="anonymous", org_type="none", user="anonymous", role="none", purposes=frozenset())


def refusals_in(result: Any) -> int:
    """How many of a result's errors are refusals or not-found answers (by their true, audited reason)."""
    return sum(reason in REFUSAL_CODES for reason in reasons_of(result))


class GraphQLView(GraphQL[RequestContext, None]):
    """strawberry's ASGI view, with the caller taken from the verified bearer token and JSON by orjson."""

    def __init__(self, schema: HubSchema, services: Callable[[], Services]) -> None:
        # strawberry's own GraphiQL loads from a public CDN and introspects: never served (a browser opening
        # /graphql is sent to the hub's own by BearerAuth, :mod:`hub.graphiql`).
        super().__init__(schema, graphql_ide=None, allow_queries_via_get=False)
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

    async def parse_http_body(self, request: Any) -> Any:
        """The request as strawberry reads it, with a registered operation put in where it was named by hash
        (APQ), and a partner organisation's operation refused unless registered for it — before anything
        is parsed, validated or read."""
        data = await super().parse_http_body(request)
        if isinstance(data, list):
            return data  # batches are refused by strawberry (not enabled)
        caller = _SENDER.get()
        if caller is None:
            return data
        persisted = (data.extensions or {}).get("persistedQuery")
        named = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
        if persisted is not None and (not isinstance(named, str) or not _SHA256.fullmatch(named)):
            raise BadUserInput("extensions.persistedQuery.sha256Hash must be 64 lower-case hex digits")
        partner = caller.org_type in self.services().register.persisted_only
        if data.query is None and named is not None:
            document = await self.services().operations.document(caller.org, named)
            if document is None:
                if partner:
                    raise OperationNotRegistered("only your organisation's registered operations are run")
                raise PersistedQueryNotFound("no operation is registered by that hash: send the document")
            data.query = document
            return data
        if data.query is not None and named is not None and operation_hash(data.query) != named:
            raise PersistedQueryMismatch("the document's sha256 is not the hash it was sent with")
        registered = self.services().operations.document
        if (
            partner
            and data.query is not None
            and await registered(caller.org, named or operation_hash(data.query)) is None
        ):
            raise OperationNotRegistered("only your organisation's registered operations are run")
        return data

    async def get_context(self, request: Any, response: Any) -> RequestContext:
        # Only the GraphiQL page (development, GET, no query run) arrives without a verified caller.
        caller: Caller = request.scope.get(CALLER, _NOBODY)
        context = request.scope[REQUEST_CONTEXT] = RequestContext(services=self.services(), caller=caller)
        REQUEST_ID.set(str(context.request_id))  # every log line of this request names its audit record
        return context

    async def process_result(self, request: Any, result: Any) -> Any:
        # The outcome, for the rate limit to price after the response: how many of its errors are refusals
        # or not-found answers (each aliased lookup that named no one is priced, not the request once).
        request.scope[OUTCOME_REFUSALS] = refusals_in(result)
        processed = await super().process_result(request, result)
        if is_request_error(result):
            # No execution, so no data entry (GraphQL's response format), and a 4xx where the client asked
            # for the specification's media type.
            processed.pop("data", None)
            request.scope[_REQUEST_ERROR] = request_error_status(result)
        return processed

    async def _audit_refusal(self, request: Request, code: str) -> None:
        caller: Caller | None = request.scope.get(CALLER)
        if caller is None:
            return
        services = self.services()
        refusal = dataclasses.replace(
            refused_token(code),
            caller_org=caller.org,
            caller_org_type=caller.org_type,
            caller_user_hash=user_hash(services.key_ring, caller.org, caller.user),
        )
        try:
            await write_record(services.audit, refusal)
        except Exception as e:  # nothing was read: a failed write is only logged
            log.error("audit write for a refused operation failed: %s", type(e).__name__)

    async def endpoint(self, request: Request) -> Response:
        # Repeated Accept headers are one list (RFC 9110 5.3); Content-Type is one value.
        accept = ", ".join(request.headers.getlist("accept")) or None
        content_types = request.headers.getlist("content-type")
        if len(accept or "") > MAX_MEDIA_HEADER or sum(len(c) for c in content_types) > MAX_MEDIA_HEADER:
            return json_error(
                431,
                "REQUEST_HEADER_TOO_LARGE",
                f"the Accept and Content-Type headers are read up to {MAX_MEDIA_HEADER} bytes each",
            )
        media = negotiate(accept)
        if request.method != "POST":
            # A query's variables in a URL, a NINO among them, land in proxy and server logs: only POST runs
            # one. Every other method alike.
            return json_error(
                405,
                "METHOD_NOT_ALLOWED",
                "a GraphQL request is POSTed",
                {"Allow": "POST"},
                media_type=media or LEGACY_JSON,
            )
        if request.method == "POST":
            if media is None:
                return json_error(
                    406,
                    "NOT_ACCEPTABLE",
                    f"a GraphQL response is {GRAPHQL_RESPONSE} or {LEGACY_JSON}: the Accept header names neither",
                )
            kind, _, params = (content_types[0] if len(content_types) == 1 else "").partition(";")
            if kind.strip().lower() != LEGACY_JSON or not _utf8(params):
                return json_error(
                    415,
                    "UNSUPPORTED_MEDIA_TYPE",
                    f"a GraphQL request is POSTed as {LEGACY_JSON} (UTF-8)",
                    {"Accept-Post": LEGACY_JSON},
                    media_type=media,
                )
            # strawberry reads the type as it was sent, case and all: it is given the one form it knows.
            request.scope["headers"] = [
                (k, LEGACY_JSON.encode()) if k.lower() == b"content-type" else (k, v)
                for k, v in request.scope["headers"]
            ]
            request = Request(request.scope, request.receive)
        media = media or LEGACY_JSON
        if CALLER not in request.scope:  # fail closed: BearerAuth verifies every POST that reaches here
            return json_error(
                401,
                "UNAUTHENTICATED",
                "a bearer token is required",
                {"WWW-Authenticate": 'Bearer realm="welfare-hub"'},
                media_type=media,
            )
        _SENDER.set(request.scope.get(CALLER))  # this request's task only (parse_http_body reads it)
        try:
            response: Response = await self.run(request)
        except HTTPException as e:
            # strawberry's reasons can quote the request (an unknown operation name): never echo input.
            return json_error(e.status_code, "BAD_REQUEST", sanitise_message(e.reason), media_type=media)
        except HubError as e:
            # A persisted operation not found, not registered or not matching its hash: nothing was parsed
            # or read. A partner's unregistered operation is a refusal, and audited as one.
            if e.refusal:
                await self._audit_refusal(request, str(e.extensions["code"]))
            code = str(e.extensions["code"])
            failed = 503 if code.endswith("_UNAVAILABLE") else 400
            return json_error(failed if media == GRAPHQL_RESPONSE else 200, code, e.message, media_type=media)
        except ClientDisconnect:
            # Gone before its body arrived: nothing was run, and no one is there to read an answer. Not the
            # server's error (uvicorn would log a traceback and count a 500 for a client's hang-up).
            return json_error(400, "BAD_REQUEST", "the request body did not arrive", media_type=media)
        finally:
            context = request.scope.get(REQUEST_CONTEXT)
            if context is not None:
                context.finish()
        if request.method == "POST":
            response.headers["content-type"] = f"{media}; charset=utf-8"
            if media == GRAPHQL_RESPONSE and (error_status := request.scope.get(_REQUEST_ERROR)):
                response.status_code = error_status
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


def contract_routes(full_sdl: str, register: Register) -> list[Route]:
    """``GET /graphql/contract?purpose=P``: the schema contract of a purpose the caller's organisation holds
    and its token grants (:func:`hub.execution.contract.purpose_sdl`), as SDL: what a front end for that
    purpose may ask, and its docs (GraphiQL builds its schema from it, so no introspection is needed). An
    unknown purpose and one not the caller's are one answer, 404. Bearer token required (BearerAuth)."""
    made: dict[str, bytes] = {}

    async def contract(request: Request) -> Response:
        caller: Caller | None = request.scope.get(CALLER)
        if caller is None:  # fail closed: BearerAuth verifies every method that reaches here
            return json_error(
                401, "UNAUTHENTICATED", "a bearer token is required", {"WWW-Authenticate": 'Bearer realm="welfare-hub"'}
            )
        purpose = request.query_params.get("purpose", "")
        spec = register.purposes.get(purpose)
        if spec is None or caller.org_type not in spec.org_types or purpose not in caller.purposes:
            return json_error(404, "NOT_FOUND", "no such purpose is granted to your organisation")
        sdl = made.get(purpose)
        if sdl is None:
            sdl = made[purpose] = purpose_sdl(full_sdl, spec).encode()
        return Response(sdl, media_type="text/plain; charset=utf-8", headers={"Cache-Control": "private, max-age=300"})

    return [Route(CONTRACT_PATH, contract, methods=["GET"])]


def publication_routes(
    report: Callable[[dt.datetime, dt.datetime], Awaitable[Mapping[str, Any]]],
    *,
    throttle: AddressThrottle | None,
    cache_seconds: float = 60.0,
) -> list[Route]:
    """``GET /transparency``: the transparency report, public (counts only, never who or about whom), with
    no token. ``since`` and ``until`` (midnights, ISO 8601 with an offset) choose the period: whole days that
    have ended, the 30 days to today's start by default (:func:`resolvers.arguments.public_period`). Each
    address is throttled (its own throttle: anonymous callers must not spend the one the API's tokens
    share), and an answer is kept ``cache_seconds``, so a flood costs the audit database one query a
    minute per period asked for."""
    cache: OrderedDict[tuple[str, str], tuple[float, bytes]] = OrderedDict()

    async def transparency(request: Request) -> Response:
        address = request.client.host if request.client else "unknown"
        if throttle is not None and (wait := throttle.take(address)) is not None:
            return too_many_requests("client address", wait)
        try:
            since, until = public_period(
                _instant(request.query_params.get("since")), _instant(request.query_params.get("until"))
            )
        except (BadUserInput, ValueError, OverflowError) as e:
            message = e.message if isinstance(e, BadUserInput) else "since and until are ISO 8601 times with an offset"
            return json_error(400, "BAD_USER_INPUT", message)
        key = (since.isoformat(), until.isoformat())
        now = time.monotonic()
        hit = cache.get(key)
        if hit is None or now - hit[0] > cache_seconds:
            try:
                data = await report(since, until)
            except HubError as e:
                return json_error(503, str(e.extensions["code"]), e.message)
            # Wrapped: its own "errors" (a count) must not read as a GraphQL-shaped error list.
            hit = (now, orjson.dumps({"transparencyReport": data}, default=str))
            cache[key] = hit
            while len(cache) > 64:
                cache.popitem(last=False)
        return Response(
            hit[1], media_type="application/json", headers={"Cache-Control": f"public, max-age={int(cache_seconds)}"}
        )

    return [Route("/transparency", transparency)]


def _instant(value: str | None) -> dt.datetime | None:
    return None if value is None or value == "" else dt.datetime.fromisoformat(value)
