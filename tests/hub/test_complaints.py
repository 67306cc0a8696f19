"""Complaints across organisations on real PostgreSQL: one record linked to the audit events it concerns,
seen by every organisation involved and by auditors, answered by them, never by anyone else; each
organisation it is about closes its own part only, and the complaint closes when every part has."""

from __future__ import annotations

from typing import Any

import httpx

from tests import people as P
from tests.conftest import codes, gql

BADGE = "query($n: String!) { person(nino: $n, purpose: BLUE_BADGE) { dwp { blueBadgeAutomaticEligibility } } }"
SAR = """query($n: String!) { subjectAccessReport(purpose: SUBJECT_ACCESS, nino: $n) {
  entries { eventId organisation } } }"""
RAISE = """mutation($e: [ID!]!, $s: String!) { raiseComplaint(purpose: COMPLAINTS, eventIds: $e, summary: $s) {
  complaintId status raisedBy organisations eventIds } }"""
MINE = """{ complaintsInvolvingUs { items { complaintId status organisations responses { organisation status note }
  parts { organisation status } } } }"""
ALL = "{ complaints(purpose: AUDIT) { items { complaintId status } } }"
RESPOND = """mutation($c: ID!, $s: ComplaintStatus!, $n: String!) { respondToComplaint(complaintId: $c, status: $s, note: $n) {
  complaintId status responses { organisation status note } parts { organisation status } } }"""


async def test_a_complaint_is_shared_by_the_organisations_involved(client: httpx.AsyncClient, token: Any) -> None:
    east = token("council_blue_badge", "BLUE_BADGE", org="complaint-badge-east")
    west = token("council_blue_badge", "BLUE_BADGE", org="complaint-badge-west")
    outsider = token("council_blue_badge", "BLUE_BADGE", org="complaint-outsider")
    for t in (east, west):
        assert "errors" not in (await gql(client, t, BADGE, {"n": P.PIP_DISTRESS})).json()
    dpo = token("data_protection_officer", "SUBJECT_ACCESS", "COMPLAINTS", org="complaint-dpo")
    entries = (await gql(client, dpo, SAR, {"n": P.PIP_DISTRESS})).json()["data"]["subjectAccessReport"]["entries"]
    events = [e["eventId"] for e in entries if e["organisation"] in {"complaint-badge-east", "complaint-badge-west"}]
    assert len(events) == 2

    raised = (await gql(client, dpo, RAISE, {"e": events, "s": "I did not apply for a Blue Badge."})).json()
    assert "errors" not in raised, raised
    complaint = raised["data"]["raiseComplaint"]
    assert complaint["status"] == "OPEN"
    assert complaint["organisations"] == ["complaint-badge-east", "complaint-badge-west", "complaint-dpo"]
    assert sorted(complaint["eventIds"], key=int) == sorted(events, key=int)

    def ids(body: dict[str, Any]) -> list[str]:
        return [c["complaintId"] for c in body["data"]["complaintsInvolvingUs"]["items"]]

    assert complaint["complaintId"] in ids((await gql(client, east, MINE)).json())
    assert complaint["complaintId"] in ids((await gql(client, west, MINE)).json())
    assert complaint["complaintId"] not in ids((await gql(client, outsider, MINE)).json())
    auditor = token("auditor", "AUDIT", org="complaint-auditor")
    assert complaint["complaintId"] in [
        c["complaintId"] for c in (await gql(client, auditor, ALL)).json()["data"]["complaints"]["items"]
    ]

    answer = {"c": complaint["complaintId"], "s": "INVESTIGATING", "n": "Checking who opened the case."}
    responded = (await gql(client, east, RESPOND, answer)).json()["data"]["respondToComplaint"]
    assert responded["status"] == "INVESTIGATING"
    assert responded["responses"] == [
        {"organisation": "complaint-badge-east", "status": "INVESTIGATING", "note": "Checking who opened the case."}
    ]
    assert (await gql(client, outsider, RESPOND, answer)).json()["data"]["respondToComplaint"] is None
    # West closes its own part only: the complaint stays open for east (issue 13.9).
    closed = (await gql(client, west, RESPOND, {**answer, "s": "RESOLVED", "n": "Opened in error; closed."})).json()
    got = closed["data"]["respondToComplaint"]
    assert got["status"] == "INVESTIGATING"
    assert got["parts"] == [
        {"organisation": "complaint-badge-east", "status": "INVESTIGATING"},
        {"organisation": "complaint-badge-west", "status": "RESOLVED"},
    ]
    again = (await gql(client, west, RESPOND, {**answer, "s": "OPEN", "n": "Reopening."})).json()
    assert again["data"]["respondToComplaint"] is None  # a closed part is not reopened by a response
    # The raiser is involved and may add a note, but closes no one's part.
    dpo_closes = (await gql(client, dpo, RESPOND, {**answer, "s": "RESOLVED", "n": "Closing for all."})).json()
    assert codes(dpo_closes) == ["BAD_USER_INPUT"]
    note = (await gql(client, dpo, RESPOND, {**answer, "s": "INVESTIGATING", "n": "Person told."})).json()
    assert note["data"]["respondToComplaint"]["status"] == "INVESTIGATING"
    # East closes its own: every part is closed, so the complaint is.
    last = (await gql(client, east, RESPOND, {**answer, "s": "REJECTED", "n": "Lawful: a renewal."})).json()
    assert last["data"]["respondToComplaint"]["status"] == "RESOLVED"  # rejected only if every party rejected
    after = (await gql(client, east, RESPOND, {**answer, "s": "OPEN"})).json()
    assert after["data"]["respondToComplaint"] is None  # a resolved complaint is not reopened by a response


