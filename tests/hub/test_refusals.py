"""Bad input and refusals: each a specific code, never a 500, nothing released, no source read."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import asyncpg
import httpx
import pytest

from tests import people as P
from tests.conftest import QueryCounter, codes, gql, make_token
from tests.receipts import without_receipt

BLUE_BADGE = (
    "query($nino: String!) { person(nino: $nino, purpose: BLUE_BADGE) { dwp { blueBadgeAutomaticEligibility } } }"
)


@pytest.mark.parametrize(
    ("nino", "reason"),
    [
        ("", "EMPTY"),
        ("AB12345", "BAD_FORMAT"),
        ("DA123456A", "BAD_FIRST_LETTER"),
        ("AO123456A", "BAD_SECOND_LETTER"),
        ("GB123456A", "UNALLOCATED_PREFIX"),
        ("AB123456E", "BAD_SUFFIX"),
        ("63T12345", "TEMPORARY_REFERENCE"),
        ("AB123456", "MISSING_SUFFIX"),
        ("'; DROP TABLE dwp.person; --", "BAD_FORMAT"),
    ],
)
async def test_malformed_nino(
    client: httpx.AsyncClient, token: Any, queries: QueryCounter, nino: str, reason: str
) -> None:
    queries.reset()
    r = await gql(client, token("council_blue_badge", "BLUE_BADGE"), BLUE_BADGE, {"nino": nino})
    assert r.status_code == 200
    body = r.json()
    assert body["data"] == {"person": None}
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "INVALID_NINO", "reason": reason}
    if nino:
        assert nino not in json.dumps(body)
    assert queries.total == 0


async def test_unknown_nino_is_not_found(client: httpx.AsyncClient, token: Any, issuer: Any, settings: Any) -> None:
    # To a national body, "not found"; to a council team, the same refusal as someone outside its area.
    national = make_token(issuer, settings, council=None)("council_blue_badge", "BLUE_BADGE", org="national-badges")
    body = (await gql(client, national, BLUE_BADGE, {"nino": P.ABSENT})).json()
    assert codes(body) == ["SUBJECT_NOT_FOUND"]
    council = (await gql(client, token("council_blue_badge", "BLUE_BADGE"), BLUE_BADGE, {"nino": P.ABSENT})).json()
    assert codes(council) == ["SUBJECT_NOT_FOUND"]  # as "not found" (audited as NO_LEGITIMATE_RELATIONSHIP)
    assert body["data"] == {"person": None}
    assert P.ABSENT not in json.dumps(body)


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "UNAUTHENTICATED"),
        ({"Authorization": "Bearer"}, "UNAUTHENTICATED"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "UNAUTHENTICATED"),
        ({"Authorization": "Bearer not.a.jwt"}, "UNAUTHENTICATED"),
    ],
)
async def test_missing_or_bad_token_is_401(
    client: httpx.AsyncClient, admin: dict[str, asyncpg.Connection], headers: dict[str, str], code: str
) -> None:
    last = await admin["hub"].fetchval("SELECT coalesce(max(event_id), 0) FROM hub.audit_event")
    r = await client.post("/graphql", json={"query": BLUE_BADGE, "variables": {"nino": P.BADGE_DLA}}, headers=headers)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert codes(r.json()) == [code]
    # Audited too, with nobody named: an unverified token's claims are not evidence of who sent it.
    row = await admin["hub"].fetchrow(
        "SELECT caller_org, decision, reason_codes, subject_hashes FROM hub.audit_event WHERE event_id > $1", last
    )
    assert dict(row) == {
        "caller_org": "(unauthenticated)",
        "decision": "refused",
        "reason_codes": [code],
        "subject_hashes": [],
    }


async def test_expired_and_foreign_tokens_are_401(client: httpx.AsyncClient, token: Any, issuer: Any) -> None:
    expired = token("council_blue_badge", "BLUE_BADGE", lifetime_seconds=-120)
    wrong_audience = issuer.mint(
        issuer="test-idp",
        audience="another-service",
        org="x",
        org_type="council_blue_badge",
        user="u",
        purposes=["BLUE_BADGE"],
    )
    for bad in (expired, wrong_audience, expired[:-4] + "AAAA"):
        r = await gql(client, bad, BLUE_BADGE, {"nino": P.BADGE_DLA})
        assert r.status_code == 401
        assert codes(r.json()) == ["UNAUTHENTICATED"]


async def test_unknown_purpose(client: httpx.AsyncClient, token: Any, queries: QueryCounter) -> None:
    queries.reset()
    q = 'query($p: Purpose!) { person(nino: "JK102030A", purpose: $p) { subjectId } }'
    body = (await gql(client, token("council_blue_badge", "BLUE_BADGE"), q, {"p": "SNOOPING"})).json()
    assert codes(body) == ["UNKNOWN_PURPOSE"]
    assert "data" not in body or body["data"] is None
    inline = 'query { person(nino: "JK102030A", purpose: SNOOPING) { subjectId } }'
    literal = (await gql(client, token("council_blue_badge", "BLUE_BADGE"), inline)).json()
    assert codes(literal) == ["UNKNOWN_PURPOSE"]
    assert queries.total == 0


@pytest.mark.parametrize(
    ("org_type", "granted"),
    [
        ("council_hb", ["BLUE_BADGE"]),  # token says BLUE_BADGE but the org type is not one the purpose belongs to
        ("council_blue_badge", ["CONCESSIONARY_TRAVEL"]),  # right org type, purpose not granted by the token
    ],
)
async def test_purpose_not_granted(
    client: httpx.AsyncClient,
    token: Any,
    queries: QueryCounter,
    admin: dict[str, asyncpg.Connection],
    org_type: str,
    granted: list[str],
) -> None:
    queries.reset()
    body = (await gql(client, token(org_type, *granted, org="not-granted"), BLUE_BADGE, {"nino": P.BADGE_DLA})).json()
    assert codes(body) == ["PURPOSE_NOT_GRANTED"]
    assert "data" not in body  # refused before execution: a request error
    assert queries.total == 0
    row = await admin["hub"].fetchrow(
        "SELECT decision, reason_codes, fields_released FROM hub.audit_event WHERE caller_org = 'not-granted' ORDER BY event_id DESC LIMIT 1"
    )
    assert dict(row) == {"decision": "refused", "reason_codes": ["PURPOSE_NOT_GRANTED"], "fields_released": []}


FORBIDDEN = [
    pytest.param("{ person(nino: $n, purpose: BLUE_BADGE) { dwp { awardsInPayment { benefit rate } } } }", id="direct"),
    pytest.param(
        "{ person(nino: $n, purpose: BLUE_BADGE) { ...F } } fragment F on Person { dwp { declaredIncome { weeklyAmount } } }",
        id="fragment",
    ),
    pytest.param(
        "{ person(nino: $n, purpose: BLUE_BADGE) { ... on Person { socialCare { overnightCareRequired } } } }",
        id="inline fragment",
    ),
    pytest.param(
        "{ person(nino: $n, purpose: BLUE_BADGE) { dwp { blueBadgeAutomaticEligibility alias: name { familyName } } } }",
        id="alias",
    ),
    pytest.param(
        "{ ...Q } fragment Q on Query { person(nino: $n, purpose: BLUE_BADGE) { dwp { address { postcode } } } }",
        id="root fragment",
    ),
    # A field switched off by a directive is still asked for: the document is judged, not one run of it.
    pytest.param(
        "{ person(nino: $n, purpose: BLUE_BADGE) { dwp { blueBadgeAutomaticEligibility "
        "declaredIncome @include(if: false) { weeklyAmount } } } }",
        id="@include(if: false)",
    ),
    pytest.param(
        "{ person(nino: $n, purpose: BLUE_BADGE) { dwp { blueBadgeAutomaticEligibility "
        "awardsInPayment @skip(if: true) { weeklyAmount } } } }",
        id="@skip(if: true)",
    ),
]


@pytest.mark.parametrize("selection", FORBIDDEN)
async def test_fields_outside_the_purpose_refuse_the_whole_operation(
    client: httpx.AsyncClient, token: Any, queries: QueryCounter, selection: str
) -> None:
    queries.reset()
    q = "query($n: String!) " + selection
    body = (await gql(client, token("council_blue_badge", "BLUE_BADGE"), q, {"n": P.BADGE_DLA})).json()
    assert codes(body) == ["PURPOSE_FORBIDS_FIELD"]
    assert "data" not in body  # refused before execution: a request error
    assert queries.total == 0, "the purpose check must come before any source is read"


async def test_there_is_no_entity_lookup_to_get_round_the_rule(
    client: httpx.AsyncClient, token: Any, queries: QueryCounter
) -> None:
    # The federation entity field does not exist here (no subgraph is served): asking for it is refused by
    # validation, and nothing is read.
    queries.reset()
    q = '{ _entities(representations: [{__typename: "Person", nino: "JK102030A"}]) { __typename } }'
    body = (await gql(client, token("council_blue_badge", "BLUE_BADGE"), q)).json()
    assert codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
    assert queries.total == 0


async def test_one_operation_one_purpose(client: httpx.AsyncClient, token: Any, queries: QueryCounter) -> None:
    queries.reset()
    q = """query($n: String!) { a: person(nino: $n, purpose: BLUE_BADGE) { subjectId }
                               b: person(nino: $n, purpose: HB_OVERNIGHT_CARER_ROOM) { subjectId } }"""
    t = token("council_hb", "BLUE_BADGE", "HB_OVERNIGHT_CARER_ROOM")
    body = (await gql(client, t, q, {"n": P.BADGE_DLA})).json()
    assert codes(body) == ["MIXED_PURPOSES"]
    assert queries.total == 0


async def test_consent_purpose_refused_without_consent(client: httpx.AsyncClient, token: Any) -> None:
    q = "query($n: String!) { person(nino: $n, purpose: INCOME_MAXIMISATION) { subjectId } }"
    body = (await gql(client, token("council_welfare_rights", "INCOME_MAXIMISATION"), q, {"n": P.BADGE_DLA})).json()
    assert codes(body) == ["CONSENT_REQUIRED"]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        (
            '{ person(nino: "JK102030A", purpose: BLUE_BADGE) { subjectId } '
            'person(nino: "JK102031B", purpose: BLUE_BADGE) { subjectId } }',
            "GRAPHQL_VALIDATION_FAILED",
        ),
        ("{ " + " ".join(f"a{i}: __typename" for i in range(40)) + " }", "GRAPHQL_VALIDATION_FAILED"),
        ('{ person(nino: "JK102030A", purpose: BLUE_BADGE) { subjectId ', "GRAPHQL_PARSE_FAILED"),
        ('{ person(nino: "JK102030A", purpose: BLUE_BADGE) { dwp { nope } } }', "GRAPHQL_VALIDATION_FAILED"),
        ("mutation { person }", "GRAPHQL_VALIDATION_FAILED"),
    ],
    ids=["conflicting root fields", "too many aliases", "syntax error", "unknown field", "no mutations"],
)
async def test_malformed_documents(client: httpx.AsyncClient, token: Any, query: str, code: str) -> None:
    r = await gql(client, token("council_blue_badge", "BLUE_BADGE"), query)
    assert r.status_code in {200, 400}
    body = r.json()
    assert code in codes(body)
    assert "JK102030A" not in json.dumps(body)


async def test_deep_and_huge_documents(client: httpx.AsyncClient, token: Any) -> None:
    t = token("council_blue_badge", "BLUE_BADGE")
    tokens_bomb = "{ " + "__typename " * 5000 + "}"
    body = (await gql(client, t, tokens_bomb)).json()
    assert codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "tokens" in body["errors"][0]["message"]
    r = await client.post("/graphql", content=b"{" + b" " * 100_000 + b"}", headers={"Authorization": f"Bearer {t}"})
    assert r.status_code == 413
    assert codes(r.json()) == ["REQUEST_TOO_LARGE"]


async def test_nino_in_wrong_place_is_redacted_from_errors(client: httpx.AsyncClient, token: Any) -> None:
    q = 'query { person(nino: "x", purpose: JK102030A) { subjectId } }'
    body = (await gql(client, token("council_blue_badge", "BLUE_BADGE"), q)).json()
    assert body["errors"]
    assert "JK102030A" not in json.dumps(body)
    q2 = "query($n: Int!) { __typename }"
    body2 = (await gql(client, token("council_blue_badge", "BLUE_BADGE"), q2, {"n": "JK 10 20 30 A"})).json()
    assert codes(body2) == ["BAD_USER_INPUT"]
    assert "10 20 30" not in json.dumps(body2)


async def test_not_json_is_400(client: httpx.AsyncClient, token: Any) -> None:
    r = await client.post(
        "/graphql",
        content=b"{not json",
        headers={
            "Authorization": f"Bearer {token('council_blue_badge', 'BLUE_BADGE')}",
            "Content-Type": "application/json",
        },
    )
    assert r.status_code == 400
    assert codes(r.json()) == ["BAD_REQUEST"]


async def test_refused_documents_are_audited_too(
    client: httpx.AsyncClient, token: Any, admin: dict[str, asyncpg.Connection]
) -> None:
    t = token("council_blue_badge", "BLUE_BADGE", org="audit-invalid-docs")
    await gql(client, t, "{ person(nino: ")  # does not parse
    await gql(client, t, '{ person(nino: "JK102030A", purpose: BLUE_BADGE) { nope } }')  # does not validate
    rows = await admin["hub"].fetch(
        "SELECT decision, reason_codes, fields_released, sources_read FROM hub.audit_event WHERE caller_org = 'audit-invalid-docs' ORDER BY event_id"
    )
    assert [dict(r) for r in rows] == [
        {
            "decision": "refused",
            "reason_codes": [code],
            "fields_released": [],
            "sources_read": [],
        }
        for code in ("GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED")
    ]


@pytest.mark.parametrize(
    "body",
    [
        b'"x"',
        b"5",
        b"null",
        b"[]",
        b'{"query": "\xff"}',
        b'{"query": "{ __typename }", "variables": {"x": ' + b"[" * 3000 + b"]" * 3000 + b"}}",
    ],
    ids=["string", "number", "null", "empty batch", "invalid utf-8", "nesting 3000 deep"],
)
async def test_malformed_bodies_are_400_not_500(client: httpx.AsyncClient, token: Any, body: bytes) -> None:
    r = await client.post(
        "/graphql",
        content=body,
        headers={
            "Authorization": f"Bearer {token('council_blue_badge', 'BLUE_BADGE')}",
            "Content-Type": "application/json",
        },
    )
    assert r.status_code == 400
    assert codes(r.json()) == ["BAD_REQUEST"]


async def test_purpose_variable_default_is_honoured(client: httpx.AsyncClient, token: Any) -> None:
    q = "query($n: String!, $p: Purpose = BLUE_BADGE) { person(nino: $n, purpose: $p) { dwp { blueBadgeAutomaticEligibility } } }"
    body = (await gql(client, token("council_blue_badge", "BLUE_BADGE"), q, {"n": P.PIP_MOVING})).json()
    assert without_receipt(body) == {"data": {"person": {"dwp": {"blueBadgeAutomaticEligibility": True}}}}


async def test_refusal_audit_names_the_purpose_claimed(
    client: httpx.AsyncClient, token: Any, admin: dict[str, asyncpg.Connection]
) -> None:
    t = token("council_blue_badge", "BLUE_BADGE", org="claimed-purpose")
    await gql(
        client,
        t,
        "query($n: String!) { person(nino: $n, purpose: BLUE_BADGE) { dwp { declaredIncome { kind } } } }",
        {"n": P.BADGE_DLA},
    )
    row = await admin["hub"].fetchrow(
        "SELECT purpose, decision, reason_codes FROM hub.audit_event WHERE caller_org = 'claimed-purpose'"
    )
    assert dict(row) == {"purpose": "BLUE_BADGE", "decision": "refused", "reason_codes": ["PURPOSE_FORBIDS_FIELD"]}


async def test_a_flood_of_bad_tokens_cannot_flood_the_audit_log(
    settings: Any, people: Any, admin: dict[str, asyncpg.Connection]
) -> None:
    from tests.conftest import replace, running_client

    last = await admin["hub"].fetchval("SELECT coalesce(max(event_id), 0) FROM hub.audit_event")
    async with running_client(replace(settings, unauthenticated_audit_per_second=5)) as flooded:
        started = time.monotonic()
        for _ in range(40):
            r = await flooded.post("/graphql", json={"query": "{ __typename }"}, headers={"Authorization": "Bearer x"})
            assert r.status_code == 401
        seconds = time.monotonic() - started
    written = await admin["hub"].fetchval(
        "SELECT count(*) FROM hub.audit_event WHERE event_id > $1 AND caller_org = '(unauthenticated)'", last
    )
    # Five a second, over the (whole or partial) seconds the forty took: far fewer than forty when fast.
    assert 5 <= written <= 5 * (int(seconds) + 2)


async def test_a_caller_gone_before_its_body_arrived_is_answered_400_not_a_server_error(
    client: httpx.AsyncClient, token: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app = client._transport.app  # type: ignore[attr-defined]  # the ASGI app itself: httpx cannot hang up mid-body
    t = token("council_blue_badge", "BLUE_BADGE")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"authorization", f"Bearer {t}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", b"400"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 400
    assert codes(json.loads(b"".join(m.get("body", b"") for m in sent[1:]))) == ["BAD_REQUEST"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
