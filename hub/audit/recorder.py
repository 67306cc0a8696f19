"""The hub's OpenTelemetry tracer: the API's ``Tracer`` and ``Span``, recording a request's spans into one
list that is handed on whole when the request's root span ends.

Why not the SDK's tracer: on this machine it cost ~85 µs a span (attribute validation through a locked
``BoundedAttributes``, a sampler call per span, the span processors called one span at a time), ~0.7 ms of
every request for its eight spans, and the auditor's copy then converted each ended span again. This
tracer is the API implemented for the hub's request path, and the SDK still does the rest:

- **sampling** is the SDK's (``OTEL_TRACES_SAMPLER``, read by the provider): asked once per trace, at its
  root; a span in a trace being recorded is recorded too. (The SDK's samplers agree: the parent-based ones
  follow the parent, the ratio ones decide by the trace id, which a child shares.) A span in a trace not
  being recorded asks the sampler as the SDK would;
- **ids** come from the provider's id generator;
- **export** is the SDK's: when a span processor is added (the OTLP exporter's ``BatchSpanProcessor``, or a
  test's), each ended trace is given to it as SDK ``ReadableSpan``\\ s, after the request's answer has left;
  processors get ``on_end`` only (the SDK's own do nothing in ``on_start``);
- **the auditor's copy** takes the same list (:class:`Recording`), made rows at the store's flush.

What a span keeps is bounded and carries no message: attributes are the OpenTelemetry value types (a
string, bool, int, float, or a sequence of them), at most :data:`MAX_ATTRIBUTES`; an exception is recorded
by its type only; a status description is kept only when it is a stable error code (``SOURCE_TIMEOUT``),
since the API's ``use_span`` would otherwise write the exception's message there.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SynchronousMultiSpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util import types
from opentelemetry.util._decorator import _agnosticcontextmanager

from hub.access.freetext import has_nino

__all__ = ["MAX_ATTRIBUTES", "Provider", "RecordedSpan", "Recording", "current_recording"]

log = logging.getLogger(__name__)

#: The most attributes a span keeps (the SDK's default limit); more are dropped.
MAX_ATTRIBUTES = 128
_PLAIN = (str, bool, int, float)
_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
_UNSET = Status(StatusCode.UNSET)
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_NOT_SAMPLED = TraceFlags(TraceFlags.DEFAULT)


def _kept(*given: types.Attributes) -> dict[str, Any]:
    """Attributes given at a span's start, as :meth:`RecordedSpan.set_attribute` would keep them."""
    out: dict[str, Any] = {}
    for attributes in given:
        for key, value in (attributes or {}).items():
            clean = _clean(value)
            if isinstance(key, str) and key and clean is not None and (key in out or len(out) < MAX_ATTRIBUTES):
                out[key] = clean
    return out


def _clean(value: Any) -> Any:
    """An attribute value as OpenTelemetry allows it (a sequence as a tuple; an integer of 64 bits, as OTLP
    carries it), or None when it is not one."""
    if isinstance(value, _PLAIN):
        return value if not isinstance(value, int) or _INT64 <= value < -_INT64 else None
    if isinstance(value, list | tuple) and all(
        isinstance(v, _PLAIN) and (not isinstance(v, int) or _INT64 <= v < -_INT64) for v in value
    ):
        return tuple(value)
    return None


_INT64 = -(2**63)


class Recording:
    """The spans of one trace made in this process, from its first span (the root here) until that span
    ends; then handed on whole (``sink``). ``remote`` gathers what the trace's subgraph calls returned, for
    the sink too. ``store`` is the app's span store the trace began under (opaque here)."""

    __slots__ = ("open", "remote", "spans", "store")

    def __init__(self, store: Any) -> None:
        self.store = store
        self.spans: list[RecordedSpan] = []
        self.remote: list[tuple[str, Sequence[Any]]] = []
        self.open = True


#: What an ended span's trace is once handed on: closed, and no longer the recording (which holds the span).
_HANDED_ON = Recording(None)
_HANDED_ON.open = False


