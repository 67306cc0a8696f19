"""The federated link build (hub.ops.linking.federated) over the three sources' own subgraph processes
makes the same link index as over the direct adapters, on the same synthetic people: the councils' records
read through their feeds, DWP asked only for their candidates and NINOs, each question in the owner's log
under the run's id."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest

from hub.config import Settings
from hub.ops.demo import seed_sources
from hub.ops.issuer import IssuerKey
from hub.ops.linking import train_model
from hub.ops.linking.federated import build_links_federated
from hub.ops.linking.sources import open_sources
from hub.ops.migrate import drop_stores
from linkage import Thresholds
from resolvers.sources.assertion import AssertionSigner
from resolvers.sources.remote import subgraph_source
from tests.subgraphs.conftest import HUB_ISSUER, SOURCES, Running, start_subgraph, subgraph_env

PEOPLE = 1200
THRESHOLDS = Thresholds()
_LINKS = (
    "SELECT source, source_record_id, band, person_key, method, probability, match_weight, evidence::text, "
    "fingerprint FROM hub.link ORDER BY 1, 2"
)


@pytest.fixture(scope="module")
async def seeded(settings: Settings) -> AsyncIterator[Settings]:
    s = dataclasses.replace(settings, db_prefix=f"w{uuid.uuid4().hex[:10]}_")
    await seed_sources(s, people=PEOPLE, seed=23)
    try:
        yield s
    finally:
        await drop_stores(s)


@pytest.fixture(scope="module")
def build_key() -> IssuerKey:
    return IssuerKey.generate("hub-build-1")


@pytest.fixture(scope="module")
def served(
    seeded: Settings, build_key: IssuerKey, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Running]]:
    folder = tmp_path_factory.mktemp("build")
    jwks = folder / "jwks.json"
    jwks.write_text(json.dumps(build_key.jwks()))
    running: dict[str, Running] = {}
    try:
        for source in SOURCES:
            running[source] = start_subgraph(source, subgraph_env(seeded, source, jwks), folder / f"{source}.log")
        yield running
    finally:
        for r in running.values():
            r.process.terminate()
        for r in running.values():
            r.process.wait(10)


async def _links(settings: Settings) -> list[dict[str, Any]]:
    hub = await asyncpg.connect(settings.admin_url("hub"))
    try:
        rows = [dict(r) for r in await hub.fetch(_LINKS)]
        await hub.execute("TRUNCATE hub.review_item, hub.link, hub.link_run CASCADE")
        return rows
    finally:
        await hub.close()


async def test_the_build_over_subgraphs_makes_the_direct_builds_links(
    seeded: Settings, served: dict[str, Running], build_key: IssuerKey
) -> None:
    model = await train_model(seeded, sample=PEOPLE)
    async with open_sources(seeded) as (dwp, hb, sc):
        await build_links_federated(seeded, dwp, [hb, sc], model=model, thresholds=THRESHOLDS, chunk=300)
    direct = await _links(seeded)

    signer = AssertionSigner(build_key.private_key, build_key.kid, issuer=HUB_ISSUER)
    remote = {s: subgraph_source(s, served[s].url.removesuffix("/graphql"), signer=signer, timeout=10) for s in SOURCES}
    try:
        run = await build_links_federated(
            seeded, remote["dwp"], [remote["hb"], remote["social_care"]], model=model, thresholds=THRESHOLDS, chunk=300
        )
    finally:
        await asyncio.gather(*(r.aclose() for r in remote.values()))
    over_wire = await _links(seeded)
    # Identical links: each record, band, person, method, probability and evidence, and the fingerprint of what
    # was compared (the records crossed the wire unchanged).
    assert over_wire == direct
    assert {r["source"] for r in direct} == {"dwp", "hb", "social_care"}

    # Every question was the linkage purpose's, under the run's id, in each owner's own log.
    for source in SOURCES:
        conn = await asyncpg.connect(seeded.admin_url(f"src_{source}"))  # type: ignore[arg-type]
        try:
            rows = await conn.fetch(
                f"SELECT DISTINCT purpose, outcome FROM {source}.hub_access_log WHERE audit_id = $1",
                run.run,
            )
        finally:
            await conn.close()
        assert [tuple(r) for r in rows] == [("LINKAGE", "answered")], source
