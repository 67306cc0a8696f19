"""The rate limiter's buckets in the hub database, where every pod sees them, and the limiter that falls
back to buckets in this process while that store does not answer.

A check is one parameterised statement over the caller's buckets (:data:`_TAKE`): it refills each bucket
from its ``updated_at`` by the database's clock, takes the cost if the bucket holds it, and returns what is
left, all under the rows' locks, so two pods never both spend a bucket's last token. A request one bucket
refuses is charged to none (the others are refunded: a second statement, on the refused path only).

Leases: a caller whose requests come fast to this pod takes more than one request's worth at a time (a
lease: :data:`LEASE_SECONDS` of the caller's recent rate here, at most :data:`LEASE_SHARE` of the bucket's
burst, given up after :data:`LEASE_TTL`) and spends it here, without a statement per request. A lease is
taken from the shared bucket before it is spent, so the service as a whole never allows more than the
limit: at worst a pod gives up the unspent part of a lease (a caller gets slightly less, never more). A
caller at a caseworker's pace leases one request at a time, which is the statement per request as before;
a busy service client makes one statement per lease (bench/results/ratelimit-lease-*).

Fail open, bounded: rate limiting protects the service from misuse; it decides nothing about the data
(the purpose guard does, and the audit fails closed). So a limiter store that is down or slow does not
take the hub down: each check waits at most ``timeout``, then this pod limits from its own buckets (the
same parameters, so the whole service allows at most one budget per pod) for ``retry_seconds`` before
trying the store again. The outage is logged at once and then once per retry period with the count of
checks made locally.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

import asyncpg

from hub.access.ratelimit import Bucket, Level, LocalBuckets
from hub.db import UNAVAILABLE

__all__ = ["PgBuckets", "RateLimiter"]

log = logging.getLogger("welfare_hub.ratelimit")

#: A lease covers this many seconds of a caller's recent rate on this pod...
LEASE_SECONDS = 0.1
#: ...but never more than this share of the bucket's burst (what a pod may hold back from the others)...
LEASE_SHARE = 0.05
#: ...and what is not spent within this many seconds is given up.
LEASE_TTL = 1.0

# $1 keys (in lock order), $2 capacities, $3 refill rates, $4 each bucket's cost, $5 only if the bucket holds it
# (a take before the request) or whatever it holds (the price of an outcome, after; a refund is a
# negative cost, capped at the capacity). The level is what the bucket held, refilled for the time since
# by the database's clock, up to its capacity; EXCLUDED is the row proposed: the parameters of this call.
_TAKE = """
INSERT INTO hub.rate_bucket AS b (bucket, tokens, capacity, per_second, granted, updated_at)
SELECT k.bucket,
       CASE WHEN $5 AND k.capacity < k.cost THEN k.capacity ELSE LEAST(k.capacity, k.capacity - k.cost) END,
       k.capacity, k.per_second, NOT ($5 AND k.capacity < k.cost), now()
  FROM unnest($1::text[], $2::float8[], $3::float8[], $4::float8[]) AS k(bucket, capacity, per_second, cost)
 ORDER BY k.bucket
ON CONFLICT (bucket) DO UPDATE SET
    (tokens, granted) = (
        SELECT CASE WHEN $5 AND l.level < c.cost THEN l.level ELSE LEAST(EXCLUDED.capacity, l.level - c.cost) END,
               NOT ($5 AND l.level < c.cost)
          FROM (SELECT cost FROM unnest($1::text[], $4::float8[]) AS x(bucket, cost)
                 WHERE x.bucket = EXCLUDED.bucket LIMIT 1) AS c,
               (SELECT LEAST(EXCLUDED.capacity, b.tokens + EXCLUDED.per_second
                       * GREATEST(0, extract(epoch FROM now() - b.updated_at)::float8)) AS level) AS l
    ),
    capacity = EXCLUDED.capacity,
    per_second = EXCLUDED.per_second,
    updated_at = now()
