"""Rate-limit leases on the real hub database: a busy caller's pod takes a lease and spends it without a
statement per request, a caller at a caseworker's pace still makes one per request, and however the
leases fall, the pods together never allow more than the shared bucket holds."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg
import pytest

from hub.access.ratelimit import Bucket, BucketSpec, Level
from hub.records.ratelimits import LEASE_SHARE, LEASE_TTL, PgBuckets, RateLimiter


class _Counted(PgBuckets):
    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool, timeout=5)
        self.statements = 0

    async def _run(self, buckets: Sequence[Bucket], costs: Sequence[float], *, conditional: bool) -> list[Level]:
        self.statements += 1
        return await super()._run(buckets, costs, conditional=conditional)


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _buckets(capacity: float, per_second: float) -> list[Bucket]:
    tag = uuid.uuid4().hex[:8]
    return [
        Bucket(f"user:{tag}", "user", BucketSpec(capacity, per_second)),
        Bucket(f"org:{tag}", "organisation", BucketSpec(capacity * 10, per_second * 10)),
    ]


async def _level(pool: asyncpg.Pool, key: str) -> float:
    return float(await pool.fetchval("SELECT tokens FROM hub.rate_bucket WHERE bucket = $1", key))


async def test_a_busy_caller_is_served_from_a_lease_not_a_statement_each(pool: asyncpg.Pool) -> None:
    store, clock = _Counted(pool), _Clock()
    limiter = RateLimiter(store, clock=clock)
    buckets = _buckets(100_000, 0.0001)  # no refill to speak of: what is spent shows in the level
    for _ in range(400):  # 200 a second for two seconds
        levels = await limiter.take(buckets, 1.0)
        assert all(lv.granted for lv in levels)
        clock.now += 0.005
    assert store.statements < 400 / 5  # about one per 20 once the pace is known
    # Every request served was paid for in the shared bucket first (what is leased is taken).
    spent = 100_000 - await _level(pool, buckets[0].key)
    assert spent >= 400 - 1e-6
    assert spent <= 400 + 100_000 * LEASE_SHARE + 1e-6


async def test_a_caller_at_a_caseworkers_pace_pays_exactly_one_request_at_a_time(pool: asyncpg.Pool) -> None:
    store, clock = _Counted(pool), _Clock()
    limiter = RateLimiter(store, clock=clock)
    buckets = _buckets(120, 0.001)
    for _ in range(5):
        assert all(lv.granted for lv in await limiter.take(buckets, 1.0))
        clock.now += 20
    assert store.statements == 5
    assert 120 - await _level(pool, buckets[0].key) == pytest.approx(5, abs=0.01)


async def test_two_pods_leasing_together_never_allow_more_than_the_bucket(pool: asyncpg.Pool) -> None:
    clock = _Clock()
    pods = [RateLimiter(PgBuckets(pool, timeout=5), clock=clock) for _ in range(2)]
    buckets = _buckets(200, 0.0001)  # a burst of 200 and (for the test's second) no refill to speak of
    granted = 0
    for i in range(600):
        levels = await pods[i % 2].take(buckets, 1.0)
        granted += all(lv.granted for lv in levels)
        clock.now += 0.002
    assert granted <= 200  # what the shared bucket held; a lease only ever holds what was taken from it
    assert granted >= 200 * (1 - 2 * LEASE_SHARE) - 1  # at most the pods' last leases go unspent


async def test_a_lease_not_spent_in_time_is_given_up(pool: asyncpg.Pool) -> None:
    store, clock = _Counted(pool), _Clock()
    limiter = RateLimiter(store, clock=clock)
    buckets = _buckets(100_000, 10_000)
    for _ in range(300):
        await limiter.take(buckets, 1.0)
        clock.now += 0.005
    before = store.statements
    clock.now += LEASE_TTL + 0.01
    await limiter.take(buckets, 1.0)
    assert store.statements == before + 1  # the old lease is not spent after its time


async def test_a_refused_request_spends_no_lease(pool: asyncpg.Pool) -> None:
    clock = _Clock()
    limiter = RateLimiter(PgBuckets(pool, timeout=5), clock=clock)
    user, org = _buckets(50, 0.0001)
    small_org = Bucket(org.key, "organisation", BucketSpec(3, 0.0001))
    results = []
    for _ in range(6):
        results.append(all(lv.granted for lv in await limiter.take([user, small_org], 1.0)))
        clock.now += 0.001
    assert results == [True, True, True, False, False, False]
    # The user's bucket paid only for the three granted requests (and at most a lease beyond them).
    assert 50 - await _level(pool, user.key) <= 3 + 50 * LEASE_SHARE + 1e-6


async def test_concurrent_takes_on_one_pod_never_spend_one_lease_twice(pool: asyncpg.Pool) -> None:
    # A request's user bucket is never leased (its 5% share is under one request) and its organisation's
    # is: while the user bucket's statement is in flight, other requests must not spend the same lease.
    import asyncio

    clock = _Clock()
    limiter = RateLimiter(PgBuckets(pool, timeout=5), clock=clock)
    org = Bucket(f"org:{uuid.uuid4().hex[:8]}", "organisation", BucketSpec(400, 0.0001))
    for _ in range(200):  # the organisation's pace makes a lease worth taking
        user = Bucket(f"user:{uuid.uuid4().hex[:8]}", "user", BucketSpec(10, 0.0001))
        await limiter.take([user, org], 1.0)
        clock.now += 0.004
    granted_before = 400 - await _level(pool, org.key)  # what the shared bucket has given (leases included)
    held = limiter._held(org.key, clock.now)
    users = [Bucket(f"user:{uuid.uuid4().hex[:8]}", "user", BucketSpec(10, 0.0001)) for _ in range(64)]
    levels = await asyncio.gather(*(limiter.take([u, org], 1.0) for u in users))
    granted = sum(all(lv.granted for lv in lv_) for lv_ in levels)
    spent_from_store = (400 - await _level(pool, org.key)) - granted_before
    # Every grant was paid from the lease held or from the store: never the same token twice.
    assert granted <= held + spent_from_store + 1e-6
    assert limiter._held(org.key, clock.now) >= -1e-9  # no lease goes into debt
