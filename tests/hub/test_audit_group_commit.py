"""Group commit of the audit append on a real PostgreSQL: records waiting together go in one statement, each
gets its own place in one unbroken chain, and a batch that fails releases none of its waiters.

The pool is wrapped so a test can count the appends and hold one open (a gate): that is how records are made
to wait together deterministically, instead of hoping the timing forms a batch.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import asyncpg
import pytest

from hub.audit.chain import CHAIN_LOCK, AuditBatchFailed, AuditClosed, PgAuditSink, canonical_body, record_hash
from hub.audit.checkpoints import AuditKeys
from hub.audit.verify import verify_database
from hub.config import Settings
from hub.ops.migrate import drop_stores, migrate
from tests import people as P
from tests.conftest import codes, gql, running_client
from tests.hub.test_audit_chain import record

KEYS = AuditKeys.generate("group-a1")


class GatedPool:
    """The sink's pool, counting the statements (and their records) and able to hold the next one back."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.batches: list[int] = []
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def fetch(self, query: str, *args: Any, **kwargs: Any) -> list[asyncpg.Record]:
        self.batches.append(len(args[0]) if isinstance(args[0], list) else 1)  # a batch of one: the plain call
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        return await self.pool.fetch(query, *args, **kwargs)


@dataclass
class Log:
    settings: Settings
    pool: asyncpg.Pool
    admin: asyncpg.Connection
    gated: GatedPool
    sink: PgAuditSink

    async def rows(self) -> list[asyncpg.Record]:
        return await self.admin.fetch("SELECT * FROM hub.audit_event ORDER BY seq")

    async def verified(self) -> dict[str, Any]:
        return (await verify_database(self.admin, KEYS.public)).summary()


@pytest.fixture(scope="module")
async def store(
    server_url: str, settings: Settings
) -> AsyncIterator[tuple[Settings, asyncpg.Pool, asyncpg.Connection]]:
    own = replace(settings, db_prefix=f"g{uuid.uuid4().hex[:10]}_")
    await migrate(own)
    pool = await asyncpg.create_pool(own.service_url("hub"), min_size=1, max_size=4)
    admin = await asyncpg.connect(own.admin_url("hub"))
    try:
        yield own, pool, admin
    finally:
        await admin.close()
        await pool.close()
        await drop_stores(own)


@pytest.fixture
async def log(store: tuple[Settings, asyncpg.Pool, asyncpg.Connection]) -> Log:
    """An empty log for each test, and a fresh sink over a gated pool (its owner empties it, triggers off)."""
    own, pool, admin = store
    tables = ("hub.audit_event", "hub.audit_checkpoint")
    for table in tables:
        await admin.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
    try:
        await admin.execute("TRUNCATE hub.audit_event, hub.audit_checkpoint RESTART IDENTITY")
    finally:
        for table in tables:
            await admin.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
    gated = GatedPool(pool)
    return Log(own, pool, admin, gated, PgAuditSink(gated, timeout=5.0))  # type: ignore[arg-type]


async def held(log: Log) -> asyncio.Task[Any]:
    """A first write whose append is held at the gate: what arrives meanwhile waits for the next batch."""
    log.gated.gate = asyncio.Event()
    first = asyncio.create_task(log.sink.write(record(operation_name="First")))
    await log.gated.entered.wait()
    return first


async def until_waiting(log: Log, n: int) -> None:
    for _ in range(200):
        if len(log.sink._waiting) >= n:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"{n} records never queued")


async def test_records_waiting_together_go_in_one_append_each_with_its_own_place(log: Log) -> None:
    first = await held(log)
    records = [record(decision=d) for d in ["released", "refused"] * 10]
    writes = [asyncio.create_task(log.sink.write(r)) for r in records]
    await until_waiting(log, len(records))
    assert log.gated.gate is not None
    log.gated.gate.set()
    appended = await asyncio.gather(first, *writes)
    assert log.gated.batches == [1, 20]  # the lone first record went at once; the twenty that waited, together
    rows = await log.rows()
    assert [r["seq"] for r in rows] == list(range(1, 22))
    by_request = {r["request_id"]: r for r in rows}
    for rec, place in zip(records, appended[1:], strict=True):
        # Each waiter got its own record's place, hash and time, as the verifier recomputes it.
        row = by_request[rec.request_id]
        assert (place.seq, place.record_hash, place.occurred_at) == (
            row["seq"],
            bytes(row["record_hash"]),
            row["occurred_at"],
        )
        assert place.record_hash == record_hash(
            bytes(row["prev_hash"]), row["seq"], row["occurred_at"], canonical_body(rec)
        )
        assert row["decision"] == rec.decision
        assert list(row["subject_hashes"]) == list(rec.subject_hashes)
        assert list(row["reason_codes"]) == list(rec.reason_codes)
    summary = await log.verified()
    assert summary["ok"], summary
    assert summary["records"] == 21


async def test_empty_lists_nulls_and_odd_text_survive_the_batch_encoding(log: Log) -> None:
    odd = [
        record(subject_hashes=[], fields_released=[], sources_read=[], reason_codes=[], link_probability=None),
        record(operation_name=None, purpose=None, legal_basis=None, trace_id=None, model_version=None),
        record(reason_codes=['quote "x"', "back\\slash", "comma,brace{}", "ünïcode"], link_probability=1e-300),
    ]
    placed = await asyncio.gather(*(log.sink.write(r) for r in odd))
    rows = {r["request_id"]: r for r in await log.rows()}
    for rec, place in zip(odd, placed, strict=True):
        row = rows[rec.request_id]
        assert canonical_body(row) == canonical_body(rec)
        assert place.seq == row["seq"]
    assert (await log.verified())["ok"]


