"""The service: a Starlette app whose lifespan owns the database pools.

Routes: ``POST /graphql`` (bearer token required; GraphiQL on GET outside production), ``/healthz``
(the process is alive), ``/readyz`` (every store answers now).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson
from cross_web import HTTPException
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.asgi import GraphQL

from hub.access.keys import load_key_ring
from hub.access.notice import field_descriptions
from hub.access.orgs import OrgRegister
from hub.access.policy import Register, load_register
from hub.access.tokens import Caller, TokenVerifier, UnknownKeyId, jwks_source
from hub.audit import tracing
from hub.audit.chain import AuditKeys, AuditRecord, PgAuditSink, write_checkpoint
from hub.audit.reports import AuditLog, VerificationCache
from hub.audit.tracing import SpanStore, TraceMiddleware
from hub.config import Settings
from hub.console import console_routes
from hub.db import create_store_pool
from hub.errors import AuthError, ConfigError
from hub.execution.schema import HubSchema, build_schema, sanitise_message
from hub.records.complaints import ComplaintStore
from hub.records.consent import ConsentStore
from hub.records.corrections import CorrectionStore
from hub.records.interests import InterestStore
from hub.records.links import LinkIndex, ReviewQueue, load_link_model
from hub.records.notifications import CorrectionNotices, Dispatcher, NotificationStore
from hub.types import SOURCE_STORES, StoreName
from linkage import FSModel, KeyRing, Thresholds
from resolvers.context import RequestContext, Services
from resolvers.interests import answers_from
from resolvers.sensitivity import field_tiers
from resolvers.source_spans import source_span
from resolvers.sources.direct import direct_sources
from resolvers.types import Purpose

__all__ = ["Hooks", "create_app", "load_purposes", "schema_coordinates"]

log = logging.getLogger("welfare_hub")


@dataclass
class Hooks:
    """Seams for tests and benchmarks: observe every source connection (e.g. count its queries)."""

    on_source_connect: Callable[[StoreName, asyncpg.Connection], Awaitable[None]] | None = None


def schema_coordinates(schema: HubSchema) -> set[str]:
    return set(field_descriptions(schema._schema))


def load_purposes(settings: Settings, schema: HubSchema) -> Register:
    """The purpose register, checked against the schema this process serves."""
    descriptions = field_descriptions(schema._schema)
    return load_register(
        settings.purposes_path,
        schema_coordinates=set(descriptions),
        purpose_ids={p.value for p in Purpose},
        field_tiers=field_tiers(schema.as_str()),
        descriptions=descriptions,
    )


class _Budget:
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


def _json_error(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": code}}]}, status, headers=headers)


class _BodyLimit:
    """Pure ASGI middleware (BaseHTTPMiddleware would break contextvars): refuse oversized bodies (413)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await _json_error(413, "REQUEST_TOO_LARGE", f"request body over {self.limit} bytes")(
                    scope, receive, send
                )
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
            await _json_error(413, "REQUEST_TOO_LARGE", f"request body over {self.limit} bytes")(scope, receive, send)


class _TooLarge(Exception):
    pass


_NOBODY = Caller(org="anonymous", org_type="none", user="anonymous", role="none", purposes=frozenset())


class HubGraphQL(GraphQL[RequestContext, None]):
    """strawberry's ASGI view, with the caller taken from the verified bearer token."""

    def __init__(self, schema: HubSchema, state: _State, settings: Settings) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if not settings.production else None,
            allow_queries_via_get=False,
        )
        self.state = state

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
        caller: Caller = request.scope.get("welfare_hub.caller", _NOBODY)
        return RequestContext(services=self.state.services(), caller=caller)


@dataclass
class _State:
    settings: Settings
    verifier: TokenVerifier
    key_ring: KeyRing
    register: Register
    link_model: FSModel | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    pools: dict[StoreName, asyncpg.Pool] = field(default_factory=dict)
    _services: Services | None = None

    def services(self) -> Services:
        if self._services is None:
            raise RuntimeError("the hub is not started (lifespan not run)")
        return self._services


def _observer(hooks: Hooks, store: StoreName) -> Callable[[asyncpg.Connection], Awaitable[None]] | None:
    observe = hooks.on_source_connect
    if observe is None:
        return None

    async def on_connect(conn: asyncpg.Connection) -> None:
        await observe(store, conn)

    return on_connect


Job = Callable[[], Awaitable[object]]


async def _every(seconds: float, job: Job, what: str, *, limit: float | None) -> None:
    """Run ``job`` every ``seconds`` until cancelled. A failure is logged and the next round tries again:
    these are the service's background roles (checkpoints, spans, interests), never a request's work."""
    while True:
        await asyncio.sleep(seconds)
        try:
            async with asyncio.timeout(limit):
                await job()
        except Exception as e:
            log.warning("%s failed: %s", what, type(e).__name__)


