"""The hub's metrics: OpenTelemetry instruments, named by the semantic conventions where one names the thing
(``http.server.request.duration``, ``db.client.connection.count``) and under ``welfare_hub.*`` where none
does. Nothing in an attribute names a person, a user or an organisation: a route from an allow-list, a
method, a status, a purpose, a source, a band, an error code.

Exported two ways, either or both, configured once per process (:func:`configure`):

- OTLP/HTTP, by the standard variables, as the traces are: when ``OTEL_METRICS_EXPORTER`` names ``otlp``
  or an endpoint is set (``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT``, ``OTEL_EXPORTER_OTLP_ENDPOINT``), and
  not when it says ``none``; every ``OTEL_METRIC_EXPORT_INTERVAL`` ms (60 s by default);
- Prometheus text on a port of its own (``WELFARE_HUB_METRICS_PORT``; off unless set, the chart sets it),
  never the API's: what it tells (traffic by purpose, refusals by code) is for the operator, not callers.

With neither, no meter provider is installed and every instrument below is the API's no-op proxy: a
measurement costs an attribute check.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "AUDIT_APPEND",
    "LINK_DECISIONS",
    "OUTBOX_BACKLOG",
    "OUTBOX_DELIVERY_AGE",
    "OUTBOX_OLDEST",
    "RATE_LIMITED",
    "REFUSALS",
    "ROUTES",
    "SOURCE_REQUEST",
    "RequestMetrics",
    "configure",
    "elapsed",
    "watch_pools",
]

#: Where a request may go; anything else is "other" (a path could carry anything, a NINO included).
ROUTES = frozenset(
    {
        "/graphql",
        "/graphql/contract",
        "/graphiql",
        "/healthz",
        "/readyz",
        "/audit/keys",
        "/.well-known/jwks.json",
        "/audit/console",
        "/audit/console/login",
        "/transparency",
    }
)

# The semantic conventions' advice for request durations, in seconds.
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
# From a change accepted to its delivery: immediate, a retry or two, a target down for hours.
_AGE_BUCKETS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0)

_meter = metrics.get_meter("welfare-hub")

HTTP_SERVER = _meter.create_histogram(
    "http.server.request.duration",
    unit="s",
    description="Duration of HTTP server requests, by route (allow-listed), method and status.",
    explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
)
SOURCE_REQUEST = _meter.create_histogram(
    "welfare_hub.source.request.duration",
    unit="s",
    description="Duration of one call to a source (its subgraph, or its database), by source; error.type on failure.",
    explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
)
AUDIT_APPEND = _meter.create_histogram(
    "welfare_hub.audit.append.duration",
    unit="s",
    description="Duration of one audit append as the request waits for it (queue, lock, commit), by decision.",
    explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
)
REFUSALS = _meter.create_counter(
    "welfare_hub.refusals",
    unit="{request}",
    description="Requests refused, by reason code and purpose (as audited).",
)
RATE_LIMITED = _meter.create_counter(
    "welfare_hub.rate_limit.rejections",
    unit="{request}",
    description="Requests answered 429, by the limit that refused them.",
)
LINK_DECISIONS = _meter.create_counter(
    "welfare_hub.link.decisions",
    unit="{decision}",
    description="How each request's person was found, by method and band.",
)
OUTBOX_BACKLOG = _meter.create_gauge(
    "welfare_hub.outbox.backlog",
    unit="{delivery}",
    description="Deliveries accepted and not yet delivered, by target.",
)
OUTBOX_OLDEST = _meter.create_gauge(
    "welfare_hub.outbox.oldest_pending.age",
    unit="s",
    description="Age of the oldest delivery not yet delivered, by target (0 when none waits).",
)
OUTBOX_DELIVERY_AGE = _meter.create_histogram(
    "welfare_hub.outbox.delivery.age",
    unit="s",
    description="From a change accepted to its delivery, by target.",
    explicit_bucket_boundaries_advisory=_AGE_BUCKETS,
)


def elapsed(started: float) -> float:
    """Seconds since ``started`` (a :func:`time.perf_counter` reading)."""
    return time.perf_counter() - started


# -- database pools -----------------------------------------------------------------------------------------


class _Pool(Protocol):
    def get_size(self) -> int: ...
    def get_idle_size(self) -> int: ...
    def get_max_size(self) -> int: ...


_pools: dict[int, tuple[str, _Pool]] = {}
_pools_lock = threading.Lock()


def watch_pools(pools: Mapping[str, _Pool]) -> Any:
    """Report these pools' connections (``db.client.connection.*``) until the returned function is called."""
    with _pools_lock:
        for name, pool in pools.items():
            _pools[id(pool)] = (name, pool)

    def unwatch() -> None:
        with _pools_lock:
            for pool in pools.values():
                _pools.pop(id(pool), None)

    return unwatch


