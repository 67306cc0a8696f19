"""The rows a link run writes (keyed fingerprints and NINO hashes, evidence, and the staged upsert into the
link index and the review queue) and the run they are written for: its partitions, which process holds
which, each one's progress, and the run's end, once."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson

from hub.errors import ConfigError
from hub.ops.linking.sources import LinkCounts
from linkage import (
    Band,
    Demographics,
    KeyRing,
    Thresholds,
)
from linkage.link import Candidate, Decision, normalised_nino, person_key_for

__all__ = [
    "MAX_PARTITIONS",
    "WHOLE",
    "Partition",
    "ReviewChanges",
    "Rows",
    "RunCounts",
    "RunEnd",
    "RunShare",
    "evidence_json",
    "fingerprint",
    "finish_run",
    "hash_of_nino",
    "open_items",
    "open_run",
    "partition_of",
    "rows_for",
    "thresholds_key",
    "write_rows",
]


def fingerprint(ring: KeyRing, record: Demographics, *also: Demographics) -> str:
    """Keyed, so the index cannot be used to test guesses about a record's contents. ``also``: the other
    records the decision was made from (a DWP duplicate's is the earlier record of its NINO), so that a
    change to any of them decides the record again."""
    return ring.hash_text("record", "\x1e".join(_fingerprint_text(r) for r in (record, *also)))


def _fingerprint_text(record: Demographics) -> str:
    parts = [
        record.given_name,
        record.family_name,
        record.middle_names,
        record.known_as,
        record.name_suffix,
        record.previous_family_names,
        str(record.dob),
        record.postcode,
        record.address_line1,
        record.address_line2,
        record.town,
        record.nhs_number,
        record.nino,
    ]
    return "\x1f".join(p or "" for p in parts)


def hash_of_nino(ring: KeyRing, nino: str | None) -> tuple[str | None, str | None]:
    normalised = normalised_nino(nino)
    if normalised is None:
        return None, None
    keyed = ring.hash_nino(normalised)
    return keyed.key_id, keyed.value


def evidence_json(candidate: Candidate) -> str:
    fields = [{"comparison": e.comparison, "level": e.level, "weight": e.weight} for e in candidate.evidence]
    return orjson.dumps(fields).decode()


# Rows are copied (binary COPY) into a session-local staging table, then upserted from it in one statement.
_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS link_stage (
    source text, source_record_id text, person_key uuid, nino_key_id text, nino_hash text, method text,
    band text, probability float8, match_weight float8, model_version text, evidence text, fingerprint text,
    thresholds text
)
"""
_STAGE_COLUMNS = (
    "source", "source_record_id", "person_key", "nino_key_id", "nino_hash", "method", "band", "probability",
    "match_weight", "model_version", "evidence", "fingerprint", "thresholds",
)  # fmt: skip
_UPSERT = """
INSERT INTO hub.link (source, source_record_id, person_key, nino_key_id, nino_hash, method, band, probability,
                      match_weight, model_version, evidence, fingerprint, thresholds, linked_at)
SELECT source, source_record_id, person_key, nino_key_id, nino_hash, method, band, probability, match_weight,
       model_version, evidence::jsonb, fingerprint, thresholds, now() FROM link_stage
ON CONFLICT (source, source_record_id) DO UPDATE SET
    person_key = EXCLUDED.person_key, nino_key_id = EXCLUDED.nino_key_id, nino_hash = EXCLUDED.nino_hash,
    method = EXCLUDED.method, band = EXCLUDED.band, probability = EXCLUDED.probability,
    match_weight = EXCLUDED.match_weight, model_version = EXCLUDED.model_version, evidence = EXCLUDED.evidence,
    fingerprint = EXCLUDED.fingerprint, thresholds = EXCLUDED.thresholds, linked_at = now()
WHERE hub.link.method <> 'clerical'
"""

# A record's review items, from its latest decision. A candidate proposed again is refreshed (its evidence,
# probability, model, run and thresholds), and reopened if a run had superseded it; one a person decided
# stays decided. Nothing is proposed for a record a person linked (``clerical``): a forced rebuild re-decides
# it, but its decision stands.
_REVIEW = """
INSERT INTO hub.review_item AS r (source, source_record_id, candidate_person, reason, probability, match_weight,
                                  model_version, evidence, run_id, link_threshold, review_threshold)
SELECT u.*, $9::bigint, $10::float8, $11::float8
  FROM unnest($1::text[], $2::text[], $3::uuid[], $4::text[], $5::float8[], $6::float8[], $7::text[],
              $8::jsonb[])
       AS u(source, source_record_id, candidate_person, reason, probability, match_weight, model_version, evidence)
 WHERE NOT EXISTS (SELECT 1 FROM hub.link l
                    WHERE l.source = u.source AND l.source_record_id = u.source_record_id AND l.method = 'clerical')
ON CONFLICT (source, source_record_id, candidate_person) DO UPDATE SET
    reason = EXCLUDED.reason, probability = EXCLUDED.probability, match_weight = EXCLUDED.match_weight,
    model_version = EXCLUDED.model_version, evidence = EXCLUDED.evidence, run_id = EXCLUDED.run_id,
    link_threshold = EXCLUDED.link_threshold, review_threshold = EXCLUDED.review_threshold,
    status = 'open', superseded_by_run = NULL, superseded_at = NULL, superseded_because = NULL
 WHERE r.status IN ('open', 'superseded')
RETURNING (xmax = 0) AS new
"""
# The open items of the records just re-decided that their new decision no longer proposes: closed as
# superseded, saying why (the record linked, is no one in the spine, or has other candidates now). A
# record a person linked keeps what it has.
_SUPERSEDE = """
UPDATE hub.review_item r
   SET status = 'superseded', superseded_at = now(), superseded_by_run = $5,
       superseded_because = CASE d.band WHEN 'link' THEN 'linked' WHEN 'review' THEN 'candidate_dropped'
                                        ELSE 'not_linked' END
  FROM unnest($1::text[], $2::text[], $3::text[]) AS d(source, source_record_id, band)
 WHERE r.status = 'open' AND r.source = d.source AND r.source_record_id = d.source_record_id
   AND (r.source, r.source_record_id, r.candidate_person) NOT IN (
        SELECT * FROM unnest($1::text[], $2::text[], $4::uuid[]) AS k(source, source_record_id, candidate_person)
         WHERE k.candidate_person IS NOT NULL)
   AND NOT EXISTS (SELECT 1 FROM hub.link l
                    WHERE l.source = r.source AND l.source_record_id = r.source_record_id AND l.method = 'clerical')
RETURNING r.superseded_because
"""


def _columns(rows: Sequence[tuple[Any, ...]]) -> list[list[Any]]:
    return [list(col) for col in zip(*rows, strict=True)] if rows else []


@dataclass
class Rows:
    """A decided chunk, ready to write: link rows, review rows, and what to count."""

    links: list[tuple[Any, ...]]
    reviews: list[tuple[Any, ...]]
    counted: list[str]


def thresholds_key(thresholds: Thresholds) -> str:
    """The bands a decision was made with, as the link index keeps it: a record decided with other bands is
    decided again (new thresholds change the bands and the review queue, not only new data or a new model)."""
    return f"link={thresholds.link!r} review={thresholds.review!r} absent={thresholds.absent!r}"


def rows_for(
    source: str,
    records: Sequence[Demographics],
    decisions: Sequence[Decision],
    ring: KeyRing,
    version: str,
    thresholds: Thresholds,
    *,
    fingerprints: Sequence[str] | None = None,
) -> Rows:
    """``fingerprints``: each record's, when its decision was made from more than the record
    (:func:`fingerprint`)."""
    out = Rows([], [], [])
    prints = fingerprints if fingerprints is not None else [fingerprint(ring, r) for r in records]
    for record, decision, print_ in zip(records, decisions, prints, strict=True):
        key_id, nino_hash = hash_of_nino(ring, record.nino)
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
                evidence_json(chosen) if chosen else None,
                print_,
                thresholds_key(thresholds),
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
                evidence_json(c),
            )
            for c in decision.review
        ]
    return out


