"""Changes of circumstance through the hub, on real PostgreSQL: linked, recorded and delivered to DWP and the
right council's HB team exactly once, whatever is repeated, down or killed on the way."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from hub.access.keys import load_key_ring
from hub.config import Settings
from hub.errors import SourceUnavailable
from hub.ops.issuer import IssuerKey
from hub.ops.migrate import drop_stores, migrate
from hub.records.notifications import _CLAIM, Dispatcher
from hub.records.operations import add_operations
from hub.records.orgs import load_areas
from hub.roles import Roles
from hub.types import SOURCE_STORES
from linkage import NormalisedNino
from linkage.link import person_key_for
from resolvers.sources import DwpSource, HousingBenefitSource
from tests import people as P
from tests.conftest import TEST_COUNCIL, codes, gql, make_token, running_client
from tests.hub.test_source_failures import source_down
from tests.people import insert_people
from tests.receipts import without_receipt

NOTIFY = """mutation($kind: ChangeKind!, $date: Date!, $key: String!, $n: String) {
  notifyChange(purpose: CHANGE_NOTIFICATION, kind: $kind, effectiveDate: $date, idempotencyKey: $key, nino: $n) {
    notificationId status kind effectiveDate replayed deliveries { target councilCode status attempts } } }"""
STATUS = """query($id: ID!) { notification(purpose: CHANGE_NOTIFICATION, notificationId: $id) {
  notificationId status deliveries { target councilCode status attempts deliveredAt } } }"""
YESTERDAY = (dt.date.today() - dt.timedelta(days=1)).isoformat()


@pytest.fixture(scope="module")
async def own(settings: Settings) -> AsyncIterator[Settings]:
    """Stores of this module's own: no other hub's dispatcher may deliver what these tests hold back."""
    mine = dataclasses.replace(settings, db_prefix=f"n{uuid.uuid4().hex[:10]}_")
    await migrate(mine)
    conns = {store: await asyncpg.connect(mine.admin_url(store)) for store in (*SOURCE_STORES, "hub")}
    try:
        await insert_people(conns)
        await load_areas(conns["hub"], [(f"NT{n}", TEST_COUNCIL) for n in range(1, 10)])
        # The link index knows one person (as a build would): their claims can be routed while HB is down.
        ring = load_key_ring(mine.keys_path)  # type: ignore[arg-type]
        keyed = ring.hash_nino(NormalisedNino(P.BADGE_DLA))
        await conns["hub"].executemany(
            "INSERT INTO hub.link (source, source_record_id, person_key, nino_key_id, nino_hash, method, band, "
            "fingerprint) VALUES ($1, $2, $3, $4, $5, 'nino', 'link', 'test')",
            [
                (source, record, person_key_for("1"), keyed.key_id, keyed.value)
                for source, record in (("dwp", "1"), ("hb", "HB0000001"), ("social_care", "SC000001"))
            ],
        )
    finally:
        await asyncio.gather(*(c.close() for c in conns.values()))
    try:
        yield mine
    finally:
        await drop_stores(mine)


@pytest.fixture(scope="module")
async def admin(own: Settings) -> AsyncIterator[dict[str, asyncpg.Connection]]:
    conns = {store: await asyncpg.connect(own.admin_url(store)) for store in (*SOURCE_STORES, "hub")}
    try:
        yield conns
    finally:
        await asyncio.gather(*(c.close() for c in conns.values()))


@pytest.fixture(scope="module")
def token(issuer: IssuerKey, own: Settings) -> Any:
    return make_token(issuer, own)


@pytest.fixture(scope="module")
async def client(own: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The module's hub, accepting but not delivering: each test says when a dispatcher runs."""
    async with running_client(dataclasses.replace(own, dispatch_seconds=0)) as c:
        yield c


@contextlib.asynccontextmanager
async def dispatching(own: Settings) -> AsyncIterator[None]:
    """A hub whose dispatcher delivers the module's outbox while the block runs."""
    async with running_client(dataclasses.replace(own, dispatch_seconds=0.1)):
        yield


def _key() -> str:
    return f"test-{uuid.uuid4()}"


async def _notify(client: httpx.AsyncClient, t: str, idem: str, nino: str = P.BADGE_DLA, **kw: Any) -> dict[str, Any]:
    variables = {"kind": "CARE_HOME_ADMISSION", "date": YESTERDAY, "key": idem, "n": nino, **kw}
    body: dict[str, Any] = (await gql(client, t, NOTIFY, variables)).json()
    return body


async def _delivered(
    client: httpx.AsyncClient, t: str, notification_id: str, seconds: float = 20, purpose: str = "CHANGE_NOTIFICATION"
) -> dict[str, Any]:
    query = STATUS.replace("CHANGE_NOTIFICATION", purpose)
    for _ in range(int(seconds * 10)):
        found: dict[str, Any] = (await gql(client, t, query, {"id": notification_id})).json()["data"]["notification"]
        if found["deliveries"] and all(d["status"] == "DELIVERED" for d in found["deliveries"]):
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"not delivered in {seconds} s: {found}")


