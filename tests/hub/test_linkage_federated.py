"""The link build across the boundary (hub.ops.linking.federated): council records read through their
feeds, DWP asked only for the candidates of those records, each decided as the online fallback decides.

Against the in-memory build on the same synthetic people (twins, households, missing and wrong NINOs):
as right (no false link, the same recall bar), nearly the same links, and DWP's population never read.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from hub.config import Settings
from hub.ops.demo import seed_sources
from hub.ops.linking import build_links, train_model
from hub.ops.linking.federated import build_links_federated
from hub.ops.linking.sources import open_sources
from hub.ops.migrate import drop_stores
from hub.types import SOURCE_STORES
from linkage import FSModel, Thresholds
from linkage.link import person_key_for

PEOPLE = 2500
THRESHOLDS = Thresholds()
_COUNCIL_ROWS = "SELECT source, source_record_id, band, person_key FROM hub.link WHERE source <> 'dwp' ORDER BY 1, 2"


@dataclasses.dataclass
class Built:
    settings: Settings
    admin: dict[str, asyncpg.Connection]
    model: FSModel
    in_memory: dict[tuple[str, str], tuple[str, uuid.UUID | None]]


async def _forget_links(hub: asyncpg.Connection) -> None:
    await hub.execute("TRUNCATE hub.review_item, hub.link, hub.link_run CASCADE")


@pytest.fixture(scope="module")
async def built(settings: Settings) -> AsyncIterator[Built]:
    s = dataclasses.replace(settings, db_prefix=f"f{uuid.uuid4().hex[:10]}_")
    await seed_sources(s, people=PEOPLE, seed=11)
    model = await train_model(s, sample=PEOPLE)
    await build_links(s, model=model, thresholds=THRESHOLDS, chunk=500, progress=False)
    admin = {store: await asyncpg.connect(s.admin_url(store)) for store in (*SOURCE_STORES, "hub")}
    rows = await admin["hub"].fetch(_COUNCIL_ROWS)
    in_memory = {(r["source"], r["source_record_id"]): (r["band"], r["person_key"]) for r in rows}
    try:
        yield Built(s, admin, model, in_memory)
    finally:
        await asyncio.gather(*(c.close() for c in admin.values()))
        await drop_stores(s)


async def _truth(admin: dict[str, asyncpg.Connection]) -> dict[tuple[str, str], str]:
    out = {}
    for source, store, table, column, prefix in (
        ("hb", "src_hb", "hb.claim_person", "record_ref", "hb:"),
        ("social_care", "src_social_care", "social_care.client", "client_id", "sc:"),
    ):
        for r in await admin[store].fetch(
            f"SELECT t.{column} AS rid, r.true_person_id FROM {table} t "
            f"JOIN synth_truth.record_identity r ON r.record_id = $1 || t.{column}",
            prefix,
        ):
            out[(source, r["rid"])] = str(r["true_person_id"])
    return out


async def test_the_build_over_the_boundary_is_as_right_and_reads_no_population(built: Built) -> None:
    hub = built.admin["hub"]
    await _forget_links(hub)
    async with open_sources(built.settings) as (dwp, hb, sc):
        run = await build_links_federated(
            built.settings, dwp, [hb, sc], model=built.model, thresholds=THRESHOLDS, chunk=300
        )
    rows = await hub.fetch(_COUNCIL_ROWS)
    federated = {(r["source"], r["source_record_id"]): (r["band"], r["person_key"]) for r in rows}
    truth = await _truth(built.admin)
    assert set(federated) == set(truth) == set(built.in_memory)
    wrong = sum(band == "link" and person != person_key_for(truth[key]) for key, (band, person) in federated.items())
    right = sum(band == "link" and person == person_key_for(truth[key]) for key, (band, person) in federated.items())
    assert wrong == 0  # a false link releases someone else's data
    assert right / len(truth) >= 0.93
    same = sum(federated[k] == built.in_memory[k] for k in federated)
    assert same / len(federated) >= 0.98, f"{same} of {len(federated)} decided as the in-memory build did"
    # DWP's population was never read: only the candidates of the records being linked, and DWP's own rows
    # in the index are those of people a council source knows.
    population = await built.admin["src_dwp"].fetchval("SELECT count(*) FROM dwp.person")
    assert run.spine_records_read < population
    spine_rows = await hub.fetchval("SELECT count(*) FROM hub.link WHERE source = 'dwp'")
    linked_people = await hub.fetchval(
        "SELECT count(DISTINCT person_key) FROM hub.link WHERE source <> 'dwp' AND band = 'link'"
    )
    assert spine_rows == linked_people < population


async def test_a_second_run_decides_nothing_again(built: Built) -> None:
    async with open_sources(built.settings) as (dwp, hb, sc):
        await build_links_federated(built.settings, dwp, [hb, sc], model=built.model, thresholds=THRESHOLDS)
        again = await build_links_federated(built.settings, dwp, [hb, sc], model=built.model, thresholds=THRESHOLDS)
    assert all(set(c) == {"unchanged"} for c in again.counts.by_source.values()), again.counts.by_source


class _Replaying:
    """A council feed that serves its first page again after its second (a faulty or hostile source)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.name = real.name
        self.pages = 0

    async def feed(self, after: str | None, limit: int, ask: Any) -> list[Any]:
        self.pages += 1
        return await self.real.feed(None if self.pages == 3 else after, limit, ask)


async def test_a_feed_that_goes_back_stops_the_build(built: Built) -> None:
    from hub.errors import SourceUnavailable

    async with open_sources(built.settings) as (dwp, hb, _):
        looping = _Replaying(hb)
        with pytest.raises(SourceUnavailable):
            await build_links_federated(
                built.settings, dwp, [looping], model=built.model, thresholds=THRESHOLDS, chunk=100, resume=False
            )
    assert looping.pages == 3  # stopped at the first page served again, not walked for ever