@dataclass
class ReviewChanges:
    """What a run did to the review queue: items proposed for the first time, proposed again (refreshed or
    reopened), and superseded, by why."""

    new: int = 0
    again: int = 0
    superseded: dict[str, int] = field(default_factory=dict)

    def add(self, other: ReviewChanges) -> None:
        self.new += other.new
        self.again += other.again
        for because, n in other.superseded.items():
            self.superseded[because] = self.superseded.get(because, 0) + n

    def as_json(self) -> dict[str, Any]:
        return {"new": self.new, "proposed_again": self.again, "superseded": dict(sorted(self.superseded.items()))}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> ReviewChanges:
        superseded = doc.get("superseded") or {}
        return cls(
            int(doc.get("new", 0)), int(doc.get("proposed_again", 0)), {str(k): int(v) for k, v in superseded.items()}
        )

    def copy(self) -> ReviewChanges:
        return ReviewChanges(self.new, self.again, dict(self.superseded))


# -- partitions: which process decides which records ---------------------------------------------------

#: The most partitions a run is split into. Each partition reads the whole spine (it decides its records
#: against all of it), so partitions beyond the machines there are to run them gain nothing.
MAX_PARTITIONS = 1024

_PARTITION = re.compile(r"(\d{1,4})/(\d{1,4})", re.ASCII)


