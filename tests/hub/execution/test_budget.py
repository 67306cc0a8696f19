"""The loop budget (hub.execution.budget), on the running app: a request that holds the event loop too long
is stopped with REQUEST_BUDGET_EXCEEDED and audited; while it runs, it hands the loop back often enough
that a request sent at the same time is answered first."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import asyncpg

from hub.config import Settings
from tests.conftest import codes, gql, running_client
from tests.receipts import without_receipt

# Introspection (allowed outside production): thousands of synchronous fields, and no personal data.
_SCHEMA = """__schema { types { name kind description fields { name description isDeprecated
  args { name description defaultValue type { name kind ofType { name kind } } }
  type { name kind ofType { name kind ofType { name kind } } } } enumValues { name description } } }"""
HEAVY = "query Heavy { " + " ".join(f"s{n}: {_SCHEMA}" for n in range(15)) + " }"
PROBE = "query Probe { __typename }"


async def test_a_request_over_its_budget_is_stopped_and_audited(
    settings: Settings, token: Any, admin: dict[str, asyncpg.Connection]
) -> None:
    t = token("council_blue_badge", "BLUE_BADGE", org="budget-heavy")
    async with running_client(replace(settings, request_loop_budget=0.002, loop_slice=10.0)) as client:
        response = await gql(client, t, HEAVY, {})
        probe = await gql(client, t, PROBE, {})
    assert response.status_code == 200
    assert "REQUEST_BUDGET_EXCEEDED" in codes(response.json())
    assert without_receipt(probe.json()) == {"data": {"__typename": "Query"}}  # well within it
    reasons = await admin["hub"].fetchval(
        "SELECT reason_codes FROM hub.audit_event WHERE caller_org = 'budget-heavy' AND operation_name = 'Heavy' "
        "ORDER BY seq DESC LIMIT 1"
    )
    assert "REQUEST_BUDGET_EXCEEDED" in reasons


async def test_a_request_sent_alongside_a_heavy_one_is_answered_first(
    settings: Settings, token: Any, admin: dict[str, asyncpg.Connection]
) -> None:
    # (With no slicing, loop_slice=10 s, the order is Heavy, Heavy, Probe: the heavy one holds the loop.)
    org, slice_ms = "budget-fair", 20.0  # the default slice
    t = token("council_blue_badge", "BLUE_BADGE", org=org)
    async with running_client(replace(settings, request_loop_budget=60.0, loop_slice=slice_ms / 1000)) as client:
        await gql(client, t, HEAVY, {})  # warm: the document parsed and validated once
        await gql(client, t, PROBE, {})  # and the probe's

        async def probe() -> None:
            await asyncio.sleep(0.005)  # the heavy one has started
            assert without_receipt((await gql(client, t, PROBE, {})).json()) == {"data": {"__typename": "Query"}}

        heavy, _ = await asyncio.gather(gql(client, t, HEAVY, {}), probe())
        assert "errors" not in heavy.json()
    # The audit record is written when an operation's execution ends: the probe's came first.
    rows = await admin["hub"].fetch(
        "SELECT operation_name FROM hub.audit_event WHERE caller_org = $1 ORDER BY seq", org
    )
    assert [r["operation_name"] for r in rows] == ["Heavy", "Probe", "Probe", "Heavy"]
