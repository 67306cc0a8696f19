"""OpenTelemetry tracing, our own: every resolution traced, no personal data in any span.

strawberry's stock extension records the whole query document on a span (a NINO typed inline would land
in the tracing backend) and its async form is slow on large results, so the hub makes its own spans:

- ``POST /graphql`` (server span, :class:`TraceMiddleware`): the root of a trace of the hub's own. A
  caller's W3C ``traceparent`` is kept as a span *link*, never as the parent: a caller cannot put the
  hub's spans into a trace it chose (one organisation's audit event showing another's spans), and the
  hub's trace id, which the audit record stores, is always the hub's. The response's ``traceresponse``
  header tells the caller the hub's trace and server span. Carries what the HTTP conventions ask of a server
  span, within what a caller cannot fill: the method (a known one, else ``_OTHER``), the route and
  ``url.path`` (an allow-listed path, else ``other``), the scheme, ``server.address``/``server.port`` (the
  socket the server listens on, never the caller's Host header), the protocol version and the status;
  never the query string (a GET carries the document there) nor the User-Agent (:class:`TraceMiddleware`).
  The health probes are not traced unless asked (``trace_probes``);
- ``{graphql.operation.type}`` (``query``/``mutation``): the operation, with the hub's attributes under
  ``welfare_hub.*`` (caller organisation, purpose, legal basis, pseudonymous subjects, fields released,
  decision) and ``graphql.operation.name`` when it is a plain identifier; the document is not recorded;
- ``welfare_hub.purpose``: the purpose decision, made before any source is read;
- ``welfare_hub.link``: how the person was found (method, band, score, model version);
- one span per source query, by the database semantic conventions (``db.system.name``, ``db.namespace``,
  the parameterised ``db.query.text``; parameter values never);
- one span per round trip to the hub's own stores (the link index, consent, the organisation register),
  by the same conventions with ``db.collection.name`` and the statement's own ``db.operation.name``
  (:func:`hub.records.spans.traced`);
- ``welfare_hub.audit``: the audit write. The trace id is stored on the audit record. The append itself
  serves a batch of requests (group commit), so its span is the root of a trace of its own, linked to
  each request's ``welfare_hub.audit`` span (:mod:`hub.audit.chain`).

The spans are made by the hub's own tracer on the SDK's provider (:mod:`hub.audit.recorder`: the SDK's
tracer cost ~85 µs a span), sampled by ``OTEL_TRACES_SAMPLER`` as the SDK samples. Export is by OTLP/HTTP,
configured with the standard ``OTEL_*`` variables: spans are exported when ``OTEL_EXPORTER_OTLP_ENDPOINT``
or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set (or ``OTEL_TRACES_EXPORTER`` says ``otlp``), and not when
``OTEL_TRACES_EXPORTER=none``; trace ids are made either way (the audit log and the callers' own traces
refer to them). ``OTEL_SDK_DISABLED=true`` turns tracing off altogether: no spans, no trace ids. An app
given a span store (:class:`hub.records.spans.SpanStore`) also keeps its requests' spans in the hub
database, for auditors: each trace whole once its server span ends, with the spans its subgraphs returned
(:func:`keep_remote_spans`), made rows when the store is flushed, off the request path.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import ipaddress
import threading
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.access.freetext import has_nino
from hub.audit.recorder import Provider, Recording, current_recording
from hub.metrics import ROUTES
from hub.records.spans import SpanRecord, SpanStore
from hub.types import RemoteSpan

__all__ = [
    "NS",
    "PROBES",
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
    """Install the process's tracer provider, once (later calls return it unchanged): the hub's tracer
    (:mod:`hub.audit.recorder`) on the SDK's provider, exporting by OTLP when ``env`` says so."""
    global _provider, _TRACER
    with _lock:
        if _provider is not None:
            return _provider
        resource = Resource.create({"service.name": env.get("OTEL_SERVICE_NAME") or "welfare-hub"})
        provider = Provider(
            resource,
            disabled=env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true",
            sink=_keep,
            store_of_the_moment=_current_store.get,
        )
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
        trace.set_tracer_provider(provider)
        _provider = provider
        _TRACER = provider.get_tracer("welfare-hub")  # its own, not the proxy in front of it
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