async def _inbox(admin: dict[str, asyncpg.Connection], notification_id: str) -> dict[str, list[dict[str, Any]]]:
    nid = uuid.UUID(notification_id)
    return {
        "dwp": [
            dict(r) for r in await admin["src_dwp"].fetch("SELECT * FROM dwp.hub_inbox WHERE notification_id = $1", nid)
        ],
        "hb": [
            dict(r) for r in await admin["src_hb"].fetch("SELECT * FROM hb.hub_inbox WHERE notification_id = $1", nid)
        ],
    }


async def test_a_change_reaches_dwp_and_the_councils_hb_team(
    client: httpx.AsyncClient, token: Any, admin: dict[str, asyncpg.Connection], own: Settings
) -> None:
    t = token("council_social_care", "CHANGE_NOTIFICATION", org="care-north")
    body = await _notify(client, t, _key())
    assert "errors" not in body, body
    sent = body["data"]["notifyChange"]
    assert (sent["status"], sent["kind"], sent["effectiveDate"], sent["replayed"]) == (
        "ACCEPTED",
        "CARE_HOME_ADMISSION",
        YESTERDAY,
        False,
    )
    assert {(d["target"], d["councilCode"]) for d in sent["deliveries"]} == {("DWP", None), ("HB", "E09000901")}
    async with dispatching(own):
        done = await _delivered(client, t, sent["notificationId"])
    assert all(d["deliveredAt"] for d in done["deliveries"])
    inbox = await _inbox(admin, sent["notificationId"])
    (dwp,) = inbox["dwp"]
    (hb,) = inbox["hb"]
    assert (dwp["kind"], dwp["effective_date"], dwp["person_id"], dwp["sender_org_type"]) == (
        "care_home_admission",
        dt.date.fromisoformat(YESTERDAY),
        1,
        "council_social_care",
    )
    assert (hb["council_code"], hb["kind"]) == ("E09000901", "care_home_admission")
    # Nothing but the change: no name, no NINO, no health detail in what was delivered.
    assert P.BADGE_DLA not in str(inbox)
    # Only its sender sees a notification's status.
    other = token("council_social_care", "CHANGE_NOTIFICATION", org="care-south")
    assert (await gql(client, other, STATUS, {"id": sent["notificationId"]})).json()["data"]["notification"] is None


async def test_repeats_of_one_key_have_one_effect(
    client: httpx.AsyncClient, token: Any, admin: dict[str, asyncpg.Connection], own: Settings
) -> None:
    t = token("council_social_care", "CHANGE_NOTIFICATION", org="care-retry")
    key = _key()
    answers = await asyncio.gather(*(_notify(client, t, key, kind="HOSPITAL_ADMISSION") for _ in range(12)))
    assert all("errors" not in a for a in answers), answers
    ids = {a["data"]["notifyChange"]["notificationId"] for a in answers}
    assert len(ids) == 1
    assert sorted(a["data"]["notifyChange"]["replayed"] for a in answers) == [False] + [True] * 11
    (nid,) = ids
    async with dispatching(own):
        await _delivered(client, t, nid)
        again = await _notify(client, t, key, kind="HOSPITAL_ADMISSION")
        await asyncio.sleep(0.5)  # a dispatcher runs: a repeat after delivery delivers nothing new
    assert again["data"]["notifyChange"]["notificationId"] == nid
    inbox = await _inbox(admin, nid)
    assert (len(inbox["dwp"]), len(inbox["hb"])) == (1, 1)
    # The same key for something else is refused, not silently answered with the first.
    changed = await _notify(client, t, key, kind="HOSPITAL_DISCHARGE")
    assert codes(changed) == ["IDEMPOTENCY_KEY_REUSED"]


