"""Building or refreshing the link index across whole sources: the spine held in memory, council
records decided in chunks by forked workers; bounded memory, idempotent, resumable and incremental, and
split over processes or pods by partition (each decides its own share of the records against the whole
spine; :mod:`hub.ops.linking.rows` coordinates them in the hub database)."""

from __future__ import annotations

import asyncio
import calendar
import datetime as dt
import itertools
import multiprocessing
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from hub.access.keys import load_key_ring
from hub.config import Settings
from hub.ops.linking.rows import (
    WHOLE,
    Partition,
    Rows,
    RunCounts,
    RunEnd,
    fingerprint,
    finish_run,
    open_run,
    rows_for,
    thresholds_key,
    write_rows,
)
from hub.ops.linking.sources import open_sources
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
from linkage.link import (
    Candidate,
    Decision,
    SpineDuplicate,
    decide_pairs,
    duplicates_among,
    normalised_nino,
    spine_duplicates,
)
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
    partition: Partition = WHOLE,
) -> RunCounts:
    """Build or refresh the link index for every source against the DWP spine (``force``: re-decide
    every record, not only those whose fingerprint or model changed; clerical decisions still stand).

    ``partition``: decide only that partition's records (of every source, the spine's own links included),
    against the whole spine, which every partition reads; the other partitions of the run are built by other
    processes, at the same time or not, and the last to finish ends the run (:func:`finish_run`)."""
    assert settings.keys_path is not None, "linkage needs the hub key ring"
    ring = load_key_ring(settings.keys_path)
    version = model.version
    hub = await asyncpg.connect(migration_url(settings, "hub"))
    pool: ProcessPoolExecutor | None = None
    key = next(_KEYS)
    try:
        share = await open_run(hub, version, resume=resume, partition=partition)
        counts = RunCounts(run_id=share.run_id, partition=partition)
        if share.done:  # built already by an earlier process: this one may end the run (its last was stopped)
            return _ended(counts, await finish_run(hub, share))
        _BATCHES[key] = batch = _Batch(ring, version, model, thresholds)
        loop = asyncio.get_running_loop()

        def fork() -> ProcessPoolExecutor | None:
            # Forked, so the workers inherit the batch (the spine, once there is one) without pickling it.
            return (
                ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"))
                if workers > 1
                else None
            )

        def submit(fn: Any, *args: Any) -> Any:
            return _ready(fn(key, *args)) if pool is None else loop.run_in_executor(pool, fn, key, *args)

        async with open_sources(settings) as (dwp, hb, sc):

            async def run_source(source: PgSource, work: Any, *, spine: _SpineBuilder | None = None) -> None:
                """Scan a source in id order from the partition's cursor, work each chunk's own records into
                rows (a few chunks in flight, on worker processes when there are any) and write them back in
                order, each with the cursor it reached, so the cursor always marks a prefix that is done. The
                spine is read whole (it is held in memory for the others), but written only from its cursor
                on, and only this partition's records of it."""
                bar = tqdm(total=await source.count(), desc=f"link {source.name}", unit="rec", disable=not progress)
                done = share.cursors.get(source.name)
                after = source.people.first_cursor if spine is not None or done is None else done
                in_flight: deque[tuple[list[Demographics], bool, int, Any]] = deque()

                async def finish_oldest() -> None:
                    records, reread, unchanged, pending = in_flight.popleft()
                    rows, prepared = await pending
                    if spine is not None:
                        spine.add(*prepared)
                    bar.update(len(records))
                    if reread:
                        return
                    await write_rows(
                        hub,
                        rows,
                        share=share,
                        thresholds=thresholds,
                        source=source.name,
                        cursor=_cursor(source, records[-1]),
                        unchanged=unchanged,
                    )
                    counts.add(source.name, "unchanged", unchanged)
                    for counted in rows.counted:
                        counts.add(source.name, counted)

                while records := await source.scan(after, chunk):
                    after = _cursor(source, records[-1])
                    # The spine before the cursor of the partition being resumed: read (for the others), not
                    # written.
                    reread = spine is not None and done is not None and after <= done
                    todo: list[Demographics] = []
                    unchanged = 0
                    # A spine record whose NINO an earlier one carries is decided once the whole spine is read
                    # (_duplicate_decision), not linked to itself here first: each record once.
                    records_to_own = [r for r in records if first_of_nino(r)] if spine is not None else records
                    if not reread:
                        mine = [r for r in records_to_own if partition.owns(source.name, r.record_id)]
                        fresh = (
                            set()
                            if force or not mine
                            else await unchanged_records(hub, source.name, mine, ring, version, thresholds)
                        )
                        todo = [r for r in mine if r.record_id not in fresh]
                        unchanged = len(mine) - len(todo)
                    in_flight.append((records, reread, unchanged, submit(work, source.name, records, todo)))
                    if len(in_flight) > max(workers, 1):
                        await finish_oldest()
                while in_flight:
                    await finish_oldest()
                bar.close()

            builder = _SpineBuilder()
            seen_ninos: set[str] = set()

            def first_of_nino(record: Demographics) -> bool:
                # DWP keeps NINOs normalised (its PeopleTable says so): no check per record of a million.
                nino = record.nino if dwp.people.nino_normalised else normalised_nino(record.nino)
                if nino is None:
                    return True
                if nino in seen_ninos:
                    return False
                seen_ninos.add(nino)
                return True

            pool = fork()
            await run_source(dwp, _spine_chunk, spine=builder)
            # Council records are decided against the whole spine, held in memory with its blocking keys
            # (the same two-fact keys the sources' SQL serves online): no query per record, no candidate
            # read twice. The workers are forked again once the spine is built, and share it.
            if pool is not None:
                pool.shutdown()
            batch.spine = spine = builder.build()
            # DWP's duplicates: a person registered twice is one person, under the first record's id; a NINO
            # on two people's records sends the later one to a person.
            duplicates = spine_duplicates(spine.columns, spine.ids, spine.ninos, model=model)
            # A person's decision on a later record stands: accepted, it is the earlier record's person;
            # rejected, its own. Until then it is in review, and nothing links to it.
            decided = await _clerical(hub, dwp.name, [i for i, d in duplicates.items() if not d.same])
            same = {i for i, d in duplicates.items() if d.same or decided.get(i) is True}
            spine.person_ids = [duplicates[i].original.spine_record_id if i in same else i for i in spine.ids]
            spine.in_review = frozenset(i for i, d in duplicates.items() if not d.same and i not in decided)
            # A service of adults only is never offered a child: the spine's people too young for it.
            spine.too_young = {
                source.name: _younger_than(spine.columns["dob"], source.youngest)
                for source in (hb, sc)
                if source.youngest is not None
            }
            mine = sorted((i for i in duplicates if partition.owns(dwp.name, i)), key=int)
            # Written with a cursor of their own (the spine's last record), so that a partition resumed after
            # this does not decide them again, and one resumed before it does.
            if mine and share.cursors.get(_DUPLICATES) is None:
                originals = {duplicates[i].original.spine_record_id for i in mine}
                found = {r.record_id: r for r in await dwp.by_record_ids(sorted({*mine, *originals}, key=int))}
                held = [found[i] for i in mine if i in found]
                # Decided, and fingerprinted, from one read of the record and the earlier one of its NINO:
                # either changing decides it again. One whose earlier record is gone is its own person.
                pairs = {
                    r.record_id or "": found.get(duplicates[r.record_id or ""].original.spine_record_id) for r in held
                }
                prints = {
                    i: fingerprint(ring, found[i], *([original] if original is not None else []))
                    for i, original in pairs.items()
                }
                fresh = (
                    set() if force else await unchanged_records(hub, dwp.name, held, ring, version, thresholds, prints)
                )
                todo = [r for r in held if r.record_id not in fresh]
                decisions = _duplicate_decisions(todo, pairs, model)
                rows = rows_for(
                    dwp.name,
                    todo,
                    decisions,
                    ring,
                    version,
                    thresholds,
                    fingerprints=[prints[r.record_id or ""] for r in todo],
                )
                await write_rows(
                    hub,
                    rows,
                    share=share,
                    thresholds=thresholds,
                    source=dwp.name,
                    cursor=spine.ids[-1],
                    unchanged=len(fresh),
                    cursor_key=_DUPLICATES,
                )
                counts.add(dwp.name, "unchanged", len(fresh))
                for counted in rows.counted:
                    counts.add(dwp.name, counted)
            pool = fork()
            for source in (hb, sc):
                await run_source(source, _council_chunk)
        return _ended(counts, await finish_run(hub, share))
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        _BATCHES.pop(key, None)
        await hub.close()


