"""Precision and recall of the link index against the synthetic ground truth (synth_truth schemas).

    python -m bench.linkage.evaluate   (with the same DATABASE_URL / WELFARE_HUB_DB_PREFIX as the build)
    python -m bench.linkage.evaluate --write "title" [--note "how the stores were built"] [--before before.json]

Reads the truth as the administrator (the hub's own roles cannot see it) and the link index from the hub
database; reports per source, and separately for records whose NINO was missing, wrong or right, and whose
date of birth was held, missing (NULL) or a placeholder (linkage.PLACEHOLDER_DOBS); across both sources,
the records without a NINO and those without a right one. Each case: precision and recall at the link
band, and the share of its records put to review. ``--json`` writes the report as JSON; ``--write`` writes
``bench/results/linkage-synthetic-<time>.md`` with the command, the notes and the table (beside an earlier
``--json`` report given as ``--before``, on the same seed and size).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.results_file import this_command, write_result
from hub.config import Settings
from hub.ops.migrate import migration_url
from linkage import PLACEHOLDER_DOBS, check_nino
from linkage.link import person_key_for

_SOURCES = {
    # Every member of a claim: claimant, partner, non-dependants (src_hb migration 0008).
    "hb": ("src_hb", "hb.claim_person", "record_ref", "hb:"),
    "social_care": ("src_social_care", "social_care.client", "client_id", "sc:"),
}
#: Cases pooled over both sources: every record, no NINO at all, and no right one (missing or wrong: the
#: probabilistic route decides them).
_ACROSS = {
    "all": ("nino_missing", "nino_wrong", "nino_right"),
    "no_nino": ("nino_missing",),
    "no_right_nino": ("nino_missing", "nino_wrong"),
}


def _figures(c: Counter[str]) -> dict[str, Any]:
    return {
        **dict(c),
        "precision": round(c["link_correct"] / max(c["link_correct"] + c["link_wrong"], 1), 5),
        "recall": round(c["link_correct"] / max(c["records"], 1), 5),
        "review_share": round(c["review"] / max(c["records"], 1), 5),
    }


def _dob_case(dob: Any) -> str:
    return "dob_missing" if dob is None else "dob_placeholder" if dob in PLACEHOLDER_DOBS else "dob_held"


async def evaluate(settings: Settings) -> dict[str, dict[str, dict[str, Any]]]:
    hub = await asyncpg.connect(migration_url(settings, "hub"))
    report: dict[str, dict[str, dict[str, Any]]] = {}
    across: dict[str, Counter[str]] = {case: Counter() for case in _ACROSS}
    try:
        for source, (store, table, id_col, prefix) in _SOURCES.items():
            conn = await asyncpg.connect(migration_url(settings, store))  # type: ignore[arg-type]
            try:
                role = "t.role" if source == "hb" else "NULL::text"
                rows = await conn.fetch(
                    f"SELECT t.{id_col} AS rid, t.nino, t.date_of_birth, {role} AS role, r.true_person_id, r.true_nino "
                    f"FROM {table} t "
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
                if link is None:
                    outcome = "unlinked_missing_row"
                elif link["band"] == "link":
                    correct = link["person_key"] == person_key_for(str(row["true_person_id"]))
                    outcome = "link_correct" if correct else "link_wrong"
                else:
                    outcome = link["band"]
                counted = [case, _dob_case(row["date_of_birth"])]
                if row["role"] is not None:
                    counted.append(f"as_{row['role']}")  # HB: claimant, partner or non-dependant
                counted += [name for name, cases in _ACROSS.items() if case in cases]
                for key in counted:
                    counter = across[key] if key in _ACROSS else by_case.setdefault(key, Counter())
                    counter["records"] += 1
                    counter[outcome] += 1
            by_case["all"] = sum((by_case[k] for k in by_case if k.startswith("nino_")), Counter())
            report[source] = {case: _figures(c) for case, c in sorted(by_case.items())}
    finally:
        await hub.close()
    report["across"] = {case: _figures(c) for case, c in across.items()}
    return report


_COLUMNS = ("records", "link_correct", "link_wrong", "review", "non_link", "precision", "recall", "review_share")


def table(after: dict[str, Any], before: dict[str, Any] | None) -> str:
    """One row per source and case; with ``before``, each figure as before -> after."""
    head = "| source | case | " + " | ".join(c.replace("_", " ") for c in _COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(_COLUMNS) + 2)]
    for source, cases in after.items():
        for case, figures in cases.items():
            was = (before or {}).get(source, {}).get(case)

            def cell(column: str, now: dict[str, Any] = figures, was: dict[str, Any] | None = was) -> str:
                value = now.get(column, 0)
                return f"{was.get(column, 0)} -> {value}" if was is not None else str(value)

            lines.append(f"| {source} | {case} | " + " | ".join(cell(c) for c in _COLUMNS) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Precision and recall of the link index against the truth.")
    parser.add_argument("--json", type=Path, help="also write the report as JSON to this file")
    parser.add_argument("--write", metavar="TITLE", help="write bench/results/linkage-synthetic-<time>.md")
    parser.add_argument("--note", action="append", default=[], help="a paragraph for the result file (repeatable)")
    parser.add_argument("--before", type=Path, help="an earlier --json report, shown as before -> after")
    args = parser.parse_args(argv)
    report = asyncio.run(evaluate(Settings.from_environ(os.environ)))
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    if args.write:
        before = json.loads(args.before.read_text()) if args.before else None
        write_result(
            "linkage-synthetic",
            args.write,
            this_command("bench.linkage.evaluate"),
            args.note,
            table(report, before),
            {"after": report, "before": before} if before else report,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