def partition_of(source: str, record_id: str, count: int) -> int:
    """The partition of ``count`` a source record belongs to: a plain hash of its source and record id, the
    same in every process, on every machine and in every release. Not keyed: a record keeps its partition
    through a key rotation, and a record id is no secret (it is not a NINO). Changing this function while a
    run is unfinished would let its resumed partitions decide some records twice and others never."""
    digest = hashlib.blake2b(f"{source}\x1f{record_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


@dataclass(frozen=True)
class Partition:
    """The share of a run's records one build process decides: partition ``index`` (from 0) of ``count``.
    ``Partition()``, 0 of 1, is the whole build."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_PARTITIONS:
            raise ValueError(f"a build is split into 1 to {MAX_PARTITIONS} partitions, not {self.count}")
        if not 0 <= self.index < self.count:
            raise ValueError(
                f"there is no partition {self.index} of {self.count}: they are numbered from 0 to {self.count - 1}"
            )

    @classmethod
    def parse(cls, text: str) -> Partition:
        """``I/N``: partition I of N, I from 0 to N - 1."""
        found = _PARTITION.fullmatch(text.strip())
        if found is None:
            raise ValueError(f"{text[:20]!r} is not I/N (partition I of N, I from 0 to N - 1, as in 0/2 and 1/2)")
        return cls(int(found[1]), int(found[2]))

    def owns(self, source: str, record_id: str | None) -> bool:
        return self.count == 1 or partition_of(source, record_id or "", self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


WHOLE = Partition()


# -- a run and its shares, coordinated in the hub database ------------------------------------------------


@dataclass
class RunShare:
    """The partition of a link run this process holds, and that partition's progress so far (across the
    processes that built it before, when it resumes): the cursor each source reached, what it counted, what
    it did to the review queue. It is this process's while its connection lives (a session advisory lock on
    the connection the build writes through: a process that lost it can write nothing either)."""

    run_id: int
    partition: Partition
    cursors: dict[str, Any]
    counts: dict[str, dict[str, int]]
    changes: ReviewChanges
    done: bool  # finished by an earlier process: nothing is left to decide


@dataclass
class RunCounts(LinkCounts):
    """What one build process did (``by_source``), in which run and partition; ``review``, the run's report,
    when this process ended the run (the last partition to finish), else empty; ``pending``: the partitions
    still to finish."""

    run_id: int = 0
    partition: Partition = WHOLE
    run_finished: bool = False
    pending: list[int] = field(default_factory=list)


#: Held in shared mode by every build process for as long as its connection lives. An older release's build
#: held it alone (a build and the next could not overlap): the two never build at once.
_BUILD_LOCK = 0x776C6E6B  # 'wlnk'
#: Taken for the moment a process chooses its run and takes its partition: two processes starting together
#: cannot both make a run, nor both take one partition.
_OPENING = 0x776C6E6F  # 'wlno'
_RUN_SLOT = 0xFFFF  # beyond any partition: the lock every process of a run holds in shared mode


def _share_key(run_id: int, slot: int) -> int:
    """The advisory lock of a run's partition (or, ``_RUN_SLOT``, of the run): 'wl', the run, the slot, in one
    64-bit key whose top bits no other lock of the hub uses (theirs are 32-bit numbers)."""
    return (0x776C << 48) | ((run_id & 0xFFFFFFFF) << 16) | slot


_BUSY = "another link build is running on this hub database: wait for it to finish (a stopped one resumes)"

#: The partitions of a run, made with it, and for a run an older release left unfinished (no partitions) its
#: cursors and counts as its one partition's.
_SHARES = """
INSERT INTO hub.link_run_partition (run_id, partition, cursors, counts)
SELECT r.run_id, p, CASE WHEN r.partitions = 1 THEN r.cursors ELSE '{}' END,
       CASE WHEN r.partitions = 1 THEN r.counts ELSE '{}' END
  FROM hub.link_run r, generate_series(0, r.partitions - 1) AS p
 WHERE r.run_id = $1