def _watched() -> list[tuple[str, _Pool]]:
    with _pools_lock:
        return list(_pools.values())


def _connections(options: CallbackOptions) -> Iterable[Observation]:
    for name, pool in _watched():
        size, idle = pool.get_size(), pool.get_idle_size()
        pool_name = {"db.client.connection.pool.name": name}
        yield Observation(idle, {**pool_name, "db.client.connection.state": "idle"})
        yield Observation(size - idle, {**pool_name, "db.client.connection.state": "used"})


def _connection_max(options: CallbackOptions) -> Iterable[Observation]:
    for name, pool in _watched():
        yield Observation(pool.get_max_size(), {"db.client.connection.pool.name": name})


_meter.create_observable_up_down_counter(
    "db.client.connection.count",
    callbacks=[_connections],
    unit="{connection}",
    description="Connections each of the hub's pools holds, idle or used.",
)
_meter.create_observable_up_down_counter(
    "db.client.connection.max",
    callbacks=[_connection_max],
    unit="{connection}",
    description="The most connections each pool may open.",
)


# -- HTTP server --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def _http_attributes(method: str, route: str, scheme: str, status: int) -> Mapping[str, str | int]:
    return {
        "http.request.method": method,
        "http.route": route,
        "url.scheme": scheme,
        "http.response.status_code": status,
    }


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"})


class RequestMetrics:
    """Pure ASGI: ``http.server.request.duration`` for every HTTP request, from its start to the end of its
    answer. The route is one of :data:`ROUTES` or ``other``, the method a known one or ``_OTHER`` (the
    conventions' word), so that no request can mint a series of its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees if the app fails before answering

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            method = scope.get("method", "GET")
            path = scope.get("path", "")
            HTTP_SERVER.record(
                elapsed(started),
                _http_attributes(
                    method if method in _METHODS else "_OTHER",
                    path if path in ROUTES else "other",
                    scope.get("scheme", "http"),
                    status,
                ),
            )


# -- export -------------------------------------------------------------------------------------------------

_lock = threading.Lock()
_configured: bool | None = None  # None until configured; then whether metrics are collected


def _exporters(env: Mapping[str, str]) -> set[str]:
    return {e.strip().lower() for e in env.get("OTEL_METRICS_EXPORTER", "").split(",") if e.strip()}


def _otlp(env: Mapping[str, str]) -> bool:
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true" or "none" in _exporters(env):
        return False
    endpoint = env.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    return bool(endpoint) or "otlp" in _exporters(env)


def configure(env: Mapping[str, str], *, prometheus: tuple[str, int] | None) -> bool:
    """Install the process's meter provider, once (later calls change nothing): OTLP export when ``env``
    says so, Prometheus text on ``prometheus`` (host, port) when given. True when metrics are collected.
    Raises OSError when the Prometheus port cannot be bound."""
    global _configured
    with _lock:
        if _configured is not None:
            return _configured
        _configured = False
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource

        readers: list[MetricReader] = []
        if _otlp(env):
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

            # Headers, timeout and compression from OTEL_EXPORTER_OTLP_* (the exporter reads them); the
            # endpoint and the interval from the mapping given.
            endpoint = env.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") or (
                env["OTEL_EXPORTER_OTLP_ENDPOINT"].rstrip("/") + "/v1/metrics"
                if env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
                else None
            )
            interval = float(env.get("OTEL_METRIC_EXPORT_INTERVAL") or 60000)
            readers.append(
                PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=endpoint), export_interval_millis=interval)
            )
        if prometheus is not None:
            import prometheus_client
            from opentelemetry.exporter.prometheus import PrometheusMetricReader

            host, port = prometheus
            prometheus_client.start_http_server(port, addr=host)  # a daemon thread; binds now (or raises)
            readers.append(PrometheusMetricReader())
        if not readers:
            return False
        resource = Resource.create({"service.name": env.get("OTEL_SERVICE_NAME") or "welfare-hub"})
        metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))
        _configured = True
        return True
