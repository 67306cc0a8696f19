"""OpenTelemetry tracing, our own: every resolution traced, no personal data in any span.

strawberry's stock extension records the whole query document on a span (a NINO typed inline would land
in the tracing backend) and its async form is slow on large results, so the hub makes its own spans:

- ``POST /graphql`` (server span, :class:`TraceMiddleware`): the root of a trace of the hub's own. A
  caller's W3C ``traceparent`` is kept as a span *link*, never as the parent: a caller cannot put the
  hub's spans into a trace it chose (one organisation's audit event showing another's spans), and the
  hub's trace id, which the audit record stores, is always the hub's. The response's ``traceresponse``
  header tells the caller the hub's trace and server span. Records the method, the route and the status,
  never the query string (a GET carries the document there);
- ``{graphql.operation.type}`` (``query``/``mutation``): the operation, with the hub's attributes under
  ``welfare_hub.*`` (caller organisation, purpose, legal basis, pseudonymous subjects, fields released,
  decision) and ``graphql.operation.name`` when it is a plain identifier; the document is not recorded;
- ``welfare_hub.purpose``: the purpose decision, made before any source is read;
- ``welfare_hub.link``: how the person was found (method, band, score, model version);
- one span per source query, by the database semantic conventions (``db.system.name``, ``db.namespace``,
  the parameterised ``db.query.text``; parameter values never);
- ``welfare_hub.audit``: the audit write. The trace id is stored on the audit record.

Export is by OTLP/HTTP, configured with the standard ``OTEL_*`` variables: spans are exported when
``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set (or ``OTEL_TRACES_EXPORTER``
says ``otlp``), and not at all when ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none``. Trace ids
are made either way: the audit log and the callers' own traces refer to them. An app given a span store
(:class:`hub.records.spans.SpanStore`) also keeps its requests' spans in the hub database, for auditors.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import functools
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.access.freetext import any_nino, has_nino
from hub.records.spans import SpanRecord, SpanStore

__all__ = [
    "NS",
    "TraceMiddleware",
    "configure",
    "current_trace_id",
    "db_span",
    "provider",
    "span",
    "tracer",
]

NS = "welfare_hub"  # the namespace of the hub's own span attributes
_PROPAGATOR = TraceContextTextMapPropagator()
_lock = threading.Lock()
_provider: TracerProvider | None = None


def _exporting(env: Mapping[str, str]) -> bool:
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = {e.strip().lower() for e in env.get("OTEL_TRACES_EXPORTER", "").split(",") if e.strip()}
    if "none" in exporters:
        return False
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    return bool(endpoint) or "otlp" in exporters


def configure(env: Mapping[str, str]) -> TracerProvider:
    """Install the process's tracer provider, once (later calls return it unchanged)."""
    global _provider, _TRACER
    with _lock:
        if _provider is not None:
            return _provider
        resource = Resource.create({"service.name": env.get("OTEL_SERVICE_NAME") or "welfare-hub"})
        provider = TracerProvider(resource=resource)
        if _exporting(env):
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            # Headers, timeout and compression come from OTEL_EXPORTER_OTLP_* (the exporter reads them); the
            # endpoint from the mapping given, so that a caller may configure without touching the process.
            endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or (
                env["OTEL_EXPORTER_OTLP_ENDPOINT"].rstrip("/") + "/v1/traces"
                if env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
                else None
            )
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        provider.add_span_processor(_Dispatch())
        trace.set_tracer_provider(provider)
        _provider = provider
        _TRACER = provider.get_tracer("welfare-hub")  # the SDK's own, not the proxy in front of it
        return provider


def provider() -> TracerProvider | None:
    return _provider


#: Looked up once: a proxy that finds the provider once one is installed (``get_tracer`` per span was ~1%
#: of a request).
_TRACER = trace.get_tracer("welfare-hub")


def tracer() -> trace.Tracer:
    return _TRACER


