"""The subgraph's own access log: written before the answer (no row, no answer), keyed NINO hashes only,
and the owner's question "who asked about this person, for what, under which hub audit record"."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from hub.config import Settings
from resolvers.sources.assertion import AssertionSigner
from subgraphs.access_log import AccessEntry, AccessLog, Replayed
from tests.people import ALL, BADGE_DLA
from tests.subgraphs.conftest import (
    SECRET,
    Running,
    ask,
    call,
    entities_document,
    owner_url,
    reader_url,
    start_subgraph,
    subgraph_env,
)

SELECTION = {"DwpPerson": frozenset({"nino", "recordId", "blueBadgeAutomaticEligibility"})}
DOCUMENT = entities_document("DwpPerson", "nino recordId blueBadgeAutomaticEligibility")
VARIABLES = {"r": [{"__typename": "DwpPerson", "nino": BADGE_DLA}, {"__typename": "DwpPerson", "recordId": "2"}]}


def keyed(nino: str) -> str:
    return "nino:" + hmac.new(SECRET.encode(), nino.encode(), hashlib.sha256).hexdigest()


async def test_the_question_is_logged_with_keyed_subjects(
    subgraphs: dict[str, Running], signer: AssertionSigner, store_conns: dict[str, asyncpg.Connection]
) -> None:
    the_ask = ask(SELECTION, purpose="BLUE_BADGE")
    answer = await call(signer, subgraphs["dwp"], DOCUMENT, VARIABLES, the_ask)
    assert answer.status == 200
    assert answer.body["data"]["_entities"][0]["blueBadgeAutomaticEligibility"] is True
    row = await store_conns["dwp"].fetchrow("SELECT * FROM dwp.hub_access_log WHERE jti = $1", answer.jti)
    assert row is not None
    assert row["audit_id"] == the_ask.audit_id
    assert (row["org"], row["org_type"], row["purpose"], row["legal_basis"]) == (
        the_ask.org,
        the_ask.org_type,
        "BLUE_BADGE",
        the_ask.legal_basis,
    )
    assert row["fields"] == ["DwpPerson.blueBadgeAutomaticEligibility", "DwpPerson.nino", "DwpPerson.recordId"]
    assert row["subjects"] == [keyed(BADGE_DLA), "id:2"]
    assert row["outcome"] == "answered"
    # No NINO in clear anywhere in the log, whatever was asked.
    everything = await store_conns["dwp"].fetch("SELECT row_to_json(l)::text AS t FROM dwp.hub_access_log l")
    text = " ".join(r["t"] for r in everything)
    assert not [n for n in ALL if n in text]


async def test_no_answer_without_the_log_row(
    stores: Settings, jwks_file: Path, signer: AssertionSigner, tmp_path: Path
) -> None:
    # The store's read-only role cannot write the access log: the subgraph answers no data at all.
    env = subgraph_env(stores, "dwp", jwks_file, url=reader_url(stores, "src_dwp"))
    running = start_subgraph("dwp", env, tmp_path / "dwp-readonly.log")
    try:
        answer = await call(signer, running, DOCUMENT, VARIABLES, ask(SELECTION, purpose="BLUE_BADGE"))
    finally:
        running.process.terminate()
        running.process.wait(10)
    assert answer.status == 503
    assert answer.codes == ["ACCESS_LOG_UNAVAILABLE"]
    assert answer.body["data"] is None
    names = [s["name"] for s in answer.spans]
    assert "fetch" not in names
    assert not [n for n in names if n.startswith("SELECT")]
    assert not [n for n in ALL if n in running.logs()]


def _cli(stores: Settings, jwks: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **subgraph_env(stores, "dwp", jwks)}
    return subprocess.run(
        [sys.executable, "-m", "hub", "subgraph", "dwp", "access-log", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_who_asked_about_a_person(
    subgraphs: dict[str, Running], stores: Settings, jwks_file: Path, signer: AssertionSigner
) -> None:
    the_ask = ask(SELECTION, purpose="BLUE_BADGE")
    answer = await call(signer, subgraphs["dwp"], DOCUMENT, VARIABLES, the_ask)
    assert answer.status == 200
    by_nino = _cli(stores, jwks_file, "--nino", BADGE_DLA.lower())
    assert by_nino.returncode == 0, by_nino.stderr
    entries = [json.loads(line) for line in by_nino.stdout.splitlines()]
    mine = [e for e in entries if e["auditId"] == str(the_ask.audit_id)]
    assert mine == [
        {
            "receivedAt": mine[0]["receivedAt"],
            "auditId": str(the_ask.audit_id),
            "org": the_ask.org,
            "orgType": the_ask.org_type,
            "purpose": "BLUE_BADGE",
            "legalBasis": the_ask.legal_basis,
            "fields": ["DwpPerson.blueBadgeAutomaticEligibility", "DwpPerson.nino", "DwpPerson.recordId"],
            "outcome": "answered",
            "reason": None,
        }
    ]
    by_audit = _cli(stores, jwks_file, "--audit-id", str(the_ask.audit_id))
    assert [json.loads(line) for line in by_audit.stdout.splitlines()] == mine


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--nino", "not-a-nino"], "--nino:", id="bad-nino"),
        pytest.param(["--audit-id", "seven"], "--audit-id", id="bad-audit-id"),
        pytest.param([], "--nino", id="neither"),
    ],
)
def test_the_access_log_command_says_what_is_wrong(
    stores: Settings, jwks_file: Path, args: list[str], message: str
) -> None:
    done = _cli(stores, jwks_file, *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "not-a-nino" not in done.stderr


# -- group commit: the rows of questions asked at once, one insert; each question its own verdict ----------


def _entry(jti: str | None, org: str = "org-a") -> AccessEntry:
    return AccessEntry(
        jti, uuid.uuid4(), org, "council_blue_badge", "BLUE_BADGE", "basis", ["DwpPerson.nino"], ["id:1"], "answered"
    )


class _Counting:
    """The pool, counting the statements that reach it."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.statements = 0

    async def fetch(self, *args: Any, **kw: Any) -> Any:
        self.statements += 1
        return await self.pool.fetch(*args, **kw)

    async def fetchval(self, *args: Any, **kw: Any) -> Any:
        self.statements += 1
        return await self.pool.fetchval(*args, **kw)


