"""A hub database that does not answer in time, or a hub with too few connections for its load, answers
with the store's stable code: never an internal error. The link index is the store every person query
reads first."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hub.config import Settings
from hub.db import create_store_pool
from hub.errors import LinkageUnavailable
from hub.records.links import LinkIndex
from linkage import KeyedHash, Thresholds
from tests import people as P
from tests.conftest import codes, gql, running_client
from tests.faults.proxy import FaultProxy


@pytest.fixture
async def hung_index(settings: Settings) -> AsyncIterator[LinkIndex]:
    proxy, url = await FaultProxy.for_url(settings.service_url("hub"))
    pool = await create_store_pool(url, acquire_timeout=0.5, statement_timeout=1.0, max_size=2)
    try:
        proxy.hang()
        yield LinkIndex(pool, model=None, thresholds=Thresholds(0.9, 0.5), timeout=0.5)
    finally:
        await proxy.forward()
        await asyncio.wait_for(pool.close(), 5)
        await proxy.close()


async def test_a_hung_link_index_is_linkage_unavailable_not_an_internal_error(hung_index: LinkIndex) -> None:
    with pytest.raises(LinkageUnavailable):
        await hung_index.by_ninos([[KeyedHash("k1", "0" * 64)]])
    with pytest.raises(LinkageUnavailable):
        await hung_index.by_person(uuid.uuid4())


async def test_a_starved_hub_answers_with_stable_codes_only(settings: Settings, token: Any) -> None:
    # One connection per store and short bounds: most of a burst of 40 waits past its deadline somewhere.
    starved = dataclasses.replace(settings, pool_size=1, audit_timeout=0.2, source_timeout=0.2)
    t = token("council_care_finance", "CARE_CHARGING_DOMICILIARY")
    query = """query($n: String!) { person(nino: $n, purpose: CARE_CHARGING_DOMICILIARY) {
        dwp { awardsInPayment { benefit } } housingBenefit { claims { weeklyRent } } socialCare { domiciliaryHoursPerWeek } } }"""
    async with running_client(starved) as client:
        answers = await asyncio.gather(*(gql(client, t, query, {"n": P.BADGE_DLA}) for _ in range(40)))
    seen: set[str] = set()
    for answer in answers:
        assert answer.status_code < 500
        seen |= set(codes(answer.json()))
    assert "INTERNAL_SERVER_ERROR" not in seen
