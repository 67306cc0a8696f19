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
import numpy.typing as npt
import orjson
from tqdm import tqdm

from hub.access.keys import load_key_ring
from hub.config import Settings
from hub.db import create_store_pool
from hub.ops.migrate import migration_url
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
from linkage.blocking import SpineIndex
from linkage.household import PairCounter
from linkage.link import Candidate, Decision, decide_pairs, normalised_nino, person_key_for
from resolvers.source_spans import source_span
from resolvers.sources import DwpSource, HousingBenefitSource, SocialCareSource
from resolvers.sources.pg import PgSource

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
            DwpSource(pools["src_dwp"], timeout=_BATCH_TIMEOUT, db_span=source_span),
            HousingBenefitSource(pools["src_hb"], timeout=_BATCH_TIMEOUT, db_span=source_span),
            SocialCareSource(pools["src_social_care"], timeout=_BATCH_TIMEOUT, db_span=source_span),
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
    normalised = normalised_nino(nino)
    if normalised is None:
        return None, None
    keyed = ring.hash_nino(normalised)
    return keyed.key_id, keyed.value


def _evidence_json(candidate: Candidate) -> str:
    fields = [{"comparison": e.comparison, "level": e.level, "weight": e.weight} for e in candidate.evidence]
    return orjson.dumps(fields).decode()


# Rows are copied (binary COPY) into a session-local staging table, then upserted from it in one statement.
_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS link_stage (
    source text, source_record_id text, person_key uuid, nino_key_id text, nino_hash text, method text,
    band text, probability float8, match_weight float8, model_version text, evidence text, fingerprint text
)
"""
_STAGE_COLUMNS = (
    "source", "source_record_id", "person_key", "nino_key_id", "nino_hash", "method", "band", "probability",
    "match_weight", "model_version", "evidence", "fingerprint",
)  # fmt: skip
_UPSERT = """
INSERT INTO hub.link (source, source_record_id, person_key, nino_key_id, nino_hash, method, band, probability,
                      match_weight, model_version, evidence, fingerprint, linked_at)
SELECT source, source_record_id, person_key, nino_key_id, nino_hash, method, band, probability, match_weight,
       model_version, evidence::jsonb, fingerprint, now() FROM link_stage
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


@dataclass
class _Rows:
    """A decided chunk, ready to write: link rows, review rows, and what to count."""

    links: list[tuple[Any, ...]]
    reviews: list[tuple[Any, ...]]
    counted: list[str]


def _rows(
    source: str, records: Sequence[Demographics], decisions: Sequence[Decision], ring: KeyRing, version: str
) -> _Rows:
    out = _Rows([], [], [])
    for record, decision in zip(records, decisions, strict=True):
        key_id, nino_hash = _nino_hash(ring, record.nino)
        chosen = decision.chosen
        person = person_key_for(chosen.spine_record_id) if decision.band is Band.LINK and chosen else None
        out.links.append(
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
                _evidence_json(chosen) if chosen else None,
                _fingerprint(ring, record),
            )
        )
        out.counted.append(f"{decision.method}:{decision.band.value}")
        out.reviews += [
            (
                source,
                record.record_id,
                person_key_for(c.spine_record_id),
                decision.reason or "probabilistic",
                c.probability,
                c.match_weight,
                version,
                _evidence_json(c),
            )
            for c in decision.review
        ]
    return out


async def _write(hub: asyncpg.Connection, rows: _Rows) -> None:
    async with hub.transaction():
        if rows.links:
            await hub.execute(_STAGE)
            await hub.execute("TRUNCATE link_stage")
            await hub.copy_records_to_table("link_stage", records=rows.links, columns=_STAGE_COLUMNS)
            await hub.execute(_UPSERT)
        if rows.reviews:
            await hub.execute(_REVIEW, *_columns(rows.reviews))


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
    global _BATCH
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
        _BATCH = _Batch(ring, version, model, thresholds)
        loop = asyncio.get_running_loop()

        def fork() -> ProcessPoolExecutor | None:
            # Forked, so the workers inherit _BATCH (the spine, once there is one) without pickling it.
            return (
                ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"))
                if workers > 1
                else None
            )

        def submit(fn: Any, *args: Any) -> Any:
            return _ready(fn(*args)) if pool is None else loop.run_in_executor(pool, fn, *args)

        async with _sources(settings) as (dwp, hb, sc):

            async def run_source(source: PgSource, work: Any, *, spine: _SpineBuilder | None = None) -> None:
                """Scan a source in id order from the run's cursor, work each chunk into rows (a few
                chunks in flight, on worker processes when there are any) and write them back in
                order, so the cursor always marks a prefix that is done. The spine is read whole (it
                is held in memory for the others), but written only from its cursor on."""
                bar = tqdm(total=await source.count(), desc=f"link {source.name}", unit="rec", disable=not progress)
                done = cursors.get(source.name)
                after = source.people.first_cursor if spine is not None or done is None else done
                in_flight: deque[tuple[list[Demographics], bool, Any]] = deque()

                async def finish_oldest() -> None:
                    records, reread, pending = in_flight.popleft()
                    rows, prepared = await pending
                    if spine is not None:
                        spine.add(*prepared)
                    bar.update(len(records))
                    if reread:
                        return
                    await _write(hub, rows)
                    for key in rows.counted:
                        counts.add(source.name, key)
                    cursors[source.name] = _cursor(source, records[-1])
                    await hub.execute(
                        "UPDATE hub.link_run SET cursors = $2::jsonb, counts = $3::jsonb WHERE run_id = $1",
                        run_id,
                        json.dumps(cursors),
                        json.dumps(counts.by_source),
                    )

                while records := await source.scan(after, chunk):
                    after = _cursor(source, records[-1])
                    # The spine before the cursor of the run being resumed: read (for the others), not written.
                    reread = spine is not None and done is not None and after <= done
                    todo: list[Demographics] = []
                    if not reread:
                        fresh = set() if force else await _unchanged(hub, source.name, records, ring, version)
                        todo = [r for r in records if r.record_id not in fresh]
                        counts.add(source.name, "unchanged", len(records) - len(todo))
                    in_flight.append((records, reread, submit(work, source.name, records, todo)))
                    if len(in_flight) > max(workers, 1):
                        await finish_oldest()
                while in_flight:
                    await finish_oldest()
                bar.close()

            builder = _SpineBuilder()
            pool = fork()
            await run_source(dwp, _spine_chunk, spine=builder)
            # Council records are decided against the whole spine, held in memory with its blocking keys
            # (the same two-fact keys the sources' SQL serves online): no query per record, no candidate
            # read twice. The workers are forked again once the spine is built, and share it.
            if pool is not None:
                pool.shutdown()
            _BATCH.spine = builder.build()
            pool = fork()
            for source in (hb, sc):
                await run_source(source, _council_chunk)
        # Fresh statistics: a bulk load leaves the planner guessing (a 1M-row index scanned per lookup).
        await hub.execute("ANALYZE hub.link")
        await hub.execute("UPDATE hub.link_run SET finished_at = now() WHERE run_id = $1", run_id)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        _BATCH = None
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