def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, Any] | None = None,
    links: Sequence[Link] = (),
) -> _Current:
    """A span, current for the ``with`` block, that never records an exception's message (it may quote
    input): a failure is marked by its type only (``error.type``), and whoever knows the stable error code
    adds it."""
    return _Current(_TRACER.start_span(name, kind=kind, attributes=attributes, links=links))


class _Current:
    """A span made current for a ``with`` block, and ended with it (a class rather than a generator: it is
    entered about eight times a request)."""

    __slots__ = ("_span", "_token")

    def __init__(self, started: Span) -> None:
        self._span = started
        self._token: object = None

    def __enter__(self) -> Span:
        self._token = otel_context.attach(trace.set_span_in_context(self._span))
        return self._span

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        current = self._span
        try:
            if error is not None:
                extensions = getattr(error, "extensions", None)
                code = extensions.get("code") if isinstance(extensions, dict) else None
                current.set_attribute("error.type", code if isinstance(code, str) else type(error).__name__)
                current.set_status(Status(StatusCode.ERROR))
        finally:
            otel_context.detach(self._token)  # type: ignore[arg-type]
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


def keep_remote_spans(source: str, spans: Sequence[RemoteSpan]) -> None:
    """Keep a subgraph's own spans of this call beside the hub's (the auditor's trace shows both), with the
    current trace's, as the adapter checked them (our trace, hex ids, bounded count and lengths). When the
    trace is made rows, off the request path, only the attributes the hub knows are kept
    (:data:`REMOTE_SPAN_ATTRIBUTES`) and a span whose name or kept value is NINO-shaped is dropped: never
    an error for the request."""
    recording = current_recording()
    if recording is not None and recording.store is not None:
        recording.remote.append((source, spans))


def _remote_rows(trace_id: str, source: str, spans: Sequence[RemoteSpan]) -> list[SpanRecord]:
    rows = []
    for s in spans:
        if not _nino_free(s.name):
            continue  # a source's span that names someone is not kept (another organisation wrote it)
        attributes: dict[str, Any] = {
            k: v
            for k, v in s.attributes.items()
            if k in REMOTE_SPAN_ATTRIBUTES and (not isinstance(v, str) or _nino_free(v))
        }
        attributes[f"{NS}.remote.source"] = source
        rows.append(SpanRecord(trace_id, *s[:7], attributes))
    return rows


#: Span texts already found free of anything NINO-shaped. A subgraph's names and kept values repeat from
#: call to call ("SELECT src_dwp", "postgresql"), and the search costs ~0.1 µs a character: each distinct
#: text is searched once. Bounded (emptied when full): a source sending ever-new texts costs only searches.
_NINO_FREE: set[str] = set()
_NINO_FREE_MAX = 4096


def _nino_free(text: str) -> bool:
    if text in _NINO_FREE:
        return True
    if has_nino(text):
        return False
    if len(_NINO_FREE) >= _NINO_FREE_MAX:
        _NINO_FREE.clear()
    _NINO_FREE.add(text)
    return True


# -- the hub's own copy of its spans ---------------------------------------------------------------------

#: The store of the app whose request is running (its middleware sets it): one process may run several apps.
_current_store: contextvars.ContextVar[SpanStore | None] = contextvars.ContextVar(
    "welfare_hub_span_store", default=None
)


def _keep(recording: Recording) -> None:
    """A trace's spans, once its root ended, to the store of the app it began in (made rows at its flush)."""
    if recording.store is not None:
        recording.store.defer(_rows_of, recording)


