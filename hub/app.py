"""The service, wired: a Starlette app whose lifespan opens the stores, builds the services and runs the
background roles.

Routes: ``POST /graphql`` (bearer token required; GraphiQL on GET outside production), ``/audit/keys``,
``/.well-known/jwks.json`` (the key the hub signs its questions to subgraphs with),
the auditor console, ``/healthz`` (the process is alive), ``/readyz`` (every store answers now). Wiring only:
the HTTP pieces are in :mod:`hub.http`, the roles in :mod:`hub.roles`, the request's work below them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub import metrics
from hub.access.caller import Caller
from hub.access.keys import load_key_ring
from hub.access.policy import Register
from hub.access.ratelimit import BASE_COST, Bucket, load_rate_limits, retry_after
from hub.access.tokens import TokenVerifier, UnknownKeyId, jwks_source
from hub.audit import tracing
from hub.audit.chain import PgAuditSink
from hub.audit.checkpoints import AuditKeys
from hub.audit.events import AuditLog
from hub.audit.receipts import Receipts
from hub.audit.tracing import TraceMiddleware
from hub.audit.verification import VerificationCache
from hub.config import Settings
from hub.console import console_routes
from hub.db import create_store_pool
from hub.errors import ConfigError
from hub.execution import record
from hub.execution.schema import build_schema, load_purposes
from hub.graphiql import ROOT as GRAPHIQL
from hub.graphiql import graphiql_routes
from hub.http import (
    CONTRACT_PATH,
    AddressThrottle,
    BearerAuth,
    BodyLimit,
    GraphQLView,
    RateLimit,
    RefusalBudget,
    ThrottleLog,
    contract_routes,
    health_routes,
    publication_routes,
)
from hub.metrics import RequestMetrics
from hub.ops.issuer import IssuerKey
from hub.records.complaints import ComplaintStore
from hub.records.consent import ConsentStore
from hub.records.corrections import CorrectionStore
from hub.records.interests import InterestStore
from hub.records.links import LinkIndex, ReviewQueue, load_link_model
from hub.records.notifications import NotificationStore
from hub.records.operations import OperationSafelist
from hub.records.orgs import OrgRegister
from hub.records.ratelimits import PgBuckets, RateLimiter
from hub.records.spans import SpanStore
from hub.roles import roles_for
from hub.types import SOURCE_STORES, StoreName
from linkage import FSModel, KeyRing, user_hash
from resolvers.context import Services
from resolvers.source_spans import source_span_for, subgraph_span
from resolvers.sources import DwpSource, HousingBenefitSource, SocialCareSource, Sources
from resolvers.sources.assertion import AssertionSigner
from resolvers.sources.base import SOURCE_NAMES
from resolvers.sources.remote import CircuitBreaker, aclose_sources, subgraph_source

__all__ = ["Hooks", "create_app"]

#: What a bearer token opens, each request under the caller's rate limits: the API, and purposes' contracts.
_API_PATHS = frozenset({"/graphql", CONTRACT_PATH})

log = logging.getLogger("welfare_hub")


@dataclass
class Hooks:
    """Seams for tests and benchmarks: observe every source connection (e.g. count its queries)."""

    on_source_connect: Callable[[StoreName, asyncpg.Connection], Awaitable[None]] | None = None


@dataclass
class _State:
    settings: Settings
    key_ring: KeyRing
    register: Register
    link_model: FSModel | None
    assertion_key: IssuerKey | None = None
    pools: dict[StoreName, asyncpg.Pool] = field(default_factory=dict)
    _services: Services | None = None

    def services(self) -> Services:
        if self._services is None:
            raise RuntimeError("the hub is not started (lifespan not run)")
        return self._services


def _key_paths(settings: Settings) -> tuple[Path, Path]:
    """The hub's key ring and audit keys (with the issuer's keys, required): every one missing is named."""
    problems: list[str] = []
    if settings.jwks_path is None and settings.jwks_url is None:
        problems.append("WELFARE_HUB_JWKS or WELFARE_HUB_JWKS_URL (the token issuer's public keys) is not set")
    if settings.keys_path is None:
        problems.append("WELFARE_HUB_KEYS (the hub's HMAC key ring) is not set")
    if settings.audit_keys_path is None:
        problems.append("WELFARE_HUB_AUDIT_KEYS (the keys that sign audit checkpoints) is not set")
    if problems or settings.keys_path is None or settings.audit_keys_path is None:
        raise ConfigError(problems)
    return settings.keys_path, settings.audit_keys_path


def _assertion_key(settings: Settings) -> IssuerKey | None:
    """The hub's key for the purpose assertions it signs to subgraphs: needed once any source is one."""
    if settings.assertion_key_path is None:
        if settings.subgraph_urls:
            raise ConfigError(
                ["WELFARE_HUB_ASSERTION_KEY (the key that signs the hub's questions to subgraphs) is not set"]
            )
        return None
    return IssuerKey.load(settings.assertion_key_path)