class RecordedSpan(trace.Span):
    """A span of a :class:`Recording`: what the SDK's span keeps, without its per-call machinery."""

    __slots__ = (
        "_context",
        "_provider",
        "attributes",
        "end_time",
        "events",
        "kind",
        "links",
        "name",
        "parent",
        "recording",
        "root",
        "scope",
        "start_time",
        "status",
    )

    def __init__(
        self,
        provider: Provider,
        recording: Recording,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind,
        attributes: dict[str, Any],
        links: list[Link],
        start_time: int,
        scope: InstrumentationScope,
        *,
        root: bool,
    ) -> None:
        self._provider = provider
        self.recording = recording
        self.name = name
        self._context = context
        self.parent = parent
        self.kind = kind
        self.attributes = attributes
        self.links = links
        self.events: list[Event] = []
        self.start_time = start_time
        self.end_time: int | None = None
        self.status = _UNSET
        self.scope = scope
        self.root = root

    def get_span_context(self) -> SpanContext:
        return self._context

    def is_recording(self) -> bool:
        return self.end_time is None

    def set_attribute(self, key: str, value: types.AttributeValue) -> None:
        if self.end_time is not None or not isinstance(key, str) or not key:
            return
        clean = _clean(value)
        if clean is not None and (key in self.attributes or len(self.attributes) < MAX_ATTRIBUTES):
            self.attributes[key] = clean

    def set_attributes(self, attributes: Mapping[str, types.AttributeValue]) -> None:
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def add_event(self, name: str, attributes: types.Attributes = None, timestamp: int | None = None) -> None:
        if self.end_time is not None:
            return
        kept = {k: c for k, v in (attributes or {}).items() if (c := _clean(v)) is not None}
        self.events.append(Event(name, kept, timestamp if timestamp is not None else time.time_ns()))

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        if self.end_time is None and context.is_valid:
            self.links.append(Link(context, attributes))

    def update_name(self, name: str) -> None:
        if self.end_time is None:
            self.name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        if self.end_time is not None or self.status.status_code is StatusCode.OK:
            return  # as the SDK: once OK, it stays OK
        if isinstance(status, Status):
            code, description = status.status_code, status.description
        else:
            code = status
        if code is StatusCode.UNSET:
            return
        # A description could quote input (use_span writes the exception's message there): a code only, and
        # never one shaped like a NINO (two capitals, six digits and a capital are also shaped like a code).
        kept = (
            description
            if code is StatusCode.ERROR and description and _CODE.fullmatch(description) and not has_nino(description)
            else None
        )
        if kept is None and code is StatusCode.ERROR and self.status.status_code is StatusCode.ERROR:
            return  # an error already marked keeps the code it was given
        self.status = Status(code, kept)

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        # Its type, never its message or traceback: either may quote what was asked.
        self.add_event("exception", {"exception.type": type(exception).__name__}, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self.end_time is not None:
            return
        self.end_time = end_time if end_time is not None else time.time_ns()
        self._provider.ended(self)

    def readable(self, resource: Resource) -> ReadableSpan:
        """This span as the SDK's exporters take it."""
        return ReadableSpan(
            name=self.name,
            context=self._context,
            parent=self.parent,
            resource=resource,
            attributes=self.attributes,
            events=self.events,
            links=self.links,
            kind=self.kind,
            status=self.status,
            start_time=self.start_time,
            end_time=self.end_time,
            instrumentation_scope=self.scope,
        )


def current_recording() -> Recording | None:
    """The recording of the current span's trace while it is open, or None (no trace, or not recorded)."""
    current = trace.get_current_span()
    if isinstance(current, RecordedSpan) and current.recording.open:
        return current.recording
    return None


class _Tracer(trace.Tracer):
    def __init__(self, provider: Provider, scope: InstrumentationScope) -> None:
        self._provider = provider
        self.scope = scope

    def start_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> trace.Span:
        provider = self._provider
        parent = trace.get_current_span(context)
        parent_context = parent.get_span_context()
        kept = [link for link in links or () if link.context.is_valid]
        span_id = provider.id_generator.generate_span_id()
        if isinstance(parent, RecordedSpan) and parent.recording.open:
            # A span in a trace being recorded here: recorded, without asking the sampler again.
            recording, root, sampled_attributes = parent.recording, False, None
            own = SpanContext(
                parent_context.trace_id, span_id, False, parent_context.trace_flags, parent_context.trace_state
            )
        else:
            trace_id = parent_context.trace_id if parent_context.is_valid else provider.id_generator.generate_trace_id()
            result = provider.sampler.should_sample(context, trace_id, name, kind, attributes, kept)
            flags = _SAMPLED if result.decision is Decision.RECORD_AND_SAMPLE else _NOT_SAMPLED
            own = SpanContext(trace_id, span_id, False, flags, result.trace_state)
            if result.decision is Decision.DROP:
                return NonRecordingSpan(own)
            recording, root, sampled_attributes = Recording(provider.store_of_the_moment()), True, result.attributes
        return RecordedSpan(
            provider,
            recording,
            name,
            own,
            parent_context if parent_context.is_valid else None,
            kind,
            _kept(attributes, sampled_attributes),
            kept,
            start_time or time.time_ns(),
            self.scope,
            root=root,
        )

    # The API's own decorator (private to it, but what its Tracer declares): a context manager that also
    # decorates a function, a coroutine function included.
    @_agnosticcontextmanager
    def start_as_current_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[trace.Span]:
        started = self.start_span(name, context, kind, attributes, links, start_time)
        with trace.use_span(
            started,
            end_on_exit=end_on_exit,
            record_exception=record_exception,
            set_status_on_exception=set_status_on_exception,
        ) as current:
            yield current


class Provider(TracerProvider):
    """The SDK's provider (resource, sampler, id generator, span processors, flush and shutdown), whose
    tracers are :class:`_Tracer`. ``sink(recording)`` takes each trace's spans when its root ends (the app's
    span store); ``store_of_the_moment()`` says which store a trace beginning now belongs to."""

    def __init__(
        self,
        resource: Resource,
        *,
        disabled: bool,
        sink: Callable[[Recording], None],
        store_of_the_moment: Callable[[], Any],
    ) -> None:
        self._processors = SynchronousMultiSpanProcessor()  # type: ignore[no-untyped-call]
        super().__init__(resource=resource, active_span_processor=self._processors)
        self.disabled = disabled
        self.exporting = False  # a span processor was added: ended spans go to it as ReadableSpans
        self._sink = sink
        self.store_of_the_moment = store_of_the_moment

    def add_span_processor(self, span_processor: Any) -> None:
        super().add_span_processor(span_processor)
        self.exporting = True

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: types.Attributes = None,
    ) -> trace.Tracer:
        if self.disabled:
            return trace.NoOpTracer()
        scope = InstrumentationScope(instrumenting_module_name, instrumenting_library_version or "", schema_url)
        return _Tracer(self, scope)

    def ended(self, span: RecordedSpan) -> None:
        recording = span.recording
        if not recording.open:
            # Ended after its trace's root (a task that outlived the request): handed on by itself.
            alone = Recording(recording.store)
            alone.spans.append(span)
            alone.open = False
            self._hand_on(alone)
            return
        recording.spans.append(span)
        if span.root:
            recording.open = False
            self._hand_on(recording)

    def _hand_on(self, recording: Recording) -> None:
        # After the answer has left: a sink or processor that fails is logged (its type only, a message may
        # quote a span), never raised into the request's end.
        try:
            self._sink(recording)
        except Exception as e:
            log.warning("a trace could not be kept: %s", type(e).__name__)
        if self.exporting:
            resource = self.resource
            for s in recording.spans:
                try:
                    self._processors.on_end(s.readable(resource))
                except Exception as e:
                    log.warning("a span could not be exported: %s", type(e).__name__)
        # Its spans let go of it: span and recording held each other, a cycle that left every request's
        # spans to the garbage collector rather than freed when the store has written them.
        for s in recording.spans:
            s.recording = _HANDED_ON