def _cursor(source: PgSource, record: Demographics) -> Any:
    last = record.record_id
    return int(last) if source.people.id_type == "bigint" and last is not None else last


class _SpineBuilder:
    """The spine's records, prepared for comparison, chunk by chunk."""

    def __init__(self) -> None:
        self._columns: list[dict[str, npt.NDArray[np.object_]]] = []
        self._ids: list[str] = []
        self._ninos: list[str | None] = []

    def add(self, columns: dict[str, npt.NDArray[np.object_]], ids: list[str], ninos: list[str | None]) -> None:
        self._columns.append(columns)
        self._ids += ids
        self._ninos += ninos

    def build(self) -> _Spine:
        parts = self._columns or [prepare({"given_name": []})]
        columns = {k: np.concatenate([c[k] for c in parts]) for k in parts[0]}
        by_nino: dict[str, list[int]] = {}
        for row, nino in enumerate(self._ninos):
            if nino is not None:
                by_nino.setdefault(nino, []).append(row)
        return _Spine(columns, self._ids, self._ninos, by_nino, SpineIndex(columns))


@dataclass
class _Spine:
    columns: dict[str, npt.NDArray[np.object_]]
    ids: list[str]
    ninos: list[str | None]
    by_nino: dict[str, list[int]]
    index: SpineIndex


@dataclass
class _Batch:
    ring: KeyRing
    version: str
    model: FSModel
    thresholds: Thresholds
    spine: _Spine | None = None


# What forked workers inherit: keys, model and, for the council sources, the spine (set before the pool
# forks, cleared after the run).
_BATCH: _Batch | None = None


def _normalised(records: Sequence[Demographics]) -> list[str | None]:
    return [normalised_nino(r.nino) for r in records]


def _spine_chunk(source: str, records: list[Demographics], todo: list[Demographics]) -> tuple[_Rows, Any]:
    """A chunk of the spine: every record links to itself (one person per DWP record); all of them,
    prepared, go to the spine held for the council sources."""
    batch = _BATCH
    assert batch is not None
    rows = _rows(source, todo, [_spine_decision(r) for r in todo], batch.ring, batch.version)
    return rows, (prepare(columns_of(records)), [r.record_id or "" for r in records], _normalised(records))


def _council_chunk(source: str, records: list[Demographics], todo: list[Demographics]) -> tuple[_Rows, Any]:
    """Council records decided against the spine: its NINO's DWP record and the blocking look-ups."""
    batch = _BATCH
    assert batch is not None
    assert batch.spine is not None, "the spine is loaded before any council record is decided"
    spine = batch.spine
    left = prepare(columns_of(todo))
    ninos = _normalised(todo)
    ia, ib = spine.index.candidates(left)
    by_nino = [(i, b) for i, nino in enumerate(ninos) if nino is not None for b in spine.by_nino.get(nino, ())]
    if by_nino:
        extra = np.asarray(by_nino, dtype=np.int64)
        size = spine.index.size
        codes = np.unique(np.concatenate([ia * size + ib, extra[:, 0] * size + extra[:, 1]]))
        ia, ib = codes // size, codes % size
    decisions = decide_pairs(
        left, ninos, spine.columns, spine.ids, spine.ninos, (ia, ib), model=batch.model, thresholds=batch.thresholds
    )
    return _rows(source, todo, decisions, batch.ring, batch.version), None


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
