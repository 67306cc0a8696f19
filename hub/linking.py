"""Batch linkage: train the model, and build or refresh the link index across whole sources.

Reads the sources through their read-only adapters (the same ones the service uses) and writes the
hub's link index. Bounded memory (one chunk at a time), idempotent (upserts keyed by source record),
resumable (the run records the last record id each source reached) and incremental (a record whose
keyed fingerprint and model version are unchanged is skipped).
"""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
from tqdm import tqdm

from hub.config import Settings
from hub.keys import load_key_ring
from hub.migrate import migration_url
from linkage import (
    Band,
    Demographics,
    FSModel,
    KeyRing,
    Thresholds,
    block,
    blocking_keys,
    check_nino,
    columns_of,
    compare,
    prepare,
    sessions,
)
from linkage.household import PairCounter
from linkage.link import Candidate, Decision, decide, person_key_for
from resolvers.sources import DwpSource, HousingBenefitSource, SocialCareSource, create_store_pool
from resolvers.sources.base import PgSource

__all__ = ["LinkCounts", "build_links", "load_model", "rekey", "save_model", "train_model"]

log = logging.getLogger(__name__)
# No "town": in UK data it is determined by the postcode, and EM collapses when two comparisons carry
# the same information. Postcode and address are one "residence" comparison: a move changes both, and
# as two comparisons a moved person was penalised twice.
COMPARISONS = ("given_name", "family_name", "dob", "residence")
_BATCH_TIMEOUT = 120.0


@dataclass
class LinkCounts:
    by_source: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, source: str, key: str, n: int = 1) -> None:
        bucket = self.by_source.setdefault(source, {})
        bucket[key] = bucket.get(key, 0) + n


@asynccontextmanager
async def _sources(settings: Settings) -> Any:
    pools = {
        store: await create_store_pool(settings.service_url(store), max_size=4)
        for store in ("src_dwp", "src_hb", "src_social_care")
    }
    try:
        yield (
            DwpSource(pools["src_dwp"], timeout=_BATCH_TIMEOUT),
            HousingBenefitSource(pools["src_hb"], timeout=_BATCH_TIMEOUT),
            SocialCareSource(pools["src_social_care"], timeout=_BATCH_TIMEOUT),
        )
    finally:
        await asyncio.gather(*(p.close() for p in pools.values()))


async def _household_pairs(spine: PgSource, *, chunk: int = 50_000, progress: bool) -> PairCounter:
    counter = PairCounter(COMPARISONS)
    bar = tqdm(total=await spine.count(), desc="household pairs", unit="rec", disable=not progress)
    after = spine.people.first_cursor
    while records := await spine.scan(after, chunk):
        counter.add(prepare(columns_of(records)))
        last = records[-1].record_id
        after = int(last) if spine.people.id_type == "bigint" and last is not None else last
        bar.update(len(records))
    bar.close()
    return counter


