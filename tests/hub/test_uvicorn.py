"""End to end through a real uvicorn server on loopback, over real HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import uvicorn

from hub.app import create_app
from hub.config import Settings
from tests import people as P
from tests.conftest import free_port


async def test_real_http_round_trip(settings: Settings, people: Any, token: Any) -> None:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(100):
            if server.started:
                break
            await asyncio.sleep(0.05)
        assert server.started
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            r = await client.post(
                "/graphql",
                json={
                    "query": "query($n: String!) { person(nino: $n, purpose: BLUE_BADGE) { dwp { blueBadgeAutomaticEligibility } } }",
                    "variables": {"n": P.PIP_MOVING},
                },
                headers={"Authorization": f"Bearer {token('council_blue_badge', 'BLUE_BADGE')}"},
            )
            assert r.status_code == 200
            assert r.json() == {"data": {"person": {"dwp": {"blueBadgeAutomaticEligibility": True}}}}
            unauthenticated = await client.post("/graphql", json={"query": "{ __typename }"})
            assert unauthenticated.status_code == 401
            assert (await client.get("/readyz")).status_code == 200
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
