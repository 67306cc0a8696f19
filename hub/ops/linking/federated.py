"""Building the link index across the organisational boundary: no source's population is copied.

The in-memory build (:mod:`hub.ops.linking.build`) reads the whole DWP spine into the hub; a hub that
federates over the sources' own subgraphs may not. Here each council source's own records are read through
its keyset feed, chunk by chunk, and for each chunk DWP is asked only for the candidates of those records
(its candidate search, evaluated on its own indexes, and the records carrying their NINOs), under the
hub's linkage purpose. Each record is then decided exactly as the online fallback decides a lookup
(:func:`linkage.link.decide`), and DWP's record of each person linked is indexed with it: the index holds
the people some council source knows, not DWP's whole population.

The run is the in-memory build's: resumable from the cursor each source reached, incremental (a record
whose fingerprint and model are unchanged is not decided again), idempotent (upserts by source record), and
split over processes by partition as it is (:mod:`hub.ops.linking.rows`).
It works over either transport (direct adapters or subgraphs): it needs only :class:`LinkingSpine` and
:class:`CouncilFeed`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import asyncpg

from hub.access.keys import load_key_ring
from hub.config import Settings
from hub.errors import SourceUnavailable
from hub.ops.linking.build import unchanged_records
from hub.ops.linking.rows import WHOLE, Partition, Rows, RunCounts, finish_run, open_run, rows_for, write_rows
from hub.ops.migrate import migration_url
from linkage import Band, Demographics, FSModel, Thresholds
from linkage.link import Candidate, Decision, decide, normalised_nino
from resolvers.sources.contract import HUB_PURPOSES, LINKAGE_PURPOSE, Ask

__all__ = ["CouncilFeed", "FederatedRun", "LinkingSpine", "build_links_federated", "linkage_ask"]


class LinkingSpine(Protocol):
    """What the build asks DWP: candidates for the records being linked, and the records with their NINOs."""

    @property
    def name(self) -> str: ...

    async def find_candidates(self, queries: Sequence[Demographics], ask: Ask) -> list[tuple[int, Demographics]]: ...

    async def people_by_nino(self, ninos: Sequence[str], ask: Ask) -> list[Demographics]: ...


class CouncilFeed(Protocol):
    """A council source's own records, in record-id order from a cursor (its keyset feed)."""

    @property
    def name(self) -> str: ...

    async def feed(self, after: str | None, limit: int, ask: Ask) -> list[Demographics]: ...


def linkage_ask(run: uuid.UUID) -> Ask:
    """The question a build run puts to the sources: the hub's linkage purpose, the run as its audit id."""
    return Ask(
        purpose=LINKAGE_PURPOSE,
        legal_basis=HUB_PURPOSES[LINKAGE_PURPOSE],
        org="welfare-hub",
        org_type="hub",
        audit_id=run,
        selection={},
        councils=None,
    )


@dataclass(frozen=True)
class FederatedRun:
    counts: RunCounts
    run: uuid.UUID  # the id the sources' access logs record the run's questions under
    seconds: float
    spine_records_read: int  # distinct DWP records the run was given (candidates, NINO matches)


def _spine_decision(record: Demographics) -> Decision:
    assert record.record_id is not None
    return Decision(Band.LINK, "nino", Candidate(record.record_id, 1.0, 0.0, ()))