def current_trace_id() -> str | None:
    """The current trace's id as 32 hex digits (what the audit record keeps), or None outside a trace."""
    ctx = trace.get_current_span().get_span_context()
    return f"{ctx.trace_id:032x}" if ctx.is_valid else None


@contextlib.contextmanager
def db_span(system_namespace: str, query: str, *, operation: str = "SELECT") -> Iterator[Span]:
    """A client span for one query, by the database semantic conventions: the parameterised text only."""
    with span(
        f"{operation} {system_namespace}",
        kind=SpanKind.CLIENT,
        attributes={
            "db.system.name": "postgresql",
            "db.namespace": system_namespace,
            "db.operation.name": operation,
            "db.query.text": query,
        },
    ) as current:
        yield current


@contextlib.contextmanager
def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, Any] | None = None,
    links: Sequence[Link] = (),
) -> Iterator[Span]:
    """A span that never records an exception's message (it may quote input): a failure is marked by its
    type only (``error.type``), and whoever knows the stable error code adds it. Made current for its body
    by hand rather than through ``start_as_current_span`` (a second generator per span, on every step)."""
    current = _TRACER.start_span(name, kind=kind, attributes=attributes, links=links)
    token = otel_context.attach(trace.set_span_in_context(current))
    try:
        yield current
    except BaseException as e:
        current.set_attribute("error.type", getattr(e, "extensions", {}).get("code") or type(e).__name__)
        current.set_status(Status(StatusCode.ERROR))
        raise
    finally:
        otel_context.detach(token)
        current.end()


def trace_headers() -> dict[str, str]:
    """The W3C trace context of the current span, to send with a call (``traceparent``; never baggage)."""
    headers: dict[str, str] = {}
    _PROPAGATOR.inject(headers)
    return headers


#: What of a subgraph's span attributes the hub keeps: what the step was and how it ended, never text a
#: source could have put a value in (a query's text, a free-form note). Another organisation wrote them.
REMOTE_SPAN_ATTRIBUTES = frozenset(
    {
        "db.system.name",
        "db.namespace",
        "db.operation.name",
        "db.response.returned_rows",
        "http.request.method",
        "http.response.status_code",
        "error.type",
        "welfare_hub.error_codes",
        "welfare_hub.phase",
    }
)


def keep_remote_spans(source: str, spans: Sequence[Mapping[str, Any]]) -> None:
    """Keep a subgraph's own spans of this request beside the hub's (the auditor's trace shows both).

    They come already checked by the adapter (our trace id, hex ids, bounded count and lengths); here only
    the attributes the hub knows are kept (:data:`REMOTE_SPAN_ATTRIBUTES`), a span whose name or kept value
    is NINO-shaped is dropped, and so is any that does not fit the stored shape: never an error for the
    request."""
    store = _current_store.get()
    if store is None:
        return
    for remote in spans:
        store.defer(functools.partial(_remote_record, source), remote)


def _remote_record(source: str, remote: Mapping[str, Any]) -> SpanRecord | None:
    name = str(remote.get("name", ""))
    attributes = {k: v for k, v in dict(remote.get("attributes") or {}).items() if k in REMOTE_SPAN_ATTRIBUTES}
    # One search for the name and every kept text (the usual case: nothing NINO-shaped), then one at a time.
    if any_nino([name, *(v for v in attributes.values() if isinstance(v, str))]):
        if has_nino(name):
            return None  # a source's span that names someone is not kept (another organisation wrote it)
        attributes = {k: v for k, v in attributes.items() if not (isinstance(v, str) and has_nino(v))}
    try:
        started = remote["startedAt"]
        if not isinstance(started, dt.datetime):
            started = dt.datetime.fromisoformat(str(started))
        if started.tzinfo is None:
            started = started.replace(tzinfo=dt.UTC)
        return SpanRecord(
            trace_id=str(remote["traceId"]),
            span_id=str(remote["spanId"]),
            parent_span_id=str(remote["parentSpanId"]) if remote.get("parentSpanId") else None,
            name=name,
            kind=str(remote["kind"]) if remote.get("kind") in {"server", "internal", "client"} else "internal",
            started_at=started,
            duration_us=max(0, int(remote["durationUs"])),
            status=str(remote["status"]) if remote.get("status") in {"unset", "ok", "error"} else "unset",
            attributes={**attributes, f"{NS}.remote.source": source},
        )
    except (KeyError, TypeError, ValueError):
        return None


