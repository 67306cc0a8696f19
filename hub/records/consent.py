"""Consent records and share notifications in the hub database.

A consent-based purpose (outside the statutory gateway) releases nothing unless the person's consent is
live for that purpose **and for the organisation asking**: recorded, not expired, not withdrawn. Consent is
specific (report 2.21: for one purpose, to one recipient, for a time): each record names the person, the
purpose, the recipient organisation and when it lapses, so consent given to one organisation never lets
another read.

Who may end a consent on the person's behalf (:meth:`ConsentStore.withdraw`): the recipient organisation
that holds it, and the organisation that recorded it; no other. The person withdraws by telling either.

The person is known here only by a keyed hash of their NINO made with the hub's stable secret, so a consent
survives NINO-key rotation.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from hub.db import unavailable_as
from hub.errors import ConsentUnavailable
from hub.records.spans import StoreQuery, database_of, traced

__all__ = ["ConsentRecord", "ConsentStore"]


@dataclass(frozen=True)
class ConsentRecord:
    consent_id: int
    purpose: str
    recipient_org: str
    recorded_by_org: str
    granted_at: dt.datetime
    expires_at: dt.datetime
    notify_on_share: bool
    withdrawn_at: dt.datetime | None


_COLUMNS = "consent_id, purpose, recipient_org, recorded_by_org, granted_at, expires_at, notify_on_share, withdrawn_at"
_LIVE = (
    f"SELECT {_COLUMNS} FROM hub.consent "  # noqa: S608 (fixed column names; every value a parameter)
    "WHERE subject_hash = $1 AND purpose = $2 AND recipient_org = $3 AND withdrawn_at IS NULL "
    "AND expires_at > now() ORDER BY granted_at DESC LIMIT 1"
)
# Lasts the register's renewal period ($3, an ISO 8601 duration PostgreSQL reads), or until the end of the
# day the person chose ($7, a UTC date), whichever is sooner.
_RECORD = (
    "INSERT INTO hub.consent (subject_hash, purpose, recipient_org, expires_at, notify_on_share, "  # noqa: S608
    "recorded_by_org, recorded_by_hash) VALUES ($1, $2, $8, least(now() + $3::text::interval, "
    "coalesce(($7::date + 1)::timestamp AT TIME ZONE 'UTC', 'infinity')), $4, $5, $6) "
    f"RETURNING {_COLUMNS}"
)
# Only the recipient that holds a consent, or the organisation that recorded it, ends it ($3).
_WITHDRAW = (
    "UPDATE hub.consent SET withdrawn_at = now(), withdrawn_by_org = $3 "  # noqa: S608
    "WHERE subject_hash = $1 AND purpose = $2 AND withdrawn_at IS NULL "
    "AND (recipient_org = $3 OR recorded_by_org = $3) AND ($4::text IS NULL OR recipient_org = $4) "
    f"RETURNING {_COLUMNS}"
)
_NOTIFY = (
    "INSERT INTO hub.subject_notification (subject_hash, purpose, recipient_org, fields, request_id) "
    "VALUES ($1, $2, $3, $4, $5)"
)


# Every read and write: a consent store that does not answer refuses the operation (nothing released).
_consent_records = unavailable_as(lambda: ConsentUnavailable("consent records cannot be read, so nothing is released"))


class ConsentStore:
    def __init__(self, pool: asyncpg.Pool, *, timeout: float) -> None:
        self.pool = pool
        self.timeout = timeout
        namespace = database_of(pool)
        self._live = StoreQuery(namespace, "hub.consent", _LIVE)
        self._record = StoreQuery(namespace, "hub.consent", _RECORD)
        self._withdraw = StoreQuery(namespace, "hub.consent", _WITHDRAW)
        self._notify = StoreQuery(namespace, "hub.subject_notification", _NOTIFY)

    @_consent_records
    async def live(self, subject: str, purpose: str, *, recipient_org: str) -> ConsentRecord | None:
        """The person's live consent to share with ``recipient_org`` for the purpose, if any (the latest)."""
        with traced(self._live):
            row = await self.pool.fetchrow(self._live.text, subject, purpose, recipient_org, timeout=self.timeout)
        return None if row is None else ConsentRecord(**dict(row))

    @_consent_records
    async def record(
        self,
        subject: str,
        purpose: str,
        *,
        recipient_org: str,
        lasts: str,
        until: dt.date | None,
        notify_on_share: bool,
        org: str,
        user_hash: str,
    ) -> ConsentRecord:
        """``lasts``: an ISO 8601 duration (the register's renewal period), read by PostgreSQL; ``until``: the
        last day the person agreed to, when sooner."""
        with traced(self._record):
            row = await self.pool.fetchrow(
                self._record.text,
                subject,
                purpose,
                lasts,
                notify_on_share,
                org,
                user_hash,
                until,
                recipient_org,
                timeout=self.timeout,
            )
        assert row is not None
        return ConsentRecord(**dict(row))

    @_consent_records
    async def withdraw(
        self, subject: str, purpose: str, *, org: str, recipient_org: str | None = None
    ) -> list[ConsentRecord]:
        """End the person's live consents for the purpose that ``org`` holds as recipient or recorded (to
        ``recipient_org`` only, when given); what was withdrawn. Another organisation's are untouched."""
        with traced(self._withdraw):
            rows = await self.pool.fetch(
                self._withdraw.text, subject, purpose, org, recipient_org, timeout=self.timeout
            )
        return [ConsentRecord(**dict(r)) for r in rows]

    @_consent_records
    async def notify(
        self, subject: str, purpose: str, *, recipient_org: str, fields: Sequence[str], request_id: uuid.UUID
    ) -> None:
        with traced(self._notify):
            await self.pool.execute(
                self._notify.text, subject, purpose, recipient_org, sorted(fields), request_id, timeout=self.timeout
            )
