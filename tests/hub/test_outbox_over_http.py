"""The outbox's guarantees over HTTP: the real Dispatcher, over a real hub store, delivering to DWP's and
HB's own subgraph processes (each over its own store) by their idempotent mutation. Notifications keep
arriving while DWP's subgraph is killed and HB's is frozen (it accepts, and never answers: the call times
out); the dispatcher keeps running, and once they are back every delivery is in its inbox exactly once:
0 lost, 0 duplicated. Deliveries replayed after a lease expired (a dispatcher that wrote the inbox and
died before recording it) land once too."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from hub.config import Settings
from hub.ops.issuer import IssuerKey
from hub.ops.migrate import drop_stores, migrate
from hub.records.notifications import _CLAIM, Dispatcher, NotificationStore, Target
from hub.types import SOURCE_STORES
from resolvers.sources.assertion import AssertionSigner
from resolvers.sources.remote import CircuitBreaker, DwpSubgraph, HbSubgraph
from tests.people import insert_people
from tests.subgraphs.conftest import HUB_ISSUER, free_port, subgraph_env

COUNCIL = "E09000901"  # the test people's council
WAVE = 12  # notifications per wave (each to DWP and to an HB claim: 2 deliveries)


@dataclasses.dataclass
class Served:
    source: str
    port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """``welfare-hub subgraph <source> serve`` on this port (the same one again after a kill), once it answers."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hub", "subgraph", self.source, "serve", "--port", str(self.port)],
                env={**os.environ, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"subgraph {self.source} exited: {self.log.read_text()}")
            with contextlib.suppress(httpx.TransportError):
                httpx.post(f"{self.url}/graphql", content=b"{}", timeout=1)
                return
            time.sleep(0.1)
        raise AssertionError(f"subgraph {self.source} did not start: {self.log.read_text()}")

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def freeze(self, frozen: bool) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP if frozen else signal.SIGCONT)


@pytest.fixture(scope="module")
async def own(settings: Settings) -> AsyncIterator[Settings]:
    """Stores of this module's own: no other dispatcher delivers this outbox."""
    mine = dataclasses.replace(settings, db_prefix=f"o{uuid.uuid4().hex[:10]}_")
    await migrate(mine)
    conns = {store: await asyncpg.connect(mine.admin_url(store)) for store in SOURCE_STORES}
    try:
        await insert_people(conns)  # type: ignore[arg-type]
    finally:
        await asyncio.gather(*(c.close() for c in conns.values()))
    try:
        yield mine
    finally:
        await drop_stores(mine)


@pytest.fixture(scope="module")
def hub_key() -> IssuerKey:
    return IssuerKey.generate("hub-outbox-1")


@pytest.fixture(scope="module")
def served(own: Settings, hub_key: IssuerKey, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Served]]:
    folder = tmp_path_factory.mktemp("outbox")
    jwks = folder / "jwks.json"
    jwks.write_text(json.dumps(hub_key.jwks()))
    running = {s: Served(s, free_port(), subgraph_env(own, s, jwks), folder / f"{s}.log") for s in ("dwp", "hb")}
    try:
        for s in running.values():
            s.start()
        yield running
    finally:
        for s in running.values():
            if s.process is not None and s.process.poll() is None:
                s.process.send_signal(signal.SIGCONT)
                s.process.terminate()
                s.process.wait(10)


async def accept(store: NotificationStore, targets: list[list[Target]]) -> list[uuid.UUID]:
    ids = []
    for i, each in enumerate(targets):
        accepted = await store.accept(
            sender_org="care-north",
            sender_org_type="council_social_care",
            sender_user_hash="u",
            idempotency_key=f"outbox-{uuid.uuid4()}",
            request_hash=f"r{i}",
            kind="hospital_admission" if i % 2 else "care_home_discharge",
            effective_date=dt.date(2025, 10, 1),
            subject=None,
            person_key=uuid.uuid4(),
            targets=each,
        )
        ids.append(accepted.notification_id)
    return ids