ON CONFLICT DO NOTHING
"""
_TAKE = """
UPDATE hub.link_run_partition
   SET started_at = coalesce(started_at, now()), claimed_at = now(), claims = claims + 1
 WHERE run_id = $1 AND partition = $2
RETURNING cursors, counts, review, finished_at
"""
_PROGRESS = """
UPDATE hub.link_run_partition SET cursors = $3::jsonb, counts = $4::jsonb, review = $5::jsonb
 WHERE run_id = $1 AND partition = $2
"""


async def _taken(hub: asyncpg.Connection, key: int) -> bool:
    """Whether any session holds ``key``: tried alone, and let go at once."""
    if await hub.fetchval("SELECT pg_try_advisory_lock($1)", key):
        await hub.execute("SELECT pg_advisory_unlock($1)", key)
        return False
    return True


def _whole_or(partitions: int) -> str:
    return "as a whole build" if partitions == 1 else f"split into {partitions} partitions"


async def open_run(hub: asyncpg.Connection, version: str, *, resume: bool, partition: Partition = WHOLE) -> RunShare:
    """Take ``partition`` of the link run to build: the one running now, which this process joins; else
    (``resume``) the last unfinished one of this model, which resumes; else a new one, split into as many
    partitions as ``partition`` says. Refused, with what to do, while a run of another model or split another
    way is running, while another process holds this partition, and for a run split another way.

    ``hub`` is the connection the build writes through, for the build's whole life: the locks it takes are
    its session's."""
    if not await hub.fetchval("SELECT pg_try_advisory_lock_shared($1)", _BUILD_LOCK):
        raise ConfigError([_BUSY])
    try:
        async with hub.transaction():
            await hub.execute("SELECT pg_advisory_xact_lock($1)", _OPENING)
            return await _take_share(hub, version, resume=resume, partition=partition)
    except ConfigError:
        await hub.execute("SELECT pg_advisory_unlock_all()")  # refused: this session holds nothing of a build
        raise