@pytest.mark.parametrize(
    ("description", "org_type", "variables", "code"),
    [
        (
            "a date in the future",
            "council_social_care",
            {"date": (dt.date.today() + dt.timedelta(days=2)).isoformat()},
            "INVALID_EFFECTIVE_DATE",
        ),
        ("a date before the person was born", "council_social_care", {"date": "1949-01-01"}, "INVALID_EFFECTIVE_DATE"),
        ("an unknown kind", "council_social_care", {"kind": "MOVED_TO_MARS"}, "BAD_USER_INPUT"),
        ("an invalid NINO", "council_social_care", {"n": "QQ123456Z"}, "INVALID_NINO"),
        ("an empty key", "council_social_care", {"key": ""}, "BAD_USER_INPUT"),
        ("a sender not entitled", "council_hb", {}, "PURPOSE_NOT_GRANTED"),
    ],
)
async def test_bad_notifications_are_refused_with_a_specific_code_and_audited(
    client: httpx.AsyncClient,
    token: Any,
    admin: dict[str, asyncpg.Connection],
    description: str,
    org_type: str,
    variables: dict[str, Any],
    code: str,
) -> None:
    org = f"bad-notice-{description.replace(' ', '-')}"[:60]
    body = await _notify(client, token(org_type, "CHANGE_NOTIFICATION", org=org), _key(), **variables)
    assert codes(body) == [code], body
    row = await admin["hub"].fetchrow(
        "SELECT decision, reason_codes FROM hub.audit_event WHERE caller_org = $1 ORDER BY seq DESC LIMIT 1", org
    )
    assert row["decision"] in {"refused", "error"}
    assert row["reason_codes"] == [code]
    assert await admin["hub"].fetchval("SELECT count(*) FROM hub.notification WHERE sender_org = $1", org) == 0


async def test_a_nino_no_one_holds_is_not_found_and_nothing_is_kept(
    client: httpx.AsyncClient, token: Any, admin: dict[str, asyncpg.Connection]
) -> None:
    # DWP, the spine, holds every NINO: one it does not hold names no one a reviewer could find (and answers
    # exactly as a person the sender is not connected with: see below).
    t = token("council_social_care", "CHANGE_NOTIFICATION", org="care-unknown")
    body = await _notify(client, t, _key(), nino=P.ABSENT)
    assert codes(body) == ["SUBJECT_NOT_FOUND"]
    assert body["data"] is None
    assert await admin["hub"].fetchval("SELECT count(*) FROM hub.notification WHERE sender_org = 'care-unknown'") == 0


async def test_a_target_that_is_down_receives_the_change_when_it_returns(
    client: httpx.AsyncClient, token: Any, own: Settings, admin: dict[str, asyncpg.Connection]
) -> None:
    t = token("council_social_care", "CHANGE_NOTIFICATION", org="care-outage")
    async with dispatching(own), source_down(own, "src_hb"):
        body = await _notify(client, t, _key(), kind="HOSPITAL_DISCHARGE")
        assert "errors" not in body, body
        nid = body["data"]["notifyChange"]["notificationId"]
        # DWP gets it while HB is down; HB's delivery keeps failing. (The sender is not shown an HB delivery
        # whose council is not known yet, HB being down: it may be another council's. The outbox shows it.)
        outbox = "SELECT target, status, attempts FROM hub.outbox WHERE notification_id = $1"
        for _ in range(50):
            by_target = {r["target"]: r for r in await admin["hub"].fetch(outbox, uuid.UUID(nid))}
            if by_target["dwp"]["status"] == "delivered" and by_target["hb"]["attempts"] >= 2:
                break
            await asyncio.sleep(0.1)
        assert by_target["dwp"]["status"] == "delivered"
        assert by_target["hb"]["status"] == "pending"
        assert by_target["hb"]["attempts"] >= 2
        state = (await gql(client, t, STATUS, {"id": nid})).json()["data"]["notification"]
        assert [d["target"] for d in state["deliveries"]] == ["DWP"]
    async with dispatching(own):
        for _ in range(300):
            rows = await admin["hub"].fetch(outbox, uuid.UUID(nid))
            if all(r["status"] == "delivered" for r in rows):
                break
            await asyncio.sleep(0.1)
        done = await _delivered(client, t, nid, seconds=30)
    # Delivered, HB's council learnt (the sender's own): now the sender is shown it.
    assert {d["target"]: d["status"] for d in done["deliveries"]} == {"DWP": "DELIVERED", "HB": "DELIVERED"}
    inbox = await _inbox(admin, nid)
    assert (len(inbox["dwp"]), len(inbox["hb"])) == (1, 1)


async def test_a_change_accepted_by_a_hub_that_stopped_is_delivered_by_the_next(
    own: Settings, client: httpx.AsyncClient, token: Any, admin: dict[str, asyncpg.Connection]
) -> None:
    t = token("council_social_care", "CHANGE_NOTIFICATION", org="care-restart")
    async with running_client(dataclasses.replace(own, dispatch_seconds=0)) as first:  # accepts, then stops
        sent = (await _notify(first, t, _key(), kind="CARE_HOME_DISCHARGE"))["data"]["notifyChange"]
    assert {d["status"] for d in sent["deliveries"]} == {"PENDING"}
    assert await _inbox(admin, sent["notificationId"]) == {"dwp": [], "hb": []}
    async with dispatching(own):  # the next hub to start
        await _delivered(client, t, sent["notificationId"])
    inbox = await _inbox(admin, sent["notificationId"])
    assert (len(inbox["dwp"]), len(inbox["hb"])) == (1, 1)


