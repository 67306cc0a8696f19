"""What auditors, the people concerned and the public read from the audit log.

- :meth:`AuditLog.events`: records by time, organisation, purpose, decision and subject (keyed hashes:
  a NINO is hashed with every key of the ring on the way in), newest first, a page at a time;
- :meth:`AuditLog.subject_access`: every release of one person's data, except those under a recorded
  investigation hold that has not been lifted (Estonia found some entries must wait);
- :meth:`AuditLog.transparency`: counts per period, purpose, organisation type and reason, for publication;
- :meth:`AuditLog.anomalies`: what staff browsing family and neighbours looks like (regulators' most
  common finding): users far above their peers' volume, attempts at their own record, releases about
  someone at their own address, lookups outside working hours;
- :class:`VerificationCache`: the chain's verification (hub.audit.verify), recomputed in full when older
  than a configured age.

All SQL is parameterised; only fixed column lists are formatted in.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hub.audit.verify import Verification, verify_database
from hub.db import unavailable_as
from hub.errors import AuditUnavailable

__all__ = ["AuditLog", "EventFilter", "EventRow", "Hold", "VerificationCache", "render_transparency"]

_EVENT_COLUMNS = (
    "seq, occurred_at, request_id, operation_type, operation_name, caller_org, caller_org_type, caller_user_hash, "
    "purpose, legal_basis, subject_hashes, link_method, link_probability, model_version, fields_released, "
    "sources_read, decision, reason_codes, trace_id, record_hash"
)
_LONDON = ZoneInfo("Europe/London")
#: Where people live, by DWP record id: opaque keys that match when two people share a home.
Homes = Callable[[Sequence[str]], Awaitable[dict[str, tuple[str, ...]]]]


@dataclass(frozen=True, slots=True)
class EventRow:
    seq: int
    occurred_at: dt.datetime
    request_id: str
    operation_type: str | None
    operation_name: str | None
    caller_org: str
    caller_org_type: str
    caller_user_hash: str
    purpose: str | None
    legal_basis: str | None
    subject_hashes: tuple[str, ...]
    link_method: str | None
    link_probability: float | None
    model_version: str | None
    fields_released: tuple[str, ...]
    sources_read: tuple[str, ...]
    decision: str
    reason_codes: tuple[str, ...]
    trace_id: str | None
    record_hash: str


def _event(r: asyncpg.Record) -> EventRow:
    return EventRow(
        seq=r["seq"],
        occurred_at=r["occurred_at"],
        request_id=str(r["request_id"]),
        operation_type=r["operation_type"],
        operation_name=r["operation_name"],
        caller_org=r["caller_org"],
        caller_org_type=r["caller_org_type"],
        caller_user_hash=r["caller_user_hash"],
        purpose=r["purpose"],
        legal_basis=r["legal_basis"],
        subject_hashes=tuple(r["subject_hashes"]),
        link_method=r["link_method"],
        link_probability=r["link_probability"],
        model_version=r["model_version"],
        fields_released=tuple(r["fields_released"]),
        sources_read=tuple(r["sources_read"]),
        decision=r["decision"],
        reason_codes=tuple(r["reason_codes"]),
        trace_id=r["trace_id"],
        record_hash=bytes(r["record_hash"]).hex(),
    )


@dataclass(frozen=True, slots=True)
class EventFilter:
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    organisation: str | None = None
    purpose: str | None = None
    decision: str | None = None
    subject_hashes: Sequence[str] | None = None  # any of these (one NINO under every key of the ring)


@dataclass(frozen=True, slots=True)
class Hold:
    hold_id: int
    seq: int
    reason: str
    placed_at: dt.datetime
    lifted_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class SpanRow:
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    started_at: dt.datetime
    duration_us: int
    status: str
    attributes: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Anomaly:
    kind: str  # "own_record" | "same_address" | "volume" | "out_of_hours"
    caller_org: str
    caller_user_hash: str
    count: int
    detail: str
    first_seq: int
    last_seq: int


_reading = unavailable_as(lambda: AuditUnavailable("the audit log cannot be read now"))


class AuditLog:
    """Every method raises AuditUnavailable when the hub database does not answer."""

    def __init__(self, pool: asyncpg.Pool, *, timeout: float) -> None:
        self.pool = pool
        self.timeout = timeout

    @_reading
    async def events(self, f: EventFilter, *, limit: int, before: int | None) -> list[EventRow]:
        """Newest first; ``before``: the seq of the last event of the previous page."""
        rows = await self.pool.fetch(
            f"SELECT {_EVENT_COLUMNS} FROM hub.audit_event "  # noqa: S608 (fixed columns; values are parameters)
            "WHERE seq IS NOT NULL AND seq < $1 "
            "AND ($2::timestamptz IS NULL OR occurred_at >= $2) AND ($3::timestamptz IS NULL OR occurred_at < $3) "
            "AND ($4::text IS NULL OR caller_org = $4) AND ($5::text IS NULL OR purpose = $5) "
            "AND ($6::text IS NULL OR decision = $6) AND ($7::text[] IS NULL OR subject_hashes && $7) "
            "ORDER BY seq DESC LIMIT $8",
            before if before is not None else 2**62,
            f.since,
            f.until,
            f.organisation,
            f.purpose,
            f.decision,
            list(f.subject_hashes) if f.subject_hashes is not None else None,
            limit,
            timeout=self.timeout,
        )
        return [_event(r) for r in rows]

    @_reading
    async def event(self, seq: int) -> EventRow | None:
        row = await self.pool.fetchrow(
            f"SELECT {_EVENT_COLUMNS} FROM hub.audit_event WHERE seq = $1",  # noqa: S608
            seq,
            timeout=self.timeout,
        )
        return _event(row) if row is not None else None

    @_reading
    async def spans(self, trace_id: str) -> list[SpanRow]:
        """The hub's copy of a trace's spans, in the order they started."""
        rows = await self.pool.fetch(
            "SELECT span_id, parent_span_id, name, kind, started_at, duration_us, status, attributes "
            "FROM hub.trace_span WHERE trace_id = $1 ORDER BY started_at, span_id",
            trace_id,
            timeout=self.timeout,
        )
        return [
            SpanRow(
                span_id=r["span_id"],
                parent_span_id=r["parent_span_id"],
                name=r["name"],
                kind=r["kind"],
                started_at=r["started_at"],
                duration_us=r["duration_us"],
                status=r["status"],
                attributes=json.loads(r["attributes"]) if isinstance(r["attributes"], str) else dict(r["attributes"]),
            )
            for r in rows
        ]

    @_reading
    async def subject_access(
        self, subject_hashes: Sequence[str], *, now: dt.datetime, oversight: Sequence[str] = ()
    ) -> list[EventRow]:
        """Every release of the person's data (released or partial, fields actually released), oldest first,
        without the entries held back by an investigation hold not yet lifted, and without the oversight
        purposes' reading of the log itself (``oversight``: auditing, answering this very request)."""
        rows = await self.pool.fetch(
            f"SELECT {_EVENT_COLUMNS} FROM hub.audit_event e "  # noqa: S608
            "WHERE e.subject_hashes && $1 AND e.decision IN ('released', 'partial') "
            "AND cardinality(e.fields_released) > 0 AND NOT (coalesce(e.purpose, '') = ANY($3)) "
            "AND NOT EXISTS (SELECT 1 FROM hub.audit_hold h WHERE h.seq = e.seq "
            "                AND (h.lifted_at IS NULL OR h.lifted_at > $2)) "
            "ORDER BY e.seq",
            list(subject_hashes),
            now,
            list(oversight),
            timeout=self.timeout,
        )
        return [_event(r) for r in rows]

    @_reading
    async def place_hold(self, seq: int, *, reason: str, placed_by: str) -> Hold | None:
        row = await self.pool.fetchrow(
            "INSERT INTO hub.audit_hold (seq, reason, placed_by_hash) "
            "SELECT seq, $2, $3 FROM hub.audit_event WHERE seq = $1 "
            "RETURNING hold_id, seq, reason, placed_at, lifted_at",
            seq,
            reason,
            placed_by,
            timeout=self.timeout,
        )
        return Hold(**dict(row)) if row is not None else None

    @_reading
    async def lift_hold(self, hold_id: int, *, lifted_by: str) -> Hold | None:
        row = await self.pool.fetchrow(
            "UPDATE hub.audit_hold SET lifted_at = clock_timestamp(), lifted_by_hash = $2 "
            "WHERE hold_id = $1 AND lifted_at IS NULL RETURNING hold_id, seq, reason, placed_at, lifted_at",
            hold_id,
            lifted_by,
            timeout=self.timeout,
        )
        return Hold(**dict(row)) if row is not None else None

    @_reading
    async def transparency(self, since: dt.datetime, until: dt.datetime) -> dict[str, Any]:
        """Counts for publication: no subject, user or organisation is named."""
        base = "FROM hub.audit_event WHERE seq IS NOT NULL AND occurred_at >= $1 AND occurred_at < $2"
        async with self.pool.acquire() as conn:
            totals = await conn.fetchrow(
                "SELECT count(*) AS requests, "
                "count(*) FILTER (WHERE decision IN ('released', 'partial')) AS releases, "
                "count(*) FILTER (WHERE decision = 'refused') AS refusals, "
                "count(*) FILTER (WHERE decision = 'error') AS errors, "
                "count(*) FILTER (WHERE 'CONSENT_REQUIRED' = ANY(reason_codes)) AS consent_refusals " + base,
                since,
                until,
                timeout=self.timeout,
            )
            by_purpose = await conn.fetch(
                "SELECT coalesce(purpose, '(none)') AS key, decision, count(*) AS n "
                + base
                + " GROUP BY 1, 2 ORDER BY 1, 2",
                since,
                until,
                timeout=self.timeout,
            )
            by_org_type = await conn.fetch(
                "SELECT caller_org_type AS key, decision, count(*) AS n " + base + " GROUP BY 1, 2 ORDER BY 1, 2",
                since,
                until,
                timeout=self.timeout,
            )
            reasons = await conn.fetch(
                "SELECT r AS key, count(*) AS n FROM hub.audit_event, unnest(reason_codes) AS r "
                "WHERE seq IS NOT NULL AND occurred_at >= $1 AND occurred_at < $2 GROUP BY 1 ORDER BY 2 DESC, 1",
                since,
                until,
                timeout=self.timeout,
            )
            linkage = await conn.fetch(
                "SELECT link_method AS key, count(*) AS n "
                + base
                + " AND link_method IS NOT NULL GROUP BY 1 ORDER BY 1",
                since,
                until,
                timeout=self.timeout,
            )
            bands = await conn.fetchrow(
                "SELECT count(*) FILTER (WHERE decision IN ('released', 'partial')) AS link, "
                "count(*) FILTER (WHERE 'MATCH_NEEDS_REVIEW' = ANY(reason_codes)) AS review, "
                "count(*) FILTER (WHERE 'SUBJECT_NOT_FOUND' = ANY(reason_codes)) AS non_link "
                + base
                + " AND link_method = 'probabilistic'",
                since,
                until,
                timeout=self.timeout,
            )
            review = await conn.fetch(
                "SELECT status AS key, count(*) AS n FROM hub.review_item "
                "WHERE created_at >= $1 AND created_at < $2 GROUP BY 1 ORDER BY 1",
                since,
                until,
                timeout=self.timeout,
            )

        assert totals is not None
        assert bands is not None

        def grouped(rows: Sequence[asyncpg.Record]) -> dict[str, dict[str, int]]:
            out: dict[str, dict[str, int]] = {}
            for r in rows:
                out.setdefault(r["key"], {})[r["decision"]] = r["n"]
            return out

        return {
            "since": since,
            "until": until,
            **{k: int(totals[k]) for k in ("requests", "releases", "refusals", "errors", "consent_refusals")},
            "by_purpose": grouped(by_purpose),
            "by_org_type": grouped(by_org_type),
            "refusal_reasons": {r["key"]: int(r["n"]) for r in reasons},
            "linkage_methods": {r["key"]: int(r["n"]) for r in linkage},
            # Lookups by demographics (no NINO), by the band the match fell in.
            "linkage_bands": {band: int(bands[band]) for band in ("link", "review", "non_link")},
            "review_items": {r["key"]: int(r["n"]) for r in review},
        }

    @_reading
    async def anomalies(
        self,
        since: dt.datetime,
        until: dt.datetime,
        *,
        volume_factor: float = 5.0,
        minimum: int = 20,
        working_hours: tuple[int, int] = (8, 18),
        homes: Homes | None = None,
    ) -> list[Anomaly]:
        """Patterns for an auditor to review, not verdicts. Volume: a user's lookups more than
        ``volume_factor`` times the median of their organisation's users (and at least ``minimum``).
        Own record: every attempt (the hub refused it). Same address (given ``homes``, where DWP's
        records say people live): releases about a member of the user's household or someone at their
        address. Out of hours: lookups before or after working hours (UK time) or at weekends."""
        rows = await self.pool.fetch(
            "SELECT caller_org, caller_user_hash, count(*) AS n, min(seq) AS first_seq, max(seq) AS last_seq, "
            "count(*) FILTER (WHERE 'OWN_RECORD' = ANY(reason_codes)) AS own, "
            "array_agg(occurred_at ORDER BY seq) AS times, array_agg(seq ORDER BY seq) AS seqs "
            "FROM hub.audit_event WHERE seq IS NOT NULL AND occurred_at >= $1 AND occurred_at < $2 "
            "AND caller_user_hash <> '' AND operation_type IS NOT NULL GROUP BY 1, 2",
            since,
            until,
            timeout=self.timeout,
        )
        found: list[Anomaly] = []
        by_org: dict[str, list[int]] = {}
        for r in rows:
            by_org.setdefault(r["caller_org"], []).append(r["n"])
        start, end = working_hours
        for r in rows:
            peers = by_org[r["caller_org"]]
            median = statistics.median(peers) if len(peers) > 1 else None
            if median is not None and r["n"] >= minimum and r["n"] > volume_factor * median:
                found.append(
                    Anomaly(
                        "volume",
                        r["caller_org"],
                        r["caller_user_hash"],
                        r["n"],
                        f"{r['n']} operations; the median of the {len(peers)} users of the organisation is {median:g}",
                        r["first_seq"],
                        r["last_seq"],
                    )
                )
            if r["own"]:
                found.append(
                    Anomaly(
                        "own_record",
                        r["caller_org"],
                        r["caller_user_hash"],
                        r["own"],
                        "looked for their own record (refused)",
                        r["first_seq"],
                        r["last_seq"],
                    )
                )
            late = [
                s
                for t, s in zip(r["times"], r["seqs"], strict=True)
                if (local := t.astimezone(_LONDON)).weekday() >= 5 or not start <= local.hour < end
            ]
            if late:
                found.append(
                    Anomaly(
                        "out_of_hours",
                        r["caller_org"],
                        r["caller_user_hash"],
                        len(late),
                        f"operations outside {start:02d}:00-{end:02d}:00 UK time on weekdays",
                        late[0],
                        late[-1],
                    )
                )
        if homes is not None:
            found += await self._same_address(since, until, homes)
        order = {"own_record": 0, "same_address": 1, "volume": 2, "out_of_hours": 3}
        return sorted(found, key=lambda a: (order[a.kind], -a.count, a.caller_org, a.caller_user_hash))

    async def _same_address(self, since: dt.datetime, until: dt.datetime, homes: Homes) -> list[Anomaly]:
        """Releases of the data of someone who lives where the user lives (their household, or the same
        postcode and first address line in DWP's records): users who are also people the hub knows
        (hub.staff_identity), whose subjects the link index places in DWP."""
        rows = await self.pool.fetch(
            "SELECT e.seq, e.caller_org, e.caller_user_hash, mine.source_record_id AS staff_record, "
            "       theirs.source_record_id AS subject_record "
            "FROM hub.audit_event e "
            "JOIN hub.staff_identity s ON s.user_hash = e.caller_user_hash AND s.person_key IS NOT NULL "
            "JOIN hub.link mine ON mine.source = 'dwp' AND mine.person_key = s.person_key "
            "CROSS JOIN LATERAL unnest(e.subject_hashes) AS h(hash) "
            "JOIN hub.link theirs ON theirs.source = 'dwp' AND theirs.band = 'link' AND theirs.nino_hash = h.hash "
            "WHERE e.seq IS NOT NULL AND e.occurred_at >= $1 AND e.occurred_at < $2 "
            "AND e.decision IN ('released', 'partial') AND theirs.person_key <> s.person_key "
            "ORDER BY e.seq",
            since,
            until,
            timeout=self.timeout,
        )
        if not rows:
            return []
        where = await homes(sorted({r["staff_record"] for r in rows} | {r["subject_record"] for r in rows}))
        hits: dict[tuple[str, str], list[int]] = {}
        for r in rows:
            if set(where.get(r["staff_record"], ())) & set(where.get(r["subject_record"], ())):
                hits.setdefault((r["caller_org"], r["caller_user_hash"]), []).append(r["seq"])
        return [
            Anomaly(
                "same_address",
                org,
                user,
                len(set(seqs)),
                "data released about someone who lives at the user's own address",
                min(seqs),
                max(seqs),
            )
            for (org, user), seqs in hits.items()
        ]


