"""The link build split over processes (issue 17, item 5): `link build --partition I/N`, N processes each deciding
its own share of the records against the whole spine, one run between them in the hub database.

Against one whole build of the same synthetic people (twins, households, missing and wrong NINOs), on real
PostgreSQL: the same link index and review queue (and the same run reports), every record decided once and
by the process of its partition, a process killed mid-way resumed from its cursor, a held partition refused
to a second process, a run ended once and only by its last partition, and mismatched splits refused.

Every write to the link index is counted by a trigger (the record, and the backend that wrote it), so "decided
once" is counted, not inferred."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from hub.config import Settings
from hub.errors import ConfigError
from hub.ops.demo import seed_sources
from hub.ops.linking import Partition, build_links, save_model, train_model
from hub.ops.linking.federated import build_links_federated
from hub.ops.linking.rows import finish_run, open_run, partition_of
from hub.ops.linking.sources import open_sources
from hub.ops.migrate import drop_stores
from linkage import FSModel, Thresholds

PEOPLE = 4000
# Wide bands put many records to review; the usual bands then link some and drop the weak candidates, so the
# second build supersedes items (tests/hub/test_review_hygiene.py).
BANDS = Thresholds(link=0.99999, review=0.2)
NARROW = Thresholds()
CHUNK = 300

_LINK = (
    "SELECT source, source_record_id, person_key, nino_key_id, nino_hash, method, band, probability, match_weight, "
    "model_version, evidence::text, fingerprint, thresholds FROM hub.link"
)
_ITEMS = (
    "SELECT source, source_record_id, candidate_person, reason, probability, match_weight, model_version, "
    "evidence::text, status, run_id, link_threshold, review_threshold, superseded_by_run, superseded_because, "
    "decided_by_hash FROM hub.review_item"
)
# Every write to the link index, with the backend that made it (each build process writes through one).
_COUNTING = """
CREATE SCHEMA partition_test;
CREATE TABLE partition_test.decided (source text, source_record_id text, backend int);
CREATE FUNCTION partition_test.count_decision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO partition_test.decided VALUES (NEW.source, NEW.source_record_id, pg_backend_pid());
    RETURN NEW;
END $$;
CREATE TRIGGER count_decision AFTER INSERT OR UPDATE ON hub.link
    FOR EACH ROW EXECUTE FUNCTION partition_test.count_decision();