async def test_a_dispatcher_killed_after_delivering_but_before_recording_it_delivers_once(
    own: Settings, client: httpx.AsyncClient, token: Any, admin: dict[str, asyncpg.Connection]
) -> None:
    settings = own
    t = token("council_social_care", "CHANGE_NOTIFICATION", org="care-crash")
    sent = (await _notify(client, t, _key(), kind="HOSPITAL_ADMISSION"))["data"]["notifyChange"]
    nid = uuid.UUID(sent["notificationId"])
    hub = await asyncpg.create_pool(settings.service_url("hub"), min_size=1, max_size=2)
    pools = {
        "dwp": await asyncpg.create_pool(settings.service_url("src_dwp"), min_size=1, max_size=2),
        "hb": await asyncpg.create_pool(settings.service_url("src_hb"), min_size=1, max_size=2),
    }
    targets = {"dwp": DwpSource(pools["dwp"], timeout=5), "hb": HousingBenefitSource(pools["hb"], timeout=5)}
    try:
        # The first dispatcher claims the deliveries (a short lease) and writes them to the inboxes, then
        # dies before recording that it did.
        claimed = [r for r in await hub.fetch(_CLAIM, 1000, 0.3) if r["notification_id"] == nid]
        assert {r["target"] for r in claimed} == {"dwp", "hb"}
        first = Dispatcher(hub, targets, timeout=5)
        for r in claimed:
            await first.write_inbox(r["target"], [r])
        # While its lease runs, no one else takes them; once it expires, the next dispatcher delivers again.
        second = Dispatcher(hub, targets, timeout=5)
        await second.run_once()
        assert await _mine(hub, nid, "delivered") == 0
        await asyncio.sleep(0.4)
        for _ in range(5):
            await second.run_once()
        assert await _mine(hub, nid, "delivered") == 2
    finally:
        await asyncio.gather(hub.close(), *(p.close() for p in pools.values()))
    inbox = await _inbox(admin, str(nid))
    assert (len(inbox["dwp"]), len(inbox["hb"])) == (1, 1)  # the repeat landed on the first: one effect


class _HeldWhileRecording:
    """A real inbox (``target``'s) whose delivery of one notification ends with its outbox row locked by
    another transaction for ``hold`` seconds: the dispatcher's record of the delivery waits past its bound.
    With ``recorded``, that transaction records the delivery itself, as the dispatcher's own record would
    have had it committed and its answer been lost."""

    def __init__(
        self, target: str, inbox: Any, hub: asyncpg.Pool, nid: uuid.UUID, hold: float, *, recorded: bool = False
    ) -> None:
        self.target, self.inbox, self.hub, self.nid, self.hold, self.recorded = target, inbox, hub, nid, hold, recorded
        self.calls = 0
        self.holding: asyncio.Task[None] | None = None

    async def deliver(self, changes: Any) -> Any:
        councils = await self.inbox.deliver(changes)
        if any(c.notification_id == self.nid for c in changes) and self.holding is None:
            self.calls += 1
            locked = asyncio.Event()
            self.holding = asyncio.create_task(self._hold(locked))
            await locked.wait()
        elif any(c.notification_id == self.nid for c in changes):
            self.calls += 1
        return councils

    async def _hold(self, locked: asyncio.Event) -> None:
        async with self.hub.acquire() as conn, conn.transaction():
            await conn.execute(
                "SELECT 1 FROM hub.outbox WHERE notification_id = $1 AND target = $2 FOR UPDATE", self.nid, self.target
            )
            if self.recorded:
                await conn.execute(
                    "UPDATE hub.outbox SET status = 'delivered', delivered_at = clock_timestamp(), lease_until = NULL "
                    "WHERE notification_id = $1 AND target = $2",
                    self.nid,
                    self.target,
                )
            locked.set()
            await asyncio.sleep(self.hold)


