"""The auditor's read side of the audit log: events, subject access and investigation holds.

:class:`AuditLog` is what the auditor fields and ``welfare-hub audit report`` read through:

- :meth:`AuditLog.events`: records by time, organisation, purpose, decision and subject (keyed hashes:
  a NINO is hashed with every key of the ring on the way in), newest first, a page at a time;
- :meth:`AuditLog.head` and :meth:`AuditLog.count_between`: how far the log runs, so a verification can be
  shown with what it has not yet checked;
- :meth:`AuditLog.subject_access`: every release of one person's data (UK GDPR Art. 15), except those
  under a recorded investigation hold that has not been lifted (Estonia found some entries must wait);
- :meth:`AuditLog.place_hold` and :meth:`AuditLog.lift_hold`: the holds themselves;
- :meth:`AuditLog.spans`: the hub's stored copy of a request's trace (:mod:`hub.records.spans`);
- :meth:`AuditLog.transparency` and :meth:`AuditLog.anomalies`: the two reports over the log, computed in
  :mod:`hub.audit.transparency` and :mod:`hub.audit.anomalies`, read here so that every read of the log
  fails the same way.

All SQL is parameterised; only fixed column lists are formatted in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from hub.audit import anomalies, transparency
from hub.audit.anomalies import Anomaly, Homes
from hub.db import unavailable_as
from hub.errors import AuditUnavailable
from hub.records import spans
from hub.records.spans import SpanRow

__all__ = ["AuditLog", "EventFilter", "EventRow", "Hold", "reading"]

_EVENT_COLUMNS = (
    "seq, occurred_at, request_id, operation_type, operation_name, caller_org, caller_org_type, caller_user_hash, "
    "purpose, legal_basis, subject_hashes, link_method, link_probability, model_version, fields_released, "
    "sources_read, decision, reason_codes, trace_id, record_hash"
)


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


#: Every read of the audit log: a hub database that does not answer is AUDIT_UNAVAILABLE, never an
#: internal error (the driver's message may quote data).
reading = unavailable_as(lambda: AuditUnavailable("the audit log cannot be read now"))


class AuditLog:
    """Every method raises AuditUnavailable when the hub database does not answer."""

    def __init__(self, pool: asyncpg.Pool, *, timeout: float) -> None:
        self.pool = pool
        self.timeout = timeout

    @reading
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

    @reading
    async def head(self) -> int:
        """The newest record's sequence number (0 while the log is empty)."""
        seq = await self.pool.fetchval(
            "SELECT coalesce(max(seq), 0) FROM hub.audit_event WHERE seq IS NOT NULL", timeout=self.timeout
        )
        return int(seq)

    @reading
    async def count_between(self, after: int, through: int) -> int:
        """How many records have ``after < seq <= through``: what a verification through ``after`` has not
        yet checked of the log as it stood at ``through``."""
        if through <= after:
            return 0
        n = await self.pool.fetchval(
            "SELECT count(*) FROM hub.audit_event WHERE seq > $1 AND seq <= $2", after, through, timeout=self.timeout
        )
        return int(n)

    @reading
    async def event(self, seq: int) -> EventRow | None:
        row = await self.pool.fetchrow(
            f"SELECT {_EVENT_COLUMNS} FROM hub.audit_event WHERE seq = $1",  # noqa: S608
            seq,
            timeout=self.timeout,
        )
        return _event(row) if row is not None else None

    @reading
    async def spans(self, trace_id: str) -> list[SpanRow]:
        """The hub's copy of a trace's spans, in the order they started."""
        return await spans.read(self.pool, trace_id, statement_timeout=self.timeout)

    @reading
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

    @reading
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

    @reading
    async def lift_hold(self, hold_id: int, *, lifted_by: str) -> Hold | None:
        row = await self.pool.fetchrow(
            "UPDATE hub.audit_hold SET lifted_at = clock_timestamp(), lifted_by_hash = $2 "
            "WHERE hold_id = $1 AND lifted_at IS NULL RETURNING hold_id, seq, reason, placed_at, lifted_at",
            hold_id,
            lifted_by,
            timeout=self.timeout,
        )
        return Hold(**dict(row)) if row is not None else None

    @reading
    async def transparency(self, since: dt.datetime, until: dt.datetime) -> dict[str, Any]:
        """Counts for publication: no subject, user or organisation is named (:mod:`hub.audit.transparency`)."""
        return await transparency.counts(self.pool, since, until, statement_timeout=self.timeout)

    @reading
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
        """Patterns for an auditor to review, not verdicts (:func:`hub.audit.anomalies.find`)."""
        return await anomalies.find(
            self.pool,
            since,
            until,
            statement_timeout=self.timeout,
            volume_factor=volume_factor,
            minimum=minimum,
            working_hours=working_hours,
            homes=homes,
        )