#: The cursor of the spine's duplicates, decided once the whole spine is read: set when they are written.
_DUPLICATES = "dwp:duplicates"


def _ended(counts: RunCounts, end: RunEnd) -> RunCounts:
    counts.run_finished, counts.pending, counts.review = end.run_finished, end.pending, end.review
    return counts


def _duplicate_decisions(
    records: Sequence[Demographics], originals: dict[str, Demographics | None], model: FSModel
) -> list[Decision]:
    """Each of DWP's later records of a NINO decided against the earlier record as read with it
    (:func:`spine_duplicates`, the rule the spine's person ids were named by): one whose earlier record is
    no longer held is its own person."""
    earlier = {o.record_id: o for o in originals.values() if o is not None}
    found = duplicates_among([*earlier.values(), *records], model=model)
    out = []
    for r in records:
        duplicate = found.get(r.record_id or "")
        out.append(_spine_decision(r) if duplicate is None else _duplicate_decision(duplicate))
    return out


def _duplicate_decision(duplicate: SpineDuplicate) -> Decision:
    """A spine record whose NINO an earlier record carries: the same person, linked to that record's
    person; or, as the records say, someone else: for a person to decide, shown how the two records
    compare, and released to no one meanwhile (the NINO names the first record's person)."""
    if duplicate.same:
        return Decision(Band.LINK, "nino", duplicate.original)
    return Decision(Band.REVIEW, "nino", duplicate.original, (duplicate.original,), "nino_conflict")


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
    fingerprints: dict[str, str] | None = None,
) -> set[str]:
    """The records whose decision stands: decided by a person, or from the same data by the same model with
    the same bands. ``fingerprints``: by record id, where a decision is made from more than the record."""
    bands = thresholds_key(thresholds)
    # One held back for a spine record in review is decided again every run: that review may be decided.
    rows = await hub.fetch(
        "SELECT l.source_record_id, l.fingerprint, l.model_version, l.thresholds, l.method, EXISTS ("
        "SELECT 1 FROM hub.review_item r WHERE r.source = l.source AND r.source_record_id = l.source_record_id "
        "AND r.status = 'open' AND r.reason = 'spine_record_in_review') AS held_back "
        "FROM hub.link l WHERE l.source = $1 AND l.source_record_id = ANY($2::text[])",
        source,
        [r.record_id for r in records],
    )
    known = {r["source_record_id"]: r for r in rows}
    same = set()
    for record in records:
        row = known.get(record.record_id or "")
        if row is None or row["held_back"]:
            continue
        if row["method"] == "clerical" or (
            row["fingerprint"]
            == (fingerprints[record.record_id or ""] if fingerprints is not None else fingerprint(ring, record))
            and row["model_version"] in (version, None)
            and row["thresholds"] == bands
        ):
            same.add(record.record_id or "")
    return same