async def test_a_delivery_whose_record_timed_out_is_due_again_at_once_and_lands_once(
    own: Settings, client: httpx.AsyncClient, token: Any, admin: dict[str, asyncpg.Connection]
) -> None:
    # Before, a round that failed after its claim left the deliveries leased for half a minute whatever
    # the cause; a hub store slow for a moment held a change back that long (seen in CI).
    t = token("council_social_care", "CHANGE_NOTIFICATION", org="care-slow-record")
    sent = (await _notify(client, t, _key(), kind="CARE_HOME_ADMISSION"))["data"]["notifyChange"]
    nid = uuid.UUID(sent["notificationId"])
    hub = await asyncpg.create_pool(own.service_url("hub"), min_size=1, max_size=4)
    pools = {
        "dwp": await asyncpg.create_pool(own.service_url("src_dwp"), min_size=1, max_size=2),
        "hb": await asyncpg.create_pool(own.service_url("src_hb"), min_size=1, max_size=2),
    }
    dwp = _HeldWhileRecording("dwp", DwpSource(pools["dwp"], timeout=5), hub, nid, hold=1.5)
    targets = {"dwp": dwp, "hb": HousingBenefitSource(pools["hb"], timeout=5)}
    try:
        dispatcher = Dispatcher(hub, targets, timeout=1.0)
        assert dispatcher.lease_seconds == 4.0  # a round's bounds, not a fixed half-minute
        await dispatcher.run_once()  # the record of the DWP delivery times out; HB's is recorded
        assert dwp.holding is not None
        await dwp.holding
        row = await hub.fetchrow(
            "SELECT status, attempts, last_error, lease_until, next_attempt_at <= clock_timestamp() AS due "
            "FROM hub.outbox WHERE notification_id = $1 AND target = 'dwp'",
            nid,
        )
        assert dict(row) == {
            "status": "pending",
            "attempts": 1,
            "last_error": "NOT_RECORDED",
            "lease_until": None,
            "due": True,
        }
        assert await _mine(hub, nid, "delivered") == 1  # HB's, in the same round
        await dispatcher.run_once()
        assert await _mine(hub, nid, "delivered") == 2
        assert dwp.calls == 2
    finally:
        await asyncio.gather(hub.close(), *(p.close() for p in pools.values()))
    inbox = await _inbox(admin, str(nid))
    assert (len(inbox["dwp"]), len(inbox["hb"])) == (1, 1)  # delivered twice, landed once


async def _mine(hub: asyncpg.Pool, nid: uuid.UUID, status: str) -> int:
    value: int = await hub.fetchval(
        "SELECT count(*) FROM hub.outbox WHERE notification_id = $1 AND status = $2", nid, status
    )
    return value


@contextlib.asynccontextmanager
async def _stores(own: Settings) -> AsyncIterator[tuple[asyncpg.Pool, DwpSource, HousingBenefitSource]]:
    """The hub's store and DWP's and HB's real inboxes, as a dispatcher outside the module's hub uses them."""
    hub = await asyncpg.create_pool(own.service_url("hub"), min_size=1, max_size=4)
    pools = [await asyncpg.create_pool(own.service_url(s), min_size=1, max_size=2) for s in ("src_dwp", "src_hb")]
    try:
        yield hub, DwpSource(pools[0], timeout=5), HousingBenefitSource(pools[1], timeout=5)
    finally:
        await asyncio.gather(hub.close(), *(p.close() for p in pools))


async def _within(seconds: float, done: Callable[[], Awaitable[bool]]) -> None:
    deadline = time.monotonic() + seconds
    while not await done():
        assert time.monotonic() < deadline, f"not within {seconds} s"
        await asyncio.sleep(0.05)


class _Contended:
    """DWP's real inbox, contended for one notification: its first write fails and its second waits for
    ``go``, counting every write and how many were under way at once. The first dispatcher is late with its
    failure either way: ``stall`` None, the target is slow (it answers with an error only once the second
    write has begun); else the target fails at once and that dispatcher's hub store (``stall``, a pool of
    one) stalls until the second write has begun."""

    def __init__(self, inbox: Any, nid: uuid.UUID, stall: asyncpg.Pool | None) -> None:
        self.inbox, self.nid, self.stall = inbox, nid, stall
        self.calls = self.under_way = self.most_at_once = 0
        self.first, self.second, self.go = asyncio.Event(), asyncio.Event(), asyncio.Event()
        self.stalling: asyncio.Task[None] | None = None

    async def deliver(self, changes: Any) -> Any:
        if not any(c.notification_id == self.nid for c in changes):
            return await self.inbox.deliver(changes)
        self.calls += 1
        self.under_way += 1
        self.most_at_once = max(self.most_at_once, self.under_way)
        try:
            if self.calls == 1:
                self.first.set()
                await self._first()
            if self.calls == 2:
                self.second.set()
                async with asyncio.timeout(30):
                    await self.go.wait()
            return await self.inbox.deliver(changes)
        finally:
            self.under_way -= 1

    async def _first(self) -> None:
        if self.stall is None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(30):
                    await self.second.wait()
        else:
            held = asyncio.Event()
            self.stalling = asyncio.create_task(self._stall(self.stall, held))
            await held.wait()
        raise SourceUnavailable("dwp", "DWP did not answer")

    async def _stall(self, pool: asyncpg.Pool, held: asyncio.Event) -> None:
        async with pool.acquire():
            held.set()
            async with asyncio.timeout(30):
                await self.second.wait()