async def train_model(settings: Settings, *, sample: int = 50_000, seed: int = 0, progress: bool = False) -> FSModel:
    """Fit the model on a random sample of council records against the DWP spine.

    u from random pairs; term frequencies from the sample; m from the council records whose valid NINO
    finds a DWP record (same NINO, so the same person but for the odd household mix-up); the prior
    from the spine's nature: every council record's person is in DWP once, so a council record and a
    random DWP record match with probability 1 / |DWP|; and what households share (twins, a father and
    son) from every pair of people in the whole spine, read once in chunks (one record per person there,
    so every pair is two people).
    """
    async with _sources(settings) as (dwp, hb, sc):
        household = await _household_pairs(dwp, progress=progress)
        spine = await dwp.sample(sample)
        council = await hb.sample(sample // 2) + await sc.sample(sample // 2)
        spine_size = await dwp.count()
        ninos = sorted({n for r in council if r.nino and (n := check_nino(r.nino).nino) is not None})
        labelled_spine = await dwp.people_by_nino(ninos)
    left, right = prepare(columns_of(council)), prepare(columns_of(spine))
    model = FSModel(COMPARISONS)
    model.estimate_u(left, right, seed=seed)
    model.estimate_tf(left, right)
    model.estimate_household([household])
    by_nino = {p.nino: p for p in labelled_spine}
    pairs = [(r, by_nino[n]) for r in council if r.nino and (n := check_nino(r.nino).nino) in by_nino]
    if len(pairs) >= 500:
        lab_left = prepare(columns_of([a for a, _ in pairs]))
        lab_right = prepare(columns_of([b for _, b in pairs]))
        index = np.arange(len(pairs), dtype=np.int64)
        levels = compare(lab_left, lab_right, (index, index), COMPARISONS)
        model.estimate_m_from_matches(levels, population_pairs=spine_size, expected_matches=1.0)
    else:  # too few NINOs to learn from: unsupervised EM over blocked candidates
        kl, kr = blocking_keys(left), blocking_keys(right)
        candidates = block(kl, kr)
        levels = compare(left, right, candidates, COMPARISONS)
        model.estimate_m(levels, sessions(kl, kr, candidates), population_pairs=len(council) * len(spine))
    model.trained_on.update(spine_records=len(spine), council_records=len(council), spine_size=spine_size)
    return model


def _fingerprint(ring: KeyRing, record: Demographics) -> str:
    # Keyed, so the index cannot be used to test guesses about a record's contents.
    parts = [
        record.given_name,
        record.family_name,
        str(record.dob),
        record.postcode,
        record.address_line1,
        record.address_line2,
        record.town,
        record.nhs_number,
        record.nino,
    ]
    return ring.hash_text("record", "\x1f".join(p or "" for p in parts))


def _nino_hash(ring: KeyRing, nino: str | None) -> tuple[str | None, str | None]:
    normalised = check_nino(nino).nino if nino else None
    if normalised is None:
        return None, None
    keyed = ring.hash_nino(normalised)
    return keyed.key_id, keyed.value


def _evidence(decision: Decision) -> str | None:
    if decision.chosen is None:
        return None
    return json.dumps(
        [{"comparison": e.comparison, "level": e.level, "weight": e.weight} for e in decision.chosen.evidence]
    )


_UPSERT = """
INSERT INTO hub.link (source, source_record_id, person_key, nino_key_id, nino_hash, method, band, probability,
                      match_weight, model_version, evidence, fingerprint, linked_at)
SELECT * , now() FROM unnest($1::text[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[],
                             $8::float8[], $9::float8[], $10::text[], $11::jsonb[], $12::text[])
ON CONFLICT (source, source_record_id) DO UPDATE SET
    person_key = EXCLUDED.person_key, nino_key_id = EXCLUDED.nino_key_id, nino_hash = EXCLUDED.nino_hash,
    method = EXCLUDED.method, band = EXCLUDED.band, probability = EXCLUDED.probability,
    match_weight = EXCLUDED.match_weight, model_version = EXCLUDED.model_version, evidence = EXCLUDED.evidence,
    fingerprint = EXCLUDED.fingerprint, linked_at = now()
WHERE hub.link.method <> 'clerical'
"""

_REVIEW = """
INSERT INTO hub.review_item (source, source_record_id, candidate_person, reason, probability, match_weight,
                             model_version, evidence)
SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[], $4::text[], $5::float8[], $6::float8[], $7::text[],
                     $8::jsonb[])
ON CONFLICT (source, source_record_id, candidate_person) DO NOTHING
"""


def _columns(rows: Sequence[tuple[Any, ...]]) -> list[list[Any]]:
    return [list(col) for col in zip(*rows, strict=True)] if rows else []


async def _write(
    hub: asyncpg.Connection,
    source: str,
    records: Sequence[Demographics],
    decisions: Sequence[Decision],
    ring: KeyRing,
    version: str,
    counts: LinkCounts,
) -> None:
    links, reviews = [], []
    for record, decision in zip(records, decisions, strict=True):
        key_id, nino_hash = _nino_hash(ring, record.nino)
        chosen = decision.chosen
        person = person_key_for(chosen.spine_record_id) if decision.band is Band.LINK and chosen else None
        links.append(
            (
                source,
                record.record_id,
                person,
                key_id,
                nino_hash,
                decision.method,
                decision.band.value,
                chosen.probability if chosen else None,
                chosen.match_weight if chosen else None,
                version,
                _evidence(decision),
                _fingerprint(ring, record),
            )
        )
        counts.add(source, f"{decision.method}:{decision.band.value}")
        for c in decision.review:
            evidence = json.dumps(
                [{"comparison": e.comparison, "level": e.level, "weight": e.weight} for e in c.evidence]
            )
            reviews.append(
                (
                    source,
                    record.record_id,
                    person_key_for(c.spine_record_id),
                    decision.reason or "probabilistic",
                    c.probability,
                    c.match_weight,
                    version,
                    evidence,
                )
            )
    async with hub.transaction():
        if links:
            await hub.execute(_UPSERT, *_columns(links))
        if reviews:
            await hub.execute(_REVIEW, *_columns(reviews))


async def build_links(
    settings: Settings,
    *,
    model: FSModel,
    thresholds: Thresholds,
    chunk: int = 2000,
    progress: bool = True,
    resume: bool = True,
    workers: int = 1,
    force: bool = False,
) -> LinkCounts:
    """Build or refresh the link index for every source against the DWP spine (``force``: re-decide
    every record, not only those whose fingerprint or model changed; clerical decisions still stand)."""
    assert settings.keys_path is not None, "linkage needs the hub key ring"
    ring = load_key_ring(settings.keys_path)
    version = model.version
    counts = LinkCounts()
    hub = await asyncpg.connect(migration_url(settings, "hub"))
    pool: ProcessPoolExecutor | None = None
    try:
        run = (
            await hub.fetchrow(
                "SELECT run_id, cursors FROM hub.link_run WHERE finished_at IS NULL AND model_version = $1 "
                "ORDER BY run_id DESC LIMIT 1",
                version,
            )
            if resume
            else None
        )
        if run is None:
            run_id = await hub.fetchval(
                "INSERT INTO hub.link_run (model_version) VALUES ($1) RETURNING run_id", version
            )
            cursors: dict[str, Any] = {}
        else:
            run_id, cursors = run["run_id"], json.loads(run["cursors"])
        # Deciding is CPU work in Python: it runs in worker processes while the next chunks' candidates
        # are fetched (PostgreSQL works meanwhile), a few chunks in flight, written back in order so the
        # run's cursor always marks a prefix that is done.
        pool = (
            ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
            if workers > 1
            else None
        )
        loop = asyncio.get_running_loop()
        async with _sources(settings) as (dwp, hb, sc):
            for source in (dwp, hb, sc):
                bar = tqdm(total=await source.count(), desc=f"link {source.name}", unit="rec", disable=not progress)
                after = cursors.get(source.name, source.people.first_cursor)
                in_flight: deque[tuple[list[Demographics], list[Demographics], Any]] = deque()

                async def finish_oldest(
                    source: PgSource = source, in_flight: deque[Any] = in_flight, bar: Any = bar
                ) -> None:
                    records, todo, pending = in_flight.popleft()
                    decisions = await pending
                    if todo:
                        await _write(hub, source.name, todo, decisions, ring, version, counts)
                    last = records[-1].record_id
                    cursors[source.name] = int(last) if source.people.id_type == "bigint" and last is not None else last
                    await hub.execute(
                        "UPDATE hub.link_run SET cursors = $2::jsonb, counts = $3::jsonb WHERE run_id = $1",
                        run_id,
                        json.dumps(cursors),
                        json.dumps(counts.by_source),
                    )
                    bar.update(len(records))

                while True:
                    records = await source.scan(after, chunk)
                    if not records:
                        break
                    last_id = records[-1].record_id
                    after = int(last_id) if source.people.id_type == "bigint" and last_id is not None else last_id
                    fresh = set() if force else await _unchanged(hub, source.name, records, ring, version)
                    todo = [r for r in records if r.record_id not in fresh]
                    counts.add(source.name, "unchanged", len(records) - len(todo))
                    pending: Any
                    if source is dwp or not todo:
                        pending = _ready([_spine_decision(r) for r in todo] if source is dwp else [])
                    else:
                        candidates = await _candidates(dwp, todo)
                        if pool is None:
                            pending = _ready(decide(todo, candidates, model=model, thresholds=thresholds))
                        else:
                            pending = loop.run_in_executor(pool, _decide_in_worker, todo, candidates, model, thresholds)
                    in_flight.append((records, todo, pending))
                    if len(in_flight) > max(workers, 1):
                        await finish_oldest()
                while in_flight:
                    await finish_oldest()
                bar.close()
        # Fresh statistics: a bulk load leaves the planner guessing (a 1M-row index scanned per lookup).
        await hub.execute("ANALYZE hub.link")
        await hub.execute("UPDATE hub.link_run SET finished_at = now() WHERE run_id = $1", run_id)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        await hub.close()
    return counts


def _spine_decision(record: Demographics) -> Decision:
    assert record.record_id is not None
    return Decision(Band.LINK, "nino", Candidate(record.record_id, 1.0, 0.0, ()))


async def _unchanged(
    hub: asyncpg.Connection, source: str, records: Sequence[Demographics], ring: KeyRing, version: str
) -> set[str]:
    rows = await hub.fetch(
        "SELECT source_record_id, fingerprint, model_version, method FROM hub.link "
        "WHERE source = $1 AND source_record_id = ANY($2::text[])",
        source,
        [r.record_id for r in records],
    )
    known = {r["source_record_id"]: r for r in rows}
    same = set()
    for record in records:
        row = known.get(record.record_id or "")
        if row is None:
            continue
        if row["method"] == "clerical" or (
            row["fingerprint"] == _fingerprint(ring, record) and row["model_version"] in (version, None)
        ):
            same.add(record.record_id or "")
    return same


def _ready(value: Any) -> asyncio.Future[Any]:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    future.set_result(value)
    return future


def _decide_in_worker(
    records: list[Demographics], candidates: list[tuple[int, Demographics]], model: FSModel, thresholds: Thresholds
) -> list[Decision]:
    return decide(records, candidates, model=model, thresholds=thresholds)


async def _candidates(dwp: DwpSource, records: Sequence[Demographics]) -> list[tuple[int, Demographics]]:
    """Spine candidates for each record: its NINO's DWP record, and the blocking look-ups."""
    ninos = sorted({n for r in records if r.nino and (n := check_nino(r.nino).nino) is not None})
    by_nino = await dwp.people_by_nino(ninos) if ninos else []
    nino_index: dict[str, list[Demographics]] = {}
    for person in by_nino:
        nino_index.setdefault(person.nino or "", []).append(person)
    candidates: list[tuple[int, Demographics]] = []
    for i, record in enumerate(records):
        normalised = check_nino(record.nino).nino if record.nino else None
        candidates += [(i, p) for p in nino_index.get(normalised or "", [])]
    candidates += await dwp.find_candidates(records)
    return candidates


def save_model(model: FSModel, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(model.dumps())


def load_model(path: Path) -> FSModel:
    return FSModel.loads(path.read_text())


async def rekey(settings: Settings, *, chunk: int = 2000, progress: bool = True) -> dict[str, int]:
    """Re-hash the link index's NINOs with the key ring's current key (after a rotation).

    The NINO is read again from the record's own source (the hub never kept it), hashed with the new
    key, and the row updated; lookups keep working throughout because they try every key in the ring.
    Resumable: it only ever touches rows still under another key.
    """
    assert settings.keys_path is not None, "re-keying needs the hub key ring"
    ring = load_key_ring(settings.keys_path)
    counts: dict[str, int] = {}
    hub = await asyncpg.connect(migration_url(settings, "hub"))
    try:
        async with _sources(settings) as (dwp, hb, sc):
            for source in (dwp, hb, sc):
                todo = await hub.fetchval(
                    "SELECT count(*) FROM hub.link WHERE source = $1 AND nino_key_id IS NOT NULL AND nino_key_id <> $2",
                    source.name,
                    ring.current,
                )
                bar = tqdm(total=todo, desc=f"rekey {source.name}", unit="rec", disable=not progress)
                while True:
                    ids = [
                        r["source_record_id"]
                        for r in await hub.fetch(
                            "SELECT source_record_id FROM hub.link WHERE source = $1 AND nino_key_id IS NOT NULL "
                            "AND nino_key_id <> $2 ORDER BY source_record_id LIMIT $3",
                            source.name,
                            ring.current,
                            chunk,
                        )
                    ]
                    if not ids:
                        break
                    records = {r.record_id: r for r in await source.by_record_ids(ids)}
                    updates = []
                    for rid in ids:
                        record = records.get(rid)
                        key_id, value = _nino_hash(ring, record.nino if record else None)
                        # A record gone from its source, or whose NINO no longer reads, keeps no hash.
                        updates.append((source.name, rid, key_id, value))
                    await hub.executemany(
                        "UPDATE hub.link SET nino_key_id = $3, nino_hash = $4 "
                        "WHERE source = $1 AND source_record_id = $2",
                        updates,
                    )
                    counts[source.name] = counts.get(source.name, 0) + len(ids)
                    bar.update(len(ids))
                bar.close()
    finally:
        await hub.close()
    return counts
