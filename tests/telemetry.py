"""What the hub lets out besides its answers, collected across the whole test session for the PII scan
(tests/test_telemetry_scan.py): spans exported over real OTLP/HTTP to a receiver on loopback, every log
record, and every error a GraphQL response carried."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import asyncpg
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from linkage import is_placeholder_dob


def _value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind) if kind else None


@dataclass(frozen=True)
class ExportedSpan:
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    attributes: dict[str, Any]
    status_code: int
    events: list[dict[str, Any]]
    resource: dict[str, Any]
    links: list[tuple[str, str]] = field(default_factory=list)  # (trace id, span id) of each linked span

    def text(self) -> str:
        """Everything the span carries, as one string to scan."""
        return json.dumps(
            {"name": self.name, "attributes": self.attributes, "events": self.events, "resource": self.resource},
            default=str,
        )


@dataclass
class OtlpReceiver:
    """A real OTLP/HTTP traces endpoint (protobuf), on 127.0.0.1."""

    spans: list[ExportedSpan] = field(default_factory=list)
    requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def endpoint(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1/traces"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path != "/v1/traces" or self.headers.get("Content-Type") != "application/x-protobuf":
                    self.send_response(415)
                    self.end_headers()
                    return
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                receiver._add(request)
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _add(self, request: ExportTraceServiceRequest) -> None:
        out = []
        for rs in request.resource_spans:
            resource = {kv.key: _value(kv.value) for kv in rs.resource.attributes}
            for ss in rs.scope_spans:
                for s in ss.spans:
                    out.append(
                        ExportedSpan(
                            name=s.name,
                            trace_id=s.trace_id.hex(),
                            span_id=s.span_id.hex(),
                            parent_span_id=s.parent_span_id.hex(),
                            kind=s.kind,
                            attributes={kv.key: _value(kv.value) for kv in s.attributes},
                            status_code=s.status.code,
                            events=[
                                {"name": e.name, "attributes": {kv.key: _value(kv.value) for kv in e.attributes}}
                                for e in s.events
                            ],
                            resource=resource,
                            links=[(link.trace_id.hex(), link.span_id.hex()) for link in s.links],
                        )
                    )
        with self._lock:
            self.requests += 1
            self.spans.extend(out)

    def in_trace(self, trace_id: str) -> list[ExportedSpan]:
        with self._lock:
            return [s for s in self.spans if s.trace_id == trace_id]

    def linked_from(self, trace_id: str) -> list[ExportedSpan]:
        """The spans of every trace whose root links to the caller's trace ``trace_id``."""
        with self._lock:
            roots = {s.trace_id for s in self.spans if any(t == trace_id for t, _ in s.links)}
            return [s for s in self.spans if s.trace_id in roots]


class LogCapture(logging.Handler):
    """Every log record of the session, formatted as an operator would see it (tracebacks included), but
    the tests' own HTTP client's (it logs the URLs the tests request, which the hub never logs)."""

    CLIENT_SIDE = frozenset({"httpx", "httpcore"})

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in self.CLIENT_SIDE:
            return
        with contextlib.suppress(Exception):
            self.lines.append(self.format(record))


class ErrorCapture:
    """ASGI wrapper keeping the errors of every JSON response (message, path, extensions) as sent."""

    def __init__(self, app: ASGIApp, sink: list[str]) -> None:
        self.app = app
        self.sink = sink

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def keep(message: Message) -> None:
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    self._record(b"".join(chunks))
            await send(message)

        await self.app(scope, receive, keep)

    def _record(self, body: bytes) -> None:
        try:
            doc = json.loads(body)
        except ValueError:
            return
        if isinstance(doc, dict):
            for error in doc.get("errors") or []:
                self.sink.append(json.dumps(error, default=str))


@dataclass
class Personal:
    """The personal data the tests put in the sources: what no span, log line or error may carry."""

    ninos: set[str] = field(default_factory=set)
    full_names: set[tuple[str, str]] = field(default_factory=set)  # (given, family), lower case
    dates: set[dt.date] = field(default_factory=set)
    postcodes: set[str] = field(default_factory=set)  # without spaces, upper case
    people: int = 0


_PEOPLE_SQL = {
    "src_dwp": "SELECT nino, given_name, family_name, date_of_birth, postcode FROM dwp.person",
    "src_hb": "SELECT nino, given_name, family_name, date_of_birth, postcode FROM hb.claim",
    "src_social_care": "SELECT nino, given_name, family_name, date_of_birth, postcode FROM social_care.client",
}


@dataclass
class Telemetry:
    receiver: OtlpReceiver
    logs: LogCapture
    errors: list[str] = field(default_factory=list)
    personal: Personal = field(default_factory=Personal)

    def wrap(self, app: ASGIApp) -> ASGIApp:
        return ErrorCapture(app, self.errors)

    async def remember_people(self, admin: Mapping[str, asyncpg.Connection]) -> None:
        """Note the sources' people (call it after seeding, while the stores exist)."""
        p = self.personal
        for store, sql in _PEOPLE_SQL.items():
            for row in await admin[store].fetch(sql):
                p.people += 1
                if row["nino"]:
                    p.ninos.add(re.sub(r"\s+", "", row["nino"]).upper())
                p.full_names.add((row["given_name"].lower(), row["family_name"].lower()))
                # A placeholder (1900-01-01, as systems write "not known") is no one's date of birth: it is
                # the hub's own words too ("between 1900-01-01 and today"). A missing one is nothing to find.
                if row["date_of_birth"] is not None and not is_placeholder_dob(row["date_of_birth"]):
                    p.dates.add(row["date_of_birth"])
                if row["postcode"]:
                    p.postcodes.add(row["postcode"].replace(" ", "").upper())


@contextlib.contextmanager
def collecting() -> Iterator[Telemetry]:
    receiver = OtlpReceiver()
    receiver.start()
    logs = LogCapture()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(logs)
    root.setLevel(logging.INFO)
    try:
        yield Telemetry(receiver, logs)
    finally:
        root.removeHandler(logs)
        root.setLevel(previous)
        receiver.stop()
