"""The hub's metrics, read the ways an operator reads them: Prometheus text from ``/metrics`` on the port
of its own, and OTLP/HTTP pushed to a real receiver on loopback, from a ``welfare-hub serve`` process after
real traffic. The counts must be the traffic's: so many requests, so many source calls, so many refusals."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections import defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from prometheus_client.parser import text_string_to_metric_families

from hub.config import Settings
from hub.errors import ConfigError
from hub.serve import serve_workers
from tests import people as P
from tests.conftest import free_port
from tests.hub.test_scale_out import hub_env, hub_process
from tests.telemetry import _value

ASK = (
    "query($nino: String!) { person(nino: $nino, purpose: PURPOSE) { subjectId socialCare { overnightCareRequired } } }"
)
ALLOWED = ASK.replace("PURPOSE", "HB_OVERNIGHT_CARER_ROOM")
NOT_GRANTED = ASK.replace("PURPOSE", "BLUE_BADGE")


class MetricsReceiver:
    """A real OTLP/HTTP metrics endpoint (protobuf) on 127.0.0.1: the latest value of every data point."""

    def __init__(self) -> None:
        self.points: dict[str, dict[frozenset[tuple[str, Any]], Any]] = defaultdict(dict)
        self.exports = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path != "/v1/metrics" or self.headers.get("Content-Type") != "application/x-protobuf":
                    self.send_response(415)
                    self.end_headers()
                    return
                request = ExportMetricsServiceRequest()
                request.ParseFromString(body)
                receiver._add(request)
                reply = ExportMetricsServiceResponse().SerializeToString()
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
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1/metrics"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _add(self, request: ExportMetricsServiceRequest) -> None:
        with self._lock:
            self.exports += 1
            for rm in request.resource_metrics:
                for sm in rm.scope_metrics:
                    for m in sm.metrics:
                        kind = m.WhichOneof("data")
                        for p in getattr(m, kind).data_points:
                            key = frozenset((kv.key, _value(kv.value)) for kv in p.attributes)
                            if kind == "histogram":
                                self.points[m.name][key] = p.count
                            else:
                                self.points[m.name][key] = p.as_int if p.HasField("as_int") else p.as_double

    def total(self, name: str, **attributes: Any) -> float:
        with self._lock:
            return sum(v for k, v in self.points.get(name, {}).items() if set(attributes.items()) <= dict(k).items())


@pytest.fixture
def receiver() -> Iterator[MetricsReceiver]:
    r = MetricsReceiver()
    try:
        yield r
    finally:
        r.stop()


def _samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [(s.name, s.labels, s.value) for family in text_string_to_metric_families(text) for s in family.samples]


def _sum(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    return sum(v for n, lbl, v in samples if n == name and labels.items() <= lbl.items())


async def test_metrics_count_the_traffic_on_their_own_port_and_by_otlp(
    settings: Settings, people: Any, token: Any, receiver: MetricsReceiver
) -> None:
    metrics_port = free_port()
    env = {
        **hub_env(settings),
        "WELFARE_HUB_METRICS_PORT": str(metrics_port),
        "WELFARE_HUB_USER_IN_FLIGHT": "2",  # a burst from one user meets the in-flight limit: 429s to count
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": receiver.endpoint,
        "OTEL_METRIC_EXPORT_INTERVAL": "300",
        "OTEL_TRACES_EXPORTER": "none",
    }
    allowed = token("council_hb", "HB_OVERNIGHT_CARER_ROOM", org="metrics-hb")
    async with hub_process(env) as (url, _), httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def ask(query: str, t: str) -> httpx.Response:
            return await client.post(
                "/graphql",
                json={"query": query, "variables": {"nino": P.BADGE_DLA}},
                headers={"Authorization": f"Bearer {t}"},
            )

        answered = [await ask(ALLOWED, allowed) for _ in range(7)]
        assert all(r.status_code == 200 and "errors" not in r.json() for r in answered)
        refused = [await ask(NOT_GRANTED, allowed) for _ in range(3)]
        assert all(r.status_code == 200 and r.json()["errors"] for r in refused)
        burst = await asyncio.gather(*(ask(ALLOWED, allowed) for _ in range(30)))
        limited = sum(r.status_code == 429 for r in burst)
        burst_answered = sum(r.status_code == 200 for r in burst)
        assert limited > 0
        assert limited + burst_answered == 30
        # The API's port does not serve them; their own port does, to whoever the operator lets reach it.
        assert (await client.get("/metrics")).status_code == 404
        text = (await client.get(f"http://127.0.0.1:{metrics_port}/metrics")).text

        graphql_200 = 7 + 3 + burst_answered
        samples = _samples(text)
        duration = "http_server_request_duration_seconds_count"
        assert _sum(samples, duration, http_route="/graphql", http_response_status_code="200") == graphql_200
        assert _sum(samples, duration, http_route="/graphql", http_response_status_code="429") == limited
        assert _sum(samples, duration, http_route="/metrics") == 0  # a path off the list is "other"
        assert _sum(samples, "welfare_hub_rate_limit_rejections_total", welfare_hub_rate_limit_limit="user") == limited
        # The refused asked nothing of a source; each answered one asked the source behind its one field.
        assert _sum(samples, "welfare_hub_refusals_total", welfare_hub_purpose="BLUE_BADGE") == 3
        assert _sum(samples, "welfare_hub_refusals_total", welfare_hub_purpose="HB_OVERNIGHT_CARER_ROOM") == 0
        calls = "welfare_hub_source_request_duration_seconds_count"
        sources = _sum(samples, calls, welfare_hub_source="social_care")
        assert sources > 0
        assert sources % (7 + burst_answered) == 0  # each answer as many calls as the next
        assert _sum(samples, calls) == sources  # the purpose's one field is social care's; none failed
        appended = _sum(samples, "welfare_hub_audit_append_duration_seconds_count")
        assert appended >= 7 + 3 + burst_answered  # 429s are audited once a bucket a minute, beyond these
        assert _sum(samples, "welfare_hub_link_decisions_total") == 7 + burst_answered
        assert _sum(samples, "db_client_connection_max", db_client_connection_pool_name="hub") == 2  # the pool size
        assert any(
            n == "db_client_connection_count" and lbl.get("db_client_connection_state") == "idle"
            for n, lbl, _ in samples
        )
        # No attribute names a person, a user or an organisation.
        assert P.BADGE_DLA not in text
        assert "metrics-hb" not in text

        # The same, pushed by OTLP.
        for _ in range(100):
            if receiver.total("http.server.request.duration", **{"http.route": "/graphql"}) >= graphql_200 + limited:
                break
            await asyncio.sleep(0.1)
        assert receiver.total("http.server.request.duration", **{"http.route": "/graphql"}) == graphql_200 + limited
        assert receiver.total("welfare_hub.refusals", **{"welfare_hub.purpose": "BLUE_BADGE"}) == 3
        assert receiver.total("welfare_hub.source.request.duration", **{"welfare_hub.source": "social_care"}) == sources


def test_a_metrics_port_is_one_process_s_and_never_the_api_s(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="must not be the API's port"):
        Settings.from_environ({"WELFARE_HUB_PORT": "9000", "WELFARE_HUB_METRICS_PORT": "9000"})
    several = dataclasses.replace(settings, workers=2, metrics_port=free_port())
    with pytest.raises(ConfigError, match="one process's metrics"):
        serve_workers(several, logging_setup=lambda: None)
