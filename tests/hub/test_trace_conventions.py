"""Traces by the OpenTelemetry conventions (issue 16, item 4): what the server span says of a request, the
probes left untraced, and a client span per round trip to the hub's own stores, each as exported over
real OTLP/HTTP to the session's receiver. Nothing a caller wrote freely, and no value a statement was
given, reaches a span."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.types import Receive, Scope, Send

from hub.access.keys import load_key_ring
from hub.audit import tracing
from hub.audit.tracing import TraceMiddleware
from hub.config import Settings
from hub.db import create_store_pool
from hub.records.spans import StoreQuery, database_of, traced, traced_for
from linkage import NormalisedNino, subject_hash
from tests import people as P
from tests.conftest import gql, serving
from tests.telemetry import ExportedSpan, Telemetry

LOOKUP = """query Overnight($nino: String!) {
  person(nino: $nino, purpose: HB_OVERNIGHT_CARER_ROOM) { subjectId socialCare { overnightCareRequired } }
}"""
CONSENTED = """query($n: String!) { person(nino: $n, purpose: INCOME_MAXIMISATION) { subjectId } }"""
RECORD = """mutation($n: String!) {
  recordConsent(purpose: INCOME_MAXIMISATION, nino: $n, notifyOnShare: false) { status } }"""
WITHDRAW = """mutation($n: String!) { withdrawConsent(purpose: INCOME_MAXIMISATION, nino: $n) { withdrawn } }"""
SERVER, CLIENT = 2, 3  # OTLP span kinds
#: Every attribute a hub store's span may carry: what was run, where, and how it ended; never a value.
DB_ATTRIBUTES = {
    "db.system.name",
    "db.namespace",
    "db.collection.name",
    "db.operation.name",
    "db.query.summary",
    "db.query.text",
    "db.stored_procedure.name",
    "db.response.status_code",
    "error.type",
    "welfare_hub.audit.records",
}


def traceparent() -> tuple[str, str]:
    trace_id = secrets.token_hex(16)
    return f"00-{trace_id}-{secrets.token_hex(8)}-01", trace_id


def flushed(telemetry: Telemetry) -> list[ExportedSpan]:
    provider = tracing.provider()
    assert provider is not None
    assert provider.force_flush(10_000)
    with telemetry.receiver._lock:
        return list(telemetry.receiver.spans)


def hub_trace(telemetry: Telemetry, caller_trace_id: str) -> list[ExportedSpan]:
    """The spans of the hub's trace for the request that sent the caller's trace id."""
    flushed(telemetry)
    return telemetry.receiver.linked_from(caller_trace_id)


def one(spans: list[ExportedSpan], name: str) -> ExportedSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, [s.name for s in spans]
    return found[0]


def store_spans(spans: list[ExportedSpan]) -> dict[str, ExportedSpan]:
    """The hub's own stores' spans (a source's carry no collection), by name."""
    return {s.name: s for s in spans if s.kind == CLIENT and "db.collection.name" in s.attributes}


def appends_of(telemetry: Telemetry, audit: ExportedSpan) -> list[ExportedSpan]:
    """The audit-append spans linked to a request's ``welfare_hub.audit`` span."""
    return [s for s in flushed(telemetry) if (audit.trace_id, audit.span_id) in s.links]


def assert_by_the_conventions(span: ExportedSpan, settings: Settings, collection: str, operation: str) -> None:
    assert span.kind == CLIENT
    assert set(span.attributes) <= DB_ATTRIBUTES, set(span.attributes) - DB_ATTRIBUTES
    assert span.attributes["db.system.name"] == "postgresql"
    assert span.attributes["db.namespace"] == settings.database_name("hub")
    assert span.attributes["db.collection.name"] == collection
    assert span.attributes["db.operation.name"] == operation
    assert span.attributes["db.query.text"].lstrip().upper().startswith(operation)
    assert "$1" in span.attributes["db.query.text"]  # parameterised: the values never reach the span


# -- the server span ------------------------------------------------------------------------------------


async def test_the_server_span_says_where_a_request_went_by_the_conventions(
    client: httpx.AsyncClient, token: Any, telemetry: Telemetry
) -> None:
    header, caller = traceparent()
    t = token("council_hb", "HB_OVERNIGHT_CARER_ROOM", org="conventions-team")
    response = await gql(
        client, t, LOOKUP, {"nino": P.BADGE_DLA}, headers={"traceparent": header, "User-Agent": P.BADGE_DLA}
    )
    assert response.status_code == 200
    server = one(hub_trace(telemetry, caller), "POST /graphql")
    assert server.kind == SERVER
    assert {k: server.attributes.get(k) for k in ("http.request.method", "http.route", "url.path", "url.scheme")} == {
        "http.request.method": "POST",
        "http.route": "/graphql",
        "url.path": "/graphql",
        "url.scheme": "http",
    }
    # The test transport says it listens on hub.test:80 (its base URL): the socket, not the Host header.
    assert server.attributes["server.address"] == "hub.test"
    assert server.attributes["server.port"] == 80
    assert server.attributes["network.protocol.version"] == "1.1"
    # The User-Agent is the caller's free text: never on a span.
    assert "user_agent.original" not in server.attributes
    assert P.BADGE_DLA not in server.text()


async def test_through_uvicorn_the_server_span_names_the_listening_host_and_port(
    settings: Settings, people: Any, telemetry: Telemetry
) -> None:
    header, caller = traceparent()
    async with serving(settings) as url, httpx.AsyncClient(base_url=url) as http:
        assert (await http.get("/audit/keys", headers={"traceparent": header})).status_code == 200
    server = one(hub_trace(telemetry, caller), "GET /audit/keys")
    host, port = url.removeprefix("http://").split(":")
    assert (server.attributes["server.address"], server.attributes["server.port"]) == (host, int(port))
    assert server.attributes["url.path"] == "/audit/keys"
    assert server.attributes["network.protocol.version"] == "1.1"


async def test_an_odd_path_or_method_is_other_never_the_callers_text(
    client: httpx.AsyncClient, telemetry: Telemetry
) -> None:
    header, caller = traceparent()
    await client.get(f"/people/{P.BADGE_DLA}", headers={"traceparent": header})
    (server,) = hub_trace(telemetry, caller)
    assert (server.name, server.attributes["url.path"], server.attributes["http.route"]) == (
        "GET other",
        "other",
        "other",
    )
    header, caller = traceparent()
    await client.request(P.PIP_LOW, "/graphql", headers={"traceparent": header})  # a method is only a token
    (server,) = hub_trace(telemetry, caller)
    assert server.name == "HTTP /graphql"
    assert server.attributes["http.request.method"] == "_OTHER"
    assert P.BADGE_DLA not in server.text()
    assert P.PIP_LOW not in server.text()


# Host headers a caller may send: well formed or not, a NINO inside a label or not, none reaches a span.
HOSTS = [
    "hub.example.gov.uk",
    "Hub.Example.GOV.uk:8443",
    "10.1.2.80:8000",
    "[2001:db8::1]:8443",
    P.BADGE_DLA,  # a host name in form, a NINO in fact
    f"{P.BADGE_DLA.lower()}.hub.example",
    f"z{P.BADGE_DLA.lower()}.example",  # a NINO inside a label (review finding H2)
    f"0x{P.BADGE_DLA.lower()}",
    "jane-smith-dob-1970-01-02.example",  # a name and a date of birth, spelt as a host name
    "hub.example/people/x",
    "",
]


@pytest.mark.parametrize("host", HOSTS, ids=[h[:40] or "empty" for h in HOSTS])
async def test_the_host_header_never_reaches_a_span(client: httpx.AsyncClient, telemetry: Telemetry, host: str) -> None:
    """server.address and server.port are the listening socket's (here the test transport's hub.test:80),
    whatever the caller's Host header says."""
    header, caller = traceparent()
    await client.get("/audit/keys", headers={"traceparent": header, "Host": host})
    (server,) = hub_trace(telemetry, caller)
    assert (server.attributes["server.address"], server.attributes["server.port"]) == ("hub.test", 80)
    text = server.text().lower()
    for part in (P.BADGE_DLA.lower(), "jane-smith", "1970-01-02", "/people/x"):
        assert part not in text


# (what the ASGI server says it listens on; what the span says)
LISTENING = [
    (("127.0.0.1", 8000), {"server.address": "127.0.0.1", "server.port": 8000}),
    (("::1", 8000), {"server.address": "::1", "server.port": 8000}),
    (("Hub.Internal", 8000), {"server.address": "hub.internal", "server.port": 8000}),
    (("/run/hub.sock", None), {}),  # a Unix socket: no host, no port
    (("127.0.0.1", 0), {}),
    (None, {}),
]


@pytest.mark.parametrize(("listening", "expected"), LISTENING)
def test_the_server_is_where_the_server_listens(
    listening: tuple[str, int | None] | None, expected: dict[str, Any]
) -> None:
    assert dict(tracing._server_attributes({"server": listening})) == expected


# -- the probes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("probe", ["/healthz", "/readyz"])
async def test_the_probes_are_not_traced(client: httpx.AsyncClient, telemetry: Telemetry, probe: str) -> None:
    header, caller = traceparent()
    response = await client.get(probe, headers={"traceparent": header})
    assert response.status_code == 200
    assert "traceresponse" not in response.headers  # no trace id was made
    assert not hub_trace(telemetry, caller)  # and nothing exported
    assert not [s for s in flushed(telemetry) if s.attributes.get("url.path") == probe]


async def test_probes_are_traced_when_asked(telemetry: Telemetry) -> None:
    async def ok(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    traced_app = TraceMiddleware(ok, trace_probes=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=traced_app), base_url="http://hub.test") as c:
        header, caller = traceparent()
        response = await c.get("/healthz", headers={"traceparent": header})
    assert "traceresponse" in response.headers
    (server,) = hub_trace(telemetry, caller)
    assert server.name == "GET /healthz"
    assert server.attributes["url.path"] == "/healthz"


# -- the hub's own stores -------------------------------------------------------------------------------


async def test_a_lookup_traces_the_link_index_and_the_register_and_its_append_apart(
    client: httpx.AsyncClient, token: Any, telemetry: Telemetry, settings: Settings, admin: Any
) -> None:
    header, caller = traceparent()
    t = token("council_hb", "HB_OVERNIGHT_CARER_ROOM", org="conventions-lookup")
    body = (await gql(client, t, LOOKUP, {"nino": P.BADGE_DLA}, headers={"traceparent": header})).json()
    assert "errors" not in body, body
    spans = hub_trace(telemetry, caller)
    server = one(spans, "POST /graphql")
    ours = store_spans(spans)
    assert_by_the_conventions(ours["SELECT hub.link"], settings, "hub.link", "SELECT")
    assert_by_the_conventions(ours["SELECT hub.organisation"], settings, "hub.organisation", "SELECT")
    assert_by_the_conventions(ours["SELECT hub.staff_identity"], settings, "hub.staff_identity", "SELECT")
    ids = {s.span_id for s in spans}
    assert all(s.parent_span_id in ids for s in ours.values())  # within the request's own tree

    # The append served a batch: a trace of its own, linked to the request's audit span, never a child of it.
    audit = one(spans, "welfare_hub.audit")
    (append,) = appends_of(telemetry, audit)
    assert append.name == "SELECT hub.audit_append"
    assert_by_the_conventions(append, settings, "hub.audit_event", "SELECT")
    assert append.attributes["db.stored_procedure.name"] == "hub.audit_append"
    assert append.parent_span_id == ""
    assert append.trace_id != server.trace_id
    assert append.attributes["welfare_hub.audit.records"] >= 1
    # The record names its request's trace, as it did before the append was traced.
    stored = await admin["hub"].fetchrow(
        "SELECT trace_id, subject_hashes, caller_user_hash FROM hub.audit_event "
        "WHERE caller_org = 'conventions-lookup' ORDER BY seq DESC LIMIT 1"
    )
    assert stored["trace_id"] == server.trace_id

    values = [P.BADGE_DLA, *stored["subject_hashes"], stored["caller_user_hash"]]
    for span in [*ours.values(), append]:
        assert not [v for v in values if v in span.text()], span.name


async def test_each_append_links_every_request_it_stored_once(
    client: httpx.AsyncClient, token: Any, telemetry: Telemetry
) -> None:
    # Concurrent requests: the writer takes what arrived during one append as the next batch (group commit).
    t = token("council_hb", "HB_OVERNIGHT_CARER_ROOM", org="conventions-batch")
    headers = [traceparent() for _ in range(6)]
    await asyncio.gather(
        *(gql(client, t, LOOKUP, {"nino": P.BADGE_DLA}, headers={"traceparent": h}) for h, _ in headers)
    )
    appends: dict[str, ExportedSpan] = {}
    for _, caller in headers:
        audit = one(hub_trace(telemetry, caller), "welfare_hub.audit")
        (append,) = appends_of(telemetry, audit)
        appends[append.span_id] = append
    for append in appends.values():
        assert append.attributes["welfare_hub.audit.records"] == len(append.links)
        assert len({trace_id for trace_id, _ in append.links}) == len(append.links)  # one link per request
    assert sum(len(a.links) for a in appends.values()) == len(headers)


async def test_consent_reads_and_writes_are_traced_with_their_own_operation(
    client: httpx.AsyncClient, token: Any, telemetry: Telemetry, settings: Settings
) -> None:
    adviser = token("council_welfare_rights", "INCOME_MAXIMISATION", org="conventions-rights")
    nino = P.EXTRA[3]
    steps = [
        (CONSENTED, "SELECT hub.consent", "SELECT"),  # no consent yet: the check refuses
        (RECORD, "INSERT hub.consent", "INSERT"),
        (WITHDRAW, "UPDATE hub.consent", "UPDATE"),
    ]
    consent_subject = subject_hash(load_key_ring(settings.keys_path), NormalisedNino(nino))  # type: ignore[arg-type]
    for document, name, operation in steps:
        header, caller = traceparent()
        await gql(client, adviser, document, {"n": nino}, headers={"traceparent": header})
        span = store_spans(hub_trace(telemetry, caller))[name]
        assert_by_the_conventions(span, settings, "hub.consent", operation)
        assert nino not in span.text()
        assert consent_subject not in span.text()


# -- no span when there is no trace to record -----------------------------------------------------------


def test_a_store_makes_no_span_outside_a_recorded_trace(settings: Settings) -> None:
    query = StoreQuery(settings.database_name("hub"), "hub.link", "SELECT 1 FROM hub.link WHERE person_key = $1")
    with traced(query) as span:
        assert not span.is_recording()
    with traced_for(query, []) as span:
        assert not span.is_recording()


async def test_a_pool_names_its_database_once(settings: Settings) -> None:
    pool = await create_store_pool(settings.service_url("hub"))
    try:
        assert database_of(pool) == settings.database_name("hub")
    finally:
        await pool.close()
    plain = await asyncpg.create_pool(settings.service_url("hub"), min_size=0)
    try:
        assert database_of(plain) == settings.database_name("hub")
    finally:
        await plain.close()
    assert database_of(object()) is None  # a wrapper that does not say: no db.namespace, never a guess
