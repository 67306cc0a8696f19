"""The fault suite: a real hub on uvicorn whose four databases are reached through TCP proxies on loopback
(tests/faults/proxy.py), under a bounded load of concurrent callers, while a database hangs (accepts and
stops answering, a black hole rather than a reset) or restarts.

For each fault: every answer comes within its timeout and a margin (no request waits out the hang), none
is a 500, nothing is released without its audit record, and the pools recover by themselves when the fault
ends. A hung source costs only its own fields; a hung hub database fails every request closed.

The machine's PostgreSQL is never touched: a restart is simulated at the proxies (every connection cut,
new ones refused for a second, then forwarded again).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from hub.config import Settings
from hub.types import STORES, StoreName
from tests import people as P
from tests.conftest import serving
from tests.faults.load import Answer, Load, unaudited
from tests.faults.proxy import FaultProxy

SOURCE_TIMEOUT = 1.0
AUDIT_TIMEOUT = 1.0
#: What a loaded, shared two-core machine may add to a bound (scheduling, TLS-free loopback, the event loop).
MARGIN = 1.0
#: How soon after a fault ends normal answers must be back.
RECOVERY = 2.0

EVERYTHING = """query {name}($nino: String!) {{ person(nino: $nino, purpose: CARE_CHARGING_DOMICILIARY) {{
    subjectId dwp {{ awardsInPayment {{ benefit }} }} housingBenefit {{ claims {{ weeklyRent }} }}
    socialCare {{ domiciliaryHoursPerWeek }} }} }}"""

#: A hung hub database fails a request closed with one of these (the store's own code, or the audit's).
HUB_DOWN_CODES = {
    "AUDIT_UNAVAILABLE",
    "ORG_REGISTER_UNAVAILABLE",
    "CONSENT_UNAVAILABLE",
    "LINKAGE_UNAVAILABLE",
    "HUB_STORE_UNAVAILABLE",
}


@dataclasses.dataclass
class Faulty:
    url: str
    proxies: dict[StoreName, FaultProxy]
    token: str


@pytest.fixture(scope="module")
async def faulty(settings: Settings, people: Any, token: Any) -> AsyncIterator[Faulty]:
    proxies: dict[StoreName, FaultProxy] = {}
    urls: dict[StoreName, str] = {}
    for store in STORES:
        proxies[store], urls[store] = await FaultProxy.for_url(settings.service_url(store))
    through = dataclasses.replace(settings, store_urls=urls, source_timeout=SOURCE_TIMEOUT, audit_timeout=AUDIT_TIMEOUT)
    try:
        async with serving(through) as url:
            yield Faulty(url, proxies, token("council_care_finance", "CARE_CHARGING_DOMICILIARY"))
    finally:
        await asyncio.gather(*(p.close() for p in proxies.values()))


@contextlib.asynccontextmanager
async def hub_client(faulty: Faulty) -> AsyncIterator[httpx.AsyncClient]:
    # The client's own timeout only stops a broken run from hanging the suite; the assertions are tighter.
    async with httpx.AsyncClient(base_url=faulty.url, timeout=20.0) as client:
        yield client


async def run_load(faulty: Faulty, scenario: Any) -> list[Answer]:
    async with hub_client(faulty) as client:
        load = Load(client, faulty.token, EVERYTHING, {"nino": P.BADGE_DLA})
        return await load.run(scenario)


async def ready(client: httpx.AsyncClient) -> tuple[int, dict[str, bool], float]:
    started = time.monotonic()
    r = await client.get("/readyz")
    return r.status_code, r.json()["stores"], time.monotonic() - started


def normal(answer: Answer) -> bool:
    person = (answer.body.get("data") or {}).get("person") or {}
    return (
        answer.status == 200
        and "errors" not in answer.body
        and bool(person.get("dwp", {}).get("awardsInPayment"))
        and person.get("housingBenefit") == {"claims": [{"weeklyRent": "95.50"}]}
        and person.get("socialCare") is not None
    )


def timeline(answers: list[Answer]) -> str:
    """Every answer, for a failure's message: when it was sent, how long it took, what it said."""
    return "\n".join(f"{a.sent:6.2f} +{a.latency:5.2f}s {a.status} {a.name} {a.codes}" for a in answers)


def check_common(answers: list[Answer], bound: float, healed_at: float) -> None:
    assert answers, "the load sent nothing"
    assert [a for a in answers if a.status >= 500] == []
    assert [a.name for a in answers if "INTERNAL_SERVER_ERROR" in a.codes] == []
    slow = [(a.name, round(a.latency, 2), a.codes) for a in answers if a.latency > bound + MARGIN]
    assert slow == [], f"answers slower than {bound} s + {MARGIN} s:\n{timeline(answers)}"
    # The pools recovered by themselves: every request sent a little after the fault ended answers fully.
    after = [a for a in answers if a.sent >= healed_at + RECOVERY]
    assert after, "no request was sent after the recovery window"
    assert [(a.name, a.codes) for a in after if not normal(a)] == [], timeline(answers)