@pytest.mark.parametrize("late", ["slow target", "stalled store"])
async def test_a_round_that_outlives_its_lease_never_releases_the_next_claim(
    own: Settings, client: httpx.AsyncClient, token: Any, admin: dict[str, asyncpg.Connection], late: str
) -> None:
    # Security review: dispatcher A, late with DWP's failure, cleared the lease of B, which had claimed the
    # delivery since and was writing it; C claimed it too, and the slow target was written three times.
    # Now A gives a slow target up within its lease, and nothing A does after it changes B's claim.
    t = token("council_social_care", "CHANGE_NOTIFICATION", org=f"care-lease-{late.replace(' ', '-')}")
    sent = (await _notify(client, t, _key(), kind="HOSPITAL_DISCHARGE"))["data"]["notifyChange"]
    nid = uuid.UUID(sent["notificationId"])
    async with _stores(own) as (hub, dwp_inbox, hb_inbox):
        a_hub = await asyncpg.create_pool(own.service_url("hub"), min_size=1, max_size=1)
        dwp = _Contended(dwp_inbox, nid, a_hub if late == "stalled store" else None)
        targets = {"dwp": dwp, "hb": hb_inbox}
        # A slow target: A's lease (4 s) outlasts its write (3 s: the rest is kept to record it). A stalled
        # store: A's lease (1 s) is shorter than its round may be (its store's bound, 10 s).
        a = (
            Dispatcher(a_hub, targets, timeout=1.5, lease_seconds=4.0, backoff_base=0.05, backoff_cap=0.1)
            if dwp.stall is None
            else Dispatcher(a_hub, targets, timeout=10.0, lease_seconds=1.0, backoff_base=0.05, backoff_cap=0.1)
        )
        b, c = Dispatcher(hub, targets, timeout=5.0), Dispatcher(hub, targets, timeout=5.0)

        async def b_claims() -> None:
            while dwp.calls < 2:  # claims once A's lease ran out or A gave the delivery back
                await b.run_once()
                await asyncio.sleep(0.05)

        rounds: list[asyncio.Task[Any]] = []
        try:
            async with asyncio.timeout(60):
                round_a = asyncio.create_task(a.run_once())
                rounds.append(round_a)
                await dwp.first.wait()  # A claimed it, and is writing
                round_b = asyncio.create_task(b_claims())
                rounds.append(round_b)
                await dwp.second.wait()  # B is writing
                await round_a  # and A's round is over, whatever it did last
                row = await hub.fetchrow(
                    "SELECT status, lease_until > clock_timestamp() AS leased FROM hub.outbox "
                    "WHERE notification_id = $1 AND target = 'dwp'",
                    nid,
                )
                assert dict(row) == {"status": "pending", "leased": True}  # still B's
                await c.run_once()  # so C does not take it
                assert dwp.calls == 2
                dwp.go.set()
                await round_b
        finally:  # nothing left running into the next test when this one failed
            dwp.go.set()
            left = [task for task in (*rounds, dwp.stalling) if task is not None]
            for task in left:
                task.cancel()
            await asyncio.gather(*left, return_exceptions=True)
            await a_hub.close()
        assert await _mine(hub, nid, "delivered") == 2
    assert dwp.calls == 2  # A's write and B's: at most twice
    assert dwp.most_at_once == 1  # A's was given up before B claimed it, never left running beside it
    inbox = await _inbox(admin, str(nid))
    assert (len(inbox["dwp"]), len(inbox["hb"])) == (1, 1)


async def test_a_record_whose_answer_was_lost_leaves_the_delivered_row_as_it_is(
    own: Settings, client: httpx.AsyncClient, token: Any, admin: dict[str, asyncpg.Connection]
) -> None:
    # Security review: when the "delivered" update committed but its answer did not come back in time, the
    # retry-later wrote NOT_RECORDED and a next attempt onto the delivered row. Here the row is recorded
    # delivered, as that update would have, by a transaction that holds it past the dispatcher's bound.
    t = token("council_social_care", "CHANGE_NOTIFICATION", org="care-lost-answer")
    sent = (await _notify(client, t, _key(), kind="HOSPITAL_ADMISSION"))["data"]["notifyChange"]
    nid = uuid.UUID(sent["notificationId"])
    async with _stores(own) as (hub, dwp_inbox, hb_inbox):
        # The record waits for the row (2 s, then gives up); the retry-later after it gets the row, once the
        # holder commits (at 3 s), within its own 2 s.
        dwp = _HeldWhileRecording("dwp", dwp_inbox, hub, nid, hold=3.0, recorded=True)
        dispatcher = Dispatcher(hub, {"dwp": dwp, "hb": hb_inbox}, timeout=2.0)
        await dispatcher.run_once()
        assert dwp.holding is not None
        await dwp.holding
        row = await hub.fetchrow(
            "SELECT status, last_error, lease_until FROM hub.outbox WHERE notification_id = $1 AND target = 'dwp'",
            nid,
        )
        assert dict(row) == {"status": "delivered", "last_error": None, "lease_until": None}
        await dispatcher.run_once()
        assert dwp.calls == 1  # delivered, so never due again
    inbox = await _inbox(admin, str(nid))
    assert (len(inbox["dwp"]), len(inbox["hb"])) == (1, 1)