"""


@dataclasses.dataclass(frozen=True)
class Snapshot:
    links: dict[tuple[str, str], tuple[Any, ...]]
    items: dict[tuple[str, str, uuid.UUID], tuple[Any, ...]]
    reports: list[dict[str, Any]]  # each run's review report, in run order


@dataclasses.dataclass
class Stores:
    settings: Settings
    hub: asyncpg.Connection
    model: FSModel
    model_path: Path
    whole: list[Snapshot]  # after one whole build with BANDS, then after one with NARROW


async def snapshot(hub: asyncpg.Connection) -> Snapshot:
    """The index and the queue, with each run named by its place in the sequence (its id is the database's)."""
    runs = [r["run_id"] for r in await hub.fetch("SELECT run_id FROM hub.link_run ORDER BY run_id")]
    place = {run: i for i, run in enumerate(runs)} | {None: None}
    links = {(r[0], r[1]): tuple(r) for r in await hub.fetch(_LINK)}
    items = {}
    for r in await hub.fetch(_ITEMS):
        row = dict(r)
        row["run_id"], row["superseded_by_run"] = place[row["run_id"]], place[row["superseded_by_run"]]
        items[(r["source"], r["source_record_id"], r["candidate_person"])] = tuple(row.values())
    reports = [json.loads(r["review"]) for r in await hub.fetch("SELECT review FROM hub.link_run ORDER BY run_id")]
    return Snapshot(links, items, reports)


async def forget(hub: asyncpg.Connection) -> None:
    await hub.execute("TRUNCATE hub.review_item, hub.link, hub.link_run CASCADE")
    await hub.execute("TRUNCATE partition_test.decided")


async def decided(hub: asyncpg.Connection) -> list[asyncpg.Record]:
    return list(await hub.fetch("SELECT source, source_record_id, backend FROM partition_test.decided"))


@pytest.fixture(scope="module")
async def stores(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stores]:
    s = dataclasses.replace(settings, db_prefix=f"p{uuid.uuid4().hex[:10]}_")
    await seed_sources(s, people=PEOPLE, seed=13)
    model = await train_model(s, sample=PEOPLE)
    model_path = tmp_path_factory.mktemp("partition-model") / "link-model.json"
    save_model(model, model_path)
    hub = await asyncpg.connect(s.admin_url("hub"))
    try:
        await hub.execute(_COUNTING)
        whole = []
        for bands in (BANDS, NARROW):
            await build_links(s, model=model, thresholds=bands, chunk=CHUNK, progress=False)
            whole.append(await snapshot(hub))
        assert len(whole[0].items) > 20, "the wide bands put records to review"
        assert whole[1].reports[1]["superseded"], "the usual bands supersede some of them"
        yield Stores(s, hub, model, model_path, whole)
    finally:
        await hub.close()
        await drop_stores(s)


def halves() -> tuple[Partition, Partition]:
    return Partition(0, 2), Partition(1, 2)


async def build(stores: Stores, bands: Thresholds, partition: Partition, **kw: Any) -> Any:
    return await build_links(
        stores.settings, model=stores.model, thresholds=bands, chunk=CHUNK, progress=False, partition=partition, **kw
    )


def in_partition(key: tuple[str, str, Any] | tuple[str, str], index: int) -> bool:
    return partition_of(key[0], key[1], 2) == index


async def test_two_partitions_at_once_build_what_one_whole_build_does(stores: Stores) -> None:
    hub = stores.hub
    await forget(hub)
    first, second = await asyncio.gather(*(build(stores, BANDS, p) for p in halves()))

    shares = await hub.fetch("SELECT * FROM hub.link_run_partition ORDER BY partition")
    assert [r["partition"] for r in shares] == [0, 1]
    # At the same time: each started before the other finished (one run, two partitions, both held at once).
    assert shares[0]["started_at"] < shares[1]["finished_at"]
    assert shares[1]["started_at"] < shares[0]["finished_at"]
    assert {first.run_id, second.run_id} == {shares[0]["run_id"]}
    # Exactly one of them ended the run, and printed its report; the other was told what was left.
    assert sorted([first.run_finished, second.run_finished]) == [False, True]
    ended, other = (first, second) if first.run_finished else (second, first)
    assert other.review == {}
    assert other.pending == [ended.partition.index]
    got = await snapshot(hub)
    assert got.links == stores.whole[0].links
    assert got.items == stores.whole[0].items
    assert got.reports == stores.whole[0].reports[:1] == [ended.review]
    # Every record decided once, by the process of its partition (one backend per partition, no overlap).
    writes = await decided(hub)
    assert len(writes) == len({(w["source"], w["source_record_id"]) for w in writes}) == len(got.links)
    partitions_by_backend: dict[int, set[int]] = {}
    for w in writes:
        partitions_by_backend.setdefault(w["backend"], set()).add(partition_of(w["source"], w["source_record_id"], 2))
    assert sorted(partitions_by_backend.values(), key=min) == [{0}, {1}]
    # Each process counted its own records only, and the two add up to the index.
    for counts in (first, second):
        # band is column 6 of _LINK: a DWP record links to its person, but for one whose NINO an earlier
        # record carries for another person (DWP's duplicates), which waits for a reviewer.
        assert counts.by_source["dwp"]["nino:link"] == sum(
            1
            for k, v in got.links.items()
            if k[0] == "dwp" and v[6] == "link" and in_partition(k, counts.partition.index)
        )
    decisions = sum(n for c in (first, second) for s in c.by_source.values() for k, n in s.items() if k != "unchanged")
    assert decisions == len(got.links)


async def test_a_partition_closes_only_its_own_records_items_and_the_last_one_ends_the_run(stores: Stores) -> None:
    """The narrower bands, one partition at a time: the first closes the stale items of its own records and
    touches none of the other's; the run ends only with the second, and its report is the whole build's."""
    hub = stores.hub
    await forget(hub)
    await asyncio.gather(*(build(stores, BANDS, p) for p in halves()))
    before = await snapshot(hub)

    alone = await build(stores, NARROW, Partition(0, 2))

    assert not alone.run_finished
    assert alone.pending == [1]
    assert alone.review == {}
    run = await hub.fetchrow("SELECT * FROM hub.link_run ORDER BY run_id DESC LIMIT 1")
    assert run["finished_at"] is None
    assert json.loads(run["review"]) == {}
    middle = await snapshot(hub)
    theirs = {k: v for k, v in before.items.items() if in_partition(k, 1)}
    assert theirs, "both partitions have items in review"
    assert {k: v for k, v in middle.items.items() if in_partition(k, 1)} == theirs  # untouched
    assert {k: v for k, v in middle.links.items() if in_partition(k, 1)} == {
        k: v for k, v in before.links.items() if in_partition(k, 1)
    }
    ours = {k: v for k, v in middle.items.items() if in_partition(k, 0)}
    assert ours == {k: v for k, v in stores.whole[1].items.items() if in_partition(k, 0)}
    # Started again, a finished partition has nothing to do: it decides nothing and does not end the run.
    writes = len(await decided(hub))
    again = await build(stores, NARROW, Partition(0, 2))
    assert (again.run_finished, again.pending, again.by_source) == (False, [1], {})
    assert len(await decided(hub)) == writes

    last = await build(stores, NARROW, Partition(1, 2))

    assert last.run_finished
    assert last.pending == []
    got = await snapshot(hub)
    assert got.links == stores.whole[1].links
    assert got.items == stores.whole[1].items
    assert got.reports == stores.whole[1].reports
    assert last.review == stores.whole[1].reports[1]


def _cli_env(stores: Stores, data_dir: Path) -> dict[str, str]:
    s = stores.settings
    assert s.database_url is not None
    assert s.keys_path is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "WELFARE_HUB_"))}
    return env | {
        "DATABASE_URL": s.database_url,
        "WELFARE_HUB_DB_PREFIX": s.db_prefix,
        "WELFARE_HUB_KEYS": str(s.keys_path),  # the ring the whole build hashed with
        "WELFARE_HUB_DATA_DIR": str(data_dir),
    }