async def test_complaints_refuse_bad_input(client: httpx.AsyncClient, token: Any) -> None:
    dpo = token("data_protection_officer", "COMPLAINTS", org="complaint-dpo-2")
    assert codes((await gql(client, dpo, RAISE, {"e": ["999999999"], "s": "x"})).json()) == ["BAD_USER_INPUT"]
    assert codes((await gql(client, dpo, RAISE, {"e": [], "s": "x"})).json()) == ["BAD_USER_INPUT"]
    assert codes((await gql(client, dpo, RAISE, {"e": ["1"], "s": "  "})).json()) == ["BAD_USER_INPUT"]
    council = token("council_hb", "COMPLAINTS", org="complaint-council")
    assert codes((await gql(client, council, RAISE, {"e": ["1"], "s": "x"})).json()) == ["PURPOSE_NOT_GRANTED"]
    bad_status = {"c": "1", "s": "closed", "n": "x"}
    assert codes((await gql(client, dpo, RESPOND, bad_status)).json()) == ["BAD_USER_INPUT"]


async def test_no_party_closes_a_complaint_for_another(client: httpx.AsyncClient, token: Any) -> None:
    first = token("council_blue_badge", "BLUE_BADGE", org="complaint-part-a")
    second = token("council_blue_badge", "BLUE_BADGE", org="complaint-part-b")
    for t in (first, second):
        assert "errors" not in (await gql(client, t, BADGE, {"n": P.PIP_MOVING})).json()
    dpo = token("data_protection_officer", "SUBJECT_ACCESS", "COMPLAINTS", org="complaint-dpo-parts")
    entries = (await gql(client, dpo, SAR, {"n": P.PIP_MOVING})).json()["data"]["subjectAccessReport"]["entries"]
    events = [e["eventId"] for e in entries if e["organisation"] in {"complaint-part-a", "complaint-part-b"}]
    raised = (await gql(client, dpo, RAISE, {"e": events, "s": "Why was my badge checked twice?"})).json()
    complaint_id = raised["data"]["raiseComplaint"]["complaintId"]
    # One party's closing answer leaves the other's part, and the complaint, open; a second changes nothing.
    body = (await gql(client, first, RESPOND, {"c": complaint_id, "s": "REJECTED", "n": "Ours is closed."})).json()
    assert body["data"]["respondToComplaint"]["status"] == "INVESTIGATING"
    body = (await gql(client, first, RESPOND, {"c": complaint_id, "s": "RESOLVED", "n": "Closed again."})).json()
    assert body["data"]["respondToComplaint"] is None
    mine = (await gql(client, second, MINE)).json()["data"]["complaintsInvolvingUs"]["items"]
    seen = next(c for c in mine if c["complaintId"] == complaint_id)
    assert seen["status"] == "INVESTIGATING"
    assert {p["organisation"]: p["status"] for p in seen["parts"]} == {
        "complaint-part-a": "REJECTED",
        "complaint-part-b": "OPEN",
    }
    both = (await gql(client, second, RESPOND, {"c": complaint_id, "s": "REJECTED", "n": "Lawful."})).json()
    assert both["data"]["respondToComplaint"]["status"] == "REJECTED"  # every party rejected it


async def test_a_summary_or_note_holding_a_nino_is_refused(client: httpx.AsyncClient, token: Any) -> None:
    dpo = token("data_protection_officer", "COMPLAINTS", org="complaint-dpo-nino")
    body = (await gql(client, dpo, RAISE, {"e": ["1"], "s": "Complaint from jk 10 20 30 a about sharing"})).json()
    assert codes(body) == ["NINO_IN_FREE_TEXT"]
    note = (await gql(client, dpo, RESPOND, {"c": "1", "s": "OPEN", "n": "Her NI number is JK-10-20-30-A"})).json()
    assert codes(note) == ["NINO_IN_FREE_TEXT"]