async def decide_chunk(
    dwp: LinkingSpine, records: Sequence[Demographics], ask: Ask, *, model: FSModel, thresholds: Thresholds
) -> tuple[list[Decision], dict[str, Demographics], set[str]]:
    """Each record's decision, from DWP's candidates for it (blocking keys and NINO); the DWP records the
    linked ones chose (to index with them); and the ids of the DWP records read."""
    if not records:
        return [], {}, set()
    candidates = list(await dwp.find_candidates(records, ask))
    ninos = [normalised_nino(r.nino) for r in records]
    wanted = sorted({n for n in ninos if n is not None})
    if wanted:
        by_nino: dict[str, list[int]] = {}
        for i, nino in enumerate(ninos):
            if nino is not None:
                by_nino.setdefault(nino, []).append(i)
        for record in await dwp.people_by_nino(wanted, ask):
            for i in by_nino.get(normalised_nino(record.nino) or "", ()):
                candidates.append((i, record))
    decisions = decide(records, candidates, model=model, thresholds=thresholds)
    spine = {c.record_id: c for _, c in candidates if c.record_id is not None}
    chosen = {
        d.chosen.spine_record_id: spine[d.chosen.spine_record_id]
        for d in decisions
        if d.band is Band.LINK and d.chosen is not None and d.chosen.spine_record_id in spine
    }
    return decisions, chosen, set(spine)


async def build_links_federated(
    settings: Settings,
    dwp: LinkingSpine,
    councils: Sequence[CouncilFeed],
    *,
    model: FSModel,
    thresholds: Thresholds,
    chunk: int = 500,
    resume: bool = True,
    force: bool = False,
    partition: Partition = WHOLE,
) -> FederatedRun:
    """Build or refresh the link index for the council sources against DWP, asking DWP only about the
    records being linked (see the module's docstring); ``partition``: only that partition's council records
    (each partition reads every feed whole, and decides its own)."""
    assert settings.keys_path is not None, "linkage needs the hub key ring"
    ring = load_key_ring(settings.keys_path)
    version = model.version
    started = time.perf_counter()
    run_uuid = uuid.uuid4()
    ask = linkage_ask(run_uuid)
    spine_read: set[str] = set()
    hub = await asyncpg.connect(migration_url(settings, "hub"))
    try:
        share = await open_run(hub, version, resume=resume, partition=partition)
        counts = RunCounts(run_id=share.run_id, partition=partition)
        for source in councils if not share.done else ():
            after = share.cursors.get(source.name)
            walked: set[str] = set()  # each page's last id: a feed that serves a page again would loop for ever
            while records := await source.feed(after, chunk, ask):
                after = records[-1].record_id
                if after is None or after in walked:
                    raise SourceUnavailable(
                        source.name, f"source {source.name}'s feed went back to a page it had served"
                    )
                walked.add(after)
                mine = [r for r in records if partition.owns(source.name, r.record_id)]
                fresh = (
                    set()
                    if force or not mine
                    else await unchanged_records(hub, source.name, mine, ring, version, thresholds)
                )
                todo = [r for r in mine if r.record_id not in fresh]
                counts.add(source.name, "unchanged", len(mine) - len(todo))
                decisions, chosen, read = await decide_chunk(dwp, todo, ask, model=model, thresholds=thresholds)
                spine_read |= read
                rows = rows_for(source.name, todo, decisions, ring, version, thresholds)
                # DWP's record of each person linked is indexed too (the person key is derived from it). Two
                # partitions may both link someone's records, and write the same DWP row: each chunk writes
                # its rows in key order, so two chunks at once wait for each other rather than deadlock.
                spine_rows = rows_for(
                    dwp.name,
                    list(chosen.values()),
                    [_spine_decision(r) for r in chosen.values()],
                    ring,
                    version,
                    thresholds,
                )
                await write_rows(
                    hub,
                    Rows(sorted(rows.links + spine_rows.links, key=_key), rows.reviews, rows.counted),
                    share=share,
                    thresholds=thresholds,
                    source=source.name,
                    cursor=after,
                    unchanged=len(mine) - len(todo),
                )
                for key in rows.counted:
                    counts.add(source.name, key)
        end = await finish_run(hub, share)
        counts.run_finished, counts.pending, counts.review = end.run_finished, end.pending, end.review
    finally:
        await hub.close()
    return FederatedRun(counts, run_uuid, time.perf_counter() - started, len(spine_read))


def _key(link: tuple[object, ...]) -> tuple[str, str]:
    return (str(link[0]), str(link[1]))
