"""The hub over its sources' subgraphs, end to end: real processes, real HTTP, real signatures.

What a caller is given is the same whichever transport answers; a field the purpose does not allow is never
asked of a source (the source's own access log says what crossed); every question carries the hub's
audit record id; the subgraph's spans join the hub's trace; a subgraph that is down costs only its own
fields, and its breaker stops the hub waiting on it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from hub.config import Settings
from hub.records import spans
from hub.records.spans import SpanRow
from resolvers.sources.contract import selection_from
from tests import people as P
from tests.conftest import codes, gql, running_client
from tests.federated.conftest import over
from tests.receipts import without_receipt
from tests.subgraphs.conftest import Running

BLUE_BADGE = (
    "query($n: String!) { person(nino: $n, purpose: BLUE_BADGE) { subjectId dwp { blueBadgeAutomaticEligibility } } }"
)
OVERNIGHT = (
    "query($n: String!) { person(nino: $n, purpose: HB_OVERNIGHT_CARER_ROOM) "
    "{ subjectId socialCare { overnightCareRequired } } }"
)
CARE = """query($n: String!) { person(nino: $n, purpose: CARE_CHARGING_DOMICILIARY) {
  subjectId
  dwp { awardsInPayment { benefit component rate weeklyAmount startDate endDate }
        declaredIncome { kind weeklyAmount declaredOn } declaredCapital { kind amount declaredOn }
        householdMembers { relationship dateOfBirth } }
  housingBenefit { claims { tenancyType weeklyRent weeklyAward startDate endDate } }
  socialCare { domiciliaryHoursPerWeek financialAssessments { assessedOn weeklyAssessedCharge capitalBand } }
} }"""

CASES = [
    ("council_blue_badge", "BLUE_BADGE", BLUE_BADGE),
    ("council_hb", "HB_OVERNIGHT_CARER_ROOM", OVERNIGHT),
    ("council_care_finance", "CARE_CHARGING_DOMICILIARY", CARE),
]
NINOS = [P.BADGE_DLA, P.PIP_LOW, P.PIP_MOVING, P.CARE_ONLY, P.DLA_ENDED, P.ABSENT, P.OUTSIDER]


def _comparable(body: dict[str, Any]) -> dict[str, Any]:
    body = without_receipt(body)
    for error in body.get("errors", []):
        error.get("extensions", {}).pop("requestId", None)
    return body


@pytest.mark.parametrize(("org_type", "purpose", "query"), CASES, ids=[c[1] for c in CASES])
async def test_a_caller_is_given_the_same_whichever_transport_answers(
    client: httpx.AsyncClient, federated: httpx.AsyncClient, token: Any, org_type: str, purpose: str, query: str
) -> None:
    t = token(org_type, purpose)
    released = 0
    for nino in NINOS:
        direct = (await gql(client, t, query, {"n": nino})).json()
        remote = (await gql(federated, t, query, {"n": nino})).json()
        assert _comparable(remote) == _comparable(direct), nino
        released += "errors" not in direct and direct["data"]["person"] is not None
    assert released >= 2, "the table must release something, not only refuse"


async def _access_log(settings: Settings, source: str, audit_id: uuid.UUID) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(settings.admin_url(f"src_{source}"))  # type: ignore[arg-type]
    try:
        return list(
            await conn.fetch(
                f"SELECT * FROM {source}.hub_access_log WHERE audit_id = $1 ORDER BY entry_id",
                audit_id,
            )
        )
    finally:
        await conn.close()


async def test_only_what_the_caller_selected_within_the_purpose_crosses_the_wire(
    federated: httpx.AsyncClient, token: Any, settings: Settings
) -> None:
    body = (await gql(federated, token("council_blue_badge", "BLUE_BADGE"), BLUE_BADGE, {"n": P.BADGE_DLA})).json()
    assert body["data"]["person"]["dwp"] == {"blueBadgeAutomaticEligibility": True}
    audit_id = uuid.UUID(body["extensions"]["auditReceipt"]["requestId"])
    rows = await _access_log(settings, "dwp", audit_id)
    assert rows, "DWP's own log names the hub's audit record"
    asked = {f for r in rows for f in r["fields"]}
    # The yes/no, the keys it was asked by and the tie to the caller's area: no award, no name, no points.
    assert "DwpPerson.blueBadgeAutomaticEligibility" in asked
    assert not asked & {"DwpPerson.awardsInPayment", "DwpPerson.name", "DwpPerson.address", "BenefitAward.rate"}
    allowed = {f"{t}.{f}" for t, fs in selection_from(["DwpRecord.blueBadgeAutomaticEligibility"]).items() for f in fs}
    internal = {
        "DwpPerson.recordId",
        "DwpPerson.nino",
        "DwpPerson.recordIds",
        "DwpPerson.councils",
        "DwpPerson.postcodeDistricts",
    }
    assert asked <= allowed | internal
    assert {r["purpose"] for r in rows} == {"BLUE_BADGE"}
    assert {r["org_type"] for r in rows} == {"council_blue_badge"}
    assert all(r["outcome"] == "answered" for r in rows)
    # Neither council source was asked anything: the purpose reads DWP only.
    assert await _access_log(settings, "hb", audit_id) == []
    assert await _access_log(settings, "social_care", audit_id) == []
    # And no source's log holds a NINO in clear.
    assert all(P.BADGE_DLA not in s for r in rows for s in r["subjects"])


async def test_a_refused_operation_asks_no_source_anything(
    federated: httpx.AsyncClient, token: Any, settings: Settings
) -> None:
    # Blue Badge may not see awards: refused before any source is read, and no subgraph was called.
    query = "query($n: String!) { person(nino: $n, purpose: BLUE_BADGE) { dwp { awardsInPayment { rate } } } }"
    body = (await gql(federated, token("council_blue_badge", "BLUE_BADGE"), query, {"n": P.BADGE_DLA})).json()
    assert codes(body) == ["PURPOSE_FORBIDS_FIELD"]
    audit_id = uuid.UUID(body["extensions"]["auditReceipt"]["requestId"])
    for source in ("dwp", "hb", "social_care"):
        assert await _access_log(settings, source, audit_id) == []


async def test_the_subgraphs_spans_join_the_hubs_trace(
    federated: httpx.AsyncClient, token: Any, admin: dict[str, asyncpg.Connection]
) -> None:
    response = await gql(
        federated, token("council_care_finance", "CARE_CHARGING_DOMICILIARY"), CARE, {"n": P.BADGE_DLA}
    )
    trace_id = response.headers["traceresponse"].split("-")[1]
    stored: list[SpanRow] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the span store is flushed by a background role each second
        stored = await spans.read(admin["hub"], trace_id, statement_timeout=5)  # type: ignore[arg-type]
        if {s.attributes.get("welfare_hub.remote.source") for s in stored} >= {"dwp", "hb", "social_care"}:
            break
        await asyncio.sleep(0.2)
    by_id = {s.span_id: s for s in stored}
    remote = [s for s in stored if "welfare_hub.remote.source" in s.attributes]
    assert {s.attributes["welfare_hub.remote.source"] for s in remote} == {"dwp", "hb", "social_care"}
    # Each subgraph's server span is a child of the hub's client span for that call.
    servers = [s for s in remote if s.kind == "server"]
    assert servers
    for server in servers:
        assert server.parent_span_id is not None
        parent = by_id.get(server.parent_span_id)
        assert parent is not None
        assert parent.kind == "client"
        assert parent.name.startswith("POST ")


async def test_a_subgraph_down_costs_only_its_own_fields_and_its_breaker_opens(
    settings: Settings, subgraphs: dict[str, Running], token: Any
) -> None:
    # Social care's subgraph accepts connections and never answers (a hung server): the others still
    # answer, its field is an error within the source timeout, and once its breaker opens the hub stops
    # waiting on it at all.
    held: list[asyncio.StreamWriter] = []

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    hung = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = hung.sockets[0].getsockname()[1]
    urls = {name: r.url.removesuffix("/graphql") for name, r in subgraphs.items()}
    urls["social_care"] = f"http://127.0.0.1:{port}"
    down = dataclasses.replace(settings, subgraph_urls=urls, subgraph_breaker_failures=2, subgraph_breaker_seconds=60)
    t = token("council_care_finance", "CARE_CHARGING_DOMICILIARY")
    took: list[float] = []
    codes_seen: list[list[str]] = []
    try:
        async with running_client(down) as client:
            for _ in range(4):
                started = time.monotonic()
                body = (await gql(client, t, CARE, {"n": P.BADGE_DLA})).json()
                took.append(time.monotonic() - started)
                person = body["data"]["person"]
                assert person["dwp"]["awardsInPayment"]
                assert person["housingBenefit"]["claims"]
                assert person["socialCare"] is None
                assert [e["path"] for e in body["errors"]] == [["person", "socialCare"]]
                codes_seen.append([e["extensions"]["code"] for e in body["errors"]])
    finally:
        hung.close()
        for w in held:
            w.close()
    assert codes_seen[0] == ["SOURCE_TIMEOUT"]
    assert codes_seen[-1] == ["SOURCE_UNAVAILABLE"]  # the breaker is open: not called at all
    assert settings.source_timeout * 0.9 <= took[0] <= settings.source_timeout * 3
    assert took[-1] < settings.source_timeout / 2


async def test_the_transport_is_chosen_per_source(
    settings: Settings, subgraphs: dict[str, Running], token: Any
) -> None:
    # A council running the hub beside its own HB database reads that directly, and DWP over its subgraph.
    mixed = over(subgraphs, settings)
    mixed = dataclasses.replace(mixed, subgraph_urls={"dwp": mixed.subgraph_urls["dwp"]})
    async with running_client(mixed) as client:
        body = (
            await gql(client, token("council_care_finance", "CARE_CHARGING_DOMICILIARY"), CARE, {"n": P.BADGE_DLA})
        ).json()
    assert "errors" not in body, body
    audit_id = uuid.UUID(body["extensions"]["auditReceipt"]["requestId"])
    assert await _access_log(settings, "dwp", audit_id)
    assert await _access_log(settings, "hb", audit_id) == []  # read directly: no subgraph was asked
