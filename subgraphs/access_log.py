"""The subgraph's own access log (``<schema>.hub_access_log`` in its own store).

Every question the hub asks is written here before it is answered (fail closed: no row, no answer), with
the hub's audit id, the organisation and purpose the hub vouched for, the fields the document selected and
the subjects asked about. A NINO is kept only as a keyed hash (HMAC-SHA256 with the subgraph's own secret):
the ~10^9 possible NINOs could be enumerated against a plain hash. The assertion's id is unique here, so
the row that logs a question is also what refuses the same assertion a second time.

The rows of questions asked at once are written together (group commit): a row asked with nothing in
flight is inserted at once; while an insert is in flight, the rows that arrive queue, and the next insert
takes all of them (up to ``max_batch``), one statement and one commit. Each question still waits for its
own row to be committed (or refused as a replay) before it is answered; a batch the store refuses is
retried row by row, so one row it cannot take fails only its own question.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
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


#: What one row can earn on its own (SQLSTATE classes 22 and 23: bad data, a constraint): a batch refused so is
#: retried row by row. Anything else (the store down or slow, a privilege) fails the whole batch at once.
_ROW_ERRORS = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError)
_COLUMNS = "jti, audit_id, org, org_type, purpose, legal_basis, fields, subjects, outcome, reason"


@functools.lru_cache(maxsize=256)
def _insert_sql(table: str, rows: int) -> str:
    """The insert of ``rows`` entries (one statement text per count: asyncpg prepares each once)."""
    values = ", ".join("(" + ", ".join(f"${10 * r + c}" for c in range(1, 11)) + ")" for r in range(rows))
    return (
        f"INSERT INTO {table} ({_COLUMNS}) VALUES {values} "  # noqa: S608 (the table is from a closed set)
        "ON CONFLICT (jti) DO NOTHING RETURNING entry_id, jti"
    )


def _values(entry: AccessEntry) -> tuple[object, ...]:
    return (
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
    )


class AccessLog:
    def __init__(self, pool: asyncpg.Pool, *, schema: str, secret: bytes, timeout: float, max_batch: int = 64) -> None:
        if schema not in {"dwp", "hb", "social_care"}:
            raise ValueError(f"unknown source schema {schema!r}")
        self.pool = pool
        self.table = f"{schema}.hub_access_log"  # from the closed set above: safe in SQL text
        self._secret = secret
        self.timeout = timeout
        self.max_batch = max_batch
        self._queue: list[tuple[AccessEntry, asyncio.Future[int]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._alone = False  # a row is being inserted on its own (nothing else was in flight)

    def subject(self, key: SubjectKey) -> str:
        """How a subject key is logged: a NINO as its keyed hash, a record id as it is."""
        kind, value = key
        if kind == "nino":
            return "nino:" + hmac.new(self._secret, value.encode(), hashlib.sha256).hexdigest()
        return f"id:{value}"

    async def write(self, entry: AccessEntry) -> int:
        """Append the entry; its id, once committed. Raises :class:`Replayed` when its assertion id is already
        logged, and the driver's error when the store does not take it (the caller answers no data then)."""
        if entry.jti is None:  # a refusal before the assertion verified: rare, and matched by no id
            return await self._insert_one(entry)
        if self._flusher is None and not self._alone:
            # Nothing in flight: this row goes at once, on its own (no task, no wait); the rows that arrive
            # meanwhile queue, and are flushed together once it is in.
            self._alone = True
            try:
                return await self._insert_one(entry)
            finally:
                self._alone = False
                if self._queue and self._flusher is None:
                    self._flusher = asyncio.create_task(self._flush())
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue.append((entry, future))
        if self._flusher is None and not self._alone:
            self._flusher = asyncio.create_task(self._flush())
        # Bounded like the row's own insert: a queue behind a slow store must not hold a question for
        # batches of timeouts. A question given up on is answered with no data; its row, if the batch still
        # commits it, names an assertion that was never answered (its jti is spent either way).
        async with asyncio.timeout(self.timeout):
            return await future

    async def _flush(self) -> None:
        """Insert what is queued, a batch at a time, until nothing is."""
        try:
            while self._queue:
                batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
                try:
                    await self._settle(batch)
                except BaseException as e:  # cancelled (shutting down): no question waits on a row forever
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(e if isinstance(e, Exception) else ConnectionError("stopping"))
                    raise
        finally:
            self._flusher = None
            for _, future in self._queue:  # left only when stopped by an error: nothing else would flush them
                if not future.done():
                    future.set_exception(ConnectionError("the access log stopped"))
            self._queue = []

    async def _settle(self, batch: list[tuple[AccessEntry, asyncio.Future[int]]]) -> None:
        """One insert for the batch; each waiter told its row's id, or :class:`Replayed`, or the error."""
        try:
            ids = await self._insert([entry for entry, _ in batch])
        except Exception as e:
            if len(batch) > 1 and isinstance(e, _ROW_ERRORS):
                for one in batch:  # a row the store refused: each on its own, so each its own verdict
                    await self._settle([one])
                return
            for _, future in batch:  # the store down, slow or refusing us: every question is told, at once
                if not future.done():
                    future.set_exception(e)
            return
        for entry, future in batch:
            if future.done():  # its question was cancelled; the row stands (it was asked)
                continue
            entry_id = ids.pop(entry.jti, None)  # a jti twice in a batch: the first is logged, the second replays
            if entry_id is None:
                future.set_exception(Replayed(entry.jti))
            else:
                future.set_result(entry_id)

    async def _insert(self, entries: Sequence[AccessEntry]) -> dict[str | None, int]:
        rows = await self.pool.fetch(
            _insert_sql(self.table, len(entries)),
            *(value for entry in entries for value in _values(entry)),
            timeout=self.timeout,
        )
        return {r["jti"]: int(r["entry_id"]) for r in rows}

    async def _insert_one(self, entry: AccessEntry) -> int:
        entry_id = await self.pool.fetchval(_insert_sql(self.table, 1), *_values(entry), timeout=self.timeout)
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
