"""Tracing: the spans each request makes, as exported over real OTLP/HTTP to a receiver on loopback."""

from __future__ import annotations

import secrets
from typing import Any

import asyncpg
import httpx
import pytest

from hub.audit import tracing
from hub.config import Settings
from tests import people as P
from tests.conftest import gql
from tests.telemetry import ExportedSpan, Telemetry

LOOKUP = """query Overnight($nino: String!) {
  person(nino: $nino, purpose: HB_OVERNIGHT_CARER_ROOM) { subjectId socialCare { overnightCareRequired } }
}"""
SERVER, INTERNAL, CLIENT = 2, 1, 3  # OTLP span kinds


def traceparent() -> tuple[str, str, str]:
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{parent}-01", trace_id, parent


def exported(telemetry: Telemetry, trace_id: str) -> list[ExportedSpan]:
    provider = tracing.provider()
    assert provider is not None
    assert provider.force_flush(10_000)
    return telemetry.receiver.in_trace(trace_id)


def exported_for(telemetry: Telemetry, caller_trace_id: str) -> list[ExportedSpan]:
    """The spans of the hub's trace for a request that sent the caller's ``caller_trace_id``."""
    provider = tracing.provider()
    assert provider is not None
    assert provider.force_flush(10_000)
    return telemetry.receiver.linked_from(caller_trace_id)


def one(spans: list[ExportedSpan], name: str) -> ExportedSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, [s.name for s in spans]
    return found[0]


async def test_a_lookup_is_traced_from_the_callers_trace_to_the_audit_record(
    client: httpx.AsyncClient,
    token: Any,
    telemetry: Telemetry,
    settings: Settings,
    admin: dict[str, asyncpg.Connection],
) -> None:
    header, trace_id, parent = traceparent()
    t = token("council_hb", "HB_OVERNIGHT_CARER_ROOM", org="trace-team")
    response = await gql(client, t, LOOKUP, {"nino": P.BADGE_DLA}, headers={"traceparent": header})
    assert response.status_code == 200
    assert "errors" not in response.json()
    assert not exported(telemetry, trace_id)  # nothing of the hub's lands in a trace the caller chose
    spans = exported_for(telemetry, trace_id)

    server = one(spans, "POST /graphql")
    assert server.parent_span_id == ""  # the root of the hub's own trace
    assert server.links == [(trace_id, parent)]  # the caller's span, linked
    assert server.trace_id != trace_id
    assert response.headers["traceresponse"].startswith(f"00-{server.trace_id}-{server.span_id}-")
    assert server.kind == SERVER
    assert server.attributes["http.response.status_code"] == 200
    operation = one(spans, "query")
    assert operation.parent_span_id == server.span_id
    assert operation.attributes["graphql.operation.type"] == "query"
    assert operation.attributes["graphql.operation.name"] == "Overnight"
    assert operation.attributes["welfare_hub.caller.org"] == "trace-team"
    assert operation.attributes["welfare_hub.purpose"] == "HB_OVERNIGHT_CARER_ROOM"
    assert operation.attributes["welfare_hub.legal_basis"]
    assert operation.attributes["welfare_hub.decision"] == "released"
    assert set(operation.attributes["welfare_hub.fields_released"]) == {
        "Query.person",
        "Person.subjectId",
        "Person.socialCare",
        "SocialCareRecord.overnightCareRequired",
    }
    assert operation.attributes["welfare_hub.subject_count"] == 1
    assert "welfare_hub.subjects" not in operation.attributes
    assert not any("document" in key or key.split(".")[-1] == "query" for key in operation.attributes)

    decision = one(spans, "welfare_hub.purpose")
    assert decision.parent_span_id == operation.span_id
    assert decision.attributes["welfare_hub.decision"] == "allowed"
    link = one(spans, "welfare_hub.link")
    assert link.attributes["welfare_hub.link.method"] in {"link_index", "nino"}
    fetches = source_reads(spans, settings)
    assert fetches, [s.name for s in spans]
    namespaces = {s.attributes["db.namespace"] for s in fetches}
    assert settings.database_name("src_social_care") in namespaces
    for fetch in fetches:
        assert fetch.attributes["db.system.name"] == "postgresql"
        assert "$1" in fetch.attributes["db.query.text"]  # parameterised; the values are never on the span
        assert fetch.name == f"SELECT {fetch.attributes['db.namespace']}"
    audit = one(spans, "welfare_hub.audit")
    assert audit.parent_span_id == operation.span_id

    stored = await admin["hub"].fetchrow(
        "SELECT trace_id, subject_hashes FROM hub.audit_event WHERE caller_org = 'trace-team' ORDER BY seq DESC LIMIT 1"
    )
    assert stored["trace_id"] == server.trace_id
    # Whom it was about stays in the audit record: no span carries the hub-wide keyed hash (a tracing
    # backend could join one person's requests by it across callers and purposes).
    (subject,) = stored["subject_hashes"]
    assert all(subject not in s.text() for s in spans)