async def wait_for(what: Any, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not await what():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s")
        await asyncio.sleep(0.05)


@pytest.fixture
async def hub(own: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(own.admin_url("hub"), min_size=1, max_size=4)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def admin(own: Settings) -> AsyncIterator[dict[str, asyncpg.Connection]]:
    conns = {s: await asyncpg.connect(own.admin_url(f"src_{s}")) for s in ("dwp", "hb")}  # type: ignore[arg-type]
    try:
        yield conns
    finally:
        await asyncio.gather(*(c.close() for c in conns.values()))


@pytest.fixture
async def inboxes(served: dict[str, Served], hub_key: IssuerKey) -> AsyncIterator[tuple[DwpSubgraph, HbSubgraph]]:
    """The hub's adapters for the two inboxes, over the subgraphs: a short deadline, a quick breaker."""
    signer = AssertionSigner(hub_key.private_key, hub_key.kid, issuer=HUB_ISSUER)
    dwp = DwpSubgraph(served["dwp"].url, signer=signer, timeout=1.0, breaker=CircuitBreaker(threshold=3, cool_down=0.3))
    hb = HbSubgraph(served["hb"].url, signer=signer, timeout=1.0, breaker=CircuitBreaker(threshold=3, cool_down=0.3))
    try:
        yield dwp, hb
    finally:
        await dwp.aclose()
        await hb.aclose()


async def test_every_delivery_lands_exactly_once_through_an_outage(
    served: dict[str, Served],
    hub: asyncpg.Pool,
    admin: dict[str, asyncpg.Connection],
    inboxes: tuple[DwpSubgraph, HbSubgraph],
) -> None:
    dwp, hb = inboxes
    store = NotificationStore(hub, timeout=5)
    dispatcher = Dispatcher(
        hub, {"dwp": dwp, "hb": hb}, timeout=5, batch=5, lease_seconds=5, backoff_base=0.05, backoff_cap=0.4
    )
    people = [str(r[0]) for r in await admin["dwp"].fetch("SELECT person_id FROM dwp.person ORDER BY 1")]
    claims = [r[0] for r in await admin["hb"].fetch("SELECT claim_ref FROM hb.claim ORDER BY 1")]

    def wave(n: int) -> list[list[Target]]:
        # Every third HB delivery routed without its council (as while HB did not answer): HB tells it.
        return [
            [
                Target("dwp", people[i % len(people)]),
                Target("hb", claims[i % len(claims)], None if i % 3 == 0 else COUNCIL),
            ]
            for i in range(n)
        ]

    async def pending() -> int:
        return int(await hub.fetchval("SELECT count(*) FROM hub.outbox WHERE status = 'pending'"))

    async def none_pending() -> bool:
        return await pending() == 0

    task = asyncio.create_task(dispatcher.run_forever(0.05))
    notified: list[uuid.UUID] = []
    try:
        notified += await accept(store, wave(WAVE))
        await wait_for(none_pending)

        # The outage: DWP's subgraph killed, HB's frozen (its calls time out), while changes keep coming.
        served["dwp"].kill()
        served["hb"].freeze(True)
        notified += await accept(store, wave(WAVE))

        async def all_tried() -> bool:
            return not await hub.fetchval("SELECT count(*) FROM hub.outbox WHERE attempts = 0")

        await wait_for(all_tried)
        await asyncio.sleep(1)  # and retried meanwhile
        assert not task.done()  # the dispatcher keeps running
        held = await hub.fetch("SELECT target, attempts, last_error FROM hub.outbox WHERE status = 'pending'")
        assert len(held) == 2 * WAVE  # nothing of the second wave lands, nothing is lost either
        assert {r["target"] for r in held} == {"dwp", "hb"}
        assert {r["last_error"] for r in held if r["target"] == "dwp"} <= {"SOURCE_UNAVAILABLE"}
        assert {r["last_error"] for r in held if r["target"] == "hb"} <= {"SOURCE_TIMEOUT", "SOURCE_UNAVAILABLE"}

        # Back: DWP restarted on its port, HB thawed; the rest of the changes arrive meanwhile.
        served["dwp"].start()
        served["hb"].freeze(False)
        notified += await accept(store, wave(WAVE))
        await wait_for(none_pending)
        assert not task.done()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    # Replays after a lease expired: a dispatcher claims, writes the inboxes, and dies before recording it;
    # the next one delivers the same deliveries again (and some already recorded are sent once more too).
    notified += await accept(store, wave(3))
    claimed = await hub.fetch(_CLAIM, 100, 0.2)
    assert len(claimed) == 6
    first = Dispatcher(hub, {"dwp": dwp, "hb": hb}, timeout=5)
    for target in ("dwp", "hb"):
        await first.write_inbox(target, [r for r in claimed if r["target"] == target])
    await hub.execute(
        "UPDATE hub.outbox SET status = 'pending', lease_until = NULL, next_attempt_at = clock_timestamp() "
        "WHERE delivery_id IN (SELECT delivery_id FROM hub.outbox WHERE status = 'delivered' LIMIT 6)"
    )
    await asyncio.sleep(0.3)  # the lease runs out
    task = asyncio.create_task(dispatcher.run_forever(0.05))
    try:
        await wait_for(none_pending)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    outbox = await hub.fetch(
        "SELECT delivery_id, notification_id, target, target_ref, council_code, status, lease_until, claim_id "
        "FROM hub.outbox"
    )
    assert {r["status"] for r in outbox} == {"delivered"}
    assert {(r["lease_until"], r["claim_id"]) for r in outbox} == {(None, None)}  # no claim outlives its record
    assert len(outbox) == 2 * (3 * WAVE + 3)
    landed = {
        "dwp": await admin["dwp"].fetch(
            "SELECT item_id, notification_id, person_id, sender_org_type FROM dwp.hub_inbox"
        ),
        "hb": await admin["hb"].fetch("SELECT item_id, notification_id, claim_ref, council_code FROM hb.hub_inbox"),
    }
    for target in ("dwp", "hb"):
        sent = {r["delivery_id"]: r for r in outbox if r["target"] == target}
        items = [r["item_id"] for r in landed[target]]
        assert sorted(items) == sorted(sent)  # 0 lost, 0 duplicated
        for row in landed[target]:
            assert row["notification_id"] == sent[row["item_id"]]["notification_id"]
    assert {r["sender_org_type"] for r in landed["dwp"]} == {"council_social_care"}
    # HB's claims routed without a council landed at the claim's council, and the hub learnt it.
    assert {r["council_code"] for r in landed["hb"]} == {COUNCIL}
    assert {r["council_code"] for r in outbox if r["target"] == "hb"} == {COUNCIL}
    # The owners' logs name each notification the deliveries came from.
    logged = await admin["dwp"].fetch(
        "SELECT DISTINCT audit_id FROM dwp.hub_access_log WHERE purpose = 'CHANGE_NOTIFICATION' "
        "AND outcome = 'answered' AND audit_id = ANY($1::uuid[])",
        notified,
    )
    assert {r["audit_id"] for r in logged} == set(notified)