async def _clerical(hub: asyncpg.Connection, source: str, record_ids: Sequence[str]) -> dict[str, bool]:
    """Of these records, those a person decided: linked (accepted) or not (rejected)."""
    if not record_ids:
        return {}
    rows = await hub.fetch(
        "SELECT source_record_id, band FROM hub.link WHERE source = $1 AND source_record_id = ANY($2::text[]) "
        "AND method = 'clerical'",
        source,
        list(record_ids),
    )
    return {r["source_record_id"]: r["band"] == "link" for r in rows}


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
    #: Each spine row's person: its own id, or the id of the earlier record it duplicates (spine_duplicates).
    person_ids: list[str] | None = None
    #: The spine records in review: a NINO an earlier record carries, on another person's details.
    in_review: frozenset[str] = frozenset()
    #: Per council source of adults only (PgSource.youngest): which spine rows are of people too young for it.
    too_young: dict[str, npt.NDArray[np.bool_]] = field(default_factory=dict)


@dataclass
class _Batch:
    ring: KeyRing
    version: str
    model: FSModel
    thresholds: Thresholds
    spine: _Spine | None = None


# The batches of the builds running in this process, by key: what forked workers inherit (keys, model and,
# for the council sources, the spine, set before the pool forks), and what a chunk is worked with in the
# process itself. Keyed, so two builds in one process (two partitions, say) never work with each other's.
_BATCHES: dict[int, _Batch] = {}
_KEYS = itertools.count()


