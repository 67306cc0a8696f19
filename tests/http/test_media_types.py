"""GraphQL over HTTP's media types, status codes and request errors, as a client sees them: the response's
media type negotiated from ``Accept``; a request error (a document that does not parse or validate,
variables that do not coerce) has no ``data`` entry, and is a 400 where the client asked for
``application/graphql-response+json``, a 200 for the legacy ``application/json``; a field's error (not
found, not yours) is a 200 with ``data`` in either, the same for both answers."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from graphql import ExecutionResult, GraphQLError

from hub.http import GRAPHQL_RESPONSE, LEGACY_JSON, is_request_error, negotiate, request_error_status
from tests import people as P
from tests.conftest import codes, make_token

BLUE_BADGE = (
    "query($nino: String!) { person(nino: $nino, purpose: BLUE_BADGE) { dwp { blueBadgeAutomaticEligibility } } }"
)


async def post(client: httpx.AsyncClient, token: str, body: object, **headers: str) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    sent.update({k.replace("_", "-"): v for k, v in headers.items()})
    return await client.post("/graphql", content=raw, headers=sent)


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        (None, LEGACY_JSON),
        ("", LEGACY_JSON),
        ("*/*", LEGACY_JSON),  # a wildcard is a legacy client's: it keeps the answers it has always had
        ("application/*", LEGACY_JSON),
        ("application/json", LEGACY_JSON),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, application/json;q=0.9", GRAPHQL_RESPONSE),
        (f"application/json, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),  # equal: the specification's own
        (f"application/json, {GRAPHQL_RESPONSE};q=0.5", LEGACY_JSON),
        (f"{GRAPHQL_RESPONSE};q=0, application/json", LEGACY_JSON),
        (f"{GRAPHQL_RESPONSE};q=junk, */*", LEGACY_JSON),
        ("text/html", None),
        ("application/json;q=0", None),
        ("text/html, application/xml;q=0.9", None),
        # A q that is not a qvalue (RFC 9110 12.4.2) leaves its range out, as if it were not sent.
        ("application/json;q=nan, */*", LEGACY_JSON),
        (f"{GRAPHQL_RESPONSE};q=2, application/json;q=0.5", LEGACY_JSON),
        (f"{GRAPHQL_RESPONSE};q=inf", None),
        (f"{GRAPHQL_RESPONSE};q=abc", None),
        (f"{GRAPHQL_RESPONSE};q=0.1234", None),
        (f"{GRAPHQL_RESPONSE};q=1.000", GRAPHQL_RESPONSE),
        # A range named twice counts at its highest, wherever it stands.
        (f"{GRAPHQL_RESPONSE};q=0.9, {GRAPHQL_RESPONSE};q=0.1, application/json;q=0.5", GRAPHQL_RESPONSE),
    ],
)
def test_negotiation(accept: str | None, media: str | None) -> None:
    assert negotiate(accept) == media


async def test_a_document_that_does_not_parse(client: httpx.AsyncClient, token: Any) -> None:
    t = token("council_blue_badge", "BLUE_BADGE")
    modern = await post(client, t, {"query": "{"}, accept=GRAPHQL_RESPONSE)
    assert modern.status_code == 400
    assert modern.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert "data" not in modern.json()
    assert codes(modern.json()) == ["GRAPHQL_PARSE_FAILED"]
    legacy = await post(client, t, {"query": "{"}, accept="application/json")
    assert legacy.status_code == 200
    assert legacy.headers["content-type"].startswith(LEGACY_JSON)
    assert "data" not in legacy.json()
    assert codes(legacy.json()) == ["GRAPHQL_PARSE_FAILED"]


async def test_a_document_that_does_not_validate(client: httpx.AsyncClient, token: Any) -> None:
    t = token("council_blue_badge", "BLUE_BADGE")
    for accept, status in ((GRAPHQL_RESPONSE, 400), (LEGACY_JSON, 200)):
        r = await post(client, t, {"query": "{ notAField }"}, accept=accept)
        assert r.status_code == status
        assert "data" not in r.json()
        assert codes(r.json()) == ["GRAPHQL_VALIDATION_FAILED"]


async def test_variables_that_do_not_coerce(client: httpx.AsyncClient, token: Any) -> None:
    t = token("council_blue_badge", "BLUE_BADGE")
    for accept, status in ((GRAPHQL_RESPONSE, 400), (LEGACY_JSON, 200)):
        r = await post(client, t, {"query": BLUE_BADGE, "variables": {"nino": 7}}, accept=accept)
        assert r.status_code == status
        assert "data" not in r.json()
        assert codes(r.json()) == ["BAD_USER_INPUT"]


async def test_not_found_and_not_yours_are_one_answer_in_either_media_type(
    client: httpx.AsyncClient, token: Any, issuer: Any, settings: Any
) -> None:
    # A field's error, not a request error: 200, with data, whichever media type; a council's "not yours"
    # (someone outside its area) is the same answer as a national body's "not found".
    national = make_token(issuer, settings, council=None)("council_blue_badge", "BLUE_BADGE", org="national-badges")
    council = token("council_blue_badge", "BLUE_BADGE")
    for accept in (GRAPHQL_RESPONSE, LEGACY_JSON):
        answers = []
        for t in (national, council):
            r = await post(client, t, {"query": BLUE_BADGE, "variables": {"nino": P.ABSENT}}, accept=accept)
            assert r.status_code == 200
            assert r.headers["content-type"].startswith(accept)
            body = r.json()
            assert body["data"] == {"person": None}
            assert codes(body) == ["SUBJECT_NOT_FOUND"]
            answers.append((r.status_code, body["data"], [e["message"] for e in body["errors"]]))
        assert answers[0] == answers[1]


async def test_an_answer_has_the_negotiated_media_type(client: httpx.AsyncClient, token: Any) -> None:
    t = token("council_blue_badge", "BLUE_BADGE")
    body = {"query": BLUE_BADGE, "variables": {"nino": P.PIP_MOVING}}
    modern = await post(client, t, body, accept=GRAPHQL_RESPONSE)
    assert modern.status_code == 200
    assert modern.headers["content-type"] == f"{GRAPHQL_RESPONSE}; charset=utf-8"
    assert modern.json()["data"] == {"person": {"dwp": {"blueBadgeAutomaticEligibility": True}}}
    legacy = await post(client, t, body)
    assert legacy.headers["content-type"] == f"{LEGACY_JSON}; charset=utf-8"
    assert legacy.json()["data"] == modern.json()["data"]


async def test_a_body_that_is_not_json_is_a_400_in_the_negotiated_media_type(
    client: httpx.AsyncClient, token: Any
) -> None:
    t = token("council_blue_badge", "BLUE_BADGE")
    r = await post(client, t, b'{"query": ', accept=GRAPHQL_RESPONSE)
    assert r.status_code == 400
    assert r.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert codes(r.json()) == ["BAD_REQUEST"]


async def test_an_unsupported_content_type_names_the_accepted_one(client: httpx.AsyncClient, token: Any) -> None:
    t = token("council_blue_badge", "BLUE_BADGE")
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/graphql", "application/jsonx"):
        r = await post(client, t, {"query": "{ __typename }"}, content_type=content_type)
        assert r.status_code == 415
        assert r.headers["accept-post"] == "application/json"
        assert codes(r.json()) == ["UNSUPPORTED_MEDIA_TYPE"]
        assert "application/json" in r.json()["errors"][0]["message"]
    ok = await post(client, t, {"query": "{ __typename }"}, content_type="application/json; charset=utf-8")
    assert ok.status_code == 200


async def test_an_unacceptable_accept_is_a_406(client: httpx.AsyncClient, token: Any) -> None:
    r = await post(client, token("council_blue_badge", "BLUE_BADGE"), {"query": "{ __typename }"}, accept="text/html")
    assert r.status_code == 406
    assert codes(r.json()) == ["NOT_ACCEPTABLE"]
    assert GRAPHQL_RESPONSE in r.json()["errors"][0]["message"]


async def test_a_query_in_a_url_is_refused(client: httpx.AsyncClient, token: Any) -> None:
    # GET stays refused: the NINO in a URL would land in every proxy's and server's log.
    r = await client.get(
        "/graphql",
        params={"query": BLUE_BADGE, "variables": json.dumps({"nino": P.PIP_MOVING})},
        headers={"authorization": f"Bearer {token('council_blue_badge', 'BLUE_BADGE')}", "accept": "application/json"},
    )
    assert r.status_code == 405
    assert r.headers["allow"] == "POST"
    assert codes(r.json()) == ["METHOD_NOT_ALLOWED"]
    assert P.PIP_MOVING not in r.text


@pytest.mark.parametrize(
    ("codes_", "status"),
    [
        (["GRAPHQL_VALIDATION_FAILED"], 400),
        (["PURPOSE_FORBIDS_FIELD"], 400),
        (["AUDIT_UNAVAILABLE"], 503),  # failed closed: the hub could not decide now, not the client's fault
        (["ORG_REGISTER_UNAVAILABLE"], 503),
        (["SOURCE_TIMEOUT"], 503),
        (["INTERNAL_SERVER_ERROR"], 500),
    ],
)
def test_a_request_errors_status(codes_: list[str], status: int) -> None:
    result = ExecutionResult(data=None, errors=[GraphQLError("x", extensions={"code": c}) for c in codes_])
    assert is_request_error(result)
    assert request_error_status(result) == status


def test_a_field_error_is_not_a_request_error() -> None:
    error = GraphQLError("x", path=["person"], extensions={"code": "SUBJECT_NOT_FOUND"})
    assert not is_request_error(ExecutionResult(data={"person": None}, errors=[error]))
    assert not is_request_error(ExecutionResult(data=None, errors=[error]))  # a non-null root's error: executed


async def test_repeated_accept_headers_are_one_list(client: httpx.AsyncClient, token: Any) -> None:
    t = token("council_blue_badge", "BLUE_BADGE")
    raw = json.dumps({"query": "{ __typename }"}).encode()
    headers = [
        ("authorization", f"Bearer {t}"),
        ("content-type", "application/json"),
        ("accept", "text/html"),
        ("accept", GRAPHQL_RESPONSE),
    ]
    r = await client.post("/graphql", content=raw, headers=headers)
    assert r.status_code == 200
    assert r.headers["content-type"] == f"{GRAPHQL_RESPONSE}; charset=utf-8"


@pytest.mark.parametrize(
    "content_type", ["APPLICATION/JSON", "Application/Json; Charset=UTF-8", 'application/json;charset="utf-8"']
)
async def test_json_in_any_case_is_json(client: httpx.AsyncClient, token: Any, content_type: str) -> None:
    r = await post(
        client, token("council_blue_badge", "BLUE_BADGE"), {"query": "{ __typename }"}, content_type=content_type
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"] == {"__typename": "Query"}


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=latin1", "text/plain", "application/json, text/plain"]
)
async def test_json_that_is_not_utf_8_or_not_json_is_415(
    client: httpx.AsyncClient, token: Any, content_type: str
) -> None:
    r = await post(
        client, token("council_blue_badge", "BLUE_BADGE"), {"query": "{ __typename }"}, content_type=content_type
    )
    assert r.status_code == 415
    assert codes(r.json()) == ["UNSUPPORTED_MEDIA_TYPE"]
    assert r.headers["accept-post"] == "application/json"


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])
async def test_every_method_but_post_is_a_405_naming_post(client: httpx.AsyncClient, token: Any, method: str) -> None:
    t = token("council_blue_badge", "BLUE_BADGE")
    r = await client.request(
        method, "/graphql", params={"query": "{ __typename }"}, headers={"authorization": f"Bearer {t}"}
    )
    assert r.status_code == 405
    assert r.headers["allow"] == "POST"
    assert r.headers["content-type"].startswith(LEGACY_JSON)
    if method != "HEAD":
        assert codes(r.json()) == ["METHOD_NOT_ALLOWED"]


@pytest.mark.parametrize(
    "headers",
    [
        {"accept": "a/b," * 300},
        {"content_type": "application/json;" + "a=b;" * 300},
    ],
)
async def test_media_headers_longer_than_any_client_sends_are_refused_unread(
    client: httpx.AsyncClient, token: Any, headers: dict[str, str]
) -> None:
    # Review: megabytes of media ranges held the event loop for seconds (the hub's parser, then strawberry's).
    r = await post(client, token("council_blue_badge", "BLUE_BADGE"), {"query": "{ __typename }"}, **headers)
    assert r.status_code == 431
    assert codes(r.json()) == ["REQUEST_HEADER_TOO_LARGE"]
