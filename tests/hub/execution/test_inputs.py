"""Input values are bounded before anything reads them (hub.execution.inputs): over the running app, a NUL
byte or a control character in any text, and a list longer than the limit, in a literal or a variable, are
BAD_USER_INPUT at once, whatever field they were meant for; and thousands of invalid list items cost no
more than a few."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import codes, gql

BADGE = "query($n: String!) { person(nino: $n, purpose: BLUE_BADGE) { dwp { blueBadgeAutomaticEligibility } } }"
COMPLAINT = (
    "mutation($e: [ID!]!, $s: String!) { raiseComplaint(purpose: COMPLAINTS, eventIds: $e, summary: $s) { status } }"
)


@pytest.mark.parametrize("text", ["JK102030A\x00", "\x00", "JK10\x1b[2J2030A", "JK102030A\x7f", "JK102030A\x85"])
async def test_control_characters_in_a_variable_are_refused(client: httpx.AsyncClient, token: Any, text: str) -> None:
    response = await gql(client, token("council_blue_badge", "BLUE_BADGE"), BADGE, {"n": text})
    assert response.status_code == 200
    body = response.json()
    assert codes(body) == ["BAD_USER_INPUT"]
    assert "JK102030A" not in response.text


async def test_control_characters_in_a_literal_are_refused(client: httpx.AsyncClient, token: Any) -> None:
    q = 'query { person(nino: "JK102030A\\u0000", purpose: BLUE_BADGE) { subjectId } }'
    body = (await gql(client, token("council_blue_badge", "BLUE_BADGE"), q, {})).json()
    assert codes(body) == ["BAD_USER_INPUT"]


async def test_text_with_lines_and_tabs_is_still_text(client: httpx.AsyncClient, token: Any) -> None:
    # Free text (a complaint summary) may have lines; the list of events is checked on its own merits.
    t = token("data_protection_officer", "COMPLAINTS")
    body = (await gql(client, t, COMPLAINT, {"e": ["999999999"], "s": "line one\nline\ttwo"})).json()
    assert all("control characters" not in e["message"] for e in body.get("errors", [])), body


@pytest.mark.parametrize("items", [101, 5000])
async def test_a_list_longer_than_the_limit_is_refused_before_coercion(
    client: httpx.AsyncClient, token: Any, items: int
) -> None:
    t = token("data_protection_officer", "COMPLAINTS")
    body = (await gql(client, t, COMPLAINT, {"e": [{}] * items, "s": "x"})).json()
    assert codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["message"] == "a list may hold at most 100 items"
    assert len(body["errors"]) == 1  # one error, not one coercion error per item (bench/abuse.py times it)


async def test_a_literal_list_longer_than_the_limit_is_refused(client: httpx.AsyncClient, token: Any) -> None:
    ids = ", ".join(f'"{n}"' for n in range(150))
    q = f'mutation {{ raiseComplaint(purpose: COMPLAINTS, eventIds: [{ids}], summary: "x") {{ status }} }}'
    body = (await gql(client, token("data_protection_officer", "COMPLAINTS"), q, {})).json()
    assert codes(body) == ["BAD_USER_INPUT"]


async def test_a_list_at_the_limit_is_judged_on_its_items(client: httpx.AsyncClient, token: Any) -> None:
    t = token("data_protection_officer", "COMPLAINTS")
    body = (await gql(client, t, COMPLAINT, {"e": [str(n) for n in range(100)], "s": "x"})).json()
    assert all("at most" not in e["message"] for e in body.get("errors", [])), body


DETAILS = "query($d: PersonDemographics!) { person(demographics: $d, purpose: BLUE_BADGE) { subjectId } }"


@pytest.mark.parametrize("keys", [101, 5500])
async def test_an_input_object_with_too_many_keys_is_refused_before_coercion(
    client: httpx.AsyncClient, token: Any, keys: int
) -> None:
    # Each unknown key was a coercion error quoting the whole object: 5,500 keys held the loop for seconds.
    d = {f"k{n}": 0 for n in range(keys)}
    body = (await gql(client, token("council_blue_badge", "BLUE_BADGE"), DETAILS, {"d": d})).json()
    assert codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["message"] == "an input object may have at most 100 fields"


async def test_too_many_values_in_all_are_refused(client: httpx.AsyncClient, token: Any) -> None:
    # Each list and object within its bound, but 100 x 100 x 2 values together.
    nested = [[0] * 100 for _ in range(100)] + [[0] * 100 for _ in range(100)]
    body = (
        await gql(
            client,
            token("council_blue_badge", "BLUE_BADGE"),
            BADGE,
            {"n": "x", "extra": nested[:100], "more": nested[100:]},
        )
    ).json()
    assert codes(body) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize("text", ["Smith\u202eNOSLIDE", "Smith\u2028forged log line", "Smi\u200bth"])
async def test_format_characters_are_refused(client: httpx.AsyncClient, token: Any, text: str) -> None:
    d = {"givenName": text, "familyName": "Okafor", "dateOfBirth": "1950-03-14"}
    body = (await gql(client, token("council_blue_badge", "BLUE_BADGE"), DETAILS, {"d": d})).json()
    assert codes(body) == ["BAD_USER_INPUT"]