@pytest.fixture
async def owner_pool(stores: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(owner_url(stores, "src_dwp"), min_size=1, max_size=2)
    try:
        yield pool
    finally:
        await pool.close()


def _log(pool: Any) -> AccessLog:
    return AccessLog(pool, schema="dwp", secret=SECRET.encode(), timeout=2)


async def test_rows_asked_at_once_share_one_insert_and_each_is_committed(
    owner_pool: asyncpg.Pool, store_conns: dict[str, asyncpg.Connection]
) -> None:
    counting = _Counting(owner_pool)
    log = _log(counting)
    jtis = [uuid.uuid4().hex for _ in range(40)]
    ids = await asyncio.gather(*(log.write(_entry(j)) for j in jtis))
    assert len(set(ids)) == 40
    assert counting.statements == 2  # the first alone (its insert went at once), the rest queued behind it
    rows = await store_conns["dwp"].fetch("SELECT entry_id, jti FROM dwp.hub_access_log WHERE jti = ANY($1)", jtis)
    assert {r["jti"]: r["entry_id"] for r in rows} == dict(zip(jtis, ids, strict=True))


async def test_a_replay_in_the_same_batch_or_a_later_one_is_refused(owner_pool: asyncpg.Pool) -> None:
    log = _log(owner_pool)
    first, other = uuid.uuid4().hex, uuid.uuid4().hex
    got = await asyncio.gather(
        log.write(_entry(other)), log.write(_entry(first)), log.write(_entry(first)), return_exceptions=True
    )
    assert isinstance(got[0], int)
    assert isinstance(got[1], int)
    assert isinstance(got[2], Replayed)
    with pytest.raises(Replayed):
        await log.write(_entry(first))
    again = await asyncio.gather(log.write(_entry(uuid.uuid4().hex)), log.write(_entry(other)), return_exceptions=True)
    assert isinstance(again[0], int)
    assert isinstance(again[1], Replayed)


async def test_a_row_the_store_refuses_fails_only_its_own_question(
    owner_pool: asyncpg.Pool, store_conns: dict[str, asyncpg.Connection]
) -> None:
    log = _log(owner_pool)
    good = [uuid.uuid4().hex for _ in range(3)]
    bad = uuid.uuid4().hex
    got = await asyncio.gather(
        log.write(_entry(good[0])),
        log.write(_entry(good[1])),
        log.write(_entry(bad, org="nul\x00byte")),  # PostgreSQL text takes no NUL: the batch is refused
        log.write(_entry(good[2])),
        return_exceptions=True,
    )
    assert [type(g) for g in got[:2]] == [int, int]
    assert isinstance(got[2], asyncpg.DataError)
    assert isinstance(got[3], int)
    logged = await store_conns["dwp"].fetch("SELECT jti FROM dwp.hub_access_log WHERE jti = ANY($1)", [*good, bad])
    assert {r["jti"] for r in logged} == set(good)


async def test_no_row_no_answer_for_every_question_of_a_batch(stores: Settings) -> None:
    # The read-only role cannot insert: every question waiting on the batch is told so (fail closed).
    pool = await asyncpg.create_pool(reader_url(stores, "src_dwp"), min_size=1, max_size=1)
    try:
        got = await asyncio.gather(
            *(_log(pool).write(_entry(uuid.uuid4().hex)) for _ in range(5)), return_exceptions=True
        )
    finally:
        await pool.close()
    assert all(isinstance(g, asyncpg.PostgresError) for g in got)


async def test_a_refusal_without_an_assertion_id_is_logged_on_its_own(
    owner_pool: asyncpg.Pool, store_conns: dict[str, asyncpg.Connection]
) -> None:
    log = _log(owner_pool)
    ids = await asyncio.gather(log.write(_entry(None, org="anon-1")), log.write(_entry(None, org="anon-1")))
    assert ids[0] != ids[1]
    rows = await store_conns["dwp"].fetch("SELECT entry_id FROM dwp.hub_access_log WHERE entry_id = ANY($1)", ids)
    assert len(rows) == 2
