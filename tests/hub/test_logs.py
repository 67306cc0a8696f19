"""Logs that tie to traces and audit records: a line written while a request is served names the trace and
span it was written in and the request's audit id, as JSON lines (production) and as OTLP log records
sent to a real receiver by a ``welfare-hub serve`` process; and never a NINO."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import asyncpg
import httpx
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest, ExportLogsServiceResponse

from hub.config import Settings
from hub.logs import JsonLines
from tests.conftest import codes, gql
from tests.hub.test_scale_out import hub_env, hub_process
from tests.telemetry import _value

ABSENT = "JK999996A"  # valid, held by no source: a not-found answer, which the hub logs
LOOKUP = "query($n: String!) { person(nino: $n, purpose: BLUE_BADGE) { subjectId } }"


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonLines())
    logger = logging.getLogger("welfare_hub")
    logger.addHandler(handler)
    try:
        yield out
    finally:
        logger.removeHandler(handler)


async def test_a_request_s_log_lines_name_its_trace_span_and_audit_record(
    client: httpx.AsyncClient, token: Any, admin: dict[str, asyncpg.Connection], lines: io.StringIO
) -> None:
    body = (
        await gql(client, token("council_blue_badge", "BLUE_BADGE", org="logs-badge"), LOOKUP, {"n": ABSENT})
    ).json()
    assert codes(body) == ["SUBJECT_NOT_FOUND"]
    request_id = body["extensions"]["auditReceipt"]["requestId"]
    trace_id = await admin["hub"].fetchval(
        "SELECT trace_id FROM hub.audit_event WHERE request_id = $1::uuid", request_id
    )
    written = [json.loads(line) for line in lines.getvalue().splitlines()]
    mine = [w for w in written if w.get("request_id") == request_id]
    assert mine, written
    assert all(w["trace_id"] == trace_id for w in mine)
    assert all(len(w["span_id"]) == 16 for w in mine)
    assert ABSENT not in lines.getvalue()


class LogsReceiver:
    """A real OTLP/HTTP logs endpoint (protobuf) on 127.0.0.1."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path != "/v1/logs":
                    self.send_response(404)
                    self.end_headers()
                    return
                request = ExportLogsServiceRequest()
                request.ParseFromString(body)
                with receiver._lock:
                    for rl in request.resource_logs:
                        for sl in rl.scope_logs:
                            for r in sl.log_records:
                                receiver.records.append(
                                    {
                                        "body": _value(r.body),
                                        "trace_id": r.trace_id.hex(),
                                        "span_id": r.span_id.hex(),
                                        "severity": r.severity_text,
                                        "attributes": {kv.key: _value(kv.value) for kv in r.attributes},
                                    }
                                )
                reply = ExportLogsServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1/logs"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def of(self, request_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.records if r["attributes"].get("welfare_hub.request_id") == request_id]


async def test_log_records_are_exported_by_otlp_with_their_trace_and_audit_record(
    settings: Settings, people: Any, token: Any, admin: dict[str, asyncpg.Connection]
) -> None:
    receiver = LogsReceiver()
    env = {
        **hub_env(settings),
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": receiver.endpoint,
        "OTEL_BLRP_SCHEDULE_DELAY": "200",
        "OTEL_TRACES_EXPORTER": "none",
    }
    t = token("council_blue_badge", "BLUE_BADGE", org="logs-otlp-badge")
    try:
        async with hub_process(env) as (url, _), httpx.AsyncClient(base_url=url, timeout=30) as client:
            r = await client.post(
                "/graphql", json={"query": LOOKUP, "variables": {"n": ABSENT}}, headers={"Authorization": f"Bearer {t}"}
            )
            request_id = r.json()["extensions"]["auditReceipt"]["requestId"]
            for _ in range(100):
                if receiver.of(request_id):
                    break
                await asyncio.sleep(0.1)
        trace_id = await admin["hub"].fetchval(
            "SELECT trace_id FROM hub.audit_event WHERE request_id = $1::uuid", request_id
        )
        mine = receiver.of(request_id)
        assert mine, receiver.records
        assert all(m["trace_id"] == trace_id and len(m["span_id"]) == 16 for m in mine)
        assert ABSENT not in json.dumps(receiver.records)
        assert not any("exception.stacktrace" in m["attributes"] for m in receiver.records)
    finally:
        receiver.stop()
