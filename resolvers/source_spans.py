"""The span factories the hub gives its source adapters: :func:`hub.audit.tracing.db_span` behind the small
:class:`~resolvers.sources.base.SpanLike` protocol for a database, and a client span that hands its W3C
trace context on for a subgraph, so that the adapters never import OpenTelemetry.

A query's span carries the database's name and the parameterised SQL (never the values), the rows it
returned, and on failure the stable error code only (a driver's message may quote data).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from urllib.parse import urlsplit

from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from hub.audit.tracing import NS, db_span, span, trace_headers
from resolvers.sources.base import HttpSpanLike, SpanLike

__all__ = ["source_span", "subgraph_span"]


class _OtelSpan:
    def __init__(self, span: Span) -> None:
        self._span = span

    def set_attribute(self, key: str, value: int) -> None:
        self._span.set_attribute(key, value)

    def record_error(self, code: str) -> None:
        self._span.set_status(Status(StatusCode.ERROR, code))


@contextlib.contextmanager
def source_span(namespace: str, query: str) -> Iterator[SpanLike]:
    """A client span for one source query (a :data:`~resolvers.sources.base.DbSpan`)."""
    with db_span(namespace, query) as span:
        yield _OtelSpan(span)


class _OtelHttpSpan(_OtelSpan):
    def set_attribute(self, key: str, value: str | int) -> None:
        self._span.set_attribute(key, value)

    def headers(self) -> dict[str, str]:
        # This span's own context as W3C trace context (what the propagator would inject while it is
        # current, without looking it up): the subgraph's server span becomes its child.
        ctx = self._span.get_span_context()
        if not ctx.is_valid:
            return trace_headers()
        return {"traceparent": f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"}


@contextlib.contextmanager
def subgraph_span(source: str, url: str) -> Iterator[HttpSpanLike]:
    """A client span for one call to a source's subgraph (an :data:`~resolvers.sources.base.HttpSpan`):
    the method, the host and the source, never the body (it names people)."""
    with span(f"POST {source}", kind=SpanKind.CLIENT, attributes=_call_attributes(source, url)) as current:
        yield _OtelHttpSpan(current)


@functools.lru_cache(maxsize=64)
def _call_attributes(source: str, url: str) -> dict[str, str | int]:
    """What a call's URL says, worked out once per subgraph (a span copies the attributes it is given)."""
    parts = urlsplit(url)
    attributes: dict[str, str | int] = {
        "http.request.method": "POST",
        "server.address": parts.hostname or "",
        "url.path": parts.path or "/",
        f"{NS}.source": source,
    }
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    if port is not None:
        attributes["server.port"] = port
    return attributes
