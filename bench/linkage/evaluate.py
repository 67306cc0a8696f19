"""Precision and recall of the link index against the synthetic ground truth (synth_truth schemas).

    python -m bench.linkage.evaluate   (with the same DATABASE_URL / WELFARE_HUB_DB_PREFIX as the build)

Reads the truth as the administrator (the hub's own roles cannot see it) and the link index from the hub
database; reports per source, and separately for records whose NINO was missing, wrong or right.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from hub.config import Settings
from hub.ops.migrate import migration_url
from linkage import check_nino
from linkage.link import person_key_for

_SOURCES = {
    "hb": ("src_hb", "hb.claim", "claim_ref", "hb:"),
    "social_care": ("src_social_care", "social_care.client", "client_id", "sc:"),
}


async def evaluate(settings: Settings) -> dict[str, dict[str, object]]:
    hub = await asyncpg.connect(migration_url(settings, "hub"))
    report: dict[str, dict[str, object]] = {}
    try:
        for source, (store, table, id_col, prefix) in _SOURCES.items():
            conn = await asyncpg.connect(migration_url(settings, store))  # type: ignore[arg-type]
            try:
                rows = await conn.fetch(
                    f"SELECT t.{id_col} AS rid, t.nino, r.true_person_id, r.true_nino FROM {table} t "
                    f"JOIN synth_truth.record_identity r ON r.record_id = $1 || t.{id_col}",
                    prefix,
                )
            finally:
                await conn.close()
            links = {
                r["source_record_id"]: r
                for r in await hub.fetch(
                    "SELECT source_record_id, band, person_key, method FROM hub.link WHERE source = $1", source
                )
            }
            by_case: dict[str, Counter[str]] = {}
            for row in rows:
                nino = check_nino(row["nino"]).nino if row["nino"] else None
                case = "nino_missing" if not row["nino"] else "nino_right" if nino == row["true_nino"] else "nino_wrong"
                link = links.get(row["rid"])
                counter = by_case.setdefault(case, Counter())
                counter["records"] += 1
                if link is None:
                    counter["unlinked_missing_row"] += 1
                elif link["band"] == "link":
                    correct = link["person_key"] == person_key_for(str(row["true_person_id"]))
                    counter["link_correct" if correct else "link_wrong"] += 1
                else:
                    counter[link["band"]] += 1
            total: Counter[str] = sum(by_case.values(), Counter())
            by_case["all"] = total
            report[source] = {
                case: {
                    **dict(c),
                    "precision": round(c["link_correct"] / max(c["link_correct"] + c["link_wrong"], 1), 5),
                    "recall": round(c["link_correct"] / max(c["records"], 1), 5),
                }
                for case, c in by_case.items()
            }
    finally:
        await hub.close()
    return report


if __name__ == "__main__":
    print(json.dumps(asyncio.run(evaluate(Settings.from_environ(os.environ))), indent=1))
