"""The subgraph's own spans of a request: W3C-parented on the hub's call once the assertion verifies, and
returned to the hub in ``extensions.spans`` when it asks (``x-welfare-hub-spans: 1``).

Spans carry names and counts, never a value asked for: no NINO, no name, no query text with values (the
adapters' SQL is parameterised, and only its operation and namespace are recorded here).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import re
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

__all__ = ["MAX_SPANS", "Span", "Trace", "current_trace", "db_span", "parse_traceparent"]

#: Most spans one answer carries (the common brief's wire format).
MAX_SPANS = 64
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")


def _random_id(bits: int) -> str:
    """A trace or span id: random, never all zeros. Not a secret (OpenTelemetry's own id generator uses
    ``random.getrandbits`` too), so not a syscall per span; the module's generator is reseeded on fork."""
    return f"{random.getrandbits(bits) or 1:0{bits // 4}x}"


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
    started_at: float  # seconds since the epoch (time.time()); formatted only when sent
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
        self.trace_id = _random_id(128)
        self.parent_id: str | None = None
        self.spans: list[Span] = []
        self._stack: list[Span] = []

    def adopt(self, traceparent: str | None) -> None:
        """Parent the server span on the hub's call (only ever after the assertion verified)."""
        parsed = parse_traceparent(traceparent)
        if parsed is not None:
            self.trace_id, self.parent_id = parsed

    def span(self, name: str, kind: str = "internal", **attributes: str | int) -> _Scope:
        """A span of this trace, open for the ``with`` block (a child of the span open around it)."""
        parent = self._stack[-1].span_id if self._stack else None
        s = Span(
            span_id=_random_id(64),
            parent_id=parent,
            name=name,
            kind=kind,
            started_at=time.time(),
            start=time.perf_counter(),
            attributes=attributes,
        )
        self.spans.append(s)
        return _Scope(self._stack, s)

    def wire(self) -> list[dict[str, Any]]:
        """The spans in the wire format (at most :data:`MAX_SPANS`, the server span first)."""
        return [
            {
                "traceId": self.trace_id,
                "spanId": s.span_id,
                "parentSpanId": s.parent_id if s.parent_id is not None else self.parent_id,
                "name": s.name,
                "kind": s.kind,
                "startedAt": dt.datetime.fromtimestamp(s.started_at, dt.UTC).isoformat().replace("+00:00", "Z"),
                "durationUs": s.duration_us,
                "status": s.status,
                "attributes": dict(s.attributes),
            }
            for s in self.spans[:MAX_SPANS]
        ]


class _Scope:
    """One span open: on the trace's stack while the block runs; its duration and status when it ends."""

    __slots__ = ("span", "stack")

    def __init__(self, stack: list[Span], span: Span) -> None:
        self.stack = stack
        self.span = span

    def __enter__(self) -> Span:
        self.stack.append(self.span)
        return self.span

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        s = self.span
        s.duration_us = int((time.perf_counter() - s.start) * 1_000_000)
        self.stack.remove(s)
        if s.status == "unset":
            s.status = "ok" if kind is None else "error"


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