async def test_neither_the_document_nor_the_variables_reach_a_span(
    client: httpx.AsyncClient, token: Any, telemetry: Telemetry
) -> None:
    header, trace_id, _ = traceparent()
    t = token("council_hb", "HB_OVERNIGHT_CARER_ROOM", org="trace-inline")
    inline = f'query {{ person(nino: "{P.PIP_LOW}", purpose: HB_OVERNIGHT_CARER_ROOM) {{ subjectId }} }}'
    await gql(client, t, inline, headers={"traceparent": header})
    header2, trace_id2, _ = traceparent()
    await gql(client, t, LOOKUP, {"nino": P.PIP_MOVING}, headers={"traceparent": header2})
    spans = exported_for(telemetry, trace_id) + exported_for(telemetry, trace_id2)
    assert len(spans) >= 6
    text = " ".join(s.text() for s in spans)
    for nino in (P.PIP_LOW, P.PIP_MOVING):
        assert nino not in text
    assert "subjectId" not in text.replace("Person.subjectId", "")  # the document's words are not recorded


def source_reads(spans: list[ExportedSpan], settings: Settings) -> list[ExportedSpan]:
    """The client spans of source reads: every client span but the hub's own stores' (its register, link
    index, consent; tests/hub/test_trace_conventions.py), which are in the hub's database."""
    hub = settings.database_name("hub")
    return [s for s in spans if s.kind == CLIENT and s.attributes.get("db.namespace") != hub]


async def test_a_refusal_is_traced_with_its_code(
    client: httpx.AsyncClient, token: Any, telemetry: Telemetry, settings: Settings
) -> None:
    header, trace_id, _ = traceparent()
    t = token("council_blue_badge", "BLUE_BADGE", org="trace-refused")
    body = (await gql(client, t, LOOKUP, {"nino": P.BADGE_DLA}, headers={"traceparent": header})).json()
    assert body["errors"][0]["extensions"]["code"] == "PURPOSE_NOT_GRANTED"
    spans = exported_for(telemetry, trace_id)
    operation = one(spans, "query")
    assert operation.attributes["welfare_hub.decision"] == "refused"
    assert operation.attributes["welfare_hub.reason_codes"] == ["PURPOSE_NOT_GRANTED"]
    assert operation.status_code == 2  # ERROR
    decision = one(spans, "welfare_hub.purpose")
    assert decision.attributes["welfare_hub.reason_code"] == "PURPOSE_NOT_GRANTED"
    assert not source_reads(spans, settings)  # refused before any source was read
    # What was read is the hub's own: the caller's organisation in the register, nothing of a person.
    assert {s.name for s in spans if s.kind == CLIENT} <= {"SELECT hub.organisation"}


@pytest.mark.parametrize(
    "header",
    ["garbage", "00-" + "0" * 32 + "-" + "1" * 16 + "-01", "ff-" + "a" * 32 + "-" + "b" * 16 + "-01", "00-abc-def-01"],
)
async def test_an_invalid_traceparent_starts_a_trace_of_its_own(
    client: httpx.AsyncClient, token: Any, telemetry: Telemetry, admin: dict[str, asyncpg.Connection], header: str
) -> None:
    t = token("council_hb", "HB_OVERNIGHT_CARER_ROOM", org="trace-invalid-parent")
    response = await gql(client, t, LOOKUP, {"nino": P.BADGE_DLA}, headers={"traceparent": header})
    assert response.status_code == 200
    stored = await admin["hub"].fetchval(
        "SELECT trace_id FROM hub.audit_event WHERE caller_org = 'trace-invalid-parent' ORDER BY seq DESC LIMIT 1"
    )
    assert stored is not None
    assert len(stored) == 32
    assert stored != "0" * 32
    assert stored not in header
    spans = exported(telemetry, stored)
    assert one(spans, "POST /graphql").parent_span_id == ""