def _sources(settings: Settings, pools: Mapping[StoreName, asyncpg.Pool], key: IssuerKey | None) -> Sources:
    """Each source over its owner's subgraph when one is configured, else read directly from its store."""
    signer = AssertionSigner(key.private_key, key.kid, issuer=settings.assertion_issuer) if key is not None else None

    def remote(name: str) -> Any:
        assert signer is not None, "a subgraph source needs the hub's assertion key (checked at start-up)"
        return subgraph_source(
            name,
            settings.subgraph_urls[name],
            signer=signer,
            timeout=settings.source_timeout,
            breaker=CircuitBreaker(
                threshold=settings.subgraph_breaker_failures, cool_down=settings.subgraph_breaker_seconds
            ),
            max_body_bytes=settings.subgraph_max_body_bytes,
            http_span=subgraph_span,
            remote_spans=tracing.keep_remote_spans,
            placeholder_dobs=settings.placeholder_dobs(name),
        )

    def direct(name: str, store: StoreName, adapter: Any) -> Any:
        return adapter(
            pools[store],
            timeout=settings.source_timeout,
            namespace=settings.database_name(store),
            db_span=source_span_for(name),
            placeholder_dobs=settings.placeholder_dobs(name),
        )

    urls = settings.subgraph_urls
    return Sources(
        dwp=remote("dwp") if "dwp" in urls else direct("dwp", "src_dwp", DwpSource),
        hb=remote("hb") if "hb" in urls else direct("hb", "src_hb", HousingBenefitSource),
        social_care=remote("social_care")
        if "social_care" in urls
        else direct("social_care", "src_social_care", SocialCareSource),
    )


def _observer(hooks: Hooks, store: StoreName) -> Callable[[asyncpg.Connection], Awaitable[None]] | None:
    observe = hooks.on_source_connect
    if observe is None:
        return None

    async def on_connect(conn: asyncpg.Connection) -> None:
        await observe(store, conn)

    return on_connect


async def _open(state: _State, hooks: Hooks, audit_keys: AuditKeys) -> Services:
    """The stores' pools, the sources over them, and every service a request may use."""
    settings = state.settings
    for name, store in zip(SOURCE_NAMES, SOURCE_STORES, strict=True):
        if name in settings.subgraph_urls:
            continue  # its owner's subgraph answers for it: the hub holds no credentials for its store
        state.pools[store] = await create_store_pool(
            settings.service_url(store),
            acquire_timeout=settings.source_timeout,
            max_size=settings.pool_size,
            on_connect=_observer(hooks, store),
        )
    sources = _sources(settings, state.pools, state.assertion_key)
    hub = state.pools["hub"] = await create_store_pool(
        settings.service_url("hub"),
        acquire_timeout=settings.hub_timeout,
        statement_timeout=settings.hub_statement_timeout,
        max_size=settings.pool_size,
    )
    return Services(
        settings=settings,
        sources=sources,
        key_ring=state.key_ring,
        register=state.register,
        audit=PgAuditSink(hub, timeout=settings.audit_timeout),
        receipts=Receipts(audit_keys),
        identity=LinkIndex(
            hub, model=state.link_model, thresholds=settings.thresholds(), timeout=settings.source_timeout
        ),
        review=ReviewQueue(hub, timeout=settings.source_timeout),
        consent=ConsentStore(hub, timeout=settings.source_timeout),
        orgs=OrgRegister(hub, ttl=settings.org_cache_seconds, timeout=settings.source_timeout),
        audit_log=AuditLog(hub, timeout=settings.audit_query_timeout),
        audit_verification=VerificationCache(hub, audit_keys.public, max_age=settings.audit_verify_seconds),
        audit_public_keys=audit_keys.public_document()["keys"],
        notifications=NotificationStore(hub, timeout=settings.audit_timeout),
        interests=InterestStore(hub, timeout=settings.audit_query_timeout),
        corrections=CorrectionStore(hub, timeout=settings.audit_query_timeout),
        complaints=ComplaintStore(hub, timeout=settings.audit_query_timeout),
        operations=OperationSafelist(hub, ttl=settings.org_cache_seconds, timeout=settings.source_timeout),
    )


