"""Corrections on real PostgreSQL: reported by a recipient, confirmed by the organisation that owns the record
(DWP its own; a council its own claims and cases, no other council), and a notice to every organisation the
audit log shows received the field for that person, and to no one else."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import asyncpg
import httpx

from hub.config import Settings
from hub.ops.issuer import IssuerKey
from linkage import check_nino
from tests.conftest import codes, gql, make_token

FIELD = "DwpRecord.blueBadgeAutomaticEligibility"
BADGE = "query($n: String!) { person(nino: $n, purpose: BLUE_BADGE) { dwp { blueBadgeAutomaticEligibility } } }"
REPORT = """mutation($n: String!, $f: String!, $e: String!) { reportInaccuracy(nino: $n, field: $f, evidence: $e) {
  correctionId field status organisationsNotified } }"""
TO_REVIEW = """{ correctionsToReview(purpose: CORRECTION_REVIEW) { items { correctionId field source sourceRecordIds
  evidence reporterOrg } } }"""
DECIDE = """mutation($c: ID!, $ok: Boolean!) { decideCorrection(purpose: CORRECTION_REVIEW, correctionId: $c, confirm: $ok) {
  correctionId status organisationsNotified notifiedCount } }"""
NOTICES = "{ correctionNotices { items { correctionId field requestIds } } }"
REPORTED = "{ correctionsWeReported { items { correctionId field status organisationsNotified } } }"
CARE = """query($n: String!) { person(nino: $n, purpose: CARE_CHARGING_DOMICILIARY) {
  housingBenefit { claims { weeklyRent } } socialCare { domiciliaryHoursPerWeek } } }"""
RENT = "HousingBenefitClaim.weeklyRent"
ELSEWHERE = "E09000999"
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
    assert (correction["field"], correction["status"], correction["organisationsNotified"]) == (FIELD, "REPORTED", [])
    # Only a recipient of that field for that person may report it.
    for t in (bystander, refused):
        assert codes((await gql(client, t, REPORT, {"n": nino, "f": FIELD, "e": "x"})).json()) == ["NOT_RECEIVED"]

    dwp = token("dwp_benefits", "CORRECTION_REVIEW", org="fix-dwp")
    queue = (await gql(client, dwp, TO_REVIEW)).json()["data"]["correctionsToReview"]["items"]
    mine = [c for c in queue if c["correctionId"] == correction["correctionId"]]
    assert mine == [
        {
            "correctionId": correction["correctionId"],
            "field": FIELD,
            "source": "DWP",
            "sourceRecordIds": [str(person_id)],
            "evidence": evidence,
            "reporterOrg": "fix-badge-north",
        }
    ]
    hb_team = token("council_hb", "CORRECTION_REVIEW", org="fix-hb-owner")
    assert all(
        c["correctionId"] != correction["correctionId"]
        for c in (await gql(client, hb_team, TO_REVIEW)).json()["data"]["correctionsToReview"]["items"]
    )  # not HB's to decide
    not_theirs = (await gql(client, hb_team, DECIDE, {"c": correction["correctionId"], "ok": True})).json()
    assert not_theirs["data"]["decideCorrection"] is None

    decided = (await gql(client, dwp, DECIDE, {"c": correction["correctionId"], "ok": True})).json()
    result = decided["data"]["decideCorrection"]
    assert result["status"] == "CONFIRMED"
    # Who else looked the person up is for the auditors and the person, not the owner: a count.
    assert (result["organisationsNotified"], result["notifiedCount"]) == ([], 2)
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
                for n in (await gql(client, t, NOTICES)).json()["data"]["correctionNotices"]["items"]
                if n["correctionId"] == correction["correctionId"]
            ]
            if notices:
                break
            await asyncio.sleep(0.1)
        assert notices == [{"correctionId": correction["correctionId"], "field": FIELD, "requestIds": expected[org]}]
    for t in (bystander, refused):
        assert all(
            n["correctionId"] != correction["correctionId"]
            for n in (await gql(client, t, NOTICES)).json()["data"]["correctionNotices"]["items"]
        )
    dpo = token("data_protection_officer", "SUBJECT_ACCESS", org="fix-dpo")
    report = (await gql(client, dpo, SAR, {"n": nino})).json()["data"]["subjectAccessReport"]
    assert report["corrections"] == [
        {"field": FIELD, "status": "CONFIRMED", "organisationsNotified": ["fix-badge-north", "fix-badge-south"]}
    ]


async def test_a_report_needs_a_real_field_and_evidence(client: httpx.AsyncClient, token: Any) -> None:
    t = token("council_blue_badge", "BLUE_BADGE", org="fix-bad-input")
    for field, evidence in (("Person.subjectId", "x"), ("NoSuchType.field", "x"), (FIELD, "   ")):
        body = (await gql(client, t, REPORT, {"n": "JK102030A", "f": field, "e": evidence})).json()
        assert codes(body) == ["BAD_USER_INPUT"], (field, body)


async def _claims(hb: asyncpg.Connection, nino: str, councils: list[str]) -> list[str]:
    """HB claims of the person at these councils (their refs)."""
    refs = []
    for council in councils:
        ref = f"HBC{random.randrange(10**7):07d}"
        await hb.execute(
            "INSERT INTO hb.claim (claim_ref, council_code, nino, given_name, family_name, date_of_birth, "
            "address_line1, postcode, tenancy_type, weekly_rent, weekly_award, bedroom_entitlement, start_date) "
            "VALUES ($1, $2, $3, 'Cerys', 'Amend', '1955-01-20', '8 Weir Lane', 'NT3 8WL', 'social', 90.00, "
            "70.00, 1, '2024-04-01')",
            ref,
            council,
            nino,
        )
        refs.append(ref)
    return refs


def _queue(body: dict[str, Any], refs: set[str]) -> list[dict[str, Any]]:
    return [c for c in body["data"]["correctionsToReview"]["items"] if set(c["sourceRecordIds"]) & refs]


async def test_a_council_s_record_is_corrected_by_that_council_alone(
    client: httpx.AsyncClient,
    token: Any,
    issuer: IssuerKey,
    settings: Settings,
    admin: dict[str, asyncpg.Connection],
    people: Any,
) -> None:
    nino, _ = await _person(admin["src_dwp"])
    here, there = await _claims(admin["src_hb"], nino, ["E09000901", ELSEWHERE])
    finance = token("council_care_finance", "CARE_CHARGING_DOMICILIARY", org="fix-finance")
    assert "errors" not in (await gql(client, finance, CARE, {"n": nino})).json()
    evidence = "The tenancy agreement of 2026-04-01 gives a weekly rent of 92.00."
    reported = (await gql(client, finance, REPORT, {"n": nino, "f": RENT, "e": evidence})).json()
    assert "errors" not in reported, reported
    ours = reported["data"]["reportInaccuracy"]["correctionId"]

    owner = token("council_hb", "CORRECTION_REVIEW", org="fix-hb-here")
    # Another council's HB team, which even holds a claim of the same person: the finance team received only
    # its own council's claim, and the correction is that council's alone.
    far = make_token(issuer, settings, council=ELSEWHERE)("council_hb", "CORRECTION_REVIEW", org="fix-hb-there")
    third = make_token(issuer, settings, council="E09000777")("council_hb", "CORRECTION_REVIEW", org="fix-hb-third")
    dwp = token("dwp_benefits", "CORRECTION_REVIEW", org="fix-dwp")
    refs = {here, there}
    mine = _queue((await gql(client, owner, TO_REVIEW)).json(), refs)
    assert [(c["correctionId"], c["sourceRecordIds"], c["evidence"]) for c in mine] == [(ours, [here], evidence)]
    for t in (far, third, dwp):
        assert _queue((await gql(client, t, TO_REVIEW)).json(), refs) == []  # not the evidence, not that it exists

    # No one decides another's: the answer is the one for no such correction, and nothing changes.
    for t in (far, third, dwp):
        refused = (await gql(client, t, DECIDE, {"c": ours, "ok": True})).json()
        assert refused["data"]["decideCorrection"] is None, refused
    none = (await gql(client, far, DECIDE, {"c": "999999999", "ok": True})).json()
    assert none["data"] == refused["data"]
    assert await admin["hub"].fetchval("SELECT status FROM hub.correction WHERE correction_id = $1", int(ours)) == (
        "reported"
    )

    decided = (await gql(client, owner, DECIDE, {"c": ours, "ok": True})).json()["data"]["decideCorrection"]
    assert (decided["status"], decided["organisationsNotified"], decided["notifiedCount"]) == ("CONFIRMED", [], 1)

    # The reporter still sees its status; no one else does.
    seen = {
        c["correctionId"]: c
        for c in (await gql(client, finance, REPORTED)).json()["data"]["correctionsWeReported"]["items"]
    }
    assert (seen[ours]["status"], seen[ours]["field"], seen[ours]["organisationsNotified"]) == (
        "CONFIRMED",
        RENT,
        ["fix-finance"],
    )
    for t in (owner, far, third):
        listed = (await gql(client, t, REPORTED)).json()["data"]["correctionsWeReported"]["items"]
        assert ours not in {c["correctionId"] for c in listed}


async def test_records_held_by_two_councils_are_corrected_by_each_for_its_own(
    client: httpx.AsyncClient, token: Any, issuer: IssuerKey, settings: Settings, admin: dict[str, asyncpg.Connection]
) -> None:
    # DWP (a national body) received the person's care placements from both councils' social care.
    nino, _ = await _person(admin["src_dwp"])
    sc = admin["src_social_care"]
    clients = {"E09000901": f"SCX{random.randrange(10**6):06d}", ELSEWHERE: f"SCY{random.randrange(10**6):06d}"}
    for council, client_id in clients.items():
        await sc.execute(
            "INSERT INTO social_care.client (client_id, council_code, nino, given_name, family_name, date_of_birth, "
            "postcode) VALUES ($1, $2, $3, 'Cerys', 'Amend', '1955-01-20', 'NT3 8WL')",
            client_id,
            council,
            nino,
        )
        await sc.execute(
            "INSERT INTO social_care.placement VALUES ((SELECT coalesce(max(placement_id), 0) + 1 FROM "
            "social_care.placement), $1, 'care_home', 'Weir House', '2026-02-01', NULL)",
            client_id,
        )
    dwp = make_token(issuer, settings, council=None)("dwp_benefits", "CHANGE_OF_CIRCUMSTANCES", org="fix-dwp-coc")
    q = """query($n: String!) { person(nino: $n, purpose: CHANGE_OF_CIRCUMSTANCES) {
      socialCare { placements { kind admittedOn } } } }"""
    assert "errors" not in (await gql(client, dwp, q, {"n": nino})).json()
    body = await gql(client, dwp, REPORT, {"n": nino, "f": "CarePlacement.admittedOn", "e": "Admitted 2026-02-03."})
    assert "errors" not in body.json(), body.json()

    here = token("council_social_care", "CORRECTION_REVIEW", org="fix-sc-two-here")
    there = make_token(issuer, settings, council=ELSEWHERE)("council_social_care", "CORRECTION_REVIEW", org="fix-sc-2")
    ids = set(clients.values())
    mine = _queue((await gql(client, here, TO_REVIEW)).json(), ids)
    theirs = _queue((await gql(client, there, TO_REVIEW)).json(), ids)
    assert [c["sourceRecordIds"] for c in mine] == [[clients["E09000901"]]]
    assert [c["sourceRecordIds"] for c in theirs] == [[clients[ELSEWHERE]]]
    # Each decides its own only.
    assert (await gql(client, here, DECIDE, {"c": theirs[0]["correctionId"], "ok": True})).json()["data"][
        "decideCorrection"
    ] is None
    assert (await gql(client, here, DECIDE, {"c": mine[0]["correctionId"], "ok": False})).json()["data"][
        "decideCorrection"
    ]["status"] == "REJECTED"
    reported = (await gql(client, dwp, REPORTED)).json()["data"]["correctionsWeReported"]["items"]
    status = {c["correctionId"]: c["status"] for c in reported}
    assert (status[mine[0]["correctionId"]], status[theirs[0]["correctionId"]]) == ("REJECTED", "REPORTED")


async def test_a_social_care_record_is_corrected_by_its_own_council(
    client: httpx.AsyncClient, token: Any, issuer: IssuerKey, settings: Settings, admin: dict[str, asyncpg.Connection]
) -> None:
    # Corrections reported before owners were recorded (migration 0020): assigned from the source when the
    # owning council's team lists them, never shown to another council's.
    client_id = "SC000001"  # BADGE_DLA's case at the test council (tests.people)
    correction_id = await admin["hub"].fetchval(
        "INSERT INTO hub.correction (reporter_org, reporter_user_hash, field, source, source_record_ids, "
        "subject_hashes, evidence) VALUES ('fix-legacy', 'x', 'SocialCareRecord.domiciliaryHoursPerWeek', "
        "'social_care', $1, '{}', 'The care plan of 2026-05-01 gives 10 hours.') RETURNING correction_id",
        [client_id],
    )
    far = make_token(issuer, settings, council=ELSEWHERE)("council_social_care", "CORRECTION_REVIEW", org="fix-sc-far")
    owner = token("council_social_care", "CORRECTION_REVIEW", org="fix-sc-here")
    assert _queue((await gql(client, far, TO_REVIEW)).json(), {client_id}) == []
    assert (await gql(client, far, DECIDE, {"c": str(correction_id), "ok": True})).json()["data"][
        "decideCorrection"
    ] is None
    mine = _queue((await gql(client, owner, TO_REVIEW)).json(), {client_id})
    assert [c["correctionId"] for c in mine] == [str(correction_id)]
    assert (
        await admin["hub"].fetchval("SELECT owner_council FROM hub.correction WHERE correction_id = $1", correction_id)
        == "E09000901"
    )
    assert _queue((await gql(client, far, TO_REVIEW)).json(), {client_id}) == []
    decided = (await gql(client, owner, DECIDE, {"c": str(correction_id), "ok": False})).json()
    assert decided["data"]["decideCorrection"]["status"] == "REJECTED"


async def test_evidence_holding_a_nino_is_refused(client: httpx.AsyncClient, token: Any) -> None:
    t = token("council_blue_badge", "BLUE_BADGE", org="fix-nino-evidence")
    for evidence in ("His NINO is JK102030A", "ni no jk 10 20 30 a, see letter", "ref: JK-10-20-30-A"):
        body = (await gql(client, t, REPORT, {"n": "JK102030A", "f": FIELD, "e": evidence})).json()
        assert codes(body) == ["NINO_IN_FREE_TEXT"], body
        assert "102030" not in body["errors"][0]["message"]  # never quoted back