async def _take_share(hub: asyncpg.Connection, version: str, *, resume: bool, partition: Partition) -> RunShare:
    unfinished = await hub.fetch(
        "SELECT run_id, model_version, partitions, open_before FROM hub.link_run WHERE finished_at IS NULL "
        "ORDER BY run_id DESC"
    )
    live = [r for r in unfinished if await _taken(hub, _share_key(r["run_id"], _RUN_SLOT))]
    run: asyncpg.Record | None
    if live:
        run = live[0]
        running = f"link build run {run['run_id']} is running on this hub database, {_whole_or(run['partitions'])}"
        if run["model_version"] != version:
            raise ConfigError(
                [
                    f"{running}, with another model ({run['model_version']}; this process has {version}): wait "
                    "for it to finish, or give every process of a build the same model file"
                ]
            )
        if not resume:
            raise ConfigError(
                [f"{running}: --restart starts a new run only when no build runs (without it, this process joins it)"]
            )
        if run["partitions"] != partition.count:
            raise ConfigError([f"{running}, and this process asks for {_asked(partition)}: {_same_n(run)}"])
    else:
        run = next((r for r in unfinished if r["model_version"] == version), None) if resume else None
        if run is not None and run["partitions"] != partition.count:
            raise ConfigError(
                [
                    f"link build run {run['run_id']} stopped before it finished, {_whole_or(run['partitions'])}, "
                    f"and this process asks for {_asked(partition)}: {_same_n(run)}, or start a new run with --restart"
                ]
            )
        if run is None:
            run = await hub.fetchrow(
                "INSERT INTO hub.link_run (model_version, partitions, open_before) VALUES ($1, $2, $3) "
                "RETURNING run_id, model_version, partitions, open_before",
                version,
                partition.count,
                await open_items(hub),
            )
            assert run is not None
    run_id = int(run["run_id"])
    if run["open_before"] is None:  # begun by an older release
        await hub.execute("UPDATE hub.link_run SET open_before = $2 WHERE run_id = $1", run_id, await open_items(hub))
    await hub.execute(_SHARES, run_id)
    if not await hub.fetchval("SELECT pg_try_advisory_lock($1)", _share_key(run_id, partition.index)):
        if partition.count == 1:
            raise ConfigError([_BUSY])
        raise ConfigError(
            [
                f"partition {partition} of link build run {run_id} is being built by another process: give each "
                "process its own partition (a stopped process's partition is free once its connection closes)"
            ]
        )
    # Never waits: only a process choosing its run, under _OPENING as this one is, tries it alone.
    await hub.execute("SELECT pg_advisory_lock_shared($1)", _share_key(run_id, _RUN_SLOT))
    share = await hub.fetchrow(_TAKE, run_id, partition.index)
    assert share is not None
    return RunShare(
        run_id,
        partition,
        dict(json.loads(share["cursors"])),
        dict(json.loads(share["counts"])),
        ReviewChanges.from_json(json.loads(share["review"])),
        done=share["finished_at"] is not None,
    )


def _asked(partition: Partition) -> str:
    return "the whole build" if partition.count == 1 else f"partition {partition}"


def _same_n(run: asyncpg.Record) -> str:
    n = int(run["partitions"])
    if n == 1:
        return "build it as a whole (no --partition)"
    return f"give every process of a run the same N (--partition I/{n}, I from 0 to {n - 1})"


_Tally = Mapping[str, Mapping[str, int]]  # per source, a number per key


def _merged(counts: _Tally, more: _Tally) -> dict[str, dict[str, int]]:
    out = {source: dict(counted) for source, counted in counts.items()}
    for source, counted in more.items():
        bucket = out.setdefault(source, {})
        for key, n in counted.items():
            bucket[key] = bucket.get(key, 0) + int(n)
    return out


def _counted(counts: _Tally, source: str, keys: Sequence[str], unchanged: int) -> dict[str, dict[str, int]]:
    tally = {"unchanged": unchanged}
    for key in keys:
        tally[key] = tally.get(key, 0) + 1
    return _merged(counts, {source: tally})


#: A chunk's transaction taken again when PostgreSQL aborted it to break a deadlock or a serialisation
#: conflict (a reviewer's decision on one of its records, another build): it is idempotent.
_RETRIES = 3
_RETRYABLE = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)


async def write_rows(
    hub: asyncpg.Connection,
    rows: Rows,
    *,
    share: RunShare,
    thresholds: Thresholds,
    source: str,
    cursor: Any,
    unchanged: int = 0,
    cursor_key: str | None = None,
) -> None:
    """A decided chunk into the link index and the review queue, in one transaction with its partition's
    progress: the links, the review items its decisions propose, the open items they no longer propose closed
    as superseded (only ever of the chunk's own records, so a partition closes no other's items), and the
    cursor ``source`` reached (kept under ``cursor_key``, else ``source``) with what the chunk counted (its
    decisions and ``unchanged`` records). A
    partition that stops resumes after its last committed chunk: no record it wrote is decided twice.

    Locks are taken in one order, the chunk's link rows and then their review items, as a reviewer's
    decision takes them (:meth:`hub.records.links.ReviewQueue.decide`); a transaction PostgreSQL aborts all
    the same is run again, and ``share`` counts what committed."""
    counts = _counted(share.counts, source, rows.counted, unchanged)
    cursors = {**share.cursors, (cursor_key or source): cursor}
    for attempt in range(_RETRIES):
        changes = share.changes.copy()
        try:
            async with hub.transaction():
                await _write(hub, rows, run_id=share.run_id, thresholds=thresholds, changes=changes)
                await hub.execute(
                    _PROGRESS,
                    share.run_id,
                    share.partition.index,
                    json.dumps(cursors),
                    json.dumps(counts),
                    json.dumps(changes.as_json()),
                )
        except _RETRYABLE:
            if attempt == _RETRIES - 1:
                raise
            await asyncio.sleep(0.05 * 2**attempt)
            continue
        share.cursors, share.counts, share.changes = cursors, counts, changes
        return


