"""Consent records and share notifications in the hub database.

A consent-based purpose (outside the statutory gateway) releases nothing unless the person's consent for
that purpose is live: recorded, not expired, not withdrawn. The person is known here only by a keyed hash
of their NINO made with the hub's stable secret, so a consent survives NINO-key rotation.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from hub.db import unavailable_as
from hub.errors import ConsentUnavailable

__all__ = ["ConsentRecord", "ConsentStore"]


@dataclass(frozen=True)
class ConsentRecord:
    consent_id: int
    purpose: str
    granted_at: dt.datetime
    expires_at: dt.datetime
    notify_on_share: bool
    withdrawn_at: dt.datetime | None


_LIVE = (
    "SELECT consent_id, purpose, granted_at, expires_at, notify_on_share, withdrawn_at FROM hub.consent "
    "WHERE subject_hash = $1 AND purpose = $2 AND withdrawn_at IS NULL AND expires_at > now() "
    "ORDER BY granted_at DESC LIMIT 1"
)
_RECORD = (
    "INSERT INTO hub.consent (subject_hash, purpose, expires_at, notify_on_share, recorded_by_org, recorded_by_hash) "
    "VALUES ($1, $2, now() + $3::text::interval, $4, $5, $6) "
    "RETURNING consent_id, purpose, granted_at, expires_at, notify_on_share, withdrawn_at"
)
_WITHDRAW = (
    "UPDATE hub.consent SET withdrawn_at = now(), withdrawn_by_org = $3 "
    "WHERE subject_hash = $1 AND purpose = $2 AND withdrawn_at IS NULL "
    "RETURNING consent_id, purpose, granted_at, expires_at, notify_on_share, withdrawn_at"
)


# Every read and write: a consent store that does not answer refuses the operation (nothing released).
_consent_records = unavailable_as(lambda: ConsentUnavailable("consent records cannot be read, so nothing is released"))


class ConsentStore:
    def __init__(self, pool: asyncpg.Pool, *, timeout: float) -> None:
        self.pool = pool
        self.timeout = timeout

    @_consent_records
    async def live(self, subject: str, purpose: str) -> ConsentRecord | None:
        """The person's live consent for the purpose, if any (the latest, when several are live)."""
        row = await self.pool.fetchrow(_LIVE, subject, purpose, timeout=self.timeout)
        return None if row is None else ConsentRecord(**dict(row))

    @_consent_records
    async def record(
        self, subject: str, purpose: str, *, lasts: str, notify_on_share: bool, org: str, user_hash: str
    ) -> ConsentRecord:
        """``lasts``: an ISO 8601 duration (the register's renewal period), read by PostgreSQL."""
        row = await self.pool.fetchrow(
            _RECORD,
            subject,
            purpose,
            lasts,
            notify_on_share,
            org,
            user_hash,
            timeout=self.timeout,
        )
        assert row is not None
        return ConsentRecord(**dict(row))

    @_consent_records
    async def withdraw(self, subject: str, purpose: str, *, org: str) -> list[ConsentRecord]:
        """Withdraw every live consent of the person for the purpose; what was withdrawn."""
        rows = await self.pool.fetch(
            _WITHDRAW,
            subject,
            purpose,
            org,
            timeout=self.timeout,
        )
        return [ConsentRecord(**dict(r)) for r in rows]

    @_consent_records
    async def notify(
        self, subject: str, purpose: str, *, recipient_org: str, fields: Sequence[str], request_id: uuid.UUID
    ) -> None:
        await self.pool.execute(
            "INSERT INTO hub.subject_notification (subject_hash, purpose, recipient_org, fields, request_id) "
            "VALUES ($1, $2, $3, $4, $5)",
            subject,
            purpose,
            recipient_org,
            sorted(fields),
            request_id,
            timeout=self.timeout,
        )
