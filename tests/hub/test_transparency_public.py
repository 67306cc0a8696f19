"""The transparency report is public: GET /transparency answers anyone, with no token, counts only; bad
periods are a 400; one address flooding it is throttled."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from hub.config import Settings
from tests import people as P
from tests.conftest import gql, running_client

LOOKUP = "query($n: String!) { person(nino: $n, purpose: BLUE_BADGE) { subjectId } }"


async def test_the_report_answers_without_a_token(client: httpx.AsyncClient, token: Any) -> None:
    await gql(client, token("council_blue_badge", "BLUE_BADGE"), LOOKUP, {"n": P.BADGE_DLA})
    response = await client.get("/transparency")
    assert response.status_code == 200, response.text
    report = response.json()["transparencyReport"]
    assert report["requests"] >= 1, report
    assert {"releases", "refusals", "by_purpose", "refusal_reasons", "linkage_bands"} <= set(report)
    assert P.BADGE_DLA not in response.text
    assert "public" in response.headers["cache-control"]
    # The same through GraphQL still needs a token (it is answered to any registered caller).
    assert (await client.post("/graphql", json={"query": "{ transparencyReport { requests } }"})).status_code == 401


async def test_a_period_is_chosen_and_checked(client: httpx.AsyncClient) -> None:
    until = dt.datetime.now(dt.UTC)
    since = until - dt.timedelta(days=2)
    response = await client.get("/transparency", params={"since": since.isoformat(), "until": until.isoformat()})
    assert response.status_code == 200
    assert dt.datetime.fromisoformat(response.json()["transparencyReport"]["since"]) == since
    for params in (
        {"since": until.isoformat(), "until": since.isoformat()},  # backwards
        {"since": "2026-01-01T00:00:00"},  # no offset
        {"until": "yesterday"},
        {"since": (until - dt.timedelta(days=800)).isoformat()},  # more than a year
    ):
        bad = await client.get("/transparency", params=params)
        assert bad.status_code == 400, (params, bad.text)
        assert bad.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_one_address_flooding_it_is_throttled(settings: Settings, tmp_path: Path) -> None:
    limits = tmp_path / "limits.toml"
    limits.write_text(
        "[default]\nuser = { capacity = 100, per_second = 1 }\norganisation = { capacity = 100, per_second = 1 }\n"
        "refusal_cost = 2\n[address]\ncapacity = 3\nper_second = 0.01\n"
    )
    async with running_client(replace(settings, rate_limits_path=limits)) as client:
        answers = [(await client.get("/transparency")).status_code for _ in range(6)]
    assert answers[:3] == [200, 200, 200]
    assert set(answers[3:]) == {429}
