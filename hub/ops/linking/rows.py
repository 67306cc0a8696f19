"""The rows a link run writes: keyed fingerprints and NINO hashes, evidence, and the staged upsert into
the link index and the review queue."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson

from hub.errors import ConfigError
from linkage import (
    Band,
    Demographics,
    KeyRing,
    Thresholds,
)
from linkage.link import Candidate, Decision, normalised_nino, person_key_for

__all__ = [
    "ReviewChanges",
    "Rows",
    "evidence_json",
    "fingerprint",
    "finish_run",
    "hash_of_nino",
    "open_items",
    "open_run",
    "rows_for",
    "thresholds_key",
    "write_rows",
]


def fingerprint(ring: KeyRing, record: Demographics) -> str:
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
) -> Rows:
    out = Rows([], [], [])
    for record, decision in zip(records, decisions, strict=True):
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
                fingerprint(ring, record),
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


#: A chunk's transaction taken again when PostgreSQL aborted it to break a deadlock or a serialisation
#: conflict (a reviewer's decision on one of its records, another build): it is idempotent.
_RETRIES = 3
_RETRYABLE = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)


async def write_rows(
    hub: asyncpg.Connection, rows: Rows, *, run_id: int, thresholds: Thresholds, changes: ReviewChanges
) -> None:
    """A decided chunk into the link index and the review queue, in one transaction: the links, the review
    items its decisions propose, and the open items they no longer propose closed as superseded.

    Locks are taken in one order, the chunk's link rows and then their review items, as a reviewer's
    decision takes them (:meth:`hub.records.links.ReviewQueue.decide`); a transaction PostgreSQL aborts all
    the same is run again, and ``changes`` counts what committed."""
    for attempt in range(_RETRIES):
        done = ReviewChanges()
        try:
            async with hub.transaction():
                await _write(hub, rows, run_id=run_id, thresholds=thresholds, changes=done)
        except _RETRYABLE:
            if attempt == _RETRIES - 1:
                raise
            await asyncio.sleep(0.05 * 2**attempt)
            continue
        changes.add(done)
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


async def finish_run(
    hub: asyncpg.Connection, run_id: int, changes: ReviewChanges, *, open_before: int
) -> dict[str, Any]:
    """Mark the run finished, with what it did to the review queue and the queue's size after it (also what
    ``welfare-hub link build`` prints)."""
    review = {**changes.as_json(), "open_before": open_before, "open_after": await open_items(hub)}
    await hub.execute(
        "UPDATE hub.link_run SET finished_at = now(), review = $2::jsonb WHERE run_id = $1", run_id, json.dumps(review)
    )
    return review


#: Held by a link build for as long as its connection lives (a session advisory lock: a build that dies
#: lets go with its connection). Two builds at once would each supersede what the other proposes again.
_BUILD_LOCK = 0x776C6E6B  # 'wlnk'


async def open_run(hub: asyncpg.Connection, version: str, *, resume: bool) -> tuple[int, dict[str, Any]]:
    """The link run to carry on (``resume``: the last unfinished one of this model), or a new one: its id
    and the cursor each source has reached. Refused while another build runs on this hub database."""
    if not await hub.fetchval("SELECT pg_try_advisory_lock($1)", _BUILD_LOCK):
        raise ConfigError(
            ["another link build is running on this hub database: wait for it to finish (a stopped one resumes)"]
        )
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
        run_id = await hub.fetchval("INSERT INTO hub.link_run (model_version) VALUES ($1) RETURNING run_id", version)
        return int(run_id), {}
    return int(run["run_id"]), dict(json.loads(run["cursors"]))
