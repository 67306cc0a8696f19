"""Corrections on real PostgreSQL: reported by a recipient, confirmed by the owning source, and a notice to
every organisation the audit log shows received the field for that person, and to no one else."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import asyncpg
import httpx

from linkage import check_nino
from tests.conftest import codes, gql

FIELD = "DwpRecord.blueBadgeAutomaticEligibility"
BADGE = "query($n: String!) { person(nino: $n, purpose: BLUE_BADGE) { dwp { blueBadgeAutomaticEligibility } } }"
REPORT = """mutation($n: String!, $f: String!, $e: String!) { reportInaccuracy(nino: $n, field: $f, evidence: $e) {
  correctionId field status organisationsNotified } }"""
TO_REVIEW = """{ correctionsToReview(purpose: CORRECTION_REVIEW) { correctionId field source sourceRecordIds evidence
  reporterOrg } }"""
DECIDE = """mutation($c: ID!, $ok: Boolean!) { decideCorrection(purpose: CORRECTION_REVIEW, correctionId: $c, confirm: $ok) {
  correctionId status organisationsNotified } }"""
NOTICES = "{ correctionNotices { correctionId field requestIds } }"
SAR = """query($n: String!) { subjectAccessReport(purpose: SUBJECT_ACCESS, nino: $n) {
  corrections { field status organisationsNotified } } }"""


async def _person(dwp: asyncpg.Connection) -> tuple[str, int]:
    while True:
        nino = f"JR{random.randrange(10**6):06d}D"
        if check_nino(nino).nino == nino and not await dwp.fetchval("SELECT 1 FROM dwp.person WHERE nino = $1", nino):
            break
    person_id = await dwp.fetchval("SELECT coalesce(max(person_id), 0) + 1000 FROM dwp.person")
    await dwp.execute(
        "INSERT INTO dwp.person (person_id, nino, given_name, middle_names, family_name, date_of_birth, sex, "
        "address_line1, town, postcode, household_id, household_role) "
        "VALUES ($1, $2, 'Cerys', NULL, 'Amend', '1955-01-20', 'F', '8 Weir Lane', 'Northtown', 'NT3 8WL', $1, "
        "'claimant')",
        person_id,
        nino,
    )
    return nino, person_id


async def test_a_confirmed_correction_reaches_every_recipient_and_no_one_else(
    client: httpx.AsyncClient, token: Any, admin: dict[str, asyncpg.Connection], people: Any
) -> None:
    nino, person_id = await _person(admin["src_dwp"])
    other_nino, _ = await _person(admin["src_dwp"])
    north = token("council_blue_badge", "BLUE_BADGE", org="fix-badge-north")
    south = token("council_blue_badge", "BLUE_BADGE", org="fix-badge-south")
    bystander = token("council_blue_badge", "BLUE_BADGE", org="fix-badge-bystander")
    for t, n in ((north, nino), (south, nino), (north, nino), (bystander, other_nino)):
        assert "errors" not in (await gql(client, t, BADGE, {"n": n})).json()
    refused = token("council_hb", "BLUE_BADGE", org="fix-hb-refused")
    assert codes((await gql(client, refused, BADGE, {"n": nino})).json()) == ["PURPOSE_NOT_GRANTED"]

    evidence = "Award letter of 2026-10-01 shows the mobility component ended; the answer should be no."
    reported = (await gql(client, north, REPORT, {"n": nino, "f": FIELD, "e": evidence})).json()
    assert "errors" not in reported, reported
    correction = reported["data"]["reportInaccuracy"]
    assert (correction["field"], correction["status"], correction["organisationsNotified"]) == (FIELD, "reported", [])
    # Only a recipient of that field for that person may report it.
    for t in (bystander, refused):
        assert codes((await gql(client, t, REPORT, {"n": nino, "f": FIELD, "e": "x"})).json()) == ["NOT_RECEIVED"]

    dwp = token("dwp_benefits", "CORRECTION_REVIEW", org="fix-dwp")
    queue = (await gql(client, dwp, TO_REVIEW)).json()["data"]["correctionsToReview"]
    mine = [c for c in queue if c["correctionId"] == correction["correctionId"]]
    assert mine == [
        {
            "correctionId": correction["correctionId"],
            "field": FIELD,
            "source": "dwp",
            "sourceRecordIds": [str(person_id)],
            "evidence": evidence,
            "reporterOrg": "fix-badge-north",
        }
    ]
    hb_team = token("council_hb", "CORRECTION_REVIEW", org="fix-hb-owner")
    assert all(
        c["correctionId"] != correction["correctionId"]
        for c in (await gql(client, hb_team, TO_REVIEW)).json()["data"]["correctionsToReview"]
    )  # not HB's to decide
    not_theirs = (await gql(client, hb_team, DECIDE, {"c": correction["correctionId"], "ok": True})).json()
    assert not_theirs["data"]["decideCorrection"] is None

    decided = (await gql(client, dwp, DECIDE, {"c": correction["correctionId"], "ok": True})).json()
    result = decided["data"]["decideCorrection"]
    assert result["status"] == "confirmed"
    assert result["organisationsNotified"] == ["fix-badge-north", "fix-badge-south"]
    again = (await gql(client, dwp, DECIDE, {"c": correction["correctionId"], "ok": False})).json()
    assert again["data"]["decideCorrection"] is None  # decided once

    expected = {
        org: [
            str(r["request_id"])
            for r in await admin["hub"].fetch(
                "SELECT request_id FROM hub.audit_event WHERE caller_org = $1 AND $2 = ANY(fields_released) "
                "ORDER BY seq",
                org,
                FIELD,
            )
        ]
        for org in ("fix-badge-north", "fix-badge-south")
    }
    assert len(expected["fix-badge-north"]) == 2
    for t, org in ((north, "fix-badge-north"), (south, "fix-badge-south")):
        notices: list[dict[str, Any]] = []
        for _ in range(100):  # delivered by the hub's dispatcher through the outbox
            notices = [
                n
                for n in (await gql(client, t, NOTICES)).json()["data"]["correctionNotices"]
                if n["correctionId"] == correction["correctionId"]
            ]
            if notices:
                break
            await asyncio.sleep(0.1)
        assert notices == [{"correctionId": correction["correctionId"], "field": FIELD, "requestIds": expected[org]}]
    for t in (bystander, refused):
        assert all(
            n["correctionId"] != correction["correctionId"]
            for n in (await gql(client, t, NOTICES)).json()["data"]["correctionNotices"]
        )
    dpo = token("data_protection_officer", "SUBJECT_ACCESS", org="fix-dpo")
    report = (await gql(client, dpo, SAR, {"n": nino})).json()["data"]["subjectAccessReport"]
    assert report["corrections"] == [
        {"field": FIELD, "status": "confirmed", "organisationsNotified": ["fix-badge-north", "fix-badge-south"]}
    ]


async def test_a_report_needs_a_real_field_and_evidence(client: httpx.AsyncClient, token: Any) -> None:
    t = token("council_blue_badge", "BLUE_BADGE", org="fix-bad-input")
    for field, evidence in (("Person.subjectId", "x"), ("NoSuchType.field", "x"), (FIELD, "   ")):
        body = (await gql(client, t, REPORT, {"n": "JK102030A", "f": field, "e": evidence})).json()
        assert codes(body) == ["BAD_USER_INPUT"], (field, body)