# -- the hub's own copy of its spans ---------------------------------------------------------------------

#: The store of the app whose request is running (its middleware sets it): one process may run several apps.
_current_store: contextvars.ContextVar[SpanStore | None] = contextvars.ContextVar(
    "welfare_hub_span_store", default=None
)


def _stored(span: ReadableSpan) -> SpanRecord | None:
    """An ended span as the hub keeps it (hub.records.spans); None if it never really started or ended."""
    ctx = span.context
    if ctx is None or span.start_time is None or span.end_time is None:
        return None
    parent = span.parent.span_id if span.parent is not None else None
    return SpanRecord(
        f"{ctx.trace_id:032x}",
        f"{ctx.span_id:016x}",
        f"{parent:016x}" if parent else None,
        span.name,
        span.kind.name.lower(),
        dt.datetime.fromtimestamp(span.start_time / 1e9, dt.UTC),
        max(0, (span.end_time - span.start_time) // 1000),
        span.status.status_code.name.lower(),
        {k: list(v) if isinstance(v, tuple) else v for k, v in (span.attributes or {}).items()},
    )


class _Dispatch(SpanProcessor):
    """One processor on the process's provider: each span, when it ends, goes to the store of the app whose
    request made it; the app's background task writes the store in batches (:meth:`SpanStore.flush`)."""

    def on_end(self, span: ReadableSpan) -> None:
        store = _current_store.get()
        if store is not None:
            store.defer(_stored, span)  # made a row at flush, off the request path


class TraceMiddleware:
    """Pure ASGI (Starlette's BaseHTTPMiddleware would cut the context the spans live in): one server span
    per HTTP request, the root of a trace of the hub's own, linked to the caller's ``traceparent`` when it
    is valid. With a ``store``, the request's spans are also kept in the hub's database."""

    def __init__(self, app: ASGIApp, store: SpanStore | None = None) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        carrier = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        callers = trace.get_current_span(_PROPAGATOR.extract(carrier=carrier)).get_span_context()
        links = [Link(callers, {f"{NS}.link": "caller"})] if callers.is_valid else []
        method, path = scope.get("method", "GET"), scope.get("path", "")
        route = path if path in _ROUTES else "other"  # never an arbitrary path: it could carry anything
        token = otel_context.attach(otel_context.Context())  # a root: no ambient or caller parent
        kept = _current_store.set(self.store)
        try:
            with span(
                f"{method} {route}",
                kind=SpanKind.SERVER,
                links=links,
                attributes={
                    "http.request.method": method,
                    "http.route": route,
                    "url.scheme": scope.get("scheme", "http"),
                },
            ) as server:
                own = server.get_span_context()
                traceresponse = f"00-{own.trace_id:032x}-{own.span_id:016x}-{int(own.trace_flags):02x}".encode()

                async def send_status(message: Message) -> None:
                    if message["type"] == "http.response.start":
                        server.set_attribute("http.response.status_code", message["status"])
                        if message["status"] >= 500:
                            server.set_status(Status(StatusCode.ERROR))
                        if own.is_valid:
                            message = {
                                **message,
                                "headers": [*message.get("headers", []), (b"traceresponse", traceresponse)],
                            }
                    await send(message)

                await self.app(scope, receive, send_status)
        finally:
            _current_store.reset(kept)
            otel_context.detach(token)


_ROUTES = frozenset(
    {
        "/graphql",
        "/healthz",
        "/readyz",
        "/audit/keys",
        "/.well-known/jwks.json",
        "/audit/console",
        "/audit/console/login",
        "/transparency",
    }
)