def create_app(settings: Settings, *, hooks: Hooks | None = None) -> Starlette:
    """Build the app. Configuration problems (keys, register, issuer) fail here, before serving."""
    keys_path, audit_keys_path = _key_paths(settings)
    hooks = hooks or Hooks()
    audit_keys = AuditKeys.load(audit_keys_path)
    assertion_key = _assertion_key(settings)
    tracing.configure(settings.otel)
    try:
        metrics.configure(
            settings.otel, prometheus=(settings.metrics_host, settings.metrics_port) if settings.metrics_port else None
        )
    except OSError as e:
        raise ConfigError([f"WELFARE_HUB_METRICS_PORT {settings.metrics_port}: cannot listen ({e.strerror})"]) from None
    span_store = SpanStore() if settings.trace_retention_days > 0 else None
    schema = build_schema(settings)
    verifier = TokenVerifier.from_source(
        jwks_source(path=settings.jwks_path, url=settings.jwks_url),
        issuer=settings.issuer,
        audience=settings.audience,
        where=settings.jwks_url or str(settings.jwks_path),
        refresh_seconds=settings.jwks_refresh_seconds,
    )
    state = _State(
        settings=settings,
        key_ring=load_key_ring(keys_path),
        register=load_purposes(settings, schema),
        link_model=load_link_model(settings.link_model_path),
        assertion_key=assertion_key,
    )
    limits = load_rate_limits(settings.rate_limits_path, org_types=state.register.org_types)
    # One throttle per client address for every door a token comes in by: the API, and the console's
    # sign-in and pages.
    address_throttle = AddressThrottle(limits.address) if limits.enabled else None
    limiter = RateLimiter()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state._services = services = await _open(state, hooks, audit_keys)
        # The limiter has a pool of its own: a slow limiter store falls back, and never holds the
        # connections the audit needs.
        buckets = await create_store_pool(settings.service_url("hub"), max_size=min(4, settings.pool_size))
        limiter.store = PgBuckets(buckets, timeout=settings.rate_limit_timeout)
        roles = roles_for(settings, services, state.pools, audit_keys=audit_keys, span_store=span_store)
        unwatch = metrics.watch_pools(
            {str(name): pool for name, pool in state.pools.items()} | {"rate_limits": buckets}
        )
        roles.start()
        try:
            yield
        finally:
            unwatch()
            await services.audit.aclose()  # the records already taken are stored before the last checkpoint
            await roles.stop()
            limiter.store = None
            state._services = None
            await aclose_sources(services.sources)
            pools = [*state.pools.values(), buckets]
            await asyncio.gather(*(p.close() for p in pools), return_exceptions=True)
            state.pools.clear()

    async def verified(token: str) -> Caller:
        """The caller a token names, verified (signature, expiry, audience, issuer), or AuthError."""
        try:
            return verifier.verify(token)
        except UnknownKeyId:
            # The issuer may have rotated: read its key set again (rate-limited, off the event loop).
            if not verifier.refresh_due() or not await asyncio.to_thread(verifier.refresh):
                raise
            return verifier.verify(token)

    budget = RefusalBudget(per_second=settings.unauthenticated_audit_per_second)

    async def refused(code: str) -> None:
        # Every refusal is audited, a token refused too: nothing was read, so a failed write is only logged.
        # Anyone can send these, so they may not crowd out the audit of real requests: beyond a rate, each
        # second's excess is counted in the log instead (a flood is an incident for the operator).
        if state._services is None or not budget.take():
            return
        try:
            await record.write(state._services.audit, record.refused_token(code))
        except Exception as e:
            log.error("audit write for a refused token failed: %s", type(e).__name__)

    throttle_log = ThrottleLog()

    async def throttled(caller: Caller, bucket: Bucket) -> None:
        # A 429 is audited once per bucket a minute (the refusal, the caller, the reason), counted beyond:
        # enough for an auditor to see who was throttled, never a flood of the log. Nothing was read.
        if state._services is None or not throttle_log.first(bucket.key):
            return
        refusal = dataclasses.replace(
            record.refused_token("RATE_LIMITED"),
            caller_org=caller.org,
            caller_org_type=caller.org_type,
            caller_user_hash=user_hash(state.key_ring, caller.org, caller.user),
        )
        try:
            await record.write(state._services.audit, refusal)
        except Exception as e:
            log.error("audit write for a rate-limited request failed: %s", type(e).__name__)

    async def assertion_keys_document(request: Request) -> Response:
        # The key the hub signs its questions to the sources' subgraphs with: they verify every one.
        return JSONResponse(assertion_key.jwks() if assertion_key is not None else {"keys": []})

    async def audit_keys_document(request: Request) -> Response:
        # Published so that auditors can check checkpoints, and exports, without trusting the hub's store.
        return JSONResponse(audit_keys.public_document())

    async def console_rate_limit(caller: Caller) -> int | None:
        # The console's queries draw on the caller's buckets as the API's do (the base cost each page).
        if not limits.enabled:
            return None
        buckets = limits.buckets(
            org=caller.org, org_type=caller.org_type, user_hash=user_hash(state.key_ring, caller.org, caller.user)
        )
        levels = await limiter.take(buckets, BASE_COST)
        return retry_after(levels) if not all(lv.granted for lv in levels) else None

    view = GraphQLView(schema, state.services)
    app = Starlette(
        routes=[
            # Every method reaches the view, which answers each but POST with a 405 (a browser's GET is sent to
            # GraphiQL before, by BearerAuth).
            Route("/graphql", view.endpoint, methods=["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
            Route("/audit/keys", audit_keys_document),
            Route("/.well-known/jwks.json", assertion_keys_document),
            *console_routes(
                services=state.services,
                schema=schema,
                verify=verified,
                secure_cookie=settings.production,
                throttle=address_throttle,
                rate_limit=console_rate_limit,
            ),
            *contract_routes(schema.as_str(), state.register),
            *graphiql_routes(),
            *health_routes(state.pools, timeout=settings.source_timeout),
            *publication_routes(
                lambda since, until: state.services().audit_log.transparency(since, until),
                # Its own: anonymous readers must not spend the throttle the API's new tokens share.
                throttle=AddressThrottle(limits.address) if limits.enabled else None,
            ),
        ],
        lifespan=lifespan,
    )
    app.state.hub = state
    app.add_middleware(
        RateLimit,
        paths=_API_PATHS,
        limiter=limiter,
        limits=limits,
        in_flight=settings.user_in_flight,
        user_hash=lambda caller: user_hash(state.key_ring, caller.org, caller.user),
        throttled=throttled,
    )
    app.add_middleware(
        BearerAuth,
        paths=_API_PATHS,
        verify=verified,
        refused=refused,
        browser_redirect=("/graphql", GRAPHIQL),
        throttle=address_throttle,
    )
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(TraceMiddleware, store=span_store)  # a refused body is traced too
    app.add_middleware(RequestMetrics)  # outermost: every request's duration, to the end of its answer
    return app
