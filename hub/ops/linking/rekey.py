"""Re-keying the link index after a NINO key rotation, resumably."""

from __future__ import annotations

import asyncpg
from tqdm import tqdm

from hub.access.keys import load_key_ring
from hub.config import Settings
from hub.ops.linking.rows import hash_of_nino
from hub.ops.linking.sources import open_sources
from hub.ops.migrate import migration_url

__all__ = ["rekey"]


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
        async with open_sources(settings) as (dwp, hb, sc):
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
                        key_id, value = hash_of_nino(ring, record.nino if record else None)
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