def render_transparency(report: Mapping[str, Any], fmt: str) -> str:
    """The transparency report as Markdown (to publish) or CSV (one row per count: section, key, measure, n)."""
    rows: list[tuple[str, str, str, int]] = [
        ("total", "", measure, int(report[measure]))
        for measure in ("requests", "releases", "refusals", "errors", "consent_refusals")
    ]
    for section, key in (("purpose", "by_purpose"), ("organisation_type", "by_org_type")):
        for name, counts in sorted(report[key].items()):
            rows += [(section, name, decision, int(n)) for decision, n in sorted(counts.items())]
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
        "linkage_band": "Lookups by demographics (no NINO), by band: linked, sent for review, not found",
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


class VerificationCache:
    """The chain's full verification, shared by concurrent callers."""

    def __init__(self, pool: asyncpg.Pool, keys: Mapping[str, Ed25519PublicKey], *, max_age: float) -> None:
        self.pool = pool
        self.keys = keys
        self.max_age = max_age
        self._result: tuple[float, dt.datetime, Verification] | None = None
        self._lock = asyncio.Lock()

    async def status(self) -> tuple[dt.datetime, Verification]:
        """The latest verification; computed now only if there is none young enough (the service refreshes
        it in the background every ``max_age`` seconds, so an auditor rarely waits for the whole log)."""
        async with self._lock:
            if self._result is None or time.monotonic() - self._result[0] > self.max_age:
                await self._refresh()
            assert self._result is not None
            return self._result[1], self._result[2]

    async def refresh(self) -> None:
        async with self._lock:
            await self._refresh()

    async def _refresh(self) -> None:
        report = await self._verify()
        self._result = (time.monotonic(), dt.datetime.now(dt.UTC), report)

    @_reading
    async def _verify(self) -> Verification:
        async with self.pool.acquire() as conn:
            return await verify_database(conn, self.keys)  # type: ignore[arg-type]
