"""A legitimate relationship: a council organisation may look up only people connected with its own area
(a claim or case at that council, or a home in its area), unless the purpose needs no such tie. A lookup
without one is answered exactly as "not found" (SUBJECT_NOT_FOUND) and audited as NO_LEGITIMATE_RELATIONSHIP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import httpx

from hub.access.keys import load_key_ring
from hub.access.orgs import Organisation
from hub.config import Settings
from hub.ops.issuer import IssuerKey
from hub.records.orgs import record_staff, upsert
from linkage import NormalisedNino, subject_hash, user_hash
from tests import people as P
from tests.conftest import AUDIENCE, ISSUER, QueryCounter, codes, gql, replace, running_client
from tests.receipts import without_receipt

BLUE_BADGE = "query($n: String!) { person(nino: $n, purpose: BLUE_BADGE) { dwp { blueBadgeAutomaticEligibility } } }"


def _mint(issuer: IssuerKey, org: str, org_type: str, *purposes: str) -> str:
    return issuer.mint(issuer=ISSUER, audience=AUDIENCE, org=org, org_type=org_type, user="u", purposes=list(purposes))


async def test_a_council_may_look_up_its_own_people(client: httpx.AsyncClient, token: Any) -> None:
    t = token("council_blue_badge", "BLUE_BADGE")
    # An HB claim and a care case at the council; a DWP-only person whose home is in its area.
    for nino in (P.BADGE_DLA, P.PIP_LOW, P.EXTRA[6]):
        body = (await gql(client, t, BLUE_BADGE, {"n": nino})).json()
        assert "errors" not in body, (nino, body)


async def test_no_claim_case_or_home_in_the_area_is_refused_and_audited(
    client: httpx.AsyncClient, token: Any, admin: dict[str, asyncpg.Connection]
) -> None:
    t = token("council_blue_badge", "BLUE_BADGE", org="badge-team-tie")
    body = (await gql(client, t, BLUE_BADGE, {"n": P.OUTSIDER})).json()
    assert codes(body) == ["SUBJECT_NOT_FOUND"]  # as "not found" (audited as NO_LEGITIMATE_RELATIONSHIP)
    assert body["data"] == {"person": None}
    row = await admin["hub"].fetchrow(
        "SELECT reason_codes, fields_released FROM hub.audit_event WHERE caller_org = 'badge-team-tie' "
        "ORDER BY event_id DESC LIMIT 1"
    )
    assert dict(row) == {"reason_codes": ["NO_LEGITIMATE_RELATIONSHIP"], "fields_released": []}


async def test_another_council_s_team_is_refused(
    client: httpx.AsyncClient, issuer: IssuerKey, admin: dict[str, asyncpg.Connection]
) -> None:
    await upsert(
        admin["hub"], [Organisation("southshire-badges", "Southshire", "council_blue_badge", council_code="E09000902")]
    )
    body = (
        await gql(
            client,
            _mint(issuer, "southshire-badges", "council_blue_badge", "BLUE_BADGE"),
            BLUE_BADGE,
            {"n": P.BADGE_DLA},
        )
    ).json()
    assert codes(body) == ["SUBJECT_NOT_FOUND"]  # as "not found" (audited as NO_LEGITIMATE_RELATIONSHIP)


async def test_a_partner_is_tied_through_its_controlling_council(
    client: httpx.AsyncClient, issuer: IssuerKey, admin: dict[str, asyncpg.Connection]
) -> None:
    await upsert(
        admin["hub"],
        [
            Organisation("northtown-council", "Northtown Council", "council_hb", council_code="E09000901"),
            Organisation("northtown-partner", "Partner", "council_blue_badge", controller_org="northtown-council"),
        ],
    )
    t = _mint(issuer, "northtown-partner", "council_blue_badge", "BLUE_BADGE")
    assert "errors" not in (await gql(client, t, BLUE_BADGE, {"n": P.BADGE_DLA})).json()
    assert codes((await gql(client, t, BLUE_BADGE, {"n": P.OUTSIDER})).json()) == [
        "SUBJECT_NOT_FOUND"
    ]  # as "not found" (audited as NO_LEGITIMATE_RELATIONSHIP)


async def test_a_national_body_needs_no_local_tie(
    client: httpx.AsyncClient, issuer: IssuerKey, admin: dict[str, asyncpg.Connection]
) -> None:
    await upsert(admin["hub"], [Organisation("dwp-benefits-1", "DWP benefits", "dwp_benefits", national=True)])
    q = "query($n: String!) { person(nino: $n, purpose: CHANGE_OF_CIRCUMSTANCES) { subjectId } }"
    t = _mint(issuer, "dwp-benefits-1", "dwp_benefits", "CHANGE_OF_CIRCUMSTANCES")
    body = (await gql(client, t, q, {"n": P.BADGE_DLA})).json()
    assert "errors" not in body, body


async def test_a_user_may_not_look_up_their_own_record(
    client: httpx.AsyncClient,
    token: Any,
    queries: QueryCounter,
    admin: dict[str, asyncpg.Connection],
    settings: Settings,
) -> None:
    ring = load_key_ring(settings.keys_path)  # type: ignore[arg-type]
    # The officer of "own-record-team" is, as a person, PIP_MOVING: recorded in keyed hashes only.
    await record_staff(
        admin["hub"],
        [
            (
                user_hash(ring, "own-record-team", "officer-1"),
                subject_hash(ring, NormalisedNino(P.PIP_MOVING)),
                None,
            )
        ],
    )
    t = token("council_blue_badge", "BLUE_BADGE", org="own-record-team")
    queries.reset()
    body = (await gql(client, t, BLUE_BADGE, {"n": P.PIP_MOVING})).json()
    assert codes(body) == ["OWN_RECORD"]
    assert body["data"] == {"person": None}
    assert queries.total == 0, "refused before anything is read"
    row = await admin["hub"].fetchrow(
        "SELECT reason_codes, fields_released FROM hub.audit_event WHERE caller_org = 'own-record-team' "
        "ORDER BY event_id DESC LIMIT 1"
    )
    assert dict(row) == {"reason_codes": ["OWN_RECORD"], "fields_released": []}  # the auditor's flag
    # Anyone else's record, as usual.
    assert "errors" not in (await gql(client, t, BLUE_BADGE, {"n": P.PIP_LOW})).json()
    dumped = str([dict(r) for r in await admin["hub"].fetch("SELECT * FROM hub.staff_identity")])
    assert P.PIP_MOVING not in dumped


async def test_a_protected_address_is_never_released_whatever_the_purpose(
    settings: Settings, people: Any, token: Any, admin: dict[str, asyncpg.Connection], tmp_path: Path
) -> None:
    # A register (for this test only) in which Blue Badge may see the address: the protection must hold
    # even where a purpose allows the field.
    text = settings.purposes_path.read_text()
    at = text.index('"DwpRecord.blueBadgeAutomaticEligibility",', text.index("[purposes.BLUE_BADGE]"))
    text = text[:at] + '"DwpRecord.address", "Address.line1", "Address.postcode", ' + text[at:]
    register = tmp_path / "purposes.toml"
    register.write_text(text)
    q = "query($n: String!) { person(nino: $n, purpose: BLUE_BADGE) { dwp { blueBadgeAutomaticEligibility address { line1 postcode } } } }"
    t = token("council_blue_badge", "BLUE_BADGE", org="address-team")
    await admin["src_dwp"].execute("UPDATE dwp.person SET address_protected = true WHERE nino = $1", P.PIP_LOW)
    try:
        async with running_client(replace(settings, purposes_path=register)) as client:
            open_body = (await gql(client, t, q, {"n": P.BADGE_DLA})).json()
            assert open_body["data"]["person"]["dwp"]["address"]["postcode"] == "NT1 1AA"
            body = (await gql(client, t, q, {"n": P.PIP_LOW})).json()
    finally:
        await admin["src_dwp"].execute("UPDATE dwp.person SET address_protected = false WHERE nino = $1", P.PIP_LOW)
    assert codes(body) == ["PROTECTED_ADDRESS"]
    assert body["errors"][0]["path"] == ["person", "dwp", "address"]
    # Only the address is withheld: the rest of the answer stands.
    assert body["data"]["person"]["dwp"] == {"blueBadgeAutomaticEligibility": False, "address": None}
    assert "4 High St" not in str(body)
    row = await admin["hub"].fetchrow(
        "SELECT fields_released FROM hub.audit_event WHERE caller_org = 'address-team' ORDER BY event_id DESC LIMIT 1"
    )
    assert "DwpRecord.address" not in row["fields_released"]


async def test_an_organisation_without_an_area_is_not_national_by_omission(
    client: httpx.AsyncClient, issuer: IssuerKey, admin: dict[str, asyncpg.Connection]
) -> None:
    # Registered with neither an area nor the national flag: refused, never the whole country.
    await upsert(admin["hub"], [Organisation("badge-team-nowhere", "Nowhere", "council_blue_badge")])
    t = _mint(issuer, "badge-team-nowhere", "council_blue_badge", "BLUE_BADGE")
    assert codes((await gql(client, t, BLUE_BADGE, {"n": P.BADGE_DLA})).json()) == [
        "SUBJECT_NOT_FOUND"
    ]  # as "not found" (audited as NO_LEGITIMATE_RELATIONSHIP)


async def test_a_partner_of_an_inactive_council_has_no_area(
    client: httpx.AsyncClient, issuer: IssuerKey, admin: dict[str, asyncpg.Connection]
) -> None:
    await upsert(
        admin["hub"],
        [
            Organisation("closed-council", "Closed", "council_hb", council_code="E09000901", active=False),
            Organisation("orphan-partner", "Partner", "council_blue_badge", controller_org="closed-council"),
        ],
    )
    t = _mint(issuer, "orphan-partner", "council_blue_badge", "BLUE_BADGE")
    assert codes((await gql(client, t, BLUE_BADGE, {"n": P.BADGE_DLA})).json()) == [
        "SUBJECT_NOT_FOUND"
    ]  # as "not found" (audited as NO_LEGITIMATE_RELATIONSHIP)


async def test_unknown_and_unconnected_people_look_the_same_to_a_council(
    client: httpx.AsyncClient, issuer: IssuerKey, admin: dict[str, asyncpg.Connection], queries: QueryCounter
) -> None:
    # Another council's HB team asks about people: one is a care client (in the first council), one is
    # known nowhere. It must not learn which: one refusal for both, and no record read.
    await upsert(admin["hub"], [Organisation("southshire-hb", "Southshire HB", "council_hb", council_code="E09000902")])
    t = _mint(issuer, "southshire-hb", "council_hb", "HB_OVERNIGHT_CARER_ROOM")
    q = "query($n: String!) { person(nino: $n, purpose: HB_OVERNIGHT_CARER_ROOM) { socialCare { overnightCareRequired } } }"
    queries.reset()
    known = (await gql(client, t, q, {"n": P.CARE_ONLY})).json()
    unknown = (await gql(client, t, q, {"n": P.ABSENT})).json()
    assert without_receipt(known) == without_receipt(unknown)
    assert codes(known) == ["SUBJECT_NOT_FOUND"]  # as "not found" (audited as NO_LEGITIMATE_RELATIONSHIP)
    assert queries.counts == {}, "no record is read before the refusal"


async def test_a_claim_ended_long_ago_is_no_longer_a_tie(
    client: httpx.AsyncClient, token: Any, admin: dict[str, asyncpg.Connection]
) -> None:
    q = "query($n: String!) { person(nino: $n, purpose: DISCRETIONARY_HOUSING_PAYMENT) { subjectId } }"
    t = token("council_hb", "DISCRETIONARY_HOUSING_PAYMENT")
    await admin["src_hb"].execute(
        """INSERT INTO hb.claim (claim_ref, council_code, nino, given_name, family_name, date_of_birth,
               address_line1, postcode, tenancy_type, weekly_rent, weekly_award, bedroom_entitlement,
               overnight_carer_room, start_date, end_date)
           VALUES ('HB0000099', 'E09000901', $1, 'Olive', 'Farr', '1961-06-06', '9 Far Road', 'ZZ1 1ZZ', 'lha',
                   100, 50, 1, false, '2015-01-01', current_date - 800)""",
        P.OUTSIDER,
    )
    try:
        assert codes((await gql(client, t, q, {"n": P.OUTSIDER})).json()) == [
            "SUBJECT_NOT_FOUND"
        ]  # as "not found" (audited as NO_LEGITIMATE_RELATIONSHIP)
        await admin["src_hb"].execute("UPDATE hb.claim SET end_date = current_date - 30 WHERE claim_ref = 'HB0000099'")
        assert "errors" not in (await gql(client, t, q, {"n": P.OUTSIDER})).json()
    finally:
        await admin["src_hb"].execute("DELETE FROM hb.claim WHERE claim_ref = 'HB0000099'")