async def test_a_hung_source_costs_only_its_own_fields(faulty: Faulty, admin: dict[str, asyncpg.Connection]) -> None:
    hb = faulty.proxies["src_hb"]
    marks: dict[str, float] = {}

    async def scenario(load: Load) -> None:
        await asyncio.sleep(0.5)
        hb.hang()  # three times the source timeout
        marks["hung"] = load.now()
        await asyncio.sleep(3 * SOURCE_TIMEOUT)
        await hb.forward()
        marks["healed"] = load.now()
        await asyncio.sleep(RECOVERY + 1.0)

    answers = await run_load(faulty, scenario)
    check_common(answers, SOURCE_TIMEOUT, marks["healed"])
    # Answered while hung, the source's own field is the only one missing, with a source code; the other
    # sources answered every one of those requests.
    during = [a for a in answers if marks["hung"] + 0.1 <= a.sent and a.sent + a.latency <= marks["healed"]]
    assert len(during) >= 4, timeline(answers)
    for a in during:
        person = a.body["data"]["person"]
        assert person["dwp"]["awardsInPayment"], a
        assert person["socialCare"] is not None, a
        if person["housingBenefit"] is None:
            assert a.codes in (["SOURCE_TIMEOUT"], ["SOURCE_UNAVAILABLE"]), a
            assert [e["path"] for e in a.body["errors"]] == [["person", "housingBenefit"]]
    assert any(a.body["data"]["person"]["housingBenefit"] is None for a in during)
    assert await unaudited(admin["hub"], answers) == []


async def test_a_hung_hub_database_fails_closed_quickly(faulty: Faulty, admin: dict[str, asyncpg.Connection]) -> None:
    hub = faulty.proxies["hub"]
    marks: dict[str, float] = {}
    readiness: list[tuple[int, dict[str, bool], float]] = []

    async def scenario(load: Load) -> None:
        await asyncio.sleep(0.5)
        hub.hang()
        marks["hung"] = load.now()
        await asyncio.sleep(1.0)
        readiness.append(await ready(load.client))  # the probe itself does not wait out the hang
        await asyncio.sleep(4.0)
        await hub.forward()
        marks["healed"] = load.now()
        await asyncio.sleep(RECOVERY + 1.0)
        readiness.append(await ready(load.client))

    answers = await run_load(faulty, scenario)
    # A request meets the hub database at most twice before it is answered: one store read that fails
    # (the organisation register, the link index, consent) and the audit append that fails closed.
    check_common(answers, SOURCE_TIMEOUT + AUDIT_TIMEOUT, marks["healed"])
    during = [a for a in answers if marks["hung"] + 0.1 <= a.sent and a.sent + a.latency <= marks["healed"]]
    assert len(during) >= 4, timeline(answers)
    for a in during:
        assert not a.released, a  # its audit record cannot have been written: nothing may leave
        assert a.codes, a
        assert set(a.codes) <= HUB_DOWN_CODES, a
    assert await unaudited(admin["hub"], answers) == []
    (hung_status, hung_stores, hung_latency), (after_status, after_stores, _) = readiness
    assert (hung_status, hung_stores["hub"], hung_stores["src_dwp"]) == (503, False, True), readiness
    assert hung_latency < SOURCE_TIMEOUT + MARGIN, readiness
    assert (after_status, all(after_stores.values())) == (200, True), readiness


async def test_a_postgresql_restart_under_load_costs_about_a_second(
    faulty: Faulty, admin: dict[str, asyncpg.Connection]
) -> None:
    marks: dict[str, float] = {}

    async def scenario(load: Load) -> None:
        await asyncio.sleep(0.5)
        for proxy in faulty.proxies.values():  # the server goes down: every connection cut, none accepted
            proxy.refuse()
            proxy.drop()
        marks["down"] = load.now()
        await asyncio.sleep(1.0)
        for proxy in faulty.proxies.values():
            await proxy.forward()
        marks["healed"] = load.now()
        await asyncio.sleep(RECOVERY + 1.0)

    answers = await run_load(faulty, scenario)
    check_common(answers, SOURCE_TIMEOUT + AUDIT_TIMEOUT, marks["healed"])
    assert any(not normal(a) for a in answers if a.sent >= marks["down"])  # the restart was felt
    assert await unaudited(admin["hub"], answers) == []
