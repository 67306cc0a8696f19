"""The review queue after a rebuild (issue 17, item 4): a rebuild with other bands decides every record again,
closes as superseded the open items it no longer proposes (saying why and by which run, nothing deleted),
reopens them when they are proposed again, never touches what a person decided, and reports the queue's size.
Its own stores: synthetic people with twins, households, missing and wrong NINOs, on real PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from hub.config import Settings
from hub.errors import ConfigError
from hub.ops.demo import seed_sources
from hub.ops.linking import build_links, train_model
from hub.ops.migrate import drop_stores
from hub.records.links import EvidenceTerm, ReviewQueue, ReviewRow
from linkage import FSModel, Thresholds

PEOPLE = 5000
# Wide bands put many records to review (links only on near certainty, candidates down to 0.2); the usual
# bands then link some of them and drop the weak candidates.
BANDS = Thresholds(link=0.99999, review=0.2)
NARROW = Thresholds()


@dataclasses.dataclass
class Stores:
    settings: Settings
    hub: asyncpg.Connection
    model: FSModel


@pytest.fixture(scope="module")
async def stores(settings: Settings) -> AsyncIterator[Stores]:
    s = dataclasses.replace(settings, db_prefix=f"r{uuid.uuid4().hex[:10]}_")
    await seed_sources(s, people=PEOPLE, seed=11)
    model = await train_model(s, sample=PEOPLE)
    await build_links(s, model=model, thresholds=BANDS, chunk=500, progress=False)
    hub = await asyncpg.connect(s.admin_url("hub"))
    try:
        yield Stores(s, hub, model)
    finally:
        await hub.close()
        await drop_stores(s)


async def build(stores: Stores, thresholds: Thresholds) -> Any:
    return await build_links(stores.settings, model=stores.model, thresholds=thresholds, chunk=500, progress=False)


async def items(stores: Stores, status: str) -> dict[tuple[str, str, uuid.UUID], asyncpg.Record]:
    rows = await stores.hub.fetch("SELECT * FROM hub.review_item WHERE status = $1", status)
    return {(r["source"], r["source_record_id"], r["candidate_person"]): r for r in rows}


def key_of(item: asyncpg.Record) -> tuple[str, str, uuid.UUID]:
    return (item["source"], item["source_record_id"], item["candidate_person"])


def together_probability(found: dict[tuple[str, str, uuid.UUID], asyncpg.Record]) -> dict[tuple[str, str], float]:
    """Per record: the probability its open probabilistic candidates share."""
    out: dict[tuple[str, str], float] = {}
    for (source, record, _), r in found.items():
        if r["reason"] == "probabilistic":
            out[(source, record)] = out.get((source, record), 0.0) + float(r["probability"])
    return out


async def test_new_bands_close_the_items_they_no_longer_propose_and_reopen_them_when_proposed_again(
    stores: Stores,
) -> None:
    before = await items(stores, "open")
    assert len(before) > 10, "the synthetic data leaves records for review"
    assert all(r["link_threshold"] == BANDS.link and r["review_threshold"] == BANDS.review for r in before.values())
    # A record's candidates together: two people nothing tells apart each fall below the review band and
    # stay in review together (linkage.link._probabilistic), so "weak" is a record's candidates in sum.
    together = together_probability(before)
    weak = {
        k
        for k, r in before.items()
        if r["reason"] == "probabilistic" and r["probability"] < NARROW.review and together[k[:2]] < NARROW.review
    }
    queue = ReviewQueue(await asyncpg.create_pool(stores.settings.admin_url("hub"), min_size=1, max_size=1), timeout=5)
    try:
        # A person's decisions stand through both rebuilds: one rejected, one accepted (its record linked).
        rejected_key = sorted(before, key=str)[0]
        accepted_key = next(k for k in sorted(before, key=str) if k[:2] != rejected_key[:2])
        assert await queue.decide(before[rejected_key]["review_id"], accept=False, decided_by="reviewer-1")
        assert await queue.decide(before[accepted_key]["review_id"], accept=True, decided_by="reviewer-2")
    finally:
        await queue.pool.close()
    decided = {
        k: r["status"] for k, r in {**await items(stores, "accepted"), **await items(stores, "rejected")}.items()
    }
    still_open = await items(stores, "open")

    narrowed = await build(stores, NARROW)

    run = await stores.hub.fetchrow("SELECT run_id, review FROM hub.link_run ORDER BY run_id DESC LIMIT 1")
    superseded = await items(stores, "superseded")
    after = await items(stores, "open")
    # Every weak candidate left open is closed, and only candidates the new bands do not put to review (weak,
    # or their record linked): what a person decided is not among them. (A NINO conflict's weak namesakes go
    # too; its NINO's own record stays, weak or not.)
    assert superseded, "the usual bands link or drop some of what the wide bands put to review"
    assert weak & set(still_open) <= set(superseded) <= set(still_open)
    assert set(after) == set(still_open) - set(superseded)
    for item in superseded.values():
        assert item["superseded_by_run"] == run["run_id"]
        assert item["superseded_at"] is not None
        assert item["decided_by_hash"] is None  # closed by the build, not decided by a person
        # Below the new review band and the record not linked on other evidence: no one in the spine.
        link = await stores.hub.fetchrow(
            "SELECT band FROM hub.link WHERE source = $1 AND source_record_id = $2",
            item["source"],
            item["source_record_id"],
        )
        because = {"link": "linked", "non_link": "not_linked", "review": "candidate_dropped"}[link["band"]]
        assert item["superseded_because"] == because
        assert because == "linked" or still_open[key_of(item)]["probability"] < NARROW.review
    together_after = together_probability(after)
    for item in after.values():
        assert item["review_threshold"] == NARROW.review
        assert (
            item["reason"] == "nino_conflict"
            or item["probability"] >= NARROW.review
            or together_after[key_of(item)[:2]] >= NARROW.review
        )
    # What it did, reported by the run and printed by `link build`: the queue's size before and after.
    assert json.loads(run["review"]) == narrowed.review
    report = narrowed.review
    assert report["open_before"] == len(still_open)
    assert report["open_after"] == len(after)
    assert sum(report["superseded"].values()) == len(superseded)
    assert report["new"] == 0
    assert report["proposed_again"] == len(after)
    # Every record was decided again with the new bands (none "unchanged"), but no person's decision moved.
    clerical = dict(
        await stores.hub.fetch("SELECT source, count(*) FROM hub.link WHERE method = 'clerical' GROUP BY source")
    )
    assert sum(clerical.values()) == 2
    for source, counted in narrowed.by_source.items():
        assert counted.get("unchanged", 0) == clerical.get(source, 0), narrowed.by_source
    assert {
        k: r["status"] for k, r in {**await items(stores, "accepted"), **await items(stores, "rejected")}.items()
    } == decided

    restored = await build(stores, BANDS)

    reopened = await items(stores, "open")
    assert set(reopened) == set(still_open)  # the same candidates, proposed again
    assert not await items(stores, "superseded")
    for item in reopened.values():
        assert item["superseded_by_run"] is None
        assert item["superseded_because"] is None
        assert item["review_threshold"] == BANDS.review
    assert restored.review["open_after"] == len(still_open)
    assert restored.review["proposed_again"] == len(still_open)
    assert {
        k: r["status"] for k, r in {**await items(stores, "accepted"), **await items(stores, "rejected")}.items()
    } == decided
    # The same bands again: nothing to decide, nothing changed in the queue.
    unchanged = await build(stores, BANDS)
    assert all(set(c) == {"unchanged"} for c in unchanged.by_source.values()), unchanged.by_source
    assert unchanged.review == {
        "new": 0,
        "proposed_again": 0,
        "superseded": {},
        "open_before": len(still_open),
        "open_after": len(still_open),
    }


async def test_a_record_whose_every_candidate_is_rejected_or_superseded_becomes_a_clerical_non_link(
    stores: Stores,
) -> None:
    """Superseded items are not candidates any more: rejecting the last open one decides the record."""
    item = await stores.hub.fetchrow("SELECT * FROM hub.review_item WHERE status = 'open' ORDER BY review_id LIMIT 1")
    assert item is not None, "the wide bands leave records for review"
    # Another candidate for the same record, which a rebuild closed (as a twin dropped below the band is).
    await stores.hub.execute(
        "INSERT INTO hub.review_item (source, source_record_id, candidate_person, reason, probability, "
        "match_weight, model_version, evidence, status, superseded_at, superseded_because) "
        "VALUES ($1, $2, $3, 'probabilistic', 0.1, -3.0, $4, '[]', 'superseded', now(), 'candidate_dropped')",
        item["source"],
        item["source_record_id"],
        uuid.uuid4(),
        item["model_version"],
    )
    queue = ReviewQueue(await asyncpg.create_pool(stores.settings.admin_url("hub"), min_size=1, max_size=1), timeout=5)
    try:
        assert await queue.decide(item["review_id"], accept=False, decided_by="reviewer-3")
    finally:
        await queue.pool.close()
    link = await stores.hub.fetchrow(
        "SELECT band, method FROM hub.link WHERE source = $1 AND source_record_id = $2",
        item["source"],
        item["source_record_id"],
    )
    assert (link["band"], link["method"]) == ("non_link", "clerical")


async def test_a_decision_during_a_rebuild_s_chunk_waits_for_it_and_never_deadlocks(stores: Stores) -> None:
    """A rebuild's chunk locks its records' links, then their items (the refresh, the supersede); a reviewer's
    decision takes the same two in the same order, so it waits for the chunk, then decides."""
    item = await stores.hub.fetchrow("SELECT * FROM hub.review_item WHERE status = 'open' ORDER BY review_id LIMIT 1")
    assert item is not None
    record = (item["source"], item["source_record_id"])
    pool = await asyncpg.create_pool(stores.settings.admin_url("hub"), min_size=1, max_size=2)
    queue = ReviewQueue(pool, timeout=10)
    chunk = await asyncpg.connect(stores.settings.admin_url("hub"))
    try:
        async with chunk.transaction():
            # The chunk's link upsert: the record's link row locked.
            await chunk.execute(
                "UPDATE hub.link SET linked_at = now() WHERE source = $1 AND source_record_id = $2", *record
            )
            deciding = asyncio.create_task(queue.decide(item["review_id"], accept=True, decided_by="reviewer-4"))
            await asyncio.sleep(0.3)  # the decision is under way: waiting for the link row, holding nothing
            assert not deciding.done()
            # The chunk's refresh of the item (what _REVIEW's ON CONFLICT DO UPDATE does): not blocked.
            async with asyncio.timeout(5):
                await chunk.execute(
                    "UPDATE hub.review_item SET probability = probability WHERE review_id = $1", item["review_id"]
                )
        decided = await asyncio.wait_for(deciding, 10)
    finally:
        await chunk.close()
        await pool.close()
    assert decided is not None
    assert decided.status == "accepted"
    link = await stores.hub.fetchrow(
        "SELECT band, method FROM hub.link WHERE source = $1 AND source_record_id = $2", *record
    )
    assert (link["band"], link["method"]) == ("link", "clerical")


def test_a_reviewer_is_told_why_an_item_is_there_without_a_value_of_the_record() -> None:
    """The reason in words, the bands it was weighed against, and what counted for and against, strongest first."""
    evidence: list[EvidenceTerm] = [
        {"comparison": "given_name", "level": "exact", "weight": 4.0},
        {"comparison": "dob", "level": "missing", "weight": 0.0},
        {"comparison": "residence", "level": "different", "weight": -6.5},
        {"comparison": "family_name", "level": "similar", "weight": 2.5},
    ]
    common = {
        "review_id": 1,
        "source": "hb",
        "source_record_id": "HB1",
        "candidate_person": uuid.uuid4(),
        "match_weight": 1.0,
        "model_version": "m1",
        "evidence": evidence,
        "status": "open",
        "created_at": datetime.datetime.now(datetime.UTC),
    }
    weighed = ReviewRow(**common, reason="probabilistic", probability=0.873, link_threshold=0.999, review_threshold=0.5)
    assert weighed.why == (
        "The details agree with a 87.3% chance of being the same person: at or above the review band (50.0%) and "
        "below the link band (99.9%), or too close to another candidate to choose. "
        "For: given_name (exact), family_name (similar). Against: residence (different)."
    )
    older = ReviewRow(**common, reason="probabilistic", probability=0.6)
    assert "between the bands of its time (not recorded for this item)" in older.why
    conflict = ReviewRow(**common, reason="nino_conflict", probability=0.2, link_threshold=0.999, review_threshold=0.5)
    assert conflict.why.startswith("The record's National Insurance number is this person's, but its other details")
    assert "HB1" not in conflict.why


async def test_a_second_build_is_refused_while_one_runs(stores: Stores) -> None:
    """Two builds at once would each close what the other proposes again: the second is told to wait."""
    running = await asyncpg.connect(stores.settings.admin_url("hub"))
    try:
        assert await running.fetchval("SELECT pg_try_advisory_lock($1)", 0x776C6E6B)
        with pytest.raises(ConfigError, match="another link build is running"):
            await build(stores, BANDS)
    finally:
        await running.close()
    finished = await build(stores, BANDS)  # the first gone, the next one runs
    assert finished.review["open_after"] >= 0
