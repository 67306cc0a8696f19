"""The federated person query through HTTP, against real PostgreSQL stores."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from tests import people as P
from tests.conftest import QueryCounter, codes, gql
from tests.receipts import without_receipt

BLUE_BADGE = "query($nino: String!) { person(nino: $nino, purpose: BLUE_BADGE) { subjectId dwp { blueBadgeAutomaticEligibility } } }"
OVERNIGHT = """query($nino: String!) { person(nino: $nino, purpose: HB_OVERNIGHT_CARER_ROOM) {
    subjectId socialCare { overnightCareRequired } } }"""
CARE_CHARGING = """query Charging($nino: String!) { person(nino: $nino, purpose: CARE_CHARGING_DOMICILIARY) {
    subjectId
    dwp { awardsInPayment { benefit component rate weeklyAmount } declaredIncome { kind weeklyAmount }
          declaredCapital { kind amount } }
    housingBenefit { claims { tenancyType weeklyRent weeklyAward } }
    socialCare { domiciliaryHoursPerWeek financialAssessments { weeklyAssessedCharge capitalBand } } } }"""


async def test_federated_query_answers_from_all_three_sources(client: httpx.AsyncClient, token: Any) -> None:
    r = await gql(
        client, token("council_care_finance", "CARE_CHARGING_DOMICILIARY"), CARE_CHARGING, {"nino": P.BADGE_DLA}
    )
    assert r.status_code == 200
    body = r.json()
    assert "errors" not in body
    person = body["data"]["person"]
    awards = {(a["benefit"], a["component"]): a for a in person["dwp"]["awardsInPayment"]}
    assert set(awards) == {("DLA", "mobility"), ("DLA", "care"), ("PC", "guarantee")}
    assert Decimal(awards[("DLA", "mobility")]["weeklyAmount"]) == Decimal("77.05")
    assert person["dwp"]["declaredIncome"] == [{"kind": "occupational_pension", "weeklyAmount": "112.40"}]
    assert person["dwp"]["declaredCapital"] == [{"kind": "savings", "amount": "8250.00"}]
    assert person["housingBenefit"]["claims"] == [
        {"tenancyType": "SOCIAL", "weeklyRent": "95.50", "weeklyAward": "80.00"}
    ]
    assert Decimal(person["socialCare"]["domiciliaryHoursPerWeek"]) == Decimal("14.0")
    assert person["socialCare"]["financialAssessments"] == [{"weeklyAssessedCharge": "42.75", "capitalBand": "TARIFF"}]
    assert person["subjectId"].startswith("ps_")


@pytest.mark.parametrize(
    ("nino", "expected"),
    [
        pytest.param(P.BADGE_DLA, True, id="DLA higher-rate mobility"),
        pytest.param(P.PIP_LOW, False, id="PIP 4 points moving around"),
        pytest.param(P.PIP_MOVING, True, id="PIP 12 points moving around"),
        pytest.param(P.DLA_ENDED, False, id="DLA higher rate that has ended"),
        pytest.param(P.PIP_DISTRESS, True, id="PIP planning journeys descriptor E"),
        pytest.param(P.EXTRA[0], False, id="no award at all"),
    ],
)
async def test_blue_badge_is_a_yes_no_from_the_rule(
    client: httpx.AsyncClient, token: Any, nino: str, expected: bool
) -> None:
    r = await gql(client, token("council_blue_badge", "BLUE_BADGE"), BLUE_BADGE, {"nino": nino})
    body = r.json()
    assert "errors" not in body, body
    assert body["data"]["person"]["dwp"] == {"blueBadgeAutomaticEligibility": expected}


@pytest.mark.parametrize(
    ("nino", "expected"),
    [(P.BADGE_DLA, {"overnightCareRequired": True}), (P.CARE_ONLY, {"overnightCareRequired": False})],
    ids=["current overnight plan", "only an ended overnight plan"],
)
async def test_overnight_carer_check_is_yes_no_only(
    client: httpx.AsyncClient, token: Any, nino: str, expected: Any
) -> None:
    r = await gql(client, token("council_hb", "HB_OVERNIGHT_CARER_ROOM"), OVERNIGHT, {"nino": nino})
    body = r.json()
    assert "errors" not in body, body
    assert body["data"]["person"]["socialCare"] == expected


async def test_a_purpose_learns_nothing_of_sources_it_may_not_read(
    client: httpx.AsyncClient, token: Any, queries: QueryCounter
) -> None:
    # PIP_LOW is a DWP customer unknown to social care; CARE_ONLY is known only to social care. The
    # overnight-carer purpose reads social care alone, and Blue Badge reads DWP alone: each answer must be
    # the same "not found" an unknown NINO gets, and the other sources must not even be asked.
    for org_type, purpose, query, nino, store in [
        ("council_hb", "HB_OVERNIGHT_CARER_ROOM", OVERNIGHT, P.PIP_LOW, "src_social_care"),
        ("council_blue_badge", "BLUE_BADGE", BLUE_BADGE, P.CARE_ONLY, "src_dwp"),
    ]:
        queries.reset()
        known_elsewhere = (await gql(client, token(org_type, purpose), query, {"nino": nino})).json()
        unknown = (await gql(client, token(org_type, purpose), query, {"nino": P.ABSENT})).json()
        assert without_receipt(known_elsewhere) == without_receipt(unknown)
        # A council team: unknown, and not connected with its area, are one refusal.
        assert codes(known_elsewhere) == ["SUBJECT_NOT_FOUND"]  # as "not found" (audited as NO_LEGITIMATE_RELATIONSHIP)
        assert set(queries.counts) | set(queries.tie_counts) == {store}


async def test_nino_formatting_does_not_matter(client: httpx.AsyncClient, token: Any) -> None:
    spaced = f"{P.PIP_MOVING[:2]} {P.PIP_MOVING[2:4]} {P.PIP_MOVING[4:6]} {P.PIP_MOVING[6:8]} {P.PIP_MOVING[8]}".lower()
    t = token("council_blue_badge", "BLUE_BADGE")
    a = (await gql(client, t, BLUE_BADGE, {"nino": spaced})).json()
    b = (await gql(client, t, BLUE_BADGE, {"nino": P.PIP_MOVING})).json()
    assert a["data"] == b["data"]
    assert a["data"]["person"]["dwp"]["blueBadgeAutomaticEligibility"] is True


async def test_pseudonyms_differ_per_recipient_and_are_stable(client: httpx.AsyncClient, token: Any) -> None:
    async def subject(org: str) -> str:
        r = await gql(client, token("council_blue_badge", "BLUE_BADGE", org=org), BLUE_BADGE, {"nino": P.BADGE_DLA})
        return str(r.json()["data"]["person"]["subjectId"])

    first, again, other = await subject("council-a"), await subject("council-a"), await subject("council-b")
    assert first == again
    assert first != other
    assert P.BADGE_DLA not in first


async def test_audit_row_per_operation_with_hashed_subject(
    client: httpx.AsyncClient, token: Any, admin: dict[str, asyncpg.Connection]
) -> None:
    before = await admin["hub"].fetchval("SELECT count(*) FROM hub.audit_event")
    r = await gql(
        client, token("council_blue_badge", "BLUE_BADGE", org="audit-check"), BLUE_BADGE, {"nino": P.PIP_MOVING}
    )
    assert r.json()["data"]["person"]["dwp"]["blueBadgeAutomaticEligibility"] is True
    rows = await admin["hub"].fetch("SELECT * FROM hub.audit_event WHERE caller_org = 'audit-check'")
    assert await admin["hub"].fetchval("SELECT count(*) FROM hub.audit_event") == before + 1
    (row,) = rows
    assert row["purpose"] == "BLUE_BADGE"
    assert row["caller_org_type"] == "council_blue_badge"
    assert row["decision"] == "released"
    assert row["legal_basis"].startswith("SI 2012/1483")
    assert row["fields_released"] == sorted(
        ["Query.person", "Person.subjectId", "Person.dwp", "DwpRecord.blueBadgeAutomaticEligibility"]
    )
    assert row["sources_read"] == ["dwp"]  # the only source Blue Badge may read
    assert row["link_method"] == "nino"
    assert len(row["subject_hashes"]) == 1
    assert len(row["subject_hashes"][0]) == 64
    assert P.PIP_MOVING not in str(dict(row))
    assert row["caller_user_hash"] != "officer-1"


async def test_batched_three_queries_for_many_people(
    client: httpx.AsyncClient, token: Any, queries: QueryCounter
) -> None:
    ninos = [P.BADGE_DLA, P.PIP_LOW, P.PIP_MOVING, *P.EXTRA[:5]]
    fields = " ".join(
        f'p{i}: person(nino: "{n}", purpose: CARE_CHARGING_DOMICILIARY) {{ dwp {{ awardsInPayment {{ benefit }} }} '
        f"housingBenefit {{ claims {{ weeklyRent }} }} socialCare {{ domiciliaryHoursPerWeek }} }}"
        for i, n in enumerate(ninos)
    )
    queries.reset()
    r = await gql(client, token("council_care_finance", "CARE_CHARGING_DOMICILIARY"), f"query {{ {fields} }}")
    body = r.json()
    assert "errors" not in body, body
    assert len(body["data"]) == len(ninos)
    assert body["data"]["p0"]["housingBenefit"]["claims"] == [{"weeklyRent": "95.50"}]
    # N people across three sources: one query per source, not 3N; and the legitimate-relationship check
    # for all of them is one batched query too (DWP's addresses settle it for these people).
    assert queries.counts == {"src_dwp": 1, "src_hb": 1, "src_social_care": 1}
    assert queries.tie_counts == {"src_dwp": 1}