async def _wait_for(check: Any, what: str, seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := await check():
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_killed_partition_resumes_from_its_cursor_and_no_record_is_decided_twice(
    stores: Stores, tmp_path: Path
) -> None:
    """`link build --partition 0/2` in its own process, stopped mid-way (its chunk waiting on a row this test
    holds), then killed: while it lives its partition is refused to anyone else; once it is gone, a resumed
    build decides only what it had not committed, and the two partitions together decide every record once."""
    hub = stores.hub
    await forget(hub)
    await asyncio.gather(*(build(stores, BANDS, p) for p in halves()))
    built = await snapshot(hub)
    await hub.execute("TRUNCATE partition_test.decided")
    ours = sorted(k[1] for k in built.links if k[0] == "hb" and in_partition(k, 0))
    held = ours[len(ours) // 2]  # an HB record of partition 0, half-way through its HB records
    blocker = await asyncpg.connect(stores.settings.admin_url("hub"))
    blocker_tx = blocker.transaction()
    await blocker_tx.start()
    await blocker.execute("SELECT 1 FROM hub.link WHERE source = 'hb' AND source_record_id = $1 FOR UPDATE", held)
    log = tmp_path / "partition-0.log"
    with log.open("w") as out:
        process = await asyncio.create_subprocess_exec(  # --full: every record decided again, so the chunk
            *(sys.executable, "-m", "hub", "link", "build", "--partition", "0/2", "--full", "--workers", "1"),
            *("--chunk", str(CHUNK), "--model", str(stores.model_path)),  # holding `held` waits for it
            *("--link-threshold", str(BANDS.link), "--review-threshold", str(BANDS.review)),
            env=_cli_env(stores, tmp_path / "data"),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    others: list[asyncpg.Connection] = []
    try:
        holder = blocker.get_server_pid()

        async def waiting() -> bool:
            assert process.returncode is None, log.read_text()
            return bool(
                await hub.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))", holder
                )
            )

        await _wait_for(waiting, f"the partition's chunk to wait on the held row ({log})")
        run_id = await hub.fetchval("SELECT run_id FROM hub.link_run WHERE finished_at IS NULL")
        # While the process lives, its partition is its own; the run is split in two, and a new run waits.
        for asked, kw, refusal in (
            (Partition(0, 2), {}, "partition 0/2 of link build run .* is being built by another process"),
            (Partition(0, 3), {}, "split into 2 partitions, and this process asks for partition 0/3"),
            (Partition(), {}, "split into 2 partitions, and this process asks for the whole build"),
            (Partition(1, 2), {"resume": False}, "--restart starts a new run only when no build runs"),
        ):
            conn = await asyncpg.connect(stores.settings.admin_url("hub"))
            others.append(conn)
            with pytest.raises(ConfigError, match=refusal):
                await open_run(conn, stores.model.version, resume=kw.get("resume", True), partition=asked)
        with pytest.raises(ConfigError, match="with another model"):
            await open_run(others[0], "fs-another", resume=True, partition=Partition(1, 2))
        # The other partition joins the same run, at the same time.
        joined = await open_run(others[1], stores.model.version, resume=True, partition=Partition(1, 2))
        assert joined.run_id == run_id
        await others[1].close()
        done = dict(
            json.loads(
                await hub.fetchval(
                    "SELECT cursors FROM hub.link_run_partition WHERE run_id = $1 AND partition = 0", run_id
                )
            )
        )
        process.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(process.wait(), 10) == -signal.SIGKILL
    finally:
        if process.returncode is None:
            process.kill()
            await asyncio.wait_for(process.wait(), 10)
        await blocker_tx.rollback()
        await blocker.close()
        for conn in others:
            await conn.close()
    # What the killed process committed: the spine, then HB up to the chunk before the held row's.
    assert "hb" in done
    assert done["hb"] < held
    assert "social_care" not in done
    committed = await decided(hub)
    assert committed
    assert all(partition_of(w["source"], w["source_record_id"], 2) == 0 for w in committed)
    assert {w["source_record_id"] for w in committed if w["source"] == "hb"} == {r for r in ours if r <= done["hb"]}

    async def free() -> Any:
        try:
            return await build(stores, BANDS, Partition(0, 2), force=True, workers=2)
        except ConfigError as e:  # the killed process's connection not yet gone
            if "being built by another process" not in str(e):
                raise
            return None

    resumed = await _wait_for(free, "the killed process's partition to be free")

    # Resumed after its cursor: the spine and HB before it are not decided again, social care is decided whole.
    assert resumed.run_id == run_id
    assert not resumed.run_finished
    assert "dwp" not in resumed.by_source
    hb_after = sum(v for k, v in resumed.by_source["hb"].items() if k != "unchanged")
    assert hb_after == sum(1 for r in ours if r > done["hb"])
    share = await hub.fetchrow("SELECT * FROM hub.link_run_partition WHERE run_id = $1 AND partition = 0", run_id)
    assert share["claims"] == 2  # the killed process, then the resumed one
    last = await build(stores, BANDS, Partition(1, 2), force=True)
    assert last.run_finished
    writes = await decided(hub)
    assert len(writes) == len({(w["source"], w["source_record_id"]) for w in writes}) == len(built.links)
    got = await snapshot(hub)
    assert got.links == built.links
    # The same items, proposed again by the second run.
    assert {k: v[:9] for k, v in got.items.items()} == {k: v[:9] for k, v in built.items.items()}
    assert got.reports[1]["proposed_again"] == len(built.items)
    assert got.reports[1]["new"] == 0


