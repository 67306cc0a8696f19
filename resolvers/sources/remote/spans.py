"""The subgraph's own spans for a call (``extensions.spans``), checked before the hub keeps them.

They are another organisation's words: at most :data:`MAX_SPANS`, each of the agreed shape, in the hub's
trace (the trace id the hub sent), with names and attributes cut to bounded lengths, so that a subgraph
cannot fill the hub's span store or plant spans in someone else's trace. A span that does not fit is
dropped (the data answer never fails for its spans); an attribute that does not fit is dropped.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from hub.types import RemoteSpan

__all__ = ["MAX_SPANS", "checked_spans", "trace_id_of"]

MAX_SPANS = 64
MAX_NAME = 128
MAX_ATTRIBUTES = 32
MAX_KEY = 64
MAX_VALUE = 256

_HEX32 = re.compile(r"[0-9a-f]{32}")
_HEX16 = re.compile(r"[0-9a-f]{16}")
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
_KINDS = frozenset({"server", "internal", "client"})
_STATUSES = frozenset({"unset", "ok", "error"})
_KEYS = frozenset(
    {"traceId", "spanId", "parentSpanId", "name", "kind", "startedAt", "durationUs", "status", "attributes"}
)


def trace_id_of(headers: dict[str, str]) -> str | None:
    """The trace id in the ``traceparent`` the hub sends, if it sends one."""
    found = _TRACEPARENT.fullmatch(headers.get("traceparent", ""))
    return found.group(1) if found else None


def checked_spans(raw: Any, trace_id: str) -> list[RemoteSpan]:
    """The spans of ``raw`` (an answer's ``extensions.spans``) that fit, at most :data:`MAX_SPANS`."""
    if not isinstance(raw, list):
        return []
    out: list[RemoteSpan] = []
    for span in raw[:MAX_SPANS]:
        checked = _span(span, trace_id)
        if checked is not None:
            out.append(checked)
    return out


def _span(span: Any, trace_id: str) -> RemoteSpan | None:
    if not isinstance(span, dict) or not span.keys() <= _KEYS or span.get("traceId") != trace_id:
        return None
    span_id, parent, name = span.get("spanId"), span.get("parentSpanId"), span.get("name")
    kind, status = span.get("kind"), span.get("status", "unset")
    started, duration = span.get("startedAt"), span.get("durationUs")
    if (
        not isinstance(span_id, str)
        or not _HEX16.fullmatch(span_id)
        or not (parent is None or (isinstance(parent, str) and _HEX16.fullmatch(parent)))
        or not isinstance(name, str)
        or kind not in _KINDS
        or status not in _STATUSES
        or type(duration) is not int
        or not 0 <= duration < 10**12
        or not isinstance(started, str)
        or len(started) > 40
    ):
        return None
    try:
        when = dt.datetime.fromisoformat(started)
    except ValueError:
        return None
    if when.utcoffset() != _ZERO:
        return None
    return RemoteSpan(
        span_id,
        parent,
        name[:MAX_NAME],
        kind,
        (when - _EPOCH) // _MICROSECOND,
        duration,
        status,
        _attributes(span.get("attributes")),
    )


_ZERO = dt.timedelta(0)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


def _attributes(raw: Any) -> dict[str, str | int]:
    if not isinstance(raw, dict):
        return {}
    out: dict[str, str | int] = {}
    for key, value in raw.items():
        if len(out) >= MAX_ATTRIBUTES:
            break
        if not isinstance(key, str) or not key or len(key) > MAX_KEY:
            continue
        if isinstance(value, str):
            out[key] = value[:MAX_VALUE]
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63:
            out[key] = value
    return out