def create_app(settings: Settings, *, hooks: Hooks | None = None) -> Starlette:
    """Build the app. Configuration problems (keys, register, issuer) fail here, before serving."""
    hooks = hooks or Hooks()
    problems: list[str] = []
    if settings.jwks_path is None and settings.jwks_url is None:
        problems.append("WELFARE_HUB_JWKS or WELFARE_HUB_JWKS_URL (the token issuer's public keys) is not set")
    if settings.keys_path is None:
        problems.append("WELFARE_HUB_KEYS (the hub's HMAC key ring) is not set")
    if settings.audit_keys_path is None:
        problems.append("WELFARE_HUB_AUDIT_KEYS (the keys that sign audit checkpoints) is not set")
    if problems:
        raise ConfigError(problems)
    assert settings.keys_path is not None
    assert settings.audit_keys_path is not None
    audit_keys = AuditKeys.load(settings.audit_keys_path)
    tracing.configure(settings.otel)
    span_store = SpanStore() if settings.trace_retention_days > 0 else None
    schema = build_schema(settings)
    state = _State(
        settings=settings,
        verifier=TokenVerifier.from_source(
            jwks_source(path=settings.jwks_path, url=settings.jwks_url),
            issuer=settings.issuer,
            audience=settings.audience,
            where=settings.jwks_url or str(settings.jwks_path),
            refresh_seconds=settings.jwks_refresh_seconds,
        ),
        key_ring=load_key_ring(settings.keys_path),
        register=load_purposes(settings, schema),
    )
    state.link_model = load_link_model(settings.link_model_path)
    state.thresholds = settings.thresholds()
    view = HubGraphQL(schema, state, settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for store in SOURCE_STORES:
            pool = await create_store_pool(settings.service_url(store), on_connect=_observer(hooks, store))
            state.pools[store] = pool
        sources = direct_sources(
            state.pools,
            timeout=settings.source_timeout,
            namespaces={store: settings.database_name(store) for store in SOURCE_STORES},
            db_span=source_span,
        )
        hub_pool = await create_store_pool(settings.service_url("hub"))
        state.pools["hub"] = hub_pool
        interests = InterestStore(hub_pool, timeout=settings.audit_query_timeout)
        state._services = Services(
            settings=settings,
            sources=sources,
            key_ring=state.key_ring,
            register=state.register,
            audit=PgAuditSink(hub_pool, timeout=settings.audit_timeout),
            identity=LinkIndex(
                hub_pool, model=state.link_model, thresholds=state.thresholds, timeout=settings.source_timeout
            ),
            review=ReviewQueue(hub_pool, timeout=settings.source_timeout),
            consent=ConsentStore(hub_pool, timeout=settings.source_timeout),
            orgs=OrgRegister(hub_pool, ttl=settings.org_cache_seconds, timeout=settings.source_timeout),
            audit_log=AuditLog(hub_pool, timeout=settings.audit_query_timeout),
            audit_verification=VerificationCache(hub_pool, audit_keys.public, max_age=settings.audit_verify_seconds),
            audit_public_keys=audit_keys.public_document()["keys"],
            notifications=NotificationStore(hub_pool, timeout=settings.audit_timeout),
            interests=interests,
            corrections=CorrectionStore(hub_pool, timeout=settings.audit_query_timeout),
            complaints=ComplaintStore(hub_pool, timeout=settings.audit_query_timeout),
        )

        # The background roles every pod runs: they coordinate through the hub database, so any pod may stop.
        async def checkpoint() -> None:
            await write_checkpoint(hub_pool, audit_keys)

        async def store_spans() -> None:
            if span_store is not None:
                await span_store.flush(hub_pool)

        async def prune_spans() -> None:
            await hub_pool.execute(
                "DELETE FROM hub.trace_span WHERE started_at < now() - make_interval(days => $1)",
                settings.trace_retention_days,
            )

        answers = answers_from(sources.dwp)

        async def recheck_interests() -> None:
            await interests.recheck(answers)

        background = settings.audit_timeout * 5
        jobs: list[tuple[float, Job, str, float | None]] = [
            (settings.audit_checkpoint_seconds, checkpoint, "audit checkpoint", background)
        ]
        if span_store is not None:
            jobs += [
                (1.0, store_spans, "storing spans", background),
                (3600.0, prune_spans, "pruning spans", background),
            ]
        verification = state.services().audit_verification
        if verification is not None and settings.audit_verify_seconds > 0:
            # Auditors read a verification kept fresh here, rather than wait for one over the whole log.
            jobs.append((settings.audit_verify_seconds, verification.refresh, "audit verification", None))
        if settings.interest_check_seconds > 0:
            # No overall limit: a long list of interests is read in batches, each under its own timeout.
            jobs.append((settings.interest_check_seconds, recheck_interests, "re-checking interests", None))
        tasks = [asyncio.create_task(_every(every, job, what, limit=limit)) for every, job, what, limit in jobs]
        if settings.dispatch_seconds > 0:
            dispatcher = Dispatcher(
                hub_pool,
                {
                    "dwp": sources.dwp,
                    "hb": sources.hb,
                    "org": CorrectionNotices(hub_pool, timeout=settings.source_timeout),
                },
                timeout=settings.source_timeout,
            )
            tasks.append(asyncio.create_task(dispatcher.run_forever(settings.dispatch_seconds)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # Keep the spans of the last requests, and sign what was written, if the store answers.
            for job in (store_spans, checkpoint):
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(settings.audit_timeout):
                        await job()
            state._services = None
            await asyncio.gather(*(p.close() for p in state.pools.values()), return_exceptions=True)
            state.pools.clear()

    refusal_budget = _Budget(per_second=settings.unauthenticated_audit_per_second)

    async def verified(token: str) -> Caller:
        """The caller a token names, verified (signature, expiry, audience, issuer), or AuthError."""
        try:
            return state.verifier.verify(token)
        except UnknownKeyId:
            # The issuer may have rotated: read its key set again (rate-limited, off the event loop).
            if not state.verifier.refresh_due() or not await asyncio.to_thread(state.verifier.refresh):
                raise
            return state.verifier.verify(token)

    async def graphql(request: Request) -> Response:
        if request.method == "GET" and not settings.production and "text/html" in request.headers.get("accept", ""):
            return await run_view(request)
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            await _audit_unauthenticated("UNAUTHENTICATED")
            return _json_error(
                401, "UNAUTHENTICATED", "a bearer token is required", {"WWW-Authenticate": 'Bearer realm="welfare-hub"'}
            )
        try:
            caller = await verified(token.strip())
        except AuthError as e:
            await _audit_unauthenticated(str(e.extensions["code"]))
            return _json_error(
                401, e.extensions["code"], e.message, {"WWW-Authenticate": 'Bearer error="invalid_token"'}
            )
        request.scope["welfare_hub.caller"] = caller
        return await run_view(request)

    async def _audit_unauthenticated(code: str) -> None:
        # Every refusal is audited, a token refused too: nothing was read, so a failed write is only logged.
        # Who it was cannot be known (an unverified token's claims are not evidence): none is recorded.
        # Anyone can send these, so they may not crowd out the audit of real requests: beyond a rate, each
        # second's excess is counted in the log instead (a flood is an incident for the operator).
        services = state._services
        if services is None or not refusal_budget.take():
            return
        record = AuditRecord(
            request_id=uuid.uuid4(),
            operation_type=None,
            operation_name=None,
            caller_org="(unauthenticated)",
            caller_org_type="(unauthenticated)",
            caller_user_hash="",
            purpose=None,
            legal_basis=None,
            subject_key_id=None,
            subject_hashes=[],
            link_method=None,
            fields_released=[],
            sources_read=[],
            decision="refused",
            reason_codes=[code],
            trace_id=tracing.current_trace_id(),
        )
        try:
            with tracing.span("welfare_hub.audit", attributes={f"{tracing.NS}.decision": "refused"}):
                await services.audit.write(record)
        except Exception as e:
            log.error("audit write for a refused token failed: %s", type(e).__name__)

    async def run_view(request: Request) -> Response:
        try:
            response: Response = await view.run(request)
        except HTTPException as e:
            # strawberry's reasons can quote the request (an unknown operation name): never echo input.
            return _json_error(e.status_code, "BAD_REQUEST", sanitise_message(e.reason))
        return response

    async def audit_keys_document(request: Request) -> Response:
        # Published so that auditors can check checkpoints, and exports, without trusting the hub's store.
        return JSONResponse(audit_keys.public_document())

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        async def check(store: StoreName, pool: asyncpg.Pool) -> tuple[str, bool]:
            try:
                async with asyncio.timeout(settings.source_timeout):
                    await pool.fetchval("SELECT 1")
                return store, True
            except Exception:
                return store, False

        results = dict(await asyncio.gather(*(check(s, p) for s, p in state.pools.items())))
        ready = bool(results) and all(results.values())
        return JSONResponse({"status": "ready" if ready else "not ready", "stores": results}, 200 if ready else 503)

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route("/audit/keys", audit_keys_document),
            *console_routes(services=state.services, schema=schema, verify=verified, secure_cookie=settings.production),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ],
        lifespan=lifespan,
    )
    app.state.hub = state
    app.add_middleware(_BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(TraceMiddleware, store=span_store)  # outermost: a refused body is traced too
    return app
