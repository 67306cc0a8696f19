"""The transparency report: what the hub did in a period, in counts anyone may read.

Published so that the public can see how much is shared, for which purposes and by which kinds of
organisation, how often the hub refused and why, and how people were found (by NINO, from the link index,
or by demographics, and whether a match was made). No person, user or organisation is named: the counts
are by purpose, organisation type and reason only, and reasons are counted as the callers were told them
(the auditor's finer reasons would say whether someone asked about exists). The public report covers
whole days that have ended (resolvers.arguments.public_period), never a moment someone chose.

:func:`counts` reads the hub database (through :meth:`hub.audit.events.AuditLog.transparency`, which maps
a database that does not answer to AUDIT_UNAVAILABLE); :func:`render_transparency` is pure and writes the
report as Markdown (to publish) or CSV (to analyse).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

__all__ = ["PUBLIC_CODES", "counts", "render_transparency"]

_TOTALS = ("requests", "releases", "refusals", "errors", "consent_refusals")
_BANDS = ("link", "not_linked")
#: Audit reasons the caller was told as another code (hub.errors: audit_code -> code).
PUBLIC_CODES = {"NO_LEGITIMATE_RELATIONSHIP": "SUBJECT_NOT_FOUND", "MATCH_NEEDS_REVIEW": "SUBJECT_NOT_FOUND"}


async def counts(
    pool: asyncpg.Pool, since: dt.datetime, until: dt.datetime, *, statement_timeout: float
) -> dict[str, Any]:
    """Counts of the operations in [since, until): totals, by purpose and organisation type (each by
    decision), refusal reasons, linkage methods and bands, and the review queue's outcomes. Each of the
    seven statements is bounded by ``statement_timeout`` seconds."""
    # Chained records only (the service role sees no others; the operator's command, as the owner, would).
    chained = "seq IS NOT NULL AND prev_hash IS NOT NULL AND record_hash IS NOT NULL"
    base = f"FROM hub.audit_event WHERE {chained} AND occurred_at >= $1 AND occurred_at < $2"
    async with pool.acquire() as conn:
        totals = await conn.fetchrow(
            "SELECT count(*) AS requests, "
            "count(*) FILTER (WHERE decision IN ('released', 'partial')) AS releases, "
            "count(*) FILTER (WHERE decision = 'refused') AS refusals, "
            "count(*) FILTER (WHERE decision = 'error') AS errors, "
            "count(*) FILTER (WHERE 'CONSENT_REQUIRED' = ANY(reason_codes)) AS consent_refusals " + base,
            since,
            until,
            timeout=statement_timeout,
        )
        by_purpose = await conn.fetch(
            "SELECT coalesce(purpose, '(none)') AS key, decision, count(*) AS n "
            + base
            + " GROUP BY 1, 2 ORDER BY 1, 2",
            since,
            until,
            timeout=statement_timeout,
        )
        by_org_type = await conn.fetch(
            "SELECT caller_org_type AS key, decision, count(*) AS n " + base + " GROUP BY 1, 2 ORDER BY 1, 2",
            since,
            until,
            timeout=statement_timeout,
        )
        # Published as the callers were told: a reason the audit record keeps for the auditor only
        # (NO_LEGITIMATE_RELATIONSHIP, MATCH_NEEDS_REVIEW) is counted under the code the caller saw, or the
        # report would say whether a person someone asked about exists.
        audited, public = zip(*PUBLIC_CODES.items(), strict=True)
        reasons = await conn.fetch(
            "SELECT coalesce(p.public, r) AS key, count(*) AS n "  # noqa: S608
            f"FROM hub.audit_event, unnest(reason_codes) AS r "
            "LEFT JOIN unnest($3::text[], $4::text[]) AS p (audited, public) ON p.audited = r "
            f"WHERE {chained} AND occurred_at >= $1 AND occurred_at < $2 GROUP BY 1 ORDER BY 2 DESC, 1",
            since,
            until,
            list(audited),
            list(public),
            timeout=statement_timeout,
        )
        linkage = await conn.fetch(
            "SELECT link_method AS key, count(*) AS n " + base + " AND link_method IS NOT NULL GROUP BY 1 ORDER BY 1",
            since,
            until,
            timeout=statement_timeout,
        )
        # "Not certain" (the review band) is told to the caller as no one: published together with it.
        bands = await conn.fetchrow(
            "SELECT count(*) FILTER (WHERE decision IN ('released', 'partial')) AS link, "
            "count(*) FILTER (WHERE reason_codes && ARRAY['MATCH_NEEDS_REVIEW', 'SUBJECT_NOT_FOUND', "
            "'NO_LEGITIMATE_RELATIONSHIP']) AS not_linked " + base + " AND link_method = 'probabilistic'",
            since,
            until,
            timeout=statement_timeout,
        )
        review = await conn.fetch(
            "SELECT status AS key, count(*) AS n FROM hub.review_item "
            "WHERE created_at >= $1 AND created_at < $2 GROUP BY 1 ORDER BY 1",
            since,
            until,
            timeout=statement_timeout,
        )

    assert totals is not None
    assert bands is not None
    return {
        "since": since,
        "until": until,
        **{k: int(totals[k]) for k in _TOTALS},
        "by_purpose": _grouped(by_purpose),
        "by_org_type": _grouped(by_org_type),
        "refusal_reasons": {r["key"]: int(r["n"]) for r in reasons},
        "linkage_methods": {r["key"]: int(r["n"]) for r in linkage},
        # Lookups by demographics (no NINO), by the band the match fell in.
        "linkage_bands": {band: int(bands[band]) for band in _BANDS},
        "review_items": {r["key"]: int(r["n"]) for r in review},
    }


def _grouped(rows: Sequence[asyncpg.Record]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        out.setdefault(r["key"], {})[r["decision"]] = r["n"]
    return out


def render_transparency(report: Mapping[str, Any], fmt: str) -> str:
    """The transparency report as Markdown (to publish) or CSV (one row per count: section, key, measure, n)."""
    rows: list[tuple[str, str, str, int]] = [("total", "", measure, int(report[measure])) for measure in _TOTALS]
    for section, key in (("purpose", "by_purpose"), ("organisation_type", "by_org_type")):
        for name, by_decision in sorted(report[key].items()):
            rows += [(section, name, decision, int(n)) for decision, n in sorted(by_decision.items())]
    for section, key in (
        ("refusal_reason", "refusal_reasons"),
        ("linkage_method", "linkage_methods"),
        ("linkage_band", "linkage_bands"),
        ("review_items", "review_items"),
    ):
        rows += [(section, name, "count", int(n)) for name, n in report[key].items()]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["since", "until", "section", "key", "measure", "count"])
        for row in rows:
            writer.writerow([report["since"].isoformat(), report["until"].isoformat(), *row])
        return out.getvalue()
    if fmt != "md":
        raise ValueError(f"unknown format {fmt!r}: md or csv")
    lines = [
        f"# welfare-hub transparency report, {report['since']:%Y-%m-%d %H:%M} to {report['until']:%Y-%m-%d %H:%M} UTC",
        "",
        "Counts of operations on the hub in the period: no person, user or organisation is named.",
        "",
        "| measure | count |",
        "|---|---|",
        *(f"| {measure.replace('_', ' ')} | {n} |" for section, _, measure, n in rows if section == "total"),
    ]
    titles = {
        "purpose": "By purpose",
        "organisation_type": "By organisation type",
        "refusal_reason": "Refusals and failures by reason",
        "linkage_method": "How people were found",
        "linkage_band": "Lookups by demographics (no NINO): linked, or not (no one, or not certain)",
        "review_items": "Uncertain matches sent to a person, by outcome",
    }
    for section, title in titles.items():
        mine = [(key, measure, n) for s, key, measure, n in rows if s == section]
        lines += ["", f"## {title}", ""]
        if not mine:
            lines.append("None in the period.")
            continue
        if section in ("purpose", "organisation_type"):
            keys = sorted({k for k, _, _ in mine})
            table = {(k, m): n for k, m, n in mine}
            lines += ["| | released | partial | refused | error |", "|---|---|---|---|---|"]
            lines += [
                f"| {k} | "
                + " | ".join(str(table.get((k, m), 0)) for m in ("released", "partial", "refused", "error"))
                + " |"
                for k in keys
            ]
        else:
            lines += ["| | count |", "|---|---|", *(f"| {k} | {n} |" for k, _, n in mine)]
    return "\n".join(lines) + "\n"
