"""A legitimate relationship: a council organisation may look up only people connected with its own area
(a claim or case at that council, or a home in its area), unless the purpose needs no such tie."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx

from hub.keys import IssuerKey
from hub.orgs import Organisation, upsert
from tests import people as P
from tests.conftest import AUDIENCE, ISSUER, codes, gql

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
    assert codes(body) == ["NO_LEGITIMATE_RELATIONSHIP"]
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
    assert codes(body) == ["NO_LEGITIMATE_RELATIONSHIP"]


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
    assert codes((await gql(client, t, BLUE_BADGE, {"n": P.OUTSIDER})).json()) == ["NO_LEGITIMATE_RELATIONSHIP"]


async def test_a_national_body_needs_no_local_tie(
    client: httpx.AsyncClient, issuer: IssuerKey, admin: dict[str, asyncpg.Connection]
) -> None:
    await upsert(admin["hub"], [Organisation("dwp-benefits-1", "DWP benefits", "dwp_benefits")])
    q = "query($n: String!) { person(nino: $n, purpose: CHANGE_OF_CIRCUMSTANCES) { subjectId } }"
    t = _mint(issuer, "dwp-benefits-1", "dwp_benefits", "CHANGE_OF_CIRCUMSTANCES")
    body = (await gql(client, t, q, {"n": P.BADGE_DLA})).json()
    assert "errors" not in body, body
