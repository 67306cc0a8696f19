"""Building or refreshing the link index across whole sources: the spine held in memory, council
records decided in chunks by forked workers; bounded memory, idempotent, resumable and incremental."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import asyncpg
import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from hub.access.keys import load_key_ring
from hub.config import Settings
from hub.ops.linking.rows import (
    ReviewChanges,
    Rows,
    fingerprint,
    finish_run,
    open_items,
    open_run,
    rows_for,
    thresholds_key,
    write_rows,
)
from hub.ops.linking.sources import LinkCounts, open_sources
from hub.ops.migrate import migration_url
from linkage import (
    Band,
    Demographics,
    FSModel,
    KeyRing,
    Thresholds,
    columns_of,
    prepare,
)
from linkage.blocking import SpineIndex
from linkage.link import Candidate, Decision, decide_pairs, normalised_nino
from resolvers.sources.pg import PgSource

__all__ = ["build_links"]


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
        run_id, cursors = await open_run(hub, version, resume=resume)
        open_before = await open_items(hub)
        changes = ReviewChanges()
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

        async with open_sources(settings) as (dwp, hb, sc):

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
                    await write_rows(hub, rows, run_id=run_id, thresholds=thresholds, changes=changes)
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
                        fresh = (
                            set()
                            if force
                            else await unchanged_records(hub, source.name, records, ring, version, thresholds)
                        )
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
        counts.review = await finish_run(hub, run_id, changes, open_before=open_before)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        _BATCH = None
        await hub.close()
    return counts


def _spine_decision(record: Demographics) -> Decision:
    assert record.record_id is not None
    return Decision(Band.LINK, "nino", Candidate(record.record_id, 1.0, 0.0, ()))


async def unchanged_records(
    hub: asyncpg.Connection,
    source: str,
    records: Sequence[Demographics],
    ring: KeyRing,
    version: str,
    thresholds: Thresholds,
) -> set[str]:
    """The records whose decision stands: decided by a person, or from the same data by the same model with
    the same bands."""
    bands = thresholds_key(thresholds)
    rows = await hub.fetch(
        "SELECT source_record_id, fingerprint, model_version, thresholds, method FROM hub.link "
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
            row["fingerprint"] == fingerprint(ring, record)
            and row["model_version"] in (version, None)
            and row["thresholds"] == bands
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


def _spine_chunk(source: str, records: list[Demographics], todo: list[Demographics]) -> tuple[Rows, Any]:
    """A chunk of the spine: every record links to itself (one person per DWP record); all of them,
    prepared, go to the spine held for the council sources."""
    batch = _BATCH
    assert batch is not None
    rows = rows_for(source, todo, [_spine_decision(r) for r in todo], batch.ring, batch.version, batch.thresholds)
    return rows, (prepare(columns_of(records)), [r.record_id or "" for r in records], _normalised(records))


def _council_chunk(source: str, records: list[Demographics], todo: list[Demographics]) -> tuple[Rows, Any]:
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
    return rows_for(source, todo, decisions, batch.ring, batch.version, batch.thresholds), None