async def test_a_refused_token_is_traced_and_its_audit_record_names_the_trace(
    client: httpx.AsyncClient, telemetry: Telemetry, admin: dict[str, asyncpg.Connection]
) -> None:
    header, trace_id, _ = traceparent()
    response = await client.post(
        "/graphql",
        json={"query": LOOKUP, "variables": {"nino": P.BADGE_DLA}},
        headers={"Authorization": "Bearer not.a.token", "traceparent": header},
    )
    assert response.status_code == 401
    spans = exported_for(telemetry, trace_id)
    server = one(spans, "POST /graphql")
    assert server.attributes["http.response.status_code"] == 401
    assert one(spans, "welfare_hub.audit").attributes["welfare_hub.decision"] == "refused"
    count = "SELECT count(*) FROM hub.audit_event WHERE trace_id = $1"
    assert await admin["hub"].fetchval(count, server.trace_id) == 1
    assert await admin["hub"].fetchval(count, trace_id) == 0


async def test_an_arbitrary_path_is_not_recorded(client: httpx.AsyncClient, telemetry: Telemetry) -> None:
    header, trace_id, _ = traceparent()
    await client.get(f"/people/{P.BADGE_DLA}", headers={"traceparent": header})
    (server,) = exported_for(telemetry, trace_id)
    assert server.name == "GET other"
    assert P.BADGE_DLA not in server.text()


# (description, OTEL_* environment, whether spans are exported)
EXPORTING = [
    ("nothing configured: trace ids only", {}, False),
    ("an endpoint", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
    ("a traces endpoint", {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
    ("otlp named", {"OTEL_TRACES_EXPORTER": "otlp"}, True),
    ("exporter none", {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}, False),
    ("SDK disabled", {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}, False),
    ("SDK disabled, any case", {"OTEL_SDK_DISABLED": " TRUE ", "OTEL_TRACES_EXPORTER": "otlp"}, False),
]


@pytest.mark.parametrize(("description", "env", "expected"), EXPORTING, ids=[c[0] for c in EXPORTING])
def test_the_standard_variables_decide_export(description: str, env: dict[str, str], expected: bool) -> None:
    assert tracing._exporting(env) is expected


def test_settings_keep_the_otel_variables() -> None:
    settings = Settings.from_environ({"OTEL_SERVICE_NAME": "hub-a", "WELFARE_HUB_PORT": "8001"})
    assert dict(settings.otel) == {"OTEL_SERVICE_NAME": "hub-a"}


async def test_a_caller_cannot_put_the_hubs_spans_into_another_organisations_trace(
    client: httpx.AsyncClient, token: Any, telemetry: Telemetry, admin: dict[str, asyncpg.Connection]
) -> None:
    """Organisation B sends the traceparent of organisation A's request: B's spans and audit record stay in
    a trace of their own, and A's event shows only A's spans."""
    header, trace_id, _ = traceparent()
    a = token("council_hb", "HB_OVERNIGHT_CARER_ROOM", org="trace-org-a")
    b = token("council_hb", "HB_OVERNIGHT_CARER_ROOM", org="trace-org-b")
    for t in (a, b):
        assert (
            "errors"
            not in (await gql(client, t, LOOKUP, {"nino": P.BADGE_DLA}, headers={"traceparent": header})).json()
        )
    rows = await admin["hub"].fetch(
        "SELECT caller_org, trace_id FROM hub.audit_event WHERE caller_org IN ('trace-org-a', 'trace-org-b')"
    )
    traces = {r["caller_org"]: r["trace_id"] for r in rows}
    assert len(set(traces.values())) == 2
    assert trace_id not in traces.values()
    for org, hub_trace in traces.items():
        orgs = {s.attributes.get("welfare_hub.caller.org") for s in exported(telemetry, hub_trace)} - {None}
        assert orgs == {org}
