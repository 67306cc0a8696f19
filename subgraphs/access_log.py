"""The subgraph's own access log (``<schema>.hub_access_log`` in its own store).

Every question the hub asks is written here before it is answered (fail closed: no row, no answer), with
the hub's audit id, the organisation and purpose the hub vouched for, the fields the document selected and
the subjects asked about. A NINO is kept only as a keyed hash (HMAC-SHA256 with the subgraph's own secret):
the ~10^9 possible NINOs could be enumerated against a plain hash. The assertion's id is unique here, so
the row that logs a question is also what refuses the same assertion a second time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from hub.types import SubjectKey
from linkage import normalise_nino

__all__ = ["AccessEntry", "AccessLog", "AccessRow", "Replayed"]


class Replayed(Exception):
    """The assertion's id is already in the log: the same assertion, used again."""


@dataclass(frozen=True, slots=True)
class AccessEntry:
    jti: str | None
    audit_id: uuid.UUID | None
    org: str | None
    org_type: str | None
    purpose: str | None
    legal_basis: str | None
    fields: Sequence[str]
    subjects: Sequence[str]
    outcome: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class AccessRow:
    entry_id: int
    received_at: dt.datetime
    audit_id: uuid.UUID | None
    org: str | None
    org_type: str | None
    purpose: str | None
    legal_basis: str | None
    fields: tuple[str, ...]
    outcome: str
    reason: str | None


class AccessLog:
    def __init__(self, pool: asyncpg.Pool, *, schema: str, secret: bytes, timeout: float) -> None:
        if schema not in {"dwp", "hb", "social_care"}:
            raise ValueError(f"unknown source schema {schema!r}")
        self.pool = pool
        self.table = f"{schema}.hub_access_log"  # from the closed set above: safe in SQL text
        self._secret = secret
        self.timeout = timeout

    def subject(self, key: SubjectKey) -> str:
        """How a subject key is logged: a NINO as its keyed hash, a record id as it is."""
        kind, value = key
        if kind == "nino":
            return "nino:" + hmac.new(self._secret, value.encode(), hashlib.sha256).hexdigest()
        return f"id:{value}"

    async def write(self, entry: AccessEntry) -> int:
        """Append the entry; its id. Raises :class:`Replayed` when its assertion id is already logged, and
        the driver's error when the store does not take it (the caller answers no data then)."""
        sql = (
            f"INSERT INTO {self.table} (jti, audit_id, org, org_type, purpose, legal_basis, fields, subjects, "  # noqa: S608
            "outcome, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
            "ON CONFLICT (jti) DO NOTHING RETURNING entry_id"
        )
        entry_id = await self.pool.fetchval(
            sql,
            entry.jti,
            entry.audit_id,
            entry.org,
            entry.org_type,
            entry.purpose,
            entry.legal_basis,
            list(entry.fields),
            list(entry.subjects),
            entry.outcome,
            entry.reason,
            timeout=self.timeout,
        )
        if entry_id is None:
            raise Replayed(entry.jti)
        return int(entry_id)

    async def mark(self, entry_id: int, outcome: str, reason: str) -> None:
        """A question logged as answered that the source could not answer after all."""
        await self.pool.execute(
            f"UPDATE {self.table} SET outcome = $2, reason = $3 WHERE entry_id = $1",  # noqa: S608
            entry_id,
            outcome,
            reason,
            timeout=self.timeout,
        )

    async def about(self, *, nino: str | None = None, audit_id: uuid.UUID | None = None) -> list[AccessRow]:
        """Who asked about this person (by NINO), or what was asked under this hub audit record; oldest first."""
        if (nino is None) == (audit_id is None):
            raise ValueError("ask about a NINO or an audit id")
        arg: object
        if nino is not None:
            where, arg = "$1 = ANY(subjects)", self.subject(("nino", str(normalise_nino(nino))))
        else:
            where, arg = "audit_id = $1", audit_id
        rows = await self.pool.fetch(
            "SELECT entry_id, received_at, audit_id, org, org_type, purpose, legal_basis, fields, outcome, reason "  # noqa: S608
            f"FROM {self.table} WHERE {where} ORDER BY entry_id",
            arg,
            timeout=self.timeout,
        )
        return [
            AccessRow(
                entry_id=r["entry_id"],
                received_at=r["received_at"],
                audit_id=r["audit_id"],
                org=r["org"],
                org_type=r["org_type"],
                purpose=r["purpose"],
                legal_basis=r["legal_basis"],
                fields=tuple(r["fields"]),
                outcome=r["outcome"],
                reason=r["reason"],
            )
            for r in rows
        ]