def _rows_of(recording: Recording) -> list[SpanRecord]:
    """A trace's spans as the hub keeps them (:mod:`hub.records.spans`): its own, then its subgraphs'."""
    if not recording.spans:
        return []
    trace_id = f"{recording.spans[0].get_span_context().trace_id:032x}"  # one trace: its spans share it
    rows = []
    for s in recording.spans:
        context, parent, end = s.get_span_context(), s.parent, s.end_time or s.start_time
        rows.append(
            SpanRecord(
                trace_id,
                f"{context.span_id:016x}",
                f"{parent.span_id:016x}" if parent is not None else None,
                s.name,
                _KIND_NAMES[s.kind],
                s.start_time // 1000,
                max(0, (end - s.start_time) // 1000),
                _STATUS_NAMES[s.status.status_code],
                s.attributes,
            )
        )
    for source, spans in recording.remote:
        rows.extend(_remote_rows(trace_id, source, spans))
    return rows


_KIND_NAMES = {k: k.name.lower() for k in SpanKind}
_STATUS_NAMES = {c: c.name.lower() for c in StatusCode}


#: The orchestrator's probes, called every few seconds: untraced unless asked (``trace_probes``). Their
#: spans would outnumber the requests' and say only that the hub answered.
PROBES = frozenset({"/healthz", "/readyz"})
#: The methods the HTTP conventions know (as hub.metrics counts them); any other is ``_OTHER``: a method is
#: the caller's word, and could be anything.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"})
_PROTOCOL_VERSIONS = frozenset({"1.0", "1.1", "2", "3"})
_MAX_HOST = 260  # 253 for a name, a port
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _server_attributes(scope: Scope) -> tuple[tuple[str, str | int], ...]:
    """``server.address`` and ``server.port``: the address the server listens on, as the ASGI server says
    (its socket). Never the Host header (nor ``Forwarded``, ``X-Forwarded-Host``): any client writes those,
    and whatever shape check is put on them, a host name can spell a NINO or a name inside a label
    (``zjk102030a.example``), which would go to every tracing backend and the auditor's span store."""
    listening = scope.get("server")
    if isinstance(listening, tuple | list) and len(listening) == 2:
        name, port = listening
        if isinstance(name, str) and (port is None or isinstance(port, int)):
            return _listening(name, port, scope.get("scheme", "http"))
    return ()


@functools.lru_cache(maxsize=16)
def _listening(name: str, port: int | None, scheme: str) -> tuple[tuple[str, str | int], ...]:
    # Per request, the same socket: worked out once (an IP address parse each request was on the hot path).
    if port is None and not name.startswith("/"):  # the scheme's own port (no Unix socket has one)
        port = _DEFAULT_PORTS.get(scheme)
    if len(name) > _MAX_HOST or port is None or not 0 < port < 65536:
        return ()
    try:
        address = str(ipaddress.ip_address(name))
    except ValueError:
        address = name.lower()
    return (("server.address", address), ("server.port", port))


class TraceMiddleware:
    """Pure ASGI (Starlette's BaseHTTPMiddleware would cut the context the spans live in): one server span
    per HTTP request, the root of a trace of the hub's own, linked to the caller's ``traceparent`` when it
    is valid. With a ``store``, the request's spans are also kept in the hub's database. The probes
    (:data:`PROBES`) are not traced, unless ``trace_probes``: no span, no trace id, nothing exported.

    The server span carries, by the HTTP conventions: ``http.request.method`` (a known one, else
    ``_OTHER``), ``http.route`` and ``url.path`` (the path when it is one of ``hub.metrics.ROUTES``, else
    ``other``: an arbitrary path could carry a NINO), ``url.scheme``, ``server.address`` and
    ``server.port`` (the listening socket's, :func:`_server_attributes`), ``network.protocol.version`` and
    ``http.response.status_code``. Never the query string (a GET carries the document there), and never
    ``user_agent.original``: the User-Agent is the caller's free text, and could carry anything a caller
    types, a name or a NINO included, to every tracing backend."""

    def __init__(self, app: ASGIApp, store: SpanStore | None = None, *, trace_probes: bool = False) -> None:
        self.app = app
        self.store = store
        self.trace_probes = trace_probes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if path in PROBES and not self.trace_probes:
            await self.app(scope, receive, send)
            return
        carrier = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        callers = trace.get_current_span(_PROPAGATOR.extract(carrier=carrier)).get_span_context()
        links = [Link(callers, {f"{NS}.link": "caller"})] if callers.is_valid else []
        method = scope.get("method", "GET")
        method = method if method in _METHODS else "_OTHER"
        route = path if path in ROUTES else "other"  # never an arbitrary path: it could carry anything
        scheme = scope.get("scheme", "http")
        attributes: dict[str, str | int] = {
            "http.request.method": method,
            "http.route": route,
            "url.path": route,
            "url.scheme": scheme,
        }
        attributes.update(_server_attributes(scope))
        version = scope.get("http_version")
        if version in _PROTOCOL_VERSIONS:
            attributes["network.protocol.version"] = version
        token = otel_context.attach(otel_context.Context())  # a root: no ambient or caller parent
        kept = _current_store.set(self.store)
        try:
            with span(
                f"{'HTTP' if method == '_OTHER' else method} {route}",
                kind=SpanKind.SERVER,
                links=links,
                attributes=attributes,
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
