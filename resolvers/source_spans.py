"""The span factory the hub gives its source adapters: :func:`hub.audit.tracing.db_span` behind the small
:class:`~resolvers.sources.base.SpanLike` protocol, so that the adapters never import OpenTelemetry.

A query's span carries the database's name and the parameterised SQL (never the values), the rows it
returned, and on failure the stable error code only (a driver's message may quote data).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from opentelemetry.trace import Span, Status, StatusCode

from hub.audit.tracing import db_span
from resolvers.sources.base import SpanLike

__all__ = ["source_span"]


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
