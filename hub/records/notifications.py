"""Changes of circumstance told to the hub, delivered to DWP and the right council's HB team, exactly once.

Accepting (:meth:`NotificationStore.accept`) writes the notification and one outbox row per delivery in one
transaction: once the sender has its answer, nothing is lost. The idempotency key makes a repeat return
the first answer and write nothing new (a key reused for different content is refused).

Delivering (:class:`Dispatcher`) claims due outbox rows under a lease (``FOR UPDATE SKIP LOCKED``: several
dispatchers share the work), hands each to its target's :class:`Inbox`, which writes it keyed by the
delivery id (``ON CONFLICT DO NOTHING``: a delivery repeated after a crash lands once), then marks it
delivered. A target that is down is retried with exponential backoff and jitter until it answers; a
dispatcher killed mid-flight leaves its lease to expire and the next one delivers.

Each claim carries a token of its own (``claim_id``) and every later change to the row is fenced by it: a
round that outlived its lease (a slow dispatcher, an answer lost on the way back) changes nothing once
another dispatcher has claimed the row, nor a row already recorded delivered. A round cannot outlive its
lease by writing, either: a target's write is given up in time to record the outcome within the lease.

The targets own their inboxes: DWP's and the HB teams' are written by the source adapters (each in its
own store, through its own role), the organisations' correction notices by :class:`CorrectionNotices`
here, in the hub's own store. This module knows them only as the :class:`Inbox` protocol.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import logging
import random
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import asyncpg

from hub.db import UNAVAILABLE, Failing, unavailable_as
from hub.errors import HubError, IdempotencyKeyReused, NotificationUnavailable
from hub.metrics import OUTBOX_BACKLOG, OUTBOX_DELIVERY_AGE, OUTBOX_OLDEST, elapsed

__all__ = [
    "Accepted",
    "CorrectionNotices",
    "Delivery",
    "Dispatcher",
    "Inbox",
    "NotificationStore",
    "OutboxItem",
    "Target",
]

log = logging.getLogger("welfare_hub.notifications")


@dataclasses.dataclass(frozen=True, slots=True)
class Target:
    target: str  # "dwp" | "hb"
    target_ref: str  # a DWP person id, an HB claim ref
    council_code: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Delivery:
    delivery_id: uuid.UUID
    target: str
    council_code: str | None
    status: str
    attempts: int
    delivered_at: dt.datetime | None


@dataclasses.dataclass(frozen=True, slots=True)
class Accepted:
    notification_id: uuid.UUID
    status: str  # "accepted" | "review"
    kind: str
    effective_date: dt.date
    created_at: dt.datetime
    deliveries: tuple[Delivery, ...]
    replayed: bool  # this answer is the first one's, for a repeated idempotency key


_DELIVERIES = (
    "SELECT delivery_id, target, council_code, status, attempts, delivered_at FROM hub.outbox "
    "WHERE notification_id = $1 ORDER BY target, council_code NULLS FIRST, delivery_id"
)


class NotificationStore:
    def __init__(self, pool: asyncpg.Pool, *, timeout: float) -> None:
        self.pool = pool
        self.timeout = timeout

    @unavailable_as(lambda: NotificationUnavailable("the notification could not be recorded: nothing was accepted"))
    async def accept(
        self,
        *,
        sender_org: str,
        sender_org_type: str,
        sender_user_hash: str,
        idempotency_key: str,
        request_hash: str,
        kind: str,
        effective_date: dt.date,
        subject: tuple[str, str] | None,  # (key id, keyed hash)
        person_key: uuid.UUID | None,
        targets: Sequence[Target],
    ) -> Accepted:
        """Record the notification and its deliveries at once (status review when no one was linked)."""
        async with asyncio.timeout(self.timeout), self.pool.acquire() as conn, conn.transaction():
            notification_id = uuid.uuid4()
            inserted = await conn.fetchval(
                "INSERT INTO hub.notification (notification_id, sender_org, sender_org_type, sender_user_hash, "
                "idempotency_key, request_hash, kind, effective_date, subject_key_id, subject_hash, person_key, "
                "status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
                "ON CONFLICT (sender_org, idempotency_key) DO NOTHING RETURNING notification_id",
                notification_id,
                sender_org,
                sender_org_type,
                sender_user_hash,
                idempotency_key,
                request_hash,
                kind,
                effective_date,
                subject[0] if subject else None,
                subject[1] if subject else None,
                person_key,
                "accepted" if person_key is not None else "review",
            )
            if inserted is None:  # this key was seen: the first answer, or a refusal if the content differs
                first = await conn.fetchrow(
                    "SELECT notification_id, request_hash FROM hub.notification "
                    "WHERE sender_org = $1 AND idempotency_key = $2",
                    sender_org,
                    idempotency_key,
                )
                assert first is not None
                if first["request_hash"] != request_hash:
                    raise IdempotencyKeyReused(
                        "this idempotency key was used for a different notification: use a new key for a new one"
                    )
                return await self._read(conn, first["notification_id"], replayed=True)
            if person_key is not None and targets:
                await conn.executemany(
                    "INSERT INTO hub.outbox (delivery_id, notification_id, target, target_ref, council_code) "
                    "VALUES ($1, $2, $3, $4, $5)",
                    [(uuid.uuid4(), notification_id, t.target, t.target_ref, t.council_code) for t in targets],
                )
            return await self._read(conn, notification_id, replayed=False)

    @unavailable_as(lambda: NotificationUnavailable("notifications cannot be read now"))
    async def replay(self, sender_org: str, idempotency_key: str, request_hash: str) -> Accepted | None:
        """The first answer to this key, if the sender used it before (IdempotencyKeyReused if for a different
        notification); None for a new key. Asked before the person is linked or anything about them is
        checked, so that a reused key tells nothing about them."""
        async with asyncio.timeout(self.timeout), self.pool.acquire() as conn:
            first = await conn.fetchrow(
                "SELECT notification_id, request_hash FROM hub.notification "
                "WHERE sender_org = $1 AND idempotency_key = $2",
                sender_org,
                idempotency_key,
            )
            if first is None:
                return None
            if first["request_hash"] != request_hash:
                raise IdempotencyKeyReused(
                    "this idempotency key was used for a different notification: use a new key for a new one"
                )
            return await self._read(conn, first["notification_id"], replayed=True)

    @unavailable_as(lambda: NotificationUnavailable("notifications cannot be read now"))
    async def get(self, sender_org: str, notification_id: uuid.UUID) -> Accepted | None:
        """A notification as its sender may see it (another organisation's is not found)."""
        async with asyncio.timeout(self.timeout), self.pool.acquire() as conn:
            owner = await conn.fetchval(
                "SELECT sender_org FROM hub.notification WHERE notification_id = $1", notification_id
            )
            if owner != sender_org:
                return None
            return await self._read(conn, notification_id, replayed=False)

    async def _read(self, conn: Any, notification_id: uuid.UUID, *, replayed: bool) -> Accepted:
        row = await conn.fetchrow(
            "SELECT notification_id, status, kind, effective_date, created_at FROM hub.notification "
            "WHERE notification_id = $1",
            notification_id,
        )
        deliveries = await conn.fetch(_DELIVERIES, notification_id)
        return Accepted(
            notification_id=row["notification_id"],
            status=row["status"],
            kind=row["kind"],
            effective_date=row["effective_date"],
            created_at=row["created_at"],
            deliveries=tuple(Delivery(**dict(d)) for d in deliveries),
            replayed=replayed,
        )


# -- delivery ------------------------------------------------------------------------------------------

_CLAIM = """
WITH due AS (
    SELECT delivery_id FROM hub.outbox
     WHERE status = 'pending' AND next_attempt_at <= clock_timestamp()
       AND (lease_until IS NULL OR lease_until < clock_timestamp())
     ORDER BY next_attempt_at
     LIMIT $1
     FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE hub.outbox o
       SET lease_until = clock_timestamp() + make_interval(secs => $2), attempts = o.attempts + 1,
           claim_id = gen_random_uuid()
      FROM due WHERE o.delivery_id = due.delivery_id
    RETURNING o.delivery_id, o.claim_id, o.notification_id, o.correction_id, o.request_ids, o.target, o.target_ref,
              o.council_code, o.attempts, extract(epoch FROM clock_timestamp() - o.created_at)::float8 AS age
)
SELECT c.*, n.kind, n.effective_date, n.sender_org, n.sender_org_type, k.field
  FROM claimed c
  LEFT JOIN hub.notification n ON n.notification_id = c.notification_id
  LEFT JOIN hub.correction k ON k.correction_id = c.correction_id
"""
# Changes to a claimed row, each only while this round's claim holds it (the row's claim_id its token, still
# pending): once another dispatcher has claimed it, or it was recorded delivered, a late round changes nothing.
_DELIVERED = """
UPDATE hub.outbox o
   SET status = 'delivered', delivered_at = clock_timestamp(), lease_until = NULL, claim_id = NULL,
       last_error = NULL, council_code = coalesce(o.council_code, d.council_code)
  FROM unnest($1::uuid[], $2::uuid[], $3::text[]) AS d(delivery_id, claim_id, council_code)
 WHERE o.delivery_id = d.delivery_id AND o.claim_id = d.claim_id AND o.status = 'pending'
RETURNING o.delivery_id
"""
_RETRY_LATER = """
UPDATE hub.outbox o
   SET lease_until = NULL, claim_id = NULL, last_error = $4,
       next_attempt_at = clock_timestamp() + make_interval(secs => d.delay)
  FROM unnest($1::uuid[], $2::uuid[], $3::float8[]) AS d(delivery_id, claim_id, delay)
 WHERE o.delivery_id = d.delivery_id AND o.claim_id = d.claim_id AND o.status = 'pending'
"""
_UNAVAILABLE = (*UNAVAILABLE, HubError)  # a target source's own errors included


@dataclasses.dataclass(frozen=True, slots=True)
class OutboxItem:
    """One claimed delivery, as its target's inbox receives it: a change of circumstance (notification
    fields set) or a correction notice to an organisation (correction fields set)."""

    delivery_id: uuid.UUID
    target: str  # "dwp" | "hb" | "org"
    target_ref: str  # a DWP person id, an HB claim ref, an organisation
    council_code: str | None  # for hb: None when routed while HB did not answer
    notification_id: uuid.UUID | None
    kind: str | None
    effective_date: dt.date | None
    sender_org: str | None  # who sent the change (a source's subgraph is told who asks)
    sender_org_type: str | None
    correction_id: int | None
    field: str | None
    request_ids: tuple[str, ...]

    @classmethod
    def of(cls, row: asyncpg.Record) -> OutboxItem:
        return cls(
            delivery_id=row["delivery_id"],
            target=row["target"],
            target_ref=row["target_ref"],
            council_code=row["council_code"],
            notification_id=row["notification_id"],
            kind=row["kind"],
            effective_date=row["effective_date"],
            sender_org=row["sender_org"],
            sender_org_type=row["sender_org_type"],
            correction_id=row["correction_id"],
            field=row["field"],
            request_ids=tuple(row["request_ids"] or ()),
        )


class Inbox(Protocol):
    """Where a target receives its deliveries."""

    async def deliver(self, changes: Sequence[OutboxItem]) -> Mapping[str, str]:
        """Write the deliveries, each once (keyed by its delivery id), in one transaction; raise if the target
        does not answer. Returns the councils learnt for deliveries routed without one (target ref ->
        council)."""
        ...


class CorrectionNotices:
    """The organisations' inbox: correction notices in the hub's own table, which each organisation reads."""

    def __init__(self, pool: asyncpg.Pool, *, timeout: float) -> None:
        self.pool = pool
        self.timeout = timeout

    async def deliver(self, changes: Sequence[OutboxItem]) -> Mapping[str, str]:
        """Write correction notices, each once (keyed by the delivery id); no council to learn."""
        rows = [(c.delivery_id, c.correction_id, c.target_ref, c.field, list(c.request_ids)) for c in changes]
        async with asyncio.timeout(self.timeout), self.pool.acquire() as conn, conn.transaction():
            await conn.executemany(
                "INSERT INTO hub.correction_notice (notice_id, correction_id, org, field, request_ids) "
                "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (notice_id) DO NOTHING",
                rows,
            )
        return {}


@functools.lru_cache(maxsize=16)
def _by_target(target: str) -> dict[str, str]:
    return {"welfare_hub.outbox.target": target}


class Dispatcher:
    """Delivers the outbox: ``targets`` maps each target ("dwp", "hb", "org") to its inbox."""

    def __init__(
        self,
        hub: asyncpg.Pool,
        targets: Mapping[str, Inbox],
        *,
        timeout: float = 2.0,
        batch: int = 200,
        lease_seconds: float | None = None,
        backoff_base: float = 0.5,
        backoff_cap: float = 60.0,
    ) -> None:
        self.hub = hub
        self.targets = targets
        self.timeout = timeout
        self.batch = batch
        # A round is the claim, then for every target at once its inbox write and the record of it, each
        # bounded by ``timeout``: a lease a little longer than that. One that outlives its dispatcher costs
        # a repeat, which lands once, so a round lost half-way (a claim whose answer timed out) is due
        # again within seconds rather than after a fixed half-minute.
        self.lease_seconds = 4 * timeout if lease_seconds is None else lease_seconds
        # The inbox writes (each also bounded by its own adapter) end this long after the claim was sent,
        # keeping the rest of the lease (``timeout``, at most a quarter of it) to record what happened.
        self.write_seconds = self.lease_seconds - min(timeout, self.lease_seconds / 4)
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap

    def backoff(self, attempts: int) -> float:
        """Seconds before the next attempt: exponential, capped, with up to 25% jitter."""
        delay: float = min(self.backoff_cap, self.backoff_base * 2 ** max(0, attempts - 1))
        return delay * (1 + random.random() / 4)  # noqa: S311 (jitter, not security)

    async def run_once(self) -> int:
        """Claim what is due, deliver it; the number delivered."""
        loop = asyncio.get_running_loop()
        # The lease starts when the server runs the claim, after this: a deadline from here ends within it.
        started = loop.time()
        async with asyncio.timeout(self.timeout):
            claimed = await self.hub.fetch(_CLAIM, self.batch, self.lease_seconds)
        claimed_at = time.perf_counter()
        # Each target's write ends in time to record its outcome before the lease does: a round never
        # outlives its claim by waiting on a slow target (which the next claim would then write to as well).
        write_by = started + self.write_seconds
        by_target: dict[str, list[asyncpg.Record]] = {}
        for row in claimed:
            by_target.setdefault(row["target"], []).append(row)
        # The targets at once: one slow or down target neither delays the others nor outlasts the lease.
        # Every one is waited for, whatever another raised: none is left running on after the round.
        targets = list(by_target)
        results = await asyncio.gather(
            *(self._deliver(target, by_target[target], claimed_at, write_by) for target in targets),
            return_exceptions=True,
        )
        delivered = 0
        for target, result in zip(targets, results, strict=True):
            if isinstance(result, BaseException):
                # Only the type: a message may quote what was delivered. Its lease runs out: due again.
                log.error("delivering to %s failed unexpectedly: %s", target, type(result).__name__)
            else:
                delivered += result
        return delivered

    async def write_inbox(self, target: str, rows: Sequence[asyncpg.Record]) -> Mapping[str, str]:
        """Hand claimed deliveries to the target's inbox (a repeat lands once); the councils of HB claims
        routed while HB was down."""
        inbox = self.targets[target]
        return await inbox.deliver([OutboxItem.of(r) for r in rows])

    async def _deliver(self, target: str, rows: list[asyncpg.Record], claimed_at: float, write_by: float) -> int:
        try:
            async with asyncio.timeout_at(write_by):
                councils = await self.write_inbox(target, rows)
        except (*_UNAVAILABLE, KeyError) as e:
            code = e.extensions["code"] if isinstance(e, HubError) else type(e).__name__
            log.warning("delivery to %s failed (%d items): %s", target, len(rows), code)
            await self._release(target, rows, str(code))
            return 0
        except Exception as e:  # an inbox's own fault: logged, and retried like a target that is down
            log.error("delivery to %s failed unexpectedly (%d items): %s", target, len(rows), type(e).__name__)
            await self._release(target, rows, type(e).__name__)
            return 0
        try:
            async with asyncio.timeout(self.timeout):
                recorded = await self.hub.fetch(
                    _DELIVERED,
                    [r["delivery_id"] for r in rows],
                    [r["claim_id"] for r in rows],
                    [councils.get(r["target_ref"]) for r in rows],
                )
        except _UNAVAILABLE as e:
            # Delivered but not recorded: due again at once (the repeat lands once) rather than when the
            # lease runs out; if the hub's store is still not answering, the lease is the fallback. (If the
            # record did commit and only its answer was lost, the row is delivered: released, it is left.)
            log.warning("recording delivery to %s failed (%d items): %s", target, len(rows), type(e).__name__)
            await self._release(target, rows, "NOT_RECORDED", at_once=True)
            return 0
        if len(recorded) < len(rows):
            # Claimed again meanwhile (this round outlived its lease): the new claim delivers and records them.
            log.warning("delivery to %s not recorded for %d items: claimed again", target, len(rows) - len(recorded))
        since_claim = elapsed(claimed_at)
        ages = {r["delivery_id"]: r["age"] for r in rows}
        for r in recorded:
            OUTBOX_DELIVERY_AGE.record(ages[r["delivery_id"]] + since_claim, _by_target(target))
        return len(recorded)

    async def _release(self, target: str, rows: Sequence[asyncpg.Record], code: str, *, at_once: bool = False) -> None:
        try:
            await self._retry_later(rows, code, at_once=at_once)
        except _UNAVAILABLE as e:  # the lease runs out instead: due again all the same
            log.warning("rescheduling delivery to %s failed (%d items): %s", target, len(rows), type(e).__name__)

    async def _retry_later(self, rows: Sequence[asyncpg.Record], code: str, *, at_once: bool = False) -> None:
        async with asyncio.timeout(self.timeout):
            await self.hub.execute(
                _RETRY_LATER,
                [r["delivery_id"] for r in rows],
                [r["claim_id"] for r in rows],
                [0.0 if at_once else self.backoff(r["attempts"]) for r in rows],
                code,
            )

    async def measure(self) -> None:
        """Set the outbox's gauges: the deliveries waiting and the oldest one's age, by target."""
        async with asyncio.timeout(self.timeout):
            rows = await self.hub.fetch(
                "SELECT target, count(*) AS waiting, "
                "extract(epoch FROM clock_timestamp() - min(created_at))::float8 AS oldest "
                "FROM hub.outbox WHERE status = 'pending' GROUP BY target"
            )
        found = {r["target"]: (r["waiting"], r["oldest"]) for r in rows}
        for target in {*self.targets, *found}:
            waiting, oldest = found.get(target, (0, 0.0))
            OUTBOX_BACKLOG.set(waiting, _by_target(target))
            OUTBOX_OLDEST.set(max(0.0, oldest), _by_target(target))

    async def run_forever(self, interval: float) -> None:
        """Deliver until cancelled: at once while there is work, every ``interval`` seconds otherwise."""
        failing = Failing("dispatching the outbox", interval, cap=max(interval, 5.0), log=log)
        while True:
            try:
                delivered = await self.run_once()
            except Exception as e:  # the hub's store did not answer, or a fault of ours: leases expire
                failing.failed(e)
                delivered = 0
            else:
                failing.succeeded()
            if delivered < self.batch:
                await asyncio.sleep(failing.wait)