class _Faulty:
    """A real inbox that, while ``broken``, raises an error no adapter maps for one notification's
    deliveries (a bug of its own), its message quoting the person."""

    def __init__(self, inbox: Any, nid: uuid.UUID) -> None:
        self.inbox, self.nid = inbox, nid
        self.broken = True
        self.calls = 0

    async def deliver(self, changes: Any) -> Any:
        if any(c.notification_id == self.nid for c in changes):
            self.calls += 1
            if self.broken:
                raise RuntimeError(f"cannot deliver to {P.BADGE_DLA}")
        return await self.inbox.deliver(changes)


async def test_an_inbox_raising_an_unexpected_error_is_logged_and_retried_while_the_others_are_delivered(
    own: Settings,
    client: httpx.AsyncClient,
    token: Any,
    admin: dict[str, asyncpg.Connection],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Security review: such an error ended the round at once (the other targets left running on) and then
    # the dispatcher's loop, silently: the outbox stalled until the hub restarted.
    caplog.set_level(logging.WARNING, logger="welfare_hub.notifications")
    t = token("council_social_care", "CHANGE_NOTIFICATION", org="care-faulty-inbox")
    sent = (await _notify(client, t, _key(), kind="CARE_HOME_DISCHARGE"))["data"]["notifyChange"]
    nid = uuid.UUID(sent["notificationId"])
    async with _stores(own) as (hub, dwp_inbox, hb_inbox):
        hb = _Faulty(hb_inbox, nid)
        dispatcher = Dispatcher(hub, {"dwp": dwp_inbox, "hb": hb}, timeout=5, backoff_base=0.05, backoff_cap=0.2)
        loop = asyncio.create_task(dispatcher.run_forever(0.05))
        try:

            async def dwp_delivered_and_hb_retried() -> bool:
                return hb.calls >= 3 and await _mine(hub, nid, "delivered") == 1

            await _within(30, dwp_delivered_and_hb_retried)
            assert not loop.done()  # the dispatcher keeps running
            row = await hub.fetchrow(
                "SELECT status, last_error FROM hub.outbox WHERE notification_id = $1 AND target = 'hb'", nid
            )
            assert dict(row) == {"status": "pending", "last_error": "RuntimeError"}
            logged = [r.getMessage() for r in caplog.records if r.name == "welfare_hub.notifications"]
            assert "delivery to hb failed unexpectedly (1 items): RuntimeError" in logged
            assert P.BADGE_DLA not in caplog.text  # the type alone: its message quotes the person

            hb.broken = False

            async def all_delivered() -> bool:
                return await _mine(hub, nid, "delivered") == 2

            await _within(30, all_delivered)
            assert not loop.done()
        finally:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop
    inbox = await _inbox(admin, str(nid))
    assert (len(inbox["dwp"]), len(inbox["hb"])) == (1, 1)


class _LeaksACancellation(Dispatcher):
    """A dispatcher whose first round raises a cancellation no one asked for (as a library that swallows its
    own and raises one later would): not an Exception, so its loop ends, with nothing to catch."""

    leaked = False

    async def run_once(self) -> int:
        if not self.leaked:
            self.leaked = True
            raise asyncio.CancelledError
        return await super().run_once()


async def test_a_dispatcher_loop_that_ends_is_logged_and_started_again(
    own: Settings,
    client: httpx.AsyncClient,
    token: Any,
    admin: dict[str, asyncpg.Connection],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="welfare_hub")
    t = token("council_social_care", "CHANGE_NOTIFICATION", org="care-dead-loop")
    sent = (await _notify(client, t, _key(), kind="CARE_HOME_ADMISSION"))["data"]["notifyChange"]
    nid = uuid.UUID(sent["notificationId"])
    async with _stores(own) as (hub, dwp_inbox, hb_inbox):
        dispatcher = _LeaksACancellation(hub, {"dwp": dwp_inbox, "hb": hb_inbox}, timeout=5)
        roles = Roles(
            roles=[], on_stop=[], dispatcher=dispatcher, dispatch_seconds=0.05, stop_timeout=5, restart_seconds=0.1
        )
        roles.start()
        try:

            async def delivered() -> bool:
                return await _mine(hub, nid, "delivered") == 2

            await _within(30, delivered)
        finally:
            await roles.stop()
    assert dispatcher.leaked
    logged = [r.getMessage() for r in caplog.records if r.name == "welfare_hub"]
    assert "dispatching the outbox ended unexpectedly: cancelled (started again in 0.1 s)" in logged
    inbox = await _inbox(admin, str(nid))
    assert (len(inbox["dwp"]), len(inbox["hb"])) == (1, 1)


async def test_social_care_confirms_overnight_care_to_the_hb_team_alone(
    client: httpx.AsyncClient, token: Any, admin: dict[str, asyncpg.Connection], own: Settings
) -> None:
    t = token("council_social_care", "OVERNIGHT_CARE_CONFIRMATION", org="care-overnight")
    q = NOTIFY.replace("CHANGE_NOTIFICATION", "OVERNIGHT_CARE_CONFIRMATION")
    variables = {"kind": "OVERNIGHT_CARE_ENDED", "date": YESTERDAY, "key": _key(), "n": P.BADGE_DLA}
    body = (await gql(client, t, q, variables)).json()
    assert "errors" not in body, body
    sent = body["data"]["notifyChange"]
    assert [(d["target"], d["councilCode"]) for d in sent["deliveries"]] == [("HB", "E09000901")]
    async with dispatching(own):
        await _delivered(client, t, sent["notificationId"], purpose="OVERNIGHT_CARE_CONFIRMATION")
    inbox = await _inbox(admin, sent["notificationId"])
    assert inbox["dwp"] == []
    assert [(r["kind"], r["claim_ref"]) for r in inbox["hb"]] == [("overnight_care_ended", "HB0000001")]
    # Each purpose sends its own kinds only; an ALMO may not confirm care.
    wrong_kind = (await gql(client, t, q, {**variables, "kind": "CARE_HOME_ADMISSION", "key": _key()})).json()
    assert codes(wrong_kind) == ["BAD_USER_INPUT"]
    almo = token("almo", "OVERNIGHT_CARE_CONFIRMATION", org="almo-overnight")
    await add_operations(admin["hub"], "almo-overnight", [(q, None)])  # a partner runs registered ones only
    assert codes((await gql(client, almo, q, {**variables, "key": _key()})).json()) == ["PURPOSE_NOT_GRANTED"]


async def test_a_sender_not_connected_with_the_person_is_refused(
    client: httpx.AsyncClient, issuer: IssuerKey, own: Settings, admin: dict[str, asyncpg.Connection]
) -> None:
    # Social care of another council: no claim, case or home of the person there. Refused, and nothing kept.
    elsewhere = make_token(issuer, own, council="E09000999")(
        "council_social_care", "CHANGE_NOTIFICATION", org="care-far"
    )
    body = await _notify(client, elsewhere, _key())
    assert codes(body) == ["SUBJECT_NOT_FOUND"]  # as "not found" (audited as NO_LEGITIMATE_RELATIONSHIP)
    assert await admin["hub"].fetchval("SELECT count(*) FROM hub.notification WHERE sender_org = 'care-far'") == 0
    reason = await admin["hub"].fetchval(
        "SELECT reason_codes FROM hub.audit_event WHERE caller_org = 'care-far' ORDER BY seq DESC LIMIT 1"
    )
    assert reason == ["NO_LEGITIMATE_RELATIONSHIP"]


async def test_no_such_person_and_not_connected_are_one_answer(
    client: httpx.AsyncClient, issuer: IssuerKey, own: Settings, admin: dict[str, asyncpg.Connection]
) -> None:
    # Issue 13.2: before, a NINO no one holds was accepted for review while a person of another area was
    # refused, so a sender could tell who exists. Now: the same body, whatever the NINO names.
    far = make_token(issuer, own, council="E09000999")("council_social_care", "CHANGE_NOTIFICATION", org="care-fish")
    bodies = [await _notify(client, far, _key(), nino=n) for n in (P.BADGE_DLA, P.OUTSIDER, P.ABSENT, P.CARE_ONLY)]
    assert codes(bodies[0]) == ["SUBJECT_NOT_FOUND"]
    assert all(without_receipt(b) == without_receipt(bodies[0]) for b in bodies), bodies
    assert await admin["hub"].fetchval("SELECT count(*) FROM hub.notification WHERE sender_org = 'care-fish'") == 0


async def test_an_idempotency_key_holding_a_nino_is_refused(
    client: httpx.AsyncClient, token: Any, admin: dict[str, asyncpg.Connection]
) -> None:
    t = token("council_social_care", "CHANGE_NOTIFICATION", org="care-nino-key")
    for key in (f"care-home-{P.BADGE_DLA}", "jk 10 20 30 a 2026-12-01", "JK-10-20-30-A"):
        body = await _notify(client, t, key)
        assert codes(body) == ["NINO_IN_FREE_TEXT"], (key, body)
    assert await admin["hub"].fetchval("SELECT count(*) FROM hub.notification WHERE sender_org = 'care-nino-key'") == 0
    assert "errors" not in await _notify(client, t, _key())  # a key of its own (a UUID) is fine