RETURNING b.bucket, b.tokens, b.granted
"""


class PgBuckets:
    """The shared buckets (``hub.rate_bucket``); every call bounded by ``timeout``, acquire included."""

    def __init__(self, pool: asyncpg.Pool, *, timeout: float) -> None:
        self.pool = pool
        self.timeout = timeout

    async def _run(self, buckets: Sequence[Bucket], costs: Sequence[float], *, conditional: bool) -> list[Level]:
        cost_of = {b.key: c for b, c in zip(buckets, costs, strict=True)}
        ordered = sorted(buckets, key=lambda b: b.key)
        async with asyncio.timeout(self.timeout):
            rows = await self.pool.fetch(
                _TAKE,
                [b.key for b in ordered],
                [b.spec.capacity for b in ordered],
                [b.spec.per_second for b in ordered],
                [cost_of[b.key] for b in ordered],
                conditional,
            )
        by_key = {row["bucket"]: (bool(row["granted"]), float(row["tokens"])) for row in rows}
        return [Level(b, *by_key[b.key]) for b in buckets]

    async def take(self, buckets: Sequence[Bucket], cost: float | Sequence[float]) -> list[Level]:
        """Take ``cost`` (or each bucket's own) from every bucket that holds it, or from none."""
        costs = [cost] * len(buckets) if isinstance(cost, int | float) else list(cost)
        levels = await self._run(buckets, costs, conditional=True)
        granted = [(lv.bucket, -c) for lv, c in zip(levels, costs, strict=True) if lv.granted]
        if len(granted) != len(levels) and granted:
            # refused by one bucket: charged to none
            await self._run([b for b, _ in granted], [c for _, c in granted], conditional=False)
        return levels

    async def charge(self, buckets: Sequence[Bucket], cost: float) -> None:
        await self._run(buckets, [cost] * len(buckets), conditional=False)


#: A bucket that has refilled is the same as no row (a check creates it full): such rows are deleted.
_PRUNE = """
DELETE FROM hub.rate_bucket WHERE bucket IN (
    SELECT bucket FROM hub.rate_bucket
     WHERE tokens + extract(epoch FROM clock_timestamp() - updated_at) * per_second >= capacity
     LIMIT $1)
"""


async def prune(pool: asyncpg.Pool, *, statement_timeout: float, batch: int = 10000) -> int:
    """Delete the buckets that have refilled (a caller seen once keeps no row for ever); how many went."""
    removed = 0
    while True:
        status = await pool.execute(_PRUNE, batch, timeout=statement_timeout)
        count = int(status.split()[-1])
        removed += count
        if count < batch:
            return removed


class RateLimiter:
    """Takes and charges in the shared store; while it fails, in this pod's own buckets (fail open,
    bounded by the same limits per pod)."""

    def __init__(
        self,
        store: PgBuckets | None = None,
        *,
        retry_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store  # set by the app's lifespan, once the hub database's pool exists
        self.retry_seconds = retry_seconds
        self.clock = clock
        self.local = LocalBuckets()
        self.max_keys = 10000
        self._empty_until: dict[str, float] = {}  # bucket key -> when it holds the base cost again
        self._down_until: float | None = None
        self._local_checks = 0
        self._next_report = 0.0
        self._leases: dict[str, tuple[float, float]] = {}  # bucket key -> (tokens held here, given up at)
        self._pace: dict[str, tuple[float, int, float]] = {}  # bucket key -> (window start, takes, last rate)

    @property
    def degraded(self) -> bool:
        """Whether checks are being made in this pod's buckets now (the shared store failed lately)."""
        return self._down_until is not None and self.clock() < self._down_until

    def _shared(self) -> PgBuckets | None:
        if self.store is None or self.degraded:
            self._local_checks += 1
            self._report()
            return None
        return self.store

    def _failed(self, e: BaseException) -> None:
        now = self.clock()
        if self._down_until is None or now >= self._down_until:
            log.error(
                "rate-limit store unavailable (%s): limiting from this pod's own buckets for %.0f s",
                type(e).__name__,
                self.retry_seconds,
            )
        self._down_until = now + self.retry_seconds
        self._local_checks += 1

    def _report(self) -> None:
        now = self.clock()
        if self._local_checks and now >= self._next_report:
            log.warning("rate limits: %d checks made in this pod's own buckets (store unavailable)", self._local_checks)
            self._local_checks = 0
            self._next_report = now + self.retry_seconds

    def _known_empty(self, buckets: Sequence[Bucket], cost: float, now: float) -> list[Level] | None:
        """The levels, if a bucket is known to be short of ``cost`` still: only time adds to a bucket (every
        other pod only takes from it), so one found short stays short until it has refilled."""
        short = False
        levels = []
        for bucket in buckets:
            until = self._empty_until.get(bucket.key)
            if until is not None and now < until:
                short = True
                levels.append(Level(bucket, False, cost - (until - now) * bucket.spec.per_second))
            else:
                levels.append(Level(bucket, True, cost))
        return levels if short else None

    def _remember_short(self, levels: Sequence[Level], cost: float, now: float) -> None:
        if len(self._empty_until) >= self.max_keys:
            self._empty_until = {k: t for k, t in self._empty_until.items() if t > now}
        for level in levels:
            if not level.granted and len(self._empty_until) < self.max_keys:
                self._empty_until[level.bucket.key] = now + (cost - level.tokens) / level.bucket.spec.per_second

    # -- leases -------------------------------------------------------------------------------------

    def _rate(self, key: str, now: float) -> float:
        """Takes per second of this bucket on this pod, over the last whole second (counting this one)."""
        start, takes, rate = self._pace.get(key, (now, 0, 0.0))
        takes += 1
        if now - start >= 1.0:
            rate, start, takes = takes / (now - start), now, 0
        if key not in self._pace and len(self._pace) >= self.max_keys:
            # Full: forget the callers not seen for two windows (their pace is no longer known anyway).
            self._pace = {k: v for k, v in self._pace.items() if now - v[0] < 2.0}
        if key in self._pace or len(self._pace) < self.max_keys:
            self._pace[key] = (start, takes, rate)
        return max(rate, takes / max(now - start, 1.0))

    def _want(self, bucket: Bucket, cost: float, now: float) -> float:
        lease = self._rate(bucket.key, now) * LEASE_SECONDS * cost
        return max(cost, min(lease, bucket.spec.capacity * LEASE_SHARE))

    def _held(self, key: str, now: float) -> float:
        tokens, until = self._leases.get(key, (0.0, 0.0))
        return tokens if now < until else 0.0

    def _lease(self, levels: Sequence[Level], wants: Sequence[float], cost: float, now: float) -> None:
        """Keep what a granted take beyond ``cost`` leased (bounded: no room, no lease)."""
        if len(self._leases) >= self.max_keys:
            self._leases = {k: v for k, v in self._leases.items() if v[1] > now}
        for level, want in zip(levels, wants, strict=True):
            key = level.bucket.key
            if want > cost and (key in self._leases or len(self._leases) < self.max_keys):
                self._leases[key] = (self._held(key, now) + want - cost, now + LEASE_TTL)

    def _spend(self, buckets: Sequence[Bucket], cost: float, now: float) -> list[Level] | None:
        """The levels, if every bucket's lease here covers ``cost`` (then spent from them), else None."""
        held = [self._held(b.key, now) for b in buckets]
        if any(h < cost for h in held):
            return None
        for bucket, h in zip(buckets, held, strict=True):
            self._leases[bucket.key] = (h - cost, self._leases[bucket.key][1])
        return [Level(b, True, h - cost) for b, h in zip(buckets, held, strict=True)]

    async def take(self, buckets: Sequence[Bucket], cost: float) -> list[Level]:
        now = self.clock()
        known = self._known_empty(buckets, cost, now)
        if known is not None:
            return known  # a flood of 429s costs the store nothing
        wants = [self._want(b, cost, now) for b in buckets]
        spent = self._spend(buckets, cost, now)
        if spent is not None:
            return spent  # from this pod's leases: no statement
        store = self._shared()
        if store is not None:
            try:
                async with asyncio.timeout(store.timeout):  # the whole check, a retry and refunds included
                    levels = await self._take_leasing(store, buckets, cost, wants, now)
            except UNAVAILABLE as e:
                self._failed(e)
            else:
                self._down_until = None
                self._remember_short(levels, cost, now)
                return levels
        return self.local.take(buckets, cost, self.clock())

    async def _take_leasing(
        self, store: PgBuckets, buckets: Sequence[Bucket], cost: float, wants: Sequence[float], now: float
    ) -> list[Level]:
        """Take ``cost`` for the buckets whose lease here covers it, and a lease for the others; a bucket
        that cannot spare a lease but holds the cost is asked for the cost alone, as without leases.

        The covered buckets' leases are spent before the store is asked, and given back if the request is
        refused or the store fails: a concurrent take in this pod sees each lease as it is after this one
        (spent after the await, every request in flight would have spent the same tokens)."""
        covered: list[Bucket] = []
        ask: list[Bucket] = []
        leased: list[float] = []
        for bucket, want in zip(buckets, wants, strict=True):
            held = self._held(bucket.key, now)
            if held >= cost:
                covered.append(bucket)
                self._leases[bucket.key] = (held - cost, self._leases[bucket.key][1])
            else:
                ask.append(bucket)
                leased.append(want)
        try:
            levels = await store.take(ask, leased)
            if not all(lv.granted for lv in levels) and any(w > cost for w in leased):
                levels = await store.take(ask, cost)  # no room for a lease: the cost alone
                leased = [cost] * len(ask)
        except BaseException:
            self._give_back(covered, cost)
            raise
        if all(lv.granted for lv in levels):
            self._lease(levels, leased, cost, now)
        else:
            self._give_back(covered, cost)  # refused: charged to none
        by_key = {lv.bucket.key: lv for lv in levels}
        return [by_key.get(b.key) or Level(b, True, self._held(b.key, now)) for b in buckets]

    def _give_back(self, buckets: Sequence[Bucket], cost: float) -> None:
        for bucket in buckets:
            held = self._leases.get(bucket.key)
            if held is not None:  # a lease pruned meanwhile is simply gone (it was paid for: stricter, never looser)
                self._leases[bucket.key] = (held[0] + cost, held[1])

    async def charge(self, buckets: Sequence[Bucket], cost: float) -> None:
        store = self._shared()
        if store is not None:
            try:
                await store.charge(buckets, cost)
            except UNAVAILABLE as e:
                self._failed(e)
            else:
                return
        self.local.charge(buckets, cost, self.clock())
