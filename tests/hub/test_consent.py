"""Consent: a consent-based purpose releases nothing without the person's live consent, checked before any
source is read; consent is recorded and withdrawn by the organisations the register allows; a person who
asked to be told of each share gets a notice record for it."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import httpx
import pytest

from tests import people as P
from tests.conftest import QueryCounter, codes, gql

LOOKUP = """query($n: String!) { person(nino: $n, purpose: INCOME_MAXIMISATION) {
  subjectId dwp { awardsInPayment { benefit weeklyAmount } } } }"""
RECORD = """mutation($n: String!, $notify: Boolean!) {
  recordConsent(purpose: INCOME_MAXIMISATION, nino: $n, notifyOnShare: $notify) {
    purpose status expiresAt notifyOnShare withdrawn } }"""
WITHDRAW = """mutation($n: String!) { withdrawConsent(purpose: INCOME_MAXIMISATION, nino: $n) { status withdrawn } }"""


@pytest.fixture
def adviser(token: Any) -> str:
    return str(token("council_welfare_rights", "INCOME_MAXIMISATION", org="welfare-rights-1"))


async def _notices(admin: dict[str, asyncpg.Connection]) -> list[asyncpg.Record]:
    return list(await admin["hub"].fetch("SELECT * FROM hub.subject_notification ORDER BY notification_id"))


async def test_no_consent_no_data_and_no_source_read(
    client: httpx.AsyncClient, adviser: str, queries: QueryCounter
) -> None:
    queries.reset()
    body = (await gql(client, adviser, LOOKUP, {"n": P.PIP_LOW})).json()
    assert codes(body) == ["CONSENT_REQUIRED"]
    assert body["data"] is None
    assert queries.total == 0


async def test_recorded_consent_releases_and_withdrawal_stops_it(
    client: httpx.AsyncClient, adviser: str, queries: QueryCounter, admin: dict[str, asyncpg.Connection]
) -> None:
    receipt = (await gql(client, adviser, RECORD, {"n": P.PIP_MOVING, "notify": False})).json()
    assert "errors" not in receipt, receipt
    got = receipt["data"]["recordConsent"]
    assert (got["purpose"], got["status"], got["notifyOnShare"]) == ("INCOME_MAXIMISATION", "live", False)
    expires = await admin["hub"].fetchval(
        "SELECT expires_at - granted_at FROM hub.consent ORDER BY consent_id DESC LIMIT 1"
    )
    assert expires.days in (365, 366)  # the register's renewal period, P1Y
    before = len(await _notices(admin))
    body = (await gql(client, adviser, LOOKUP, {"n": P.PIP_MOVING})).json()
    assert "errors" not in body, body
    assert body["data"]["person"]["dwp"]["awardsInPayment"]
    assert len(await _notices(admin)) == before, "the person did not ask to be told of each share"

    withdrawn = (await gql(client, adviser, WITHDRAW, {"n": P.PIP_MOVING})).json()
    assert withdrawn["data"]["withdrawConsent"] == {"status": "withdrawn", "withdrawn": 1}
    queries.reset()
    after = (await gql(client, adviser, LOOKUP, {"n": P.PIP_MOVING})).json()
    assert codes(after) == ["CONSENT_REQUIRED"]
    assert queries.total == 0


async def test_a_person_who_asked_is_told_of_each_share(
    client: httpx.AsyncClient, adviser: str, admin: dict[str, asyncpg.Connection]
) -> None:
    assert "errors" not in (await gql(client, adviser, RECORD, {"n": P.PIP_DISTRESS, "notify": True})).json()
    before = len(await _notices(admin))
    for _ in range(2):
        assert "errors" not in (await gql(client, adviser, LOOKUP, {"n": P.PIP_DISTRESS})).json()
    notices = (await _notices(admin))[before:]
    assert len(notices) == 2
    assert {n["recipient_org"] for n in notices} == {"welfare-rights-1"}
    assert set(notices[0]["fields"]) >= {"BenefitAward.weeklyAmount", "DwpRecord.awardsInPayment"}
    assert P.PIP_DISTRESS not in json.dumps([dict(n) for n in notices], default=str)


async def test_consent_is_per_person(client: httpx.AsyncClient, adviser: str) -> None:
    assert "errors" not in (await gql(client, adviser, RECORD, {"n": P.DLA_ENDED, "notify": False})).json()
    assert codes((await gql(client, adviser, LOOKUP, {"n": P.BADGE_DLA})).json()) == ["CONSENT_REQUIRED"]


async def test_an_expired_consent_is_no_consent(
    client: httpx.AsyncClient, adviser: str, admin: dict[str, asyncpg.Connection]
) -> None:
    assert "errors" not in (await gql(client, adviser, RECORD, {"n": P.EXTRA[0], "notify": False})).json()
    await admin["hub"].execute(
        "UPDATE hub.consent SET granted_at = now() - interval '2 years', expires_at = now() - interval '1 year' "
        "WHERE consent_id = (SELECT max(consent_id) FROM hub.consent)"
    )
    assert codes((await gql(client, adviser, LOOKUP, {"n": P.EXTRA[0]})).json()) == ["CONSENT_REQUIRED"]


async def test_a_consented_nino_cannot_carry_someone_else_s_details(
    client: httpx.AsyncClient, adviser: str, queries: QueryCounter
) -> None:
    # Consent for one NINO (even one nobody holds) must not open a lookup that falls back to details
    # matching someone else.
    assert "errors" not in (await gql(client, adviser, RECORD, {"n": P.ABSENT, "notify": False})).json()
    q = """query($n: String!) { person(purpose: INCOME_MAXIMISATION, nino: $n, demographics: {givenName: "Daniel",
           familyName: "Price", dateOfBirth: "1985-01-09"}) { dwp { awardsInPayment { weeklyAmount } } } }"""
    queries.reset()
    body = (await gql(client, adviser, q, {"n": P.ABSENT})).json()
    assert codes(body) == ["CONSENT_REQUIRED"]
    assert queries.counts == {}


async def test_a_consent_based_lookup_must_name_the_person_by_nino(
    client: httpx.AsyncClient, adviser: str, queries: QueryCounter
) -> None:
    queries.reset()
    q = """query { person(purpose: INCOME_MAXIMISATION, demographics: {givenName: "Ann", familyName: "Lee",
           dateOfBirth: "1950-01-01"}) { subjectId } }"""
    assert codes((await gql(client, adviser, q)).json()) == ["CONSENT_REQUIRED"]
    assert queries.total == 0


@pytest.mark.parametrize(
    ("org_type", "code"),
    [("council_hb", "PURPOSE_NOT_GRANTED"), ("council_blue_badge", "PURPOSE_NOT_GRANTED")],
)
async def test_only_the_register_s_organisations_record_consent(
    client: httpx.AsyncClient, token: Any, org_type: str, code: str
) -> None:
    t = token(org_type, "INCOME_MAXIMISATION", org="someone-else")
    assert codes((await gql(client, t, RECORD, {"n": P.EXTRA[1], "notify": False})).json()) == [code]


async def test_recording_consent_checks_the_nino_and_never_echoes_it(client: httpx.AsyncClient, adviser: str) -> None:
    body = (await gql(client, adviser, RECORD, {"n": "AB12345", "notify": False})).json()
    assert codes(body) == ["INVALID_NINO"]
    ok = (await gql(client, adviser, RECORD, {"n": P.EXTRA[2], "notify": False})).json()
    assert P.EXTRA[2] not in json.dumps(ok)


async def test_the_hub_keeps_no_clear_nino_in_consent_records(admin: dict[str, asyncpg.Connection]) -> None:
    rows = await admin["hub"].fetch("SELECT * FROM hub.consent")
    assert rows
    dumped = json.dumps([dict(r) for r in rows], default=str)
    assert not any(n in dumped for n in P.ALL)
