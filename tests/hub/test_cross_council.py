"""Housing Benefit and adult social care records are the councils' own: a council's team sees only the
records its own council holds, even about someone another council also holds records for, unless the
purpose says cross_council. (A person who moved, with claims at two councils, is the common case.)"""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import httpx
import pytest

from hub.access.orgs import Organisation
from hub.ops.issuer import IssuerKey
from hub.records.orgs import upsert
from tests.conftest import AUDIENCE, ISSUER, TEST_COUNCIL, codes, gql

MOVED = "JM100001A"  # claims and care records at two councils: overnight care at the second only
ELSEWHERE = "JM100002A"  # lives in the test council's area; only the other council's social care holds them
OTHER_COUNCIL = "E09000902"
DHP = "query($n: String!) { person(nino: $n, purpose: DISCRETIONARY_HOUSING_PAYMENT) { housingBenefit { claims { weeklyRent } } } }"
OVERNIGHT = (
    "query($n: String!) { person(nino: $n, purpose: HB_OVERNIGHT_CARER_ROOM) { socialCare { overnightCareRequired } } }"
)


@pytest.fixture(scope="module")
async def moved(admin: dict[str, asyncpg.Connection], people: dict[str, Any]) -> str:
    await admin["src_dwp"].execute(
        "INSERT INTO dwp.person (person_id, nino, given_name, middle_names, family_name, date_of_birth, sex, "
        "address_line1, town, postcode, household_id, household_role) "
        "VALUES (90001, $1, 'Iris', NULL, 'Moved', '1960-01-01', 'F', '2 New Road', 'Southtown', 'ST2 2BB', 90001, 'claimant')",
        MOVED,
    )
    claim = (
        "INSERT INTO hb.claim (claim_ref, council_code, nino, given_name, family_name, date_of_birth, address_line1, "
        "postcode, tenancy_type, weekly_rent, weekly_award, bedroom_entitlement, overnight_carer_room, start_date, end_date) "
        "VALUES ($1, $2, $3, 'Iris', 'Moved', '1960-01-01', $4, $5, 'social', $6, 50.00, 1, false, $7, $8)"
    )
    await admin["src_hb"].execute(
        claim, "HBMOVED1", TEST_COUNCIL, MOVED, "1 Old Road", "NT1 1AA", 100, dt.date(2020, 1, 1), None
    )
    await admin["src_hb"].execute(
        claim, "HBMOVED2", OTHER_COUNCIL, MOVED, "2 New Road", "ST2 2BB", 200, dt.date(2025, 1, 1), None
    )
    client = (
        "INSERT INTO social_care.client (client_id, council_code, nhs_number, nino, given_name, family_name, "
        "date_of_birth, postcode) VALUES ($1, $2, NULL, $3, 'Iris', 'Moved', '1960-01-01', $4)"
    )
    await admin["src_social_care"].execute(client, "SCMOVED1", TEST_COUNCIL, MOVED, "NT1 1AA")
    await admin["src_social_care"].execute(client, "SCMOVED2", OTHER_COUNCIL, MOVED, "ST2 2BB")
    await admin["src_social_care"].execute(
        "INSERT INTO social_care.care_plan VALUES (90001, 'SCMOVED1', '2020-02-01', NULL, false, 4.0), "
        "(90002, 'SCMOVED2', '2025-02-01', NULL, true, 10.0)"
    )
    await admin["src_dwp"].execute(
        "INSERT INTO dwp.person (person_id, nino, given_name, middle_names, family_name, date_of_birth, sex, "
        "address_line1, town, postcode, household_id, household_role) "
        "VALUES (90002, $1, 'Ida', NULL, 'Elsewhere', '1961-01-01', 'F', '1 Mill Lane', 'Northtown', 'NT1 1AA', "
        "90002, 'claimant')",
        ELSEWHERE,
    )
    await admin["src_social_care"].execute(client, "SCELSE2", OTHER_COUNCIL, ELSEWHERE, "NT1 1AA")
    await admin["src_social_care"].execute(
        "INSERT INTO social_care.care_plan VALUES (90003, 'SCELSE2', '2025-02-01', NULL, true, 10.0)"
    )
    await upsert(
        admin["hub"], [Organisation("southshire-hb", "Southshire HB", "council_hb", council_code=OTHER_COUNCIL)]
    )
    return MOVED


def _mint(issuer: IssuerKey, org: str, *purposes: str) -> str:
    return issuer.mint(
        issuer=ISSUER, audience=AUDIENCE, org=org, org_type="council_hb", user="u", purposes=list(purposes)
    )