async def _write(
    hub: asyncpg.Connection, rows: Rows, *, run_id: int, thresholds: Thresholds, changes: ReviewChanges
) -> None:
    if rows.links:
        await hub.execute(_STAGE)
        await hub.execute("TRUNCATE link_stage")
        await hub.copy_records_to_table("link_stage", records=rows.links, columns=_STAGE_COLUMNS)
        await hub.execute(_UPSERT)
    if rows.reviews:
        proposed = await hub.fetch(_REVIEW, *_columns(rows.reviews), run_id, thresholds.link, thresholds.review)
        new = sum(1 for r in proposed if r["new"])
        changes.new += new
        changes.again += len(proposed) - new
    if rows.links:
        # Each decided record once, with every candidate its decision puts to review (none: a NULL).
        proposed_for: dict[tuple[str, str], list[Any]] = {}
        for review in rows.reviews:
            proposed_for.setdefault((review[0], review[1]), []).append(review[2])
        sources, ids, bands, candidates = [], [], [], []
        for link in rows.links:
            source, record_id, band = link[0], link[1], link[6]
            for candidate in proposed_for.get((source, record_id)) or [None]:
                sources.append(source)
                ids.append(record_id)
                bands.append(band)
                candidates.append(candidate)
        for closed in await hub.fetch(_SUPERSEDE, sources, ids, bands, candidates, run_id):
            because = closed["superseded_because"]
            changes.superseded[because] = changes.superseded.get(because, 0) + 1


async def open_items(hub: asyncpg.Connection) -> int:
    return int(await hub.fetchval("SELECT count(*) FROM hub.review_item WHERE status = 'open'"))


@dataclass(frozen=True)
class RunEnd:
    """A partition's end: whether it ended the run (its report is the run's), and which partitions have yet
    to finish."""

    run_finished: bool
    pending: list[int]
    review: dict[str, Any]


async def finish_run(hub: asyncpg.Connection, share: RunShare) -> RunEnd:
    """Mark ``share``'s partition finished; when it is the last, end the run: its review report, the shares'
    changes added up with the queue's size when the run was made and now (also what ``welfare-hub link
    build`` prints), fresh statistics on the link index, and its end time. Exactly once: each partition
    finishes holding the run's row, so of two finishing together the second waits, then (each statement
    reading what committed before it) sees the first's finish, and only it sees none left."""
    async with hub.transaction():
        await hub.execute(
            "UPDATE hub.link_run_partition SET finished_at = coalesce(finished_at, now()) "
            "WHERE run_id = $1 AND partition = $2",
            share.run_id,
            share.partition.index,
        )
        run = await hub.fetchrow(
            "SELECT finished_at, open_before FROM hub.link_run WHERE run_id = $1 FOR UPDATE", share.run_id
        )
        assert run is not None
        shares = await hub.fetch(
            "SELECT partition, finished_at, counts, review FROM hub.link_run_partition WHERE run_id = $1 "
            "ORDER BY partition",
            share.run_id,
        )
        pending = [int(r["partition"]) for r in shares if r["finished_at"] is None]
        if run["finished_at"] is not None or pending:
            return RunEnd(False, pending, {})
        changes = ReviewChanges()
        counts: dict[str, dict[str, int]] = {}
        for r in shares:
            changes.add(ReviewChanges.from_json(json.loads(r["review"])))
            counts = _merged(counts, json.loads(r["counts"]))
        # Fresh statistics: a bulk load leaves the planner guessing (a 1M-row index scanned per lookup).
        await hub.execute("ANALYZE hub.link")
        review = {**changes.as_json(), "open_before": run["open_before"], "open_after": await open_items(hub)}
        await hub.execute(
            "UPDATE hub.link_run SET finished_at = now(), review = $2::jsonb, counts = $3::jsonb WHERE run_id = $1",
            share.run_id,
            json.dumps(review),
            json.dumps(counts),
        )
    return RunEnd(True, [], review)