def _normalised(records: Sequence[Demographics]) -> list[str | None]:
    return [normalised_nino(r.nino) for r in records]


def _spine_chunk(key: int, source: str, records: list[Demographics], todo: list[Demographics]) -> tuple[Rows, Any]:
    """A chunk of the spine: every record links to itself (one person per DWP record); all of them,
    prepared, go to the spine held for the council sources."""
    batch = _BATCHES[key]
    rows = rows_for(source, todo, [_spine_decision(r) for r in todo], batch.ring, batch.version, batch.thresholds)
    return rows, (prepare(columns_of(records)), [r.record_id or "" for r in records], _normalised(records))


def _council_chunk(key: int, source: str, records: list[Demographics], todo: list[Demographics]) -> tuple[Rows, Any]:
    """Council records decided against the spine: its NINO's DWP record and the blocking look-ups."""
    batch = _BATCHES[key]
    assert batch.spine is not None, "the spine is loaded before any council record is decided"
    spine = batch.spine
    left = prepare(columns_of(todo))
    ninos = _normalised(todo)
    ia, ib = spine.index.candidates(left)
    too_young = spine.too_young.get(source)
    if too_young is not None and len(ib):
        # Of the blocking look-ups only: the holder of the record's own NINO stays a candidate (the NINO
        # rules decide it), whatever the date of birth DWP holds.
        keep = ~too_young[ib]
        ia, ib = ia[keep], ib[keep]
    by_nino = [(i, b) for i, nino in enumerate(ninos) if nino is not None for b in spine.by_nino.get(nino, ())]
    if by_nino:
        extra = np.asarray(by_nino, dtype=np.int64)
        size = spine.index.size
        codes = np.unique(np.concatenate([ia * size + ib, extra[:, 0] * size + extra[:, 1]]))
        ia, ib = codes // size, codes % size
    decisions = decide_pairs(
        left,
        ninos,
        spine.columns,
        spine.person_ids or spine.ids,
        spine.ninos,
        (ia, ib),
        model=batch.model,
        thresholds=batch.thresholds,
    )
    if spine.in_review:
        decisions = [_held_back(d, spine.in_review) for d in decisions]
    return rows_for(source, todo, decisions, batch.ring, batch.version, batch.thresholds), None


def _younger_than(dobs: npt.NDArray[np.object_], years: int, today: dt.date | None = None) -> npt.NDArray[np.bool_]:
    """Which prepared dates of birth (``YYYYMMDD``, None when not known) are of someone under ``years`` today:
    an unknown date of birth is no one's age."""
    day = today or dt.date.today()
    year = day.year - years
    if (day.month, day.day) == (2, 29) and not calendar.isleap(year):
        cutoff = dt.date(year, 2, 28)  # born on 1 March of that year: not yet that age on 29 February
    else:
        cutoff = day.replace(year=year)
    born_after = cutoff.strftime("%Y%m%d")
    return np.fromiter((d is not None and d > born_after for d in dobs), dtype=np.bool_, count=len(dobs))


def _held_back(decision: Decision, in_review: frozenset[str]) -> Decision:
    """A link to a spine record that is itself in review (its NINO on another person's record too) waits for
    that review: until a person decides whose the record is, it names no one, for this record either."""
    chosen = decision.chosen
    if decision.band is not Band.LINK or chosen is None or chosen.spine_record_id not in in_review:
        return decision
    return Decision(Band.REVIEW, decision.method, chosen, (chosen,), "spine_record_in_review")
