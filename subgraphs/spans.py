"""The subgraph's own spans of a request: W3C-parented on the hub's call once the assertion verifies, and
returned to the hub in ``extensions.spans`` when it asks (``x-welfare-hub-spans: 1``).

Spans carry names and counts, never a value asked for: no NINO, no name, no query text with values (the
adapters' SQL is parameterised, and only its operation and namespace are recorded here).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import secrets
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MAX_SPANS", "Span", "Trace", "current_trace", "db_span", "parse_traceparent"]

#: Most spans one answer carries (the common brief's wire format).
MAX_SPANS = 64
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")


def parse_traceparent(value: str | None) -> tuple[str, str] | None:
    """(trace id, parent span id) of a W3C traceparent, or None when absent or malformed."""
    if not value:
        return None
    match = _TRACEPARENT.fullmatch(value.strip())
    if match is None or set(match[1]) == {"0"} or set(match[2]) == {"0"}:
        return None
    return match[1], match[2]


@dataclass
class Span:
    span_id: str
    parent_id: str | None
    name: str
    kind: str
    started_at: dt.datetime
    start: float
    duration_us: int = 0
    status: str = "unset"
    attributes: dict[str, str | int] = field(default_factory=dict)

    def set_attribute(self, key: str, value: int) -> None:
        self.attributes[key] = value

    def record_error(self, code: str) -> None:
        self.status = "error"
        self.attributes["error.type"] = code


class Trace:
    """The spans of one request. The trace id is decided once the assertion verified (:meth:`adopt`)."""

    def __init__(self) -> None:
        self.trace_id = secrets.token_hex(16)
        self.parent_id: str | None = None
        self.spans: list[Span] = []
        self._stack: list[Span] = []

    def adopt(self, traceparent: str | None) -> None:
        """Parent the server span on the hub's call (only ever after the assertion verified)."""
        parsed = parse_traceparent(traceparent)
        if parsed is not None:
            self.trace_id, self.parent_id = parsed

    @contextlib.contextmanager
    def span(self, name: str, kind: str = "internal", **attributes: str | int) -> Iterator[Span]:
        parent = self._stack[-1].span_id if self._stack else None
        s = Span(
            span_id=secrets.token_hex(8),
            parent_id=parent,
            name=name,
            kind=kind,
            started_at=dt.datetime.now(dt.UTC),
            start=time.perf_counter(),
            attributes=dict(attributes),
        )
        self.spans.append(s)
        self._stack.append(s)
        try:
            yield s
        except BaseException:
            if s.status == "unset":
                s.status = "error"
            raise
        finally:
            s.duration_us = int((time.perf_counter() - s.start) * 1_000_000)
            self._stack.remove(s)
            if s.status == "unset":
                s.status = "ok"

    def wire(self) -> list[dict[str, Any]]:
        """The spans in the wire format (at most :data:`MAX_SPANS`, the server span first)."""
        return [
            {
                "traceId": self.trace_id,
                "spanId": s.span_id,
                "parentSpanId": s.parent_id if s.parent_id is not None else self.parent_id,
                "name": s.name,
                "kind": s.kind,
                "startedAt": s.started_at.isoformat().replace("+00:00", "Z"),
                "durationUs": s.duration_us,
                "status": s.status,
                "attributes": dict(s.attributes),
            }
            for s in self.spans[:MAX_SPANS]
        ]


current_trace: ContextVar[Trace | None] = ContextVar("welfare_subgraph_trace", default=None)


class _Nothing:
    def set_attribute(self, key: str, value: int) -> None:
        pass

    def record_error(self, code: str) -> None:
        pass


@contextlib.contextmanager
def db_span(namespace: str, query: str) -> Iterator[Any]:
    """The adapters' :data:`~resolvers.sources.base.DbSpan`: a client span in the current request's trace,
    named by the statement's operation and the database (never the statement's values)."""
    trace = current_trace.get()
    if trace is None:
        yield _Nothing()
        return
    words = query.split(None, 1)
    operation = words[0].upper() if words else "QUERY"
    with trace.span(
        f"{operation} {namespace}", "client", **{"db.system.name": "postgresql", "db.namespace": namespace}
    ) as span:
        span.attributes["db.operation.name"] = operation
        yield span
