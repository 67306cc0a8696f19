"""Consent: a consent-based purpose releases nothing without the person's live consent to share with the
organisation asking, checked before any source is read; consent is recorded by the organisations the register
allows, only with a legitimate relationship with the person, and withdrawn only by the recipient that holds
it or the organisation that recorded it; a person who asked to be told of each share gets a notice record."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import asyncpg
import httpx
import pytest

from hub.access.keys import load_key_ring
from hub.config import Settings
from hub.ops.issuer import IssuerKey
from hub.records.operations import add_operations
from hub.records.orgs import record_staff
from linkage import NormalisedNino, subject_hash, user_hash
from tests import people as P
from tests.conftest import QueryCounter, codes, gql, make_token
from tests.receipts import without_receipt

LOOKUP = """query($n: String!) { person(nino: $n, purpose: INCOME_MAXIMISATION) {
  subjectId dwp { awardsInPayment { benefit weeklyAmount } } } }"""
RECORD = """mutation($n: String!, $notify: Boolean!) {
  recordConsent(purpose: INCOME_MAXIMISATION, nino: $n, notifyOnShare: $notify) {
    purpose status expiresAt notifyOnShare withdrawn } }"""
WITHDRAW = """mutation($n: String!) { withdrawConsent(purpose: INCOME_MAXIMISATION, nino: $n) { status withdrawn } }"""
RECORD_FOR = """mutation($n: String!, $to: String, $until: Date) {
  recordConsent(purpose: INCOME_MAXIMISATION, nino: $n, notifyOnShare: false, recipientOrganisation: $to,
                expiresOn: $until) { status recipientOrganisation expiresAt } }"""
WITHDRAW_FOR = """mutation($n: String!, $to: String) {
  withdrawConsent(purpose: INCOME_MAXIMISATION, nino: $n, recipientOrganisation: $to) { status withdrawn } }"""


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
    assert "data" not in body  # refused before execution: a request error
    assert queries.total == 0


async def test_recorded_consent_releases_and_withdrawal_stops_it(
    client: httpx.AsyncClient, adviser: str, queries: QueryCounter, admin: dict[str, asyncpg.Connection]
) -> None:
    receipt = (await gql(client, adviser, RECORD, {"n": P.PIP_MOVING, "notify": False})).json()
    assert "errors" not in receipt, receipt
    got = receipt["data"]["recordConsent"]
    assert (got["purpose"], got["status"], got["notifyOnShare"]) == ("INCOME_MAXIMISATION", "LIVE", False)
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
    assert withdrawn["data"]["withdrawConsent"] == {"status": "WITHDRAWN", "withdrawn": 1}
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
    # Consent for one NINO must not open a lookup that falls back to details matching someone else.
    assert "errors" not in (await gql(client, adviser, RECORD, {"n": P.EXTRA[7], "notify": False})).json()
    q = """query($n: String!) { person(purpose: INCOME_MAXIMISATION, nino: $n, demographics: {givenName: "Daniel",
           familyName: "Price", dateOfBirth: "1985-01-09"}) { dwp { awardsInPayment { weeklyAmount } } } }"""
    queries.reset()
    body = (await gql(client, adviser, q, {"n": P.EXTRA[7]})).json()
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


# -- consent is specific: to one recipient, recorded with a tie, withdrawn by its holder (issue 13.4) ---------


async def test_consent_recorded_by_one_organisation_lets_no_other_read(
    client: httpx.AsyncClient, adviser: str, token: Any
) -> None:
    # Another welfare rights team of the same council, allowed the purpose: the person's consent was given to
    # welfare-rights-1, not to it.
    other = token("council_welfare_rights", "INCOME_MAXIMISATION", org="welfare-rights-other")
    assert "errors" not in (await gql(client, adviser, RECORD, {"n": P.EXTRA[3], "notify": False})).json()
    assert "errors" not in (await gql(client, adviser, LOOKUP, {"n": P.EXTRA[3]})).json()
    body = (await gql(client, other, LOOKUP, {"n": P.EXTRA[3]})).json()
    assert codes(body) == ["CONSENT_REQUIRED"]
    assert "data" not in body  # refused before execution: a request error


async def test_recording_consent_needs_a_legitimate_relationship(
    client: httpx.AsyncClient, adviser: str, admin: dict[str, asyncpg.Connection]
) -> None:
    before = await admin["hub"].fetchval("SELECT count(*) FROM hub.consent")
    outsider = (await gql(client, adviser, RECORD, {"n": P.OUTSIDER, "notify": False})).json()
    absent = (await gql(client, adviser, RECORD, {"n": P.ABSENT, "notify": False})).json()
    # Not connected with the recorder's area, and held by no one: one answer, and nothing recorded.
    assert codes(outsider) == ["SUBJECT_NOT_FOUND"]
    assert without_receipt(outsider) == without_receipt(absent)
    assert await admin["hub"].fetchval("SELECT count(*) FROM hub.consent") == before
    reasons = await admin["hub"].fetch(
        "SELECT reason_codes FROM hub.audit_event WHERE caller_org = 'welfare-rights-1' ORDER BY seq DESC LIMIT 2"
    )
    assert [r["reason_codes"] for r in reasons][1] == ["NO_LEGITIMATE_RELATIONSHIP"]  # the auditor sees why


async def test_a_recorder_elsewhere_cannot_record_consent(
    client: httpx.AsyncClient, issuer: IssuerKey, settings: Settings
) -> None:
    far = make_token(issuer, settings, council="E09000999")(
        "council_welfare_rights", "INCOME_MAXIMISATION", org="wr-far"
    )
    assert codes((await gql(client, far, RECORD, {"n": P.EXTRA[4], "notify": False})).json()) == ["SUBJECT_NOT_FOUND"]


async def test_only_the_holder_or_the_recorder_withdraws(
    client: httpx.AsyncClient, adviser: str, token: Any, admin: dict[str, asyncpg.Connection]
) -> None:
    agency = token("voluntary_agency", "INCOME_MAXIMISATION", org="advice-agency")
    await add_operations(admin["hub"], "advice-agency", [(d, None) for d in (RECORD_FOR, LOOKUP, WITHDRAW_FOR)])
    bystander = token("council_welfare_rights", "INCOME_MAXIMISATION", org="welfare-rights-bystander")
    # The agency records the person's consent to share with welfare-rights-1 (not with the agency itself).
    given = (await gql(client, agency, RECORD_FOR, {"n": P.EXTRA[5], "to": "welfare-rights-1"})).json()
    assert "errors" not in given, given
    assert given["data"]["recordConsent"]["recipientOrganisation"] == "welfare-rights-1"
    assert "errors" not in (await gql(client, adviser, LOOKUP, {"n": P.EXTRA[5]})).json()
    assert codes((await gql(client, agency, LOOKUP, {"n": P.EXTRA[5]})).json()) == ["CONSENT_REQUIRED"]

    # Another organisation cannot end it: nothing is withdrawn, and the recipient still reads.
    tried = (await gql(client, bystander, WITHDRAW, {"n": P.EXTRA[5]})).json()
    assert tried["data"]["withdrawConsent"] == {"status": "WITHDRAWN", "withdrawn": 0}
    assert "errors" not in (await gql(client, adviser, LOOKUP, {"n": P.EXTRA[5]})).json()
    row = await admin["hub"].fetchrow(
        "SELECT withdrawn_at, recipient_org, recorded_by_org FROM hub.consent ORDER BY consent_id DESC LIMIT 1"
    )
    assert (row["withdrawn_at"], row["recipient_org"], row["recorded_by_org"]) == (
        None,
        "welfare-rights-1",
        "advice-agency",
    )

    # The recorder can, on the person's behalf.
    ended = (await gql(client, agency, WITHDRAW_FOR, {"n": P.EXTRA[5], "to": "welfare-rights-1"})).json()
    assert ended["data"]["withdrawConsent"] == {"status": "WITHDRAWN", "withdrawn": 1}
    assert codes((await gql(client, adviser, LOOKUP, {"n": P.EXTRA[5]})).json()) == ["CONSENT_REQUIRED"]

    # And so can the recipient that holds one.
    assert "errors" not in (await gql(client, adviser, RECORD, {"n": P.EXTRA[5], "notify": False})).json()
    mine = (await gql(client, adviser, WITHDRAW, {"n": P.EXTRA[5]})).json()
    assert mine["data"]["withdrawConsent"] == {"status": "WITHDRAWN", "withdrawn": 1}


async def test_a_recipient_must_be_one_the_purpose_shares_with(
    client: httpx.AsyncClient, adviser: str, token: Any
) -> None:
    token("council_hb", "DISCRETIONARY_HOUSING_PAYMENT", org="hb-not-a-recipient")
    for recipient in ("hb-not-a-recipient", "no-such-organisation"):
        body = (await gql(client, adviser, RECORD_FOR, {"n": P.EXTRA[6], "to": recipient})).json()
        assert codes(body) == ["BAD_USER_INPUT"], body


async def test_consent_lasts_until_the_day_the_person_chose(
    client: httpx.AsyncClient, adviser: str, admin: dict[str, asyncpg.Connection]
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    one_day = (await gql(client, adviser, RECORD_FOR, {"n": P.EXTRA[6], "until": today.isoformat()})).json()
    assert "errors" not in one_day, one_day
    expires = dt.datetime.fromisoformat(one_day["data"]["recordConsent"]["expiresAt"])
    assert expires == dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), dt.UTC)
    far = (today + dt.timedelta(days=3650)).isoformat()
    capped = (await gql(client, adviser, RECORD_FOR, {"n": P.EXTRA[6], "until": far})).json()
    lasts = dt.datetime.fromisoformat(capped["data"]["recordConsent"]["expiresAt"]) - dt.datetime.now(dt.UTC)
    assert 364 <= lasts.days <= 366  # never past the register's renewal period (P1Y)
    past = (today - dt.timedelta(days=1)).isoformat()
    assert codes((await gql(client, adviser, RECORD_FOR, {"n": P.EXTRA[6], "until": past})).json()) == [
        "BAD_USER_INPUT"
    ]


async def test_a_user_cannot_record_consent_about_themself(
    client: httpx.AsyncClient, issuer: IssuerKey, settings: Settings, admin: dict[str, asyncpg.Connection]
) -> None:
    ring = load_key_ring(settings.keys_path)  # type: ignore[arg-type]
    t = make_token(issuer, settings)("council_welfare_rights", "INCOME_MAXIMISATION", org="welfare-rights-self")
    await record_staff(
        admin["hub"],
        [
            (
                user_hash(ring, "welfare-rights-self", "officer-1"),
                subject_hash(ring, NormalisedNino(P.EXTRA[4])),
                None,
            )
        ],
    )
    assert codes((await gql(client, t, RECORD, {"n": P.EXTRA[4], "notify": False})).json()) == ["OWN_RECORD"]


async def test_a_share_notice_that_cannot_be_recorded_releases_nothing_and_says_so(
    client: httpx.AsyncClient, adviser: str, admin: dict[str, asyncpg.Connection]
) -> None:
    # Seen in review: the answer was replaced after execution, but strawberry returns the result it already
    # held, so the award went out while the audit record and the signed receipt said nothing was released.
    assert "errors" not in (await gql(client, adviser, RECORD, {"n": P.PIP_DISTRESS, "notify": True})).json()
    async with admin["hub"].transaction():
        # The notice table held by another transaction: the notice times out, as if the store were down.
        await admin["hub"].execute("LOCK TABLE hub.subject_notification IN ACCESS EXCLUSIVE MODE")
        response = await gql(client, adviser, LOOKUP, {"n": P.PIP_DISTRESS})
    body = response.json()
    assert codes(body) == ["CONSENT_UNAVAILABLE"]
    assert "data" not in body
    assert "awardsInPayment" not in response.text
    assert "weeklyAmount" not in response.text
    receipt = body["extensions"]["auditReceipt"]
    assert (receipt["decision"], receipt["fieldsReleased"]) == ("error", [])
    row = await admin["hub"].fetchrow(
        "SELECT decision, fields_released, reason_codes FROM hub.audit_event WHERE request_id = $1::uuid",
        receipt["requestId"],
    )
    assert (row["decision"], list(row["fields_released"]), list(row["reason_codes"])) == (
        "error",
        [],
        ["CONSENT_UNAVAILABLE"],
    )
