"""Continuing entitlement on real PostgreSQL: an interest in a Blue Badge answer, a change to the award
behind it, the feed; nothing after the interest is withdrawn, nothing for anyone else."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import asyncpg
import httpx
import pytest

from hub.access.keys import load_key_ring
from hub.config import Settings
from hub.db import create_store_pool
from hub.ops.issuer import IssuerKey
from hub.records.interests import InterestStore
from hub.records.orgs import record_staff
from linkage import NormalisedNino, check_nino, subject_hash, user_hash
from linkage.link import person_key_for
from resolvers.interests import answers_from
from resolvers.sources import DwpSource
from tests import people as P
from tests.conftest import codes, gql, make_token
from tests.receipts import without_receipt

REGISTER = """mutation($n: String!) { registerInterest(purpose: BLUE_BADGE, nino: $n) {
  interestId subjectId answer withdrawnAt } }"""
WITHDRAW = "mutation($i: ID!) { withdrawInterest(purpose: BLUE_BADGE, interestId: $i) { interestId withdrawnAt } }"
FEED = """query($first: Int!, $after: ID) { entitlementChanges(purpose: BLUE_BADGE, first: $first, after: $after) {
  items { changeId interestId subjectId answer } nextCursor } }"""
BADGE = (
    "query($n: String!) { person(nino: $n, purpose: BLUE_BADGE) { subjectId dwp { blueBadgeAutomaticEligibility } } }"
)


@pytest.fixture
async def claimant(admin: dict[str, asyncpg.Connection], people: Any) -> tuple[str, int]:
    """A person of this test's own in the test council's area, with a PIP mobility award worth a badge."""
    dwp = admin["src_dwp"]
    while True:
        nino = f"JP{random.randrange(10**6):06d}B"
        if check_nino(nino).nino == nino and not await dwp.fetchval("SELECT 1 FROM dwp.person WHERE nino = $1", nino):
            break
    person_id = await dwp.fetchval("SELECT coalesce(max(person_id), 0) + 1000 FROM dwp.person")
    award_id = await dwp.fetchval("SELECT coalesce(max(award_id), 0) + 1000 FROM dwp.benefit_award")
    await dwp.execute(
        "INSERT INTO dwp.person (person_id, nino, given_name, middle_names, family_name, date_of_birth, sex, "
        "address_line1, town, postcode, household_id, household_role) "
        "VALUES ($1, $2, 'Bryn', NULL, 'Watcher', '1961-09-09', 'M', '3 Slate Row', 'Northtown', 'NT2 3SR', $1, "
        "'claimant')",
        person_id,
        nino,
    )
    await dwp.execute(
        "INSERT INTO dwp.benefit_award (award_id, person_id, benefit, component, rate, weekly_amount, start_date, "
        "end_date, pip_moving_around_points, pip_planning_journeys_descriptor) "
        "VALUES ($1, $2, 'PIP', 'mobility', 'enhanced', 77.05, '2021-05-01', NULL, 12, 'a')",
        award_id,
        person_id,
    )
    return nino, award_id


async def _recheck(settings: Settings) -> int:
    hub = await create_store_pool(settings.service_url("hub"))
    dwp = await create_store_pool(settings.service_url("src_dwp"))  # with the sources' JSON codecs
    try:
        return await InterestStore(hub, timeout=10).recheck(
            answers_from(DwpSource(dwp, timeout=10), {"BLUE_BADGE": "test"})
        )
    finally:
        await hub.close()
        await dwp.close()


async def _feed(client: httpx.AsyncClient, t: str) -> list[dict[str, Any]]:
    out, after = [], None
    while True:
        body = (await gql(client, t, FEED, {"after": after, "first": 1})).json()
        assert "errors" not in body, body
        page = body["data"]["entitlementChanges"]
        out += page["items"]
        after = page["nextCursor"]
        if after is None:
            return out


async def test_a_changed_answer_is_fed_while_the_interest_is_live(
    client: httpx.AsyncClient,
    token: Any,
    settings: Settings,
    admin: dict[str, asyncpg.Connection],
    claimant: tuple[str, int],
) -> None:
    nino, award_id = claimant
    t = token("council_blue_badge", "BLUE_BADGE", org="badge-continuing")
    other = token("council_blue_badge", "BLUE_BADGE", org="badge-elsewhere")
    registered = (await gql(client, t, REGISTER, {"n": nino})).json()["data"]["registerInterest"]
    assert registered["answer"] is True
    again = (await gql(client, t, REGISTER, {"n": nino})).json()["data"]["registerInterest"]
    assert again["interestId"] == registered["interestId"]  # one live interest per person and team
    looked_up = (await gql(client, t, BADGE, {"n": nino})).json()["data"]["person"]
    assert looked_up["subjectId"] == registered["subjectId"]  # the team's own pseudonym for the person
    await _recheck(settings)
    assert await _feed(client, t) == []  # nothing changed, nothing fed

    yesterday = dt.date.today() - dt.timedelta(days=1)
    await admin["src_dwp"].execute(
        "UPDATE dwp.benefit_award SET end_date = $2 WHERE award_id = $1", award_id, yesterday
    )
    assert await _recheck(settings) >= 1
    await _recheck(settings)  # read again: no second entry for the same change
    (change,) = await _feed(client, t)
    assert change == {
        "changeId": change["changeId"],
        "interestId": registered["interestId"],
        "subjectId": registered["subjectId"],
        "answer": False,
    }
    assert await _feed(client, other) == []  # no one else hears of it

    withdrawn = (await gql(client, t, WITHDRAW, {"i": registered["interestId"]})).json()["data"]["withdrawInterest"]
    assert withdrawn["withdrawnAt"] is not None
    await admin["src_dwp"].execute("UPDATE dwp.benefit_award SET end_date = NULL WHERE award_id = $1", award_id)
    await _recheck(settings)
    assert await _feed(client, t) == [change]  # the award is back, but the interest is gone: nothing new
    assert (await gql(client, t, WITHDRAW, {"i": registered["interestId"]})).json()["data"]["withdrawInterest"] is None


async def test_interests_only_where_a_purpose_rests_on_a_watched_answer(
    client: httpx.AsyncClient, token: Any, claimant: tuple[str, int]
) -> None:
    nino, _ = claimant
    hb = token("council_hb", "HB_OVERNIGHT_CARER_ROOM", org="hb-interest")
    q = REGISTER.replace("BLUE_BADGE", "HB_OVERNIGHT_CARER_ROOM")
    assert codes((await gql(client, hb, q, {"n": nino})).json()) == ["PURPOSE_FORBIDS_FIELD"]
    care = token("council_care_finance", "BLUE_BADGE", org="care-interest")
    assert codes((await gql(client, care, REGISTER, {"n": nino})).json()) == ["PURPOSE_NOT_GRANTED"]
    badge = token("council_blue_badge", "BLUE_BADGE", org="badge-bad-nino")
    assert codes((await gql(client, badge, REGISTER, {"n": "QQ123456Z"})).json()) == ["INVALID_NINO"]


async def test_a_user_cannot_register_an_interest_in_their_own_record(
    client: httpx.AsyncClient,
    issuer: IssuerKey,
    settings: Settings,
    admin: dict[str, asyncpg.Connection],
    claimant: tuple[str, int],
) -> None:
    nino, _ = claimant
    ring = load_key_ring(settings.keys_path)  # type: ignore[arg-type]
    person_id = await admin["src_dwp"].fetchval("SELECT person_id FROM dwp.person WHERE nino = $1", nino)
    mint = make_token(issuer, settings)
    # Known to the hub as this person by the NINO, or only as the hub person (a NINO typed another way).
    for org, staff in (
        ("badge-self-nino", (subject_hash(ring, NormalisedNino(nino)), None)),
        ("badge-self-person", ("not-this-nino", person_key_for(str(person_id)))),
    ):
        t = mint("council_blue_badge", "BLUE_BADGE", org=org)
        await record_staff(admin["hub"], [(user_hash(ring, org, "officer-1"), *staff)])
        body = (await gql(client, t, REGISTER, {"n": nino})).json()
        assert codes(body) == ["OWN_RECORD"], (org, body)
        assert await admin["hub"].fetchval("SELECT count(*) FROM hub.interest WHERE org = $1", org) == 0


async def test_no_such_person_and_not_yours_are_one_answer(
    client: httpx.AsyncClient, issuer: IssuerKey, settings: Settings, claimant: tuple[str, int]
) -> None:
    nino, _ = claimant
    far = make_token(issuer, settings, council="E09000999")("council_blue_badge", "BLUE_BADGE", org="badge-far")
    answers = [(await gql(client, far, REGISTER, {"n": n})).json() for n in (nino, P.OUTSIDER, P.ABSENT)]
    assert codes(answers[0]) == ["SUBJECT_NOT_FOUND"]
    assert without_receipt(answers[0]) == without_receipt(answers[1]) == without_receipt(answers[2])
