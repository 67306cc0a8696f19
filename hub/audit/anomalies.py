"""Anomalies in the audit log: what staff browsing family and neighbours looks like.

Regulators' most common finding about shared benefit data is staff looking up people they know. The hub
points an auditor at five patterns, to review, not verdicts:

- ``own_record``: a user looked for their own record (the hub refused it; every attempt is shown);
- ``same_address``: data released about someone who lives where the user lives (their household, or the
  same postcode and first address line in DWP's records);
- ``fishing``: many lookups by one user that named no one they may ask about (not found, not connected with
  their area, or too close to call): what probing for who exists, or for someone's date of birth, looks
  like (at least ``fishing_minimum`` of them making up at least ``fishing_share`` of the user's operations,
  or ``fishing_absolute`` of them however many others are mixed in);
- ``volume``: a user's lookups far above their organisation's other users (``volume_factor`` times the
  median, and at least ``minimum``);
- ``out_of_hours``: lookups before or after working hours (UK time) or at weekends.

:func:`find` reads the hub database; :func:`classify`, :func:`same_address` and :func:`ordered` are the
pure rules it applies, testable on plain values.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import asyncpg

__all__ = ["Anomaly", "Homes", "Release", "UserActivity", "classify", "find", "ordered", "same_address"]

_LONDON = ZoneInfo("Europe/London")
#: Where people live, by DWP record id: opaque keys that match when two people share a home.
Homes = Callable[[Sequence[str]], Awaitable[dict[str, tuple[str, ...]]]]
#: The order an auditor reads them in: the most telling first.
_ORDER = {"own_record": 0, "same_address": 1, "fishing": 2, "volume": 3, "out_of_hours": 4}
#: The audit reasons of a lookup that named no one the caller may ask about.
UNANSWERED = ("SUBJECT_NOT_FOUND", "NO_LEGITIMATE_RELATIONSHIP", "MATCH_NEEDS_REVIEW")


@dataclass(frozen=True, slots=True)
class Anomaly:
    kind: str  # "own_record" | "same_address" | "fishing" | "volume" | "out_of_hours"
    caller_org: str
    caller_user_hash: str
    count: int
    detail: str
    first_seq: int
    last_seq: int


@dataclass(frozen=True, slots=True)
class UserActivity:
    """One user's operations in the period, as the log holds them."""

    caller_org: str
    caller_user_hash: str
    count: int
    first_seq: int
    last_seq: int
    own_record: int  # attempts at their own record (OWN_RECORD refusals)
    times: Sequence[dt.datetime]  # when each operation happened, in chain order
    seqs: Sequence[int]  # and its place in the chain
    unanswered: int = 0  # lookups that named no one the user may ask about (UNANSWERED)


@dataclass(frozen=True, slots=True)
class Release:
    """A release about someone the link index places in DWP, by a user who is also a person it knows."""

    seq: int
    caller_org: str
    caller_user_hash: str
    staff_record: str  # the user's own DWP record id
    subject_record: str  # the subject's DWP record id


def classify(
    activity: Sequence[UserActivity],
    *,
    volume_factor: float = 5.0,
    minimum: int = 20,
    working_hours: tuple[int, int] = (8, 18),
    fishing_minimum: int = 10,
    fishing_share: float = 0.5,
    fishing_absolute: int = 50,
) -> list[Anomaly]:
    """The volume, own-record, fishing and out-of-hours anomalies among the users' activity. A user alone
    in their organisation has no peers to be compared with, so is never a volume anomaly."""
    found: list[Anomaly] = []
    by_org: dict[str, list[int]] = {}
    for a in activity:
        by_org.setdefault(a.caller_org, []).append(a.count)
    start, end = working_hours
    for a in activity:
        peers = by_org[a.caller_org]
        median = statistics.median(peers) if len(peers) > 1 else None
        if median is not None and a.count >= minimum and a.count > volume_factor * median:
            found.append(
                Anomaly(
                    "volume",
                    a.caller_org,
                    a.caller_user_hash,
                    a.count,
                    f"{a.count} operations; the median of the {len(peers)} users of the organisation is {median:g}",
                    a.first_seq,
                    a.last_seq,
                )
            )
        if a.own_record:
            found.append(
                Anomaly(
                    "own_record",
                    a.caller_org,
                    a.caller_user_hash,
                    a.own_record,
                    "looked for their own record (refused)",
                    a.first_seq,
                    a.last_seq,
                )
            )
        if a.unanswered >= fishing_absolute or (
            a.unanswered >= fishing_minimum and a.unanswered >= fishing_share * a.count
        ):
            found.append(
                Anomaly(
                    "fishing",
                    a.caller_org,
                    a.caller_user_hash,
                    a.unanswered,
                    f"{a.unanswered} of {a.count} operations named no one the user may ask about "
                    "(not found, not connected with their area, or too close to call)",
                    a.first_seq,
                    a.last_seq,
                )
            )
        late = [
            s
            for t, s in zip(a.times, a.seqs, strict=True)
            if (local := t.astimezone(_LONDON)).weekday() >= 5 or not start <= local.hour < end
        ]
        if late:
            found.append(
                Anomaly(
                    "out_of_hours",
                    a.caller_org,
                    a.caller_user_hash,
                    len(late),
                    f"operations outside {start:02d}:00-{end:02d}:00 UK time on weekdays",
                    late[0],
                    late[-1],
                )
            )
    return found


