"""The span factories the hub gives its source adapters: :func:`hub.audit.tracing.db_span` behind the small
:class:`~resolvers.sources.base.SpanLike` protocol for a database, and a client span that hands its W3C
trace context on for a subgraph, so that the adapters never import OpenTelemetry.

A query's span carries the database's name and the parameterised SQL (never the values), the rows it
returned, and on failure the stable error code only (a driver's message may quote data). Each call is
also measured (``welfare_hub.source.request.duration``, by source, with ``error.type`` on failure), sampled
or not.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from urllib.parse import urlsplit

from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from hub.audit.tracing import NS, db_span, span, trace_headers
from hub.metrics import SOURCE_REQUEST, elapsed
from resolvers.sources.base import HttpSpanLike, SpanLike

__all__ = ["source_span", "source_span_for", "subgraph_span"]


class _OtelSpan:
    __slots__ = ("_span", "error")

    def __init__(self, span: Span) -> None:
        self._span = span
        self.error: str | None = None

    def set_attribute(self, key: str, value: int) -> None:
        self._span.set_attribute(key, value)

    def record_error(self, code: str) -> None:
        self.error = code
        self._span.set_status(Status(StatusCode.ERROR, code))


@functools.lru_cache(maxsize=256)
def _measured(source: str, error: str | None) -> dict[str, str]:
    return {f"{NS}.source": source} if error is None else {f"{NS}.source": source, "error.type": error}


@contextlib.contextmanager
def _measuring(source: str, wrapped: _OtelSpan) -> Iterator[None]:
    started = time.perf_counter()
    error: str | None = None
    try:
        yield
    except BaseException as e:
        error = type(e).__name__  # unless the adapter named the failure's code, below
        raise
    finally:
        SOURCE_REQUEST.record(elapsed(started), _measured(source, wrapped.error or error))


@contextlib.contextmanager
def source_span(namespace: str, query: str, *, source: str = "") -> Iterator[SpanLike]:
    """A client span for one source query (a :data:`~resolvers.sources.base.DbSpan`), measured as a call
    to ``source`` when one is named."""
    with db_span(namespace, query) as span:
        wrapped = _OtelSpan(span)
        if not source:
            yield wrapped
            return
        with _measuring(source, wrapped):
            yield wrapped


def source_span_for(source: str) -> Callable[[str, str], AbstractContextManager[SpanLike]]:
    """:func:`source_span` for the queries of one source, each measured as a call to it."""
    return functools.partial(source_span, source=source)


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
        wrapped = _OtelHttpSpan(current)
        with _measuring(source, wrapped):
            yield wrapped


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
