"""The hub's W3C traceparent parents the subgraph's spans, only once its assertion verified; the spans and
the subgraph's logs never carry a NINO or a name."""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets

import orjson
import pytest

from resolvers.sources.assertion import AssertionSigner
from subgraphs.spans import Trace
from tests.people import ALL, BADGE_DLA, PIP_LOW
from tests.subgraphs.conftest import Running, ask, call, entities_document, post

SELECTION = {
    "DwpPerson": frozenset({"nino", "awardsInPayment", "householdMembers"}),
    "BenefitAward": frozenset({"benefit", "weeklyAmount"}),
    "HouseholdMember": frozenset({"relationship", "dateOfBirth"}),
}
DOCUMENT = entities_document(
    "DwpPerson", "nino awardsInPayment { benefit weeklyAmount } householdMembers { relationship dateOfBirth }"
)
VARIABLES = {"r": [{"__typename": "DwpPerson", "nino": BADGE_DLA}, {"__typename": "DwpPerson", "nino": PIP_LOW}]}
NAMES = ("Margaret", "Okafor", "Samuel")


def hub_context() -> tuple[str, str, str]:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, f"00-{trace_id}-{span_id}-01"


async def test_the_hub_call_is_the_parent_of_the_server_span(
    subgraphs: dict[str, Running], signer: AssertionSigner
) -> None:
    trace_id, span_id, traceparent = hub_context()
    answer = await call(
        signer,
        subgraphs["dwp"],
        DOCUMENT,
        VARIABLES,
        ask(SELECTION, purpose="CARE_CHARGING_DOMICILIARY"),
        headers={"traceparent": traceparent},
    )
    assert answer.status == 200, answer.body
    spans = answer.spans
    assert {s["traceId"] for s in spans} == {trace_id}
    server = spans[0]
    assert (server["name"], server["kind"], server["parentSpanId"]) == ("POST /graphql", "server", span_id)
    ids = {s["spanId"] for s in spans}
    assert all(s["parentSpanId"] in ids for s in spans[1:])
    assert {"verify assertion", "check document", "access log", "execute", "fetch"} <= {s["name"] for s in spans}
    for s in spans:
        assert set(s) == {
            "traceId",
            "spanId",
            "parentSpanId",
            "name",
            "kind",
            "startedAt",
            "durationUs",
            "status",
            "attributes",
        }
        assert s["kind"] in {"server", "internal", "client"}
        assert s["status"] == "ok"
        assert dt.datetime.fromisoformat(s["startedAt"]).tzinfo is not None
        assert all(isinstance(v, str | int) for v in s["attributes"].values())
    text = json.dumps(spans)
    assert not [n for n in ALL if n in text]
    assert not [n for n in NAMES if n in text]


async def test_an_unverified_call_starts_a_trace_of_its_own(
    subgraphs: dict[str, Running], signer: AssertionSigner
) -> None:
    trace_id, span_id, traceparent = hub_context()
    body = orjson.dumps({"query": DOCUMENT, "variables": VARIABLES})
    the_ask = ask(SELECTION, purpose="CARE_CHARGING_DOMICILIARY")
    token = signer.mint(audience="hb", ask=the_ask, fields=[], body=body)  # another source's assertion
    status, answer = await post(subgraphs["dwp"].url, body, token=token, headers={"traceparent": traceparent})
    assert status == 401
    spans = answer["extensions"]["spans"]
    assert trace_id not in {s["traceId"] for s in spans}
    assert spans[0]["parentSpanId"] is None
    assert span_id not in {s["parentSpanId"] for s in spans}


async def test_spans_only_when_asked(subgraphs: dict[str, Running], signer: AssertionSigner) -> None:
    answer = await call(
        signer,
        subgraphs["dwp"],
        DOCUMENT,
        VARIABLES,
        ask(SELECTION, purpose="CARE_CHARGING_DOMICILIARY"),
        headers={"x-welfare-hub-spans": "0"},
    )
    assert answer.status == 200
    assert "extensions" not in answer.body


def test_no_nino_or_name_in_the_subgraphs_logs(subgraphs: dict[str, Running]) -> None:
    # Run after the calls of this session's other tests (refusals, answers, failures included).
    for running in subgraphs.values():
        logs = running.logs()
        assert not [n for n in ALL if n in logs], running.source
        assert not [n for n in NAMES if n in logs], running.source


def test_a_trace_on_its_own_nests_times_and_fails_its_spans() -> None:
    trace = Trace()
    before = dt.datetime.now(dt.UTC)
    with trace.span("outer", "server", a=1) as outer:
        with trace.span("inner"):
            pass
        with pytest.raises(ValueError, match="x"), trace.span("failing"):
            raise ValueError("x")
        with trace.span("marked") as marked:
            marked.record_error("SOURCE_TIMEOUT")
    wire = {s["name"]: s for s in trace.wire()}
    assert re.fullmatch(r"[0-9a-f]{32}", trace.trace_id)
    assert set(trace.trace_id) != {"0"}
    assert all(re.fullmatch(r"[0-9a-f]{16}", s["spanId"]) for s in wire.values())
    assert len({s["spanId"] for s in wire.values()}) == 4
    assert wire["outer"]["parentSpanId"] is None
    assert wire["outer"]["attributes"] == {"a": 1}
    assert {wire[n]["parentSpanId"] for n in ("inner", "failing", "marked")} == {outer.span_id}
    assert [wire[n]["status"] for n in ("outer", "inner", "failing", "marked")] == ["ok", "ok", "error", "error"]
    started = dt.datetime.fromisoformat(wire["outer"]["startedAt"])
    assert wire["outer"]["startedAt"].endswith("Z")
    assert before - dt.timedelta(seconds=1) <= started
    assert started <= dt.datetime.now(dt.UTC)
    assert wire["outer"]["durationUs"] >= wire["inner"]["durationUs"] >= 0
    trace.adopt("00-" + "ab" * 16 + "-" + "cd" * 8 + "-01")
    assert trace.wire()[0]["parentSpanId"] == "cd" * 8
    assert trace.wire()[0]["traceId"] == "ab" * 16