async def test_each_council_sees_only_the_claims_it_holds(
    client: httpx.AsyncClient, token: Any, issuer: IssuerKey, moved: str
) -> None:
    ours = (await gql(client, token("council_hb", "DISCRETIONARY_HOUSING_PAYMENT"), DHP, {"n": moved})).json()
    assert "errors" not in ours, ours
    assert [float(c["weeklyRent"]) for c in ours["data"]["person"]["housingBenefit"]["claims"]] == [100.0]
    theirs = (
        await gql(client, _mint(issuer, "southshire-hb", "DISCRETIONARY_HOUSING_PAYMENT"), DHP, {"n": moved})
    ).json()
    assert "errors" not in theirs, theirs
    assert [float(c["weeklyRent"]) for c in theirs["data"]["person"]["housingBenefit"]["claims"]] == [200.0]


async def test_another_councils_care_record_is_not_released(
    client: httpx.AsyncClient, token: Any, issuer: IssuerKey, moved: str
) -> None:
    ours = (await gql(client, token("council_hb", "HB_OVERNIGHT_CARER_ROOM"), OVERNIGHT, {"n": moved})).json()
    assert "errors" not in ours, ours
    # The other council's plan (overnight care) is not this council's to release.
    assert ours["data"]["person"]["socialCare"] == {"overnightCareRequired": False}
    theirs = (
        await gql(client, _mint(issuer, "southshire-hb", "HB_OVERNIGHT_CARER_ROOM"), OVERNIGHT, {"n": moved})
    ).json()
    assert theirs["data"]["person"]["socialCare"] == {"overnightCareRequired": True}


async def test_that_another_council_holds_someone_is_not_told(
    client: httpx.AsyncClient, token: Any, moved: str
) -> None:
    """Someone living in the council's area whom only another council's social care holds: answered as no
    one at all, not as a person with nothing to show (which would say the other council holds them)."""
    t = token("council_hb", "HB_OVERNIGHT_CARER_ROOM")

    async def answer(nino: str) -> Any:
        body = (await gql(client, t, OVERNIGHT, {"n": nino})).json()
        return {"data": body["data"], "errors": body.get("errors")}

    held_elsewhere = await answer(ELSEWHERE)
    assert codes(held_elsewhere) == ["SUBJECT_NOT_FOUND"]
    assert held_elsewhere == await answer("JK999998C")  # valid, held by no source


NOTIFY = """mutation($date: Date!, $key: String!, $n: String) {
  notifyChange(purpose: CHANGE_NOTIFICATION, kind: HOSPITAL_ADMISSION, effectiveDate: $date, idempotencyKey: $key,
    nino: $n) { status deliveries { target councilCode } } }"""


async def test_a_sender_is_not_told_that_another_council_holds_a_claim(
    client: httpx.AsyncClient, token: Any, admin: dict[str, asyncpg.Connection], moved: str
) -> None:
    t = token("council_social_care", "CHANGE_NOTIFICATION", org="care-cross-council")
    body = (await gql(client, t, NOTIFY, {"date": "2026-01-05", "key": "cc-1", "n": moved})).json()
    assert "errors" not in body, body
    shown = {(d["target"], d["councilCode"]) for d in body["data"]["notifyChange"]["deliveries"]}
    assert ("HB", OTHER_COUNCIL) not in shown
    assert ("HB", TEST_COUNCIL) in shown
    # The other council is still told: only the sender is not told of it.
    told = await admin["hub"].fetch(
        "SELECT o.council_code FROM hub.outbox o JOIN hub.notification n USING (notification_id) "
        "WHERE n.sender_org = 'care-cross-council' AND o.target = 'hb'"
    )
    assert sorted(r["council_code"] for r in told) == sorted([TEST_COUNCIL, OTHER_COUNCIL])


async def test_a_reused_key_tells_nothing_about_the_person(client: httpx.AsyncClient, token: Any, moved: str) -> None:
    """A key already spent, sent again with one date after another: the same refusal whatever the date,
    before or after the person's birth (1960-01-01)."""
    t = token("council_social_care", "CHANGE_NOTIFICATION", org="care-key-reuse")
    assert "errors" not in (await gql(client, t, NOTIFY, {"date": "2026-01-05", "key": "spent", "n": moved})).json()
    for date in ("1959-12-31", "1960-01-02", "2000-06-01"):
        body = (await gql(client, t, NOTIFY, {"date": date, "key": "spent", "n": moved})).json()
        assert codes(body) == ["IDEMPOTENCY_KEY_REUSED"], (date, body)
