"""The rows a link run writes: keyed fingerprints and NINO hashes, evidence, and the staged upsert into
the link index and the review queue."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from linkage import (
    Band,
    Demographics,
    KeyRing,
)
from linkage.link import Candidate, Decision, normalised_nino, person_key_for

__all__ = ["Rows", "evidence_json", "fingerprint", "hash_of_nino", "open_run", "rows_for", "write_rows"]


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
class Rows:
    """A decided chunk, ready to write: link rows, review rows, and what to count."""

    links: list[tuple[Any, ...]]
    reviews: list[tuple[Any, ...]]
    counted: list[str]


def rows_for(
    source: str, records: Sequence[Demographics], decisions: Sequence[Decision], ring: KeyRing, version: str
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


async def write_rows(hub: asyncpg.Connection, rows: Rows) -> None:
    async with hub.transaction():
        if rows.links:
            await hub.execute(_STAGE)
            await hub.execute("TRUNCATE link_stage")
            await hub.copy_records_to_table("link_stage", records=rows.links, columns=_STAGE_COLUMNS)
            await hub.execute(_UPSERT)
        if rows.reviews:
            await hub.execute(_REVIEW, *_columns(rows.reviews))


async def open_run(hub: asyncpg.Connection, version: str, *, resume: bool) -> tuple[int, dict[str, Any]]:
    """The link run to carry on (``resume``: the last unfinished one of this model), or a new one: its id
    and the cursor each source has reached."""
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
