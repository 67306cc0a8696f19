"""The transparency report is public: GET /transparency answers anyone, with no token, counts only, over
whole days that have ended, with reasons as the callers were told them. Bad periods are a 400; one address
flooding it is throttled, without spending the throttle the API's tokens share."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from hub.audit.events import AuditLog
from hub.config import Settings
from tests import people as P
from tests.conftest import gql, running_client

LOOKUP = "query($n: String!) { person(nino: $n, purpose: BLUE_BADGE) { subjectId } }"
MIDNIGHT = dt.datetime.combine(dt.datetime.now(dt.UTC).date(), dt.time(), tzinfo=dt.UTC)


async def test_the_report_answers_without_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/transparency")
    assert response.status_code == 200, response.text
    report = response.json()["transparencyReport"]
    assert dt.datetime.fromisoformat(report["until"]) == MIDNIGHT  # the 30 days to today's start
    assert dt.datetime.fromisoformat(report["since"]) == MIDNIGHT - dt.timedelta(days=30)
    assert {"requests", "releases", "refusals", "by_purpose", "refusal_reasons", "linkage_bands"} <= set(report)
    assert "public" in response.headers["cache-control"]
    # The same through GraphQL still needs a token (it is answered to any registered caller).
    assert (await client.post("/graphql", json={"query": "{ transparencyReport { requests } }"})).status_code == 401


async def test_a_period_is_whole_days_that_have_ended(client: httpx.AsyncClient) -> None:
    since = MIDNIGHT - dt.timedelta(days=2)
    response = await client.get("/transparency", params={"since": since.isoformat(), "until": MIDNIGHT.isoformat()})
    assert response.status_code == 200
    assert dt.datetime.fromisoformat(response.json()["transparencyReport"]["since"]) == since
    now = dt.datetime.now(dt.UTC)
    for params in (
        {"since": (now - dt.timedelta(seconds=5)).isoformat(), "until": now.isoformat()},  # a chosen moment
        {"until": (MIDNIGHT + dt.timedelta(days=1)).isoformat()},  # a day not ended
        {"since": MIDNIGHT.isoformat(), "until": (MIDNIGHT - dt.timedelta(days=1)).isoformat()},  # backwards
        {"since": "2026-01-01T00:00:00"},  # no offset
        {"until": "yesterday"},
        {"since": (MIDNIGHT - dt.timedelta(days=800)).isoformat()},  # more than a year
        {"until": "0001-01-05T00:00:00+00:00"},  # at the calendar's edge (was a 500)
        {"since": "9999-12-31T00:00:00-14:00"},
    ):
        bad = await client.get("/transparency", params=params)
        assert bad.status_code == 400, (params, bad.text)
        assert bad.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_reasons_are_counted_as_the_caller_was_told(
    client: httpx.AsyncClient, token: Any, settings: Settings
) -> None:
    """Someone not connected with the caller's area is audited as NO_LEGITIMATE_RELATIONSHIP, and
    published as the SUBJECT_NOT_FOUND the caller saw: the report must not say they exist."""
    t = token("council_blue_badge", "BLUE_BADGE", org="transparency-fold")
    since = dt.datetime.now(dt.UTC)
    await gql(client, t, LOOKUP, {"n": P.OUTSIDER})
    await gql(client, t, LOOKUP, {"n": P.ABSENT})
    pool = await asyncpg.create_pool(settings.admin_url("hub"), min_size=1, max_size=1)
    try:
        data = await AuditLog(pool, timeout=10).transparency(since, dt.datetime.now(dt.UTC))
    finally:
        await pool.close()
    assert data["refusal_reasons"] == {"SUBJECT_NOT_FOUND": 2}


async def test_one_address_flooding_it_is_throttled_and_the_api_is_not(
    settings: Settings, token: Any, tmp_path: Path
) -> None:
    limits = tmp_path / "limits.toml"
    limits.write_text(
        "[default]\nuser = { capacity = 100, per_second = 1 }\norganisation = { capacity = 100, per_second = 1 }\n"
        "refusal_cost = 2\n[address]\ncapacity = 3\nper_second = 0.01\n"
    )
    fresh = token("council_blue_badge", "BLUE_BADGE", org="transparency-flood")
    async with running_client(replace(settings, rate_limits_path=limits)) as client:
        answers = [(await client.get("/transparency")).status_code for _ in range(6)]
        # A token never seen before, from the same address, is not locked out by the anonymous flood.
        api = await gql(client, fresh, LOOKUP, {"n": P.BADGE_DLA})
    assert answers[:3] == [200, 200, 200]
    assert set(answers[3:]) == {429}
    assert api.status_code == 200
