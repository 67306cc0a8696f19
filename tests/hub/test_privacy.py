"""A NINO never appears in clear in the hub's logs or error messages, whatever the caller sends."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest

from tests import people as P
from tests.conftest import gql

TRAFFIC = [
    # (purpose granted, query, variables)
    (
        "BLUE_BADGE",
        "query($n: String!) { person(nino: $n, purpose: BLUE_BADGE) { dwp { blueBadgeAutomaticEligibility } } }",
        {"n": P.BADGE_DLA},
    ),
    ("BLUE_BADGE", f'{{ person(nino: "{P.PIP_MOVING}", purpose: BLUE_BADGE) {{ subjectId }} }}', {}),
    ("BLUE_BADGE", f'{{ person(nino: "{P.PIP_LOW}", purpose: {P.PIP_LOW}) {{ subjectId }} }}', {}),
    (
        "BLUE_BADGE",
        f'{{ person(nino: "{P.CARE_ONLY}", purpose: BLUE_BADGE) {{ dwp {{ name {{ familyName }} }} }} }}',
        {},
    ),
    ("BLUE_BADGE", f'{{ person(nino: "{P.DLA_ENDED}" purpose: BLUE_BADGE) {{ subjectId ', {}),
    ("BLUE_BADGE", "query($n: Int!) { __typename }", {"n": P.PIP_DISTRESS}),
    ("BLUE_BADGE", "query($n: String!) { person(nino: $n, purpose: BLUE_BADGE) { subjectId } }", {"n": P.ABSENT}),
    (
        "BLUE_BADGE",
        "query($n: String!) { person(nino: $n, purpose: BLUE_BADGE) { subjectId } }",
        {"n": P.EXTRA[0][:-1] + "Z"},
    ),
    (
        "HB_OVERNIGHT_CARER_ROOM",
        "query($n: String!) { person(nino: $n, purpose: BLUE_BADGE) { subjectId } }",
        {"n": P.EXTRA[1]},
    ),
]


async def test_no_nino_in_logs_or_responses(
    client: httpx.AsyncClient, token: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bodies = []
    for purpose, query, variables in TRAFFIC:
        r = await gql(client, token("council_blue_badge", purpose), query, variables)
        assert r.status_code in {200, 400}
        bodies.append(r.text)
    logged = "\n".join(f"{rec.getMessage()} {rec.exc_text or ''} {rec.args!r}" for rec in caplog.records)
    assert caplog.records, "the refusals above must have been logged"
    errors = "\n".join(json.dumps(json.loads(b).get("errors", [])) for b in bodies)
    for nino in [
        P.BADGE_DLA,
        P.PIP_MOVING,
        P.PIP_LOW,
        P.CARE_ONLY,
        P.DLA_ENDED,
        P.PIP_DISTRESS,
        P.ABSENT,
        P.EXTRA[0][:-1],
        P.EXTRA[1],
    ]:
        assert nino not in logged
        assert nino not in errors


@pytest.mark.parametrize(
    "form",
    [
        "JK102030A",
        "jk102030a",
        "JK 10 20 30 A",
        "JK 102 030 A",
        "JK-10-20-30-A",
        "J K 1 0 2 0 3 0 A",
        "JK.10.20.30.A",
        "JK  10  20  30  A",
    ],
)
async def test_every_accepted_nino_form_is_redacted(
    client: httpx.AsyncClient, token: Any, form: str, admin: Any
) -> None:
    t = token("council_blue_badge", "BLUE_BADGE", org="forms")
    answers = [
        await gql(client, t, 'query($p: Purpose!) { person(nino: "x", purpose: $p) { subjectId } }', {"p": form}),
        await gql(client, t, "query($n: Int!) { __typename }", {"n": {"v": form}}),
        await client.post(
            "/graphql",
            json={"query": "query A { __typename }", "operationName": form},
            headers={"Authorization": f"Bearer {t}"},
        ),
    ]
    named = await gql(
        client,
        t,
        f"query {form.replace(' ', '').replace('-', '').replace('.', '')} {{ __typename }}",
        operationName=form.replace(" ", "").replace("-", "").replace(".", ""),
    )
    assert named.status_code == 200
    for answer in answers:
        assert answer.status_code in {200, 400}
        text = answer.text
        assert form not in text
        assert "102030" not in text.replace(" ", "").replace("-", "").replace(".", "")
    stored = await admin["hub"].fetch("SELECT operation_name FROM hub.audit_event WHERE caller_org = 'forms'")
    assert all(r["operation_name"] in (None, "A", "[redacted]") for r in stored)
    assert any(r["operation_name"] == "[redacted]" for r in stored)


DEMOGRAPHICS = (
    "query($d: PersonDemographics!) { person(demographics: $d, purpose: HB_OVERNIGHT_CARER_ROOM) { subjectId } }"
)
# (description, query, variables, the values the caller sent that no message may repeat)
ECHOES = [
    (
        "a date of birth in the wrong format",
        DEMOGRAPHICS,
        {"d": {"givenName": "Margaret", "familyName": "Okafor", "dateOfBirth": "14/03/1950"}},
        ["14/03/1950"],
    ),
    (
        "a name where a number belongs",
        "query($n: Int!) { person(nino: $n, purpose: HB_OVERNIGHT_CARER_ROOM) { subjectId } }",
        {"n": "Margaret Okafor"},
        ["Margaret Okafor"],
    ),
    (
        "an unknown field of the input, named after a person",
        DEMOGRAPHICS,
        {"d": {"givenName": "Margaret", "familyName": "Okafor", "postcode": "NT1 1AA", "Okafor": 1}},
        ["Margaret", "NT1 1AA"],
    ),
    (
        "a date literal typed into the document",
        'query { person(demographics: {givenName: "Margaret", familyName: "Okafor", dateOfBirth: "1950-14-03"}, '
        "purpose: HB_OVERNIGHT_CARER_ROOM) { subjectId } }",
        {},
        ["1950-14-03", "Margaret", "Okafor"],
    ),
]


@pytest.mark.parametrize(("description", "query", "variables", "sent"), ECHOES, ids=[c[0] for c in ECHOES])
async def test_no_input_value_is_echoed_in_an_error(
    client: httpx.AsyncClient, token: Any, description: str, query: str, variables: dict[str, Any], sent: list[str]
) -> None:
    # GraphQL's own coercion errors quote the value they could not use: the hub removes whatever the
    # request supplied, so a refusal repeats no one's details back (or into the logs).
    t = token("council_hb", "HB_OVERNIGHT_CARER_ROOM", org="echo-team")
    body = (await gql(client, t, query, variables)).json()
    assert body["errors"], body
    assert all(e["extensions"]["code"] for e in body["errors"])
    text = json.dumps(body["errors"])
    for value in sent:
        assert value not in text, text
