"""End to end through a real uvicorn server on loopback, over real HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from hub.config import Settings
from tests import people as P
from tests.conftest import serving
from tests.receipts import without_receipt


async def test_real_http_round_trip(settings: Settings, people: Any, token: Any) -> None:
    async with serving(settings) as url, httpx.AsyncClient(base_url=url) as client:
        r = await client.post(
            "/graphql",
            json={
                "query": "query($n: String!) { person(nino: $n, purpose: BLUE_BADGE) { dwp { blueBadgeAutomaticEligibility } } }",
                "variables": {"n": P.PIP_MOVING},
            },
            headers={"Authorization": f"Bearer {token('council_blue_badge', 'BLUE_BADGE')}"},
        )
        assert r.status_code == 200
        assert without_receipt(r.json()) == {"data": {"person": {"dwp": {"blueBadgeAutomaticEligibility": True}}}}
        unauthenticated = await client.post("/graphql", json={"query": "{ __typename }"})
        assert unauthenticated.status_code == 401
        assert (await client.get("/readyz")).status_code == 200
