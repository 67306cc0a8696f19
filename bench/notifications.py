"""Reliable delivery under load and outage: 10,000 change-of-circumstance notifications at concurrency 32,
while the HB source is stopped and restarted during the run.

    python -m bench.notifications [--people 20000] [--notifications 10000] [--concurrency 32] [--outage 10]

The stores are seeded and linked (``link train`` and ``link build``, so people are routed by the link index
even while HB is down); the hub runs as its own uvicorn process with its dispatcher. One notification in
ten is sent twice (the same idempotency key, as a sender retrying after a timeout would). While the load
runs, HB stops taking connections for ``--outage`` seconds (its backends cut), then comes back.

Reported: accepted (distinct notifications), refused, deliveries expected (outbox rows), delivered,
duplicated (an inbox holding one notification twice for one record: must be 0), lost (a delivery of an
accepted notification not in its inbox once drained: must be 0), the time from the last acceptance until
the outbox drained, and throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
import uuid
from typing import Any

import aiohttp
import asyncpg

from bench.hubserver import add_load_arguments, hub_env, hub_server, seeded_stores
from bench.results_file import this_command, write_result
from hub.access.orgs import Organisation
from hub.config import Settings
from hub.ops.issuer import IssuerKey
from hub.ops.linking import build_links, save_model, train_model
from hub.ops.migrate import connect_store, drop_stores, migration_url, quote_ident
from hub.records.orgs import upsert
from linkage import Thresholds

NOTIFY = """mutation($kind: ChangeKind!, $date: Date!, $key: String!, $n: String) {
  notifyChange(purpose: CHANGE_NOTIFICATION, kind: $kind, effectiveDate: $date, idempotencyKey: $key, nino: $n) {
    notificationId status replayed } }"""
KINDS = ["HOSPITAL_ADMISSION", "HOSPITAL_DISCHARGE", "CARE_HOME_ADMISSION", "CARE_HOME_DISCHARGE"]
ORG = "bench-social-care"


async def _caller(settings: Settings, issuer: Any) -> str:
    async with connect_store(settings, "hub") as hub:
        await upsert(hub, [Organisation(ORG, "Bench social care", "council_social_care", council_code="E09000901")])
    return IssuerKey.load(issuer).mint(
        issuer=settings.issuer,
        audience=settings.audience,
        org=ORG,
        org_type="council_social_care",
        user="bench",
        purposes=["CHANGE_NOTIFICATION"],
        lifetime_seconds=3 * 3600,
    )


async def _outage(settings: Settings, after: float, seconds: float, marks: dict[str, float]) -> None:
    """HB stops: no new connections, open ones cut; then it comes back."""
    await asyncio.sleep(after)
    db = settings.database_name("src_hb")
    conn = await asyncpg.connect(settings.admin_url())
    try:
        await conn.execute(f"ALTER DATABASE {quote_ident(db)} ALLOW_CONNECTIONS false")
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND usename <> current_user", db
        )
        marks["hb_down"] = time.monotonic()
        await asyncio.sleep(seconds)
        await conn.execute(f"ALTER DATABASE {quote_ident(db)} ALLOW_CONNECTIONS true")
        marks["hb_up"] = time.monotonic()
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    add_load_arguments(parser)
    parser.add_argument("--notifications", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--outage", type=float, default=10.0)
    args = parser.parse_args()
    settings, issuer = await seeded_stores(args.database_url, args.people)
    results: dict[str, Any] = {"people": args.people, "notifications": args.notifications}
    try:
        model = await train_model(settings, sample=min(args.people, 20_000))
        assert settings.data_dir is not None
        save_model(model, settings.data_dir / "link-model.json")
        await build_links(settings, model=model, thresholds=Thresholds(), progress=False, workers=2)
        # People the sender (social care of council E09000901) is tied to: a claim or a case there.
        ninos: set[str] = set()
        for store, sql in (
            ("src_hb", "SELECT nino FROM hb.claim WHERE council_code = 'E09000901' AND nino IS NOT NULL"),
            (
                "src_social_care",
                "SELECT nino FROM social_care.client WHERE council_code = 'E09000901' AND nino IS NOT NULL",
            ),
        ):
            conn = await asyncpg.connect(migration_url(settings, store))  # type: ignore[arg-type]
            try:
                ninos |= {r["nino"] for r in await conn.fetch(sql)}
            finally:
                await conn.close()
        dwp = await asyncpg.connect(migration_url(settings, "src_dwp"))
        try:
            held = await dwp.fetch(
                "SELECT nino FROM dwp.person WHERE nino = ANY($1::text[]) ORDER BY nino", list(ninos)
            )
        finally:
            await dwp.close()
        subjects = [r["nino"] for r in held]
        results["subjects"] = len(subjects)
        token = await _caller(settings, issuer)
        rng = random.Random(5)
        sends = []
        for i in range(args.notifications):
            key = f"bench-{i}"
            body = {
                "query": NOTIFY,
                "variables": {"kind": rng.choice(KINDS), "date": "2026-11-01", "key": key, "n": rng.choice(subjects)},
            }
            sends.append(body)
            if i % 10 == 0:
                sends.append(body)  # a retry of the same notification
        rng.shuffle(sends)
        env = hub_env(settings)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        answers: list[dict[str, Any]] = []
        marks: dict[str, float] = {}
        async with hub_server({**env, "WELFARE_HUB_DISPATCH_SECONDS": "0.2"}) as (url, _pid):
            queue = list(reversed(sends))

            async def worker(session: aiohttp.ClientSession) -> None:
                while queue:
                    body = queue.pop()
                    for _ in range(50):  # a sender retries what failed (the same key), as a client would
                        try:
                            async with session.post(url, data=json.dumps(body), headers=headers) as r:
                                answer = await r.json()
                        except aiohttp.ClientError:
                            answer = {"errors": [{"extensions": {"code": "CLIENT_ERROR"}}]}
                        if "errors" not in answer:
                            answers.append(answer["data"]["notifyChange"])
                            break
                        results.setdefault("retried_codes", {}).setdefault(answer["errors"][0]["extensions"]["code"], 0)
                        results["retried_codes"][answer["errors"][0]["extensions"]["code"]] += 1
                        await asyncio.sleep(0.2)
                    else:
                        results["given_up"] = results.get("given_up", 0) + 1

            started = time.monotonic()
            outage = asyncio.create_task(_outage(settings, after=3.0, seconds=args.outage, marks=marks))
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.concurrency)) as session:
                await asyncio.gather(*(worker(session) for _ in range(args.concurrency)))
            sent_done = time.monotonic()
            await outage
            hub = await asyncpg.connect(migration_url(settings, "hub"))
            try:
                while await hub.fetchval("SELECT count(*) FROM hub.outbox WHERE status = 'pending'"):
                    await asyncio.sleep(0.2)
                drained = time.monotonic()
                outbox = await hub.fetch("SELECT notification_id, target, target_ref, status FROM hub.outbox")
                statuses = await hub.fetch("SELECT status, count(*) AS n FROM hub.notification GROUP BY 1")
            finally:
                await hub.close()
        inbox: list[asyncpg.Record] = []
        for store, sql in (
            ("src_dwp", "SELECT notification_id, 'dwp' AS target, person_id::text AS ref FROM dwp.hub_inbox"),
            ("src_hb", "SELECT notification_id, 'hb' AS target, claim_ref AS ref FROM hb.hub_inbox"),
        ):
            conn = await asyncpg.connect(migration_url(settings, store))  # type: ignore[arg-type]
            try:
                inbox += await conn.fetch(sql)
            finally:
                await conn.close()
        landed: dict[tuple[uuid.UUID, str, str], int] = {}
        for r in inbox:
            k = (r["notification_id"], r["target"], r["ref"])
            landed[k] = landed.get(k, 0) + 1
        expected = {(r["notification_id"], r["target"], r["target_ref"]) for r in outbox}
        results.update(
            requests=len(sends),
            answers=len(answers),
            accepted=len({a["notificationId"] for a in answers}),
            replayed_answers=sum(a["replayed"] for a in answers),
            notification_status={r["status"]: r["n"] for r in statuses},
            deliveries_expected=len(outbox),
            delivered=sum(r["status"] == "delivered" for r in outbox),
            inbox_items=len(inbox),
            duplicated=sum(n - 1 for n in landed.values() if n > 1),
            lost=len(expected - set(landed)),
            unexpected=len(set(landed) - expected),
            send_seconds=sent_done - started,
            hb_outage_seconds=marks.get("hb_up", 0) - marks.get("hb_down", 0),
            drain_seconds_after_last_accept=drained - sent_done,
            drain_seconds_after_hb_back=drained - marks.get("hb_up", drained),
        )
        results["accepted_per_second"] = results["answers"] / results["send_seconds"]
    finally:
        await drop_stores(settings)
    rows = [
        "| measure | value |",
        "|---|---|",
        *(
            f"| {k.replace('_', ' ')} | {v:.1f} |" if isinstance(v, float) else f"| {k.replace('_', ' ')} | {v} |"
            for k, v in results.items()
        ),
    ]
    table = "\n".join(rows)
    print(table)
    write_result(
        "notifications",
        "Notifications under load with a target source stopped and restarted",
        this_command("bench.notifications"),
        [
            f"{args.notifications} notifications (+1 in 10 sent twice with the same key) at concurrency "
            f"{args.concurrency} to one hub process (uvicorn, its dispatcher polling every 0.2 s); HB stopped "
            f"{args.outage:g} s, 3 s into the run. One run, 2 shared cores.",
        ],
        table,
        results,
    )


if __name__ == "__main__":
    asyncio.run(main())