async def test_many_concurrent_writers_make_one_contiguous_chain(log: Log) -> None:
    sink = PgAuditSink(log.pool, timeout=10.0, max_batch=16)
    placed = await asyncio.gather(*(sink.write(record()) for _ in range(300)))
    assert sorted(p.seq for p in placed) == list(range(1, 301))  # no seq twice, none skipped
    rows = await log.rows()
    assert len({r["request_id"] for r in rows}) == 300
    summary = await log.verified()
    assert summary["ok"], summary
    assert summary["last_seq"] == 300


async def test_a_failed_batch_fails_every_waiter_in_it_and_stores_none_of_it(log: Log) -> None:
    first = await held(log)
    # PostgreSQL's text cannot hold NUL: this one record makes the database refuse its whole statement.
    batch = [record(), record(caller_org="bad\x00org"), record(), record()]
    writes = [asyncio.create_task(log.sink.write(r)) for r in batch]
    await until_waiting(log, len(batch))
    assert log.gated.gate is not None
    log.gated.gate.set()
    assert (await first).seq == 1
    results = await asyncio.gather(*writes, return_exceptions=True)
    assert all(isinstance(r, AuditBatchFailed) for r in results), results
    assert [r["seq"] for r in await log.rows()] == [1]  # none of the batch was stored
    assert (await log.sink.write(record())).seq == 2  # and the next batch goes on from the head
    assert (await log.verified())["ok"]


async def test_a_hung_chain_times_out_every_waiter_and_stores_nothing(log: Log) -> None:
    sink = PgAuditSink(log.pool, timeout=0.5)
    holder = await asyncpg.connect(log.settings.admin_url("hub"))
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", CHAIN_LOCK)
        results = await asyncio.gather(*(sink.write(record()) for _ in range(10)), return_exceptions=True)
        # The append given up on is cancelled on the server (asyncpg's cancel request): once nothing waits on
        # the lock, releasing it can let nothing through.
        for _ in range(100):
            waiting = await holder.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'advisory'"
            )
            if waiting == 0:
                break
            await asyncio.sleep(0.05)
    finally:
        await holder.close()
    assert all(isinstance(r, TimeoutError | AuditBatchFailed) for r in results), results
    assert await log.rows() == []  # nothing half-written
    assert (await sink.write(record())).seq == 1


async def test_a_record_given_up_on_while_queued_is_never_written(log: Log) -> None:
    first = await held(log)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):  # its request ends (a deadline, a client gone) before its batch goes
            await log.sink.write(record(operation_name="GaveUp"))
    assert log.gated.gate is not None
    log.gated.gate.set()
    await first
    await log.sink.write(record(operation_name="After"))
    assert [r["operation_name"] for r in await log.rows()] == ["First", "After"]
    assert log.gated.batches == [1, 1]


async def test_closing_stores_what_was_taken_and_refuses_what_comes_after(log: Log) -> None:
    first = await held(log)
    writes = [asyncio.create_task(log.sink.write(record())) for _ in range(5)]
    await until_waiting(log, 5)
    closing = asyncio.create_task(log.sink.aclose())
    await asyncio.sleep(0.05)
    with pytest.raises(AuditClosed):
        await log.sink.write(record())
    assert log.gated.gate is not None
    log.gated.gate.set()
    await closing
    placed = await asyncio.gather(first, *writes)
    assert sorted(p.seq for p in placed) == list(range(1, 7))
    assert len(await log.rows()) == 6


async def test_a_batch_of_requests_with_the_chain_stuck_releases_nothing(
    settings: Settings, people: Any, token: Any, admin: dict[str, asyncpg.Connection]
) -> None:
    # Over HTTP: requests whose records wait together behind a stuck chain each get the audit error and
    # none of their data; the requests after it are answered and the chain stays whole.
    query = "query($nino: String!) { person(nino: $nino, purpose: HB_OVERNIGHT_CARER_ROOM) { subjectId socialCare { overnightCareRequired } } }"
    t = token("council_hb", "HB_OVERNIGHT_CARER_ROOM")
    quick = dataclasses.replace(settings, audit_timeout=0.5)
    holder = await asyncpg.connect(settings.admin_url("hub"))
    try:
        async with running_client(quick) as client:
            await holder.execute("SELECT pg_advisory_lock($1)", CHAIN_LOCK)
            bodies = await asyncio.gather(*(gql(client, t, query, {"nino": P.BADGE_DLA}) for _ in range(8)))
            await holder.execute("SELECT pg_advisory_unlock($1)", CHAIN_LOCK)
            after = (await gql(client, t, query, {"nino": P.BADGE_DLA})).json()
    finally:
        await holder.close()
    for response in bodies:
        body = response.json()
        assert "data" not in body  # refused before execution: a request error
        assert codes(body) == ["AUDIT_UNAVAILABLE"]
        assert "overnightCareRequired" not in str(body)
    assert after["data"]["person"]["socialCare"] == {"overnightCareRequired": True}
    keys = AuditKeys.load(settings.audit_keys_path)  # type: ignore[arg-type]
    assert (await verify_database(admin["hub"], keys.public)).ok