async def test_the_run_ends_once_and_only_after_its_last_partition(stores: Stores) -> None:
    """Eight processes' partitions of one run (each its own connection): seven finishing together end nothing;
    the eighth ends it. Then eight finishing together: exactly one of them ends the run."""
    hub = stores.hub
    await forget(hub)
    version = "fs-finish-once"
    for rounds in ([7, 1], [8]):
        conns = [await asyncpg.connect(stores.settings.admin_url("hub")) for _ in range(8)]
        try:
            shares = await asyncio.gather(
                *(open_run(c, version, resume=True, partition=Partition(i, 8)) for i, c in enumerate(conns))
            )
            assert len({s.run_id for s in shares}) == 1  # the first made the run, the others joined it
            ends = []
            first = 0
            for n in rounds:
                batch = await asyncio.gather(
                    *(
                        finish_run(c, s)
                        for c, s in zip(conns[first : first + n], shares[first : first + n], strict=True)
                    )
                )
                first += n
                ends.append(batch)
        finally:
            for c in conns:
                await c.close()
        if rounds == [7, 1]:
            assert [e.run_finished for e in ends[0]] == [False] * 7
            assert [7] in [e.pending for e in ends[0]]  # the last of the seven to commit saw only the eighth left
            assert [e.run_finished for e in ends[1]] == [True]
        else:
            assert sorted(e.run_finished for e in ends[0]) == [False] * 7 + [True]
        run = await hub.fetchrow("SELECT * FROM hub.link_run WHERE run_id = $1", shares[0].run_id)
        assert run["finished_at"] is not None
        assert run["partitions"] == 8
        assert json.loads(run["review"]) == {
            "new": 0,
            "proposed_again": 0,
            "superseded": {},
            "open_before": 0,
            "open_after": 0,
        }