def same_address(releases: Iterable[Release], where: Mapping[str, Sequence[str]]) -> list[Anomaly]:
    """Per user, the releases whose subject shares a home with the user (``where``: each DWP record's
    homes, opaque keys that match when two people share one)."""
    hits: dict[tuple[str, str], list[int]] = {}
    for r in releases:
        if set(where.get(r.staff_record, ())) & set(where.get(r.subject_record, ())):
            hits.setdefault((r.caller_org, r.caller_user_hash), []).append(r.seq)
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


def ordered(found: Iterable[Anomaly]) -> list[Anomaly]:
    """By kind (own record, same address, volume, out of hours), then the most occurrences first."""
    return sorted(found, key=lambda a: (_ORDER[a.kind], -a.count, a.caller_org, a.caller_user_hash))


async def find(
    pool: asyncpg.Pool,
    since: dt.datetime,
    until: dt.datetime,
    *,
    statement_timeout: float,
    volume_factor: float = 5.0,
    minimum: int = 20,
    working_hours: tuple[int, int] = (8, 18),
    homes: Homes | None = None,
) -> list[Anomaly]:
    """The anomalies of [since, until), each statement bounded by ``statement_timeout`` seconds. Same
    address needs ``homes`` (where DWP's records say people live; bounded by that source's own timeout)."""
    rows = await pool.fetch(
        "SELECT caller_org, caller_user_hash, count(*) AS n, min(seq) AS first_seq, max(seq) AS last_seq, "
        "count(*) FILTER (WHERE 'OWN_RECORD' = ANY(reason_codes)) AS own, "
        # Per lookup, not per record: a document of eight aliased lookups is eight (each names a subject).
        "coalesce(sum(greatest(1, cardinality(subject_hashes))) FILTER (WHERE reason_codes && $3::text[]), 0)"
        "::int AS unanswered, "
        "array_agg(occurred_at ORDER BY seq) AS times, array_agg(seq ORDER BY seq) AS seqs "
        "FROM hub.audit_event WHERE seq IS NOT NULL AND occurred_at >= $1 AND occurred_at < $2 "
        "AND caller_user_hash <> '' AND operation_type IS NOT NULL GROUP BY 1, 2",
        since,
        until,
        list(UNANSWERED),
        timeout=statement_timeout,
    )
    activity = [
        UserActivity(
            r["caller_org"],
            r["caller_user_hash"],
            r["n"],
            r["first_seq"],
            r["last_seq"],
            r["own"],
            r["times"],
            r["seqs"],
            r["unanswered"],
        )
        for r in rows
    ]
    found = classify(activity, volume_factor=volume_factor, minimum=minimum, working_hours=working_hours)
    if homes is not None:
        found += await _same_address(pool, since, until, homes, statement_timeout=statement_timeout)
    return ordered(found)


async def _same_address(
    pool: asyncpg.Pool, since: dt.datetime, until: dt.datetime, homes: Homes, *, statement_timeout: float
) -> list[Anomaly]:
    """Releases in the period by users who are also people the hub knows (hub.staff_identity), about
    subjects the link index places in DWP; then where both live, from DWP."""
    rows = await pool.fetch(
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
        timeout=statement_timeout,
    )
    if not rows:
        return []
    releases = [
        Release(r["seq"], r["caller_org"], r["caller_user_hash"], r["staff_record"], r["subject_record"]) for r in rows
    ]
    where = await homes(sorted({r.staff_record for r in releases} | {r.subject_record for r in releases}))
    return same_address(releases, where)