async def test_the_build_over_the_boundary_splits_the_same_way(stores: Stores) -> None:
    hub = stores.hub
    runs = []
    for split in ([Partition()], list(halves())):
        await forget(hub)
        async with open_sources(stores.settings) as (dwp, hb, sc):
            for partition in split:
                run = await build_links_federated(
                    stores.settings, dwp, [hb, sc], model=stores.model, thresholds=BANDS, chunk=CHUNK,
                    partition=partition,
                )  # fmt: skip
        assert run.counts.run_finished
        runs.append(await snapshot(hub))
    whole, halved = runs
    assert halved.links == whole.links
    assert halved.items == whole.items
    assert halved.reports == whole.reports
    assert {k for k in whole.links if k[0] != "dwp"} == {k for k in stores.whole[0].links if k[0] != "dwp"}


async def test_a_stopped_run_resumes_only_as_it_was_split(stores: Stores) -> None:
    hub = stores.hub
    await forget(hub)
    version = "fs-stopped"
    conn = await asyncpg.connect(stores.settings.admin_url("hub"))
    stopped = await open_run(conn, version, resume=True, partition=Partition(1, 2))
    await conn.close()  # stopped: no process holds the run any more
    conn = await asyncpg.connect(stores.settings.admin_url("hub"))
    try:
        for asked in (Partition(0, 3), Partition()):
            with pytest.raises(ConfigError, match=f"run {stopped.run_id} stopped before it finished, split into 2"):
                await open_run(conn, version, resume=True, partition=asked)
        # Refused, it holds nothing: the same connection resumes the run as it was split...
        again = await open_run(conn, version, resume=True, partition=Partition(1, 2))
        assert again.run_id == stopped.run_id
        assert (
            await hub.fetchval(
                "SELECT claims FROM hub.link_run_partition WHERE run_id = $1 AND partition = 1", stopped.run_id
            )
            == 2
        )
    finally:
        await conn.close()
    # ... or, with --restart, a new run split another way.
    conn = await asyncpg.connect(stores.settings.admin_url("hub"))
    try:
        fresh = await open_run(conn, version, resume=False, partition=Partition(2, 3))
    finally:
        await conn.close()
    assert fresh.run_id != stopped.run_id
    assert await hub.fetchval("SELECT partitions FROM hub.link_run WHERE run_id = $1", fresh.run_id) == 3
