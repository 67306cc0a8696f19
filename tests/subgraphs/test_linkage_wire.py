"""The link build's questions over a real subgraph process: DWP's records carrying given NINOs and the
councils' keyset feeds answer what the direct adapter answers, through the hub's subgraph transport
(chunked), only for the linkage purpose, and each question is in the owner's access log (NINOs keyed)."""

from __future__ import annotations

import dataclasses
import hmac
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from hub.config import Settings
from hub.errors import SourceRefused
from linkage import Demographics
from resolvers.sources.assertion import AssertionSigner
from resolvers.sources.contract import HUB_PURPOSES, LINKAGE_PURPOSE, Ask
from resolvers.sources.remote import source as remote
from resolvers.sources.remote import subgraph_source
from tests.people import ABSENT, ALL, CARE_ONLY
from tests.subgraphs.conftest import SECRET, Running, ask
from tests.subgraphs.test_hub_questions import adapter

ID_COLUMN = {"hb": "hb.claim_person ORDER BY record_ref", "social_care": "social_care.client ORDER BY client_id"}


def linkage(audit_id: uuid.UUID | None = None) -> Ask:
    return Ask(
        purpose=LINKAGE_PURPOSE,
        legal_basis=HUB_PURPOSES[LINKAGE_PURPOSE],
        org="welfare-hub",
        org_type="hub",
        audit_id=audit_id or uuid.uuid4(),
        selection={},
        councils=None,
    )


@pytest.fixture
async def remote_of(subgraphs: dict[str, Running], signer: AssertionSigner) -> AsyncIterator[Any]:
    opened: list[Any] = []

    def connect(source: str) -> Any:
        found = subgraph_source(source, subgraphs[source].url.removesuffix("/graphql"), signer=signer, timeout=5)
        opened.append(found)
        return found

    try:
        yield connect
    finally:
        for s in opened:
            await s.aclose()


def key(d: Demographics) -> tuple[Any, ...]:
    return tuple(getattr(d, f.name) for f in dataclasses.fields(Demographics))


async def test_people_by_nino_equal_the_direct_adapter_in_chunks(
    remote_of: Any, stores: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(remote, "NINO_CHUNK", 4)  # several calls, so the chunks are seen joining up
    ninos = [*ALL, ABSENT, "JK999998B"]
    got = await remote_of("dwp").people_by_nino(ninos, linkage())
    direct, pool = await adapter(stores, "dwp")
    try:
        expected = await direct.people_by_nino(ninos)
    finally:
        await pool.close()
    assert sorted(map(key, got)) == sorted(map(key, expected))
    # Each NINO DWP holds, once (all but social care's own client); the absent ones are held by no one.
    assert sorted(str(d.nino) for d in got) == sorted(n for n in ALL if n != CARE_ONLY)


async def test_people_by_nino_is_logged_with_keyed_ninos(
    remote_of: Any, store_conns: dict[str, asyncpg.Connection]
) -> None:
    audit_id = uuid.uuid4()
    await remote_of("dwp").people_by_nino(ALL[:2], linkage(audit_id))
    (row,) = await store_conns["dwp"].fetch("SELECT * FROM dwp.hub_access_log WHERE audit_id = $1", audit_id)
    assert (row["purpose"], row["outcome"]) == (LINKAGE_PURPOSE, "answered")
    assert "Query.peopleByNino" in row["fields"]
    assert len(row["subjects"]) == 2
    assert all(s.startswith("nino:") for s in row["subjects"])
    assert not [s for s in row["subjects"] if any(n in s for n in ALL)]  # never in clear
    # The owner can answer "who asked about this person" from its own log.
    digest = hmac.new(SECRET.encode(), ALL[0].encode(), "sha256").hexdigest()
    assert f"nino:{digest}" in row["subjects"]


@pytest.mark.parametrize("source", ["hb", "social_care"])
async def test_a_page_cursor_walks_the_whole_table_exactly_once(
    remote_of: Any, stores: Settings, store_conns: dict[str, asyncpg.Connection], source: str
) -> None:
    feed = remote_of(source)
    the_ask = linkage()
    walked: list[Demographics] = []
    after: str | None = None
    while page := await feed.feed(after, 3, the_ask):
        assert len(page) <= 3
        walked.extend(page)
        after = page[-1].record_id
    table, _, order = ID_COLUMN[source].partition(" ORDER BY ")
    ids = [r[0] for r in await store_conns[source].fetch(f"SELECT {order}::text FROM {table} ORDER BY {order}")]
    assert [r.record_id for r in walked] == ids  # every record, once, in id order
    direct, pool = await adapter(stores, source)
    try:
        expected = await direct.feed(None, len(ids) + 5)
    finally:
        await pool.close()
    assert list(map(key, walked)) == list(map(key, expected))


async def test_a_feed_longer_than_a_page_is_read_page_by_page(
    remote_of: Any, stores: Settings, store_conns: dict[str, asyncpg.Connection], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(remote, "FEED_PAGE", 2)
    held = await store_conns["hb"].fetchval("SELECT count(*) FROM hb.claim")
    assert held >= 3  # so that the pages join up
    audit_id = uuid.uuid4()
    got = await remote_of("hb").feed(None, held - 1, linkage(audit_id))
    direct, pool = await adapter(stores, "hb")
    try:
        expected = await direct.feed(None, held - 1)
    finally:
        await pool.close()
    assert list(map(key, got)) == list(map(key, expected))
    rows = await store_conns["hb"].fetch(
        "SELECT subjects FROM hb.hub_access_log WHERE audit_id = $1 ORDER BY entry_id", audit_id
    )
    # A page of 2 at a time (the last one short), each after the last of the one before, each logged with
    # the range it asked for.
    cursors = ["", *(str(expected[i].record_id) for i in range(1, held - 2, 2))]
    sizes = [min(2, held - 1 - 2 * i) for i in range(len(cursors))]
    assert [r["subjects"] for r in rows] == [[f"feed:after={c};limit={n}"] for c, n in zip(cursors, sizes, strict=True)]


@pytest.mark.parametrize("purpose", ["CARE_CHARGING_DOMICILIARY", "CHANGE_NOTIFICATION", "CORRECTION_REVIEW"])
async def test_refused_for_any_other_purpose(remote_of: Any, purpose: str) -> None:
    other = ask({}, purpose=purpose, councils=None)
    with pytest.raises(SourceRefused):
        await remote_of("dwp").people_by_nino(ALL[:1], other)
    for source in ("hb", "social_care"):
        with pytest.raises(SourceRefused):
            await remote_of(source).feed(None, 10, other)


async def test_the_wires_limits(subgraphs: dict[str, Running], signer: AssertionSigner) -> None:
    from tests.subgraphs.conftest import call

    fields = ["Query.feed", "Candidate.recordId"]
    answer = await call(
        signer,
        subgraphs["hb"],
        "query { feed(limit: 1001) { recordId } }",
        None,
        linkage(),
        fields=fields,
    )
    assert answer.codes == ["TOO_MANY_QUERIES"]
    answer = await call(
        signer,
        subgraphs["dwp"],
        "query($n: [ID!]!) { peopleByNino(ninos: $n) { recordId } }",
        {"n": ["JK102030A"] * 101},
        linkage(),
        fields=["Query.peopleByNino", "Candidate.recordId"],
    )
    assert answer.codes == ["TOO_MANY_QUERIES"]
    # DWP offers no feed: the spine is never walked by the hub.
    answer = await call(
        signer, subgraphs["dwp"], "query { feed(limit: 1) { recordId } }", None, linkage(), fields=fields
    )
    assert answer.codes == ["FIELD_NOT_ALLOWED"]


@pytest.mark.parametrize("after", ["", "H" * 65, "HB0000001" + "x" * 60])
async def test_a_malformed_feed_cursor_is_bad_user_input(
    subgraphs: dict[str, Running], signer: AssertionSigner, after: str
) -> None:
    from tests.subgraphs.conftest import call

    fields = ["Query.feed", "Candidate.recordId"]
    for source in ("hb", "social_care"):
        answer = await call(
            signer,
            subgraphs[source],
            "query($a: ID) { feed(limit: 5, after: $a) { recordId } }",
            {"a": after},
            linkage(),
            fields=fields,
        )
        assert answer.status == 200, answer.body
        # Not an empty page (a reader takes that for the end of the feed), not INTERNAL: the caller's error.
        assert answer.codes == ["BAD_USER_INPUT"], answer.body
        assert answer.body["data"] is None


async def test_the_feed_is_strictly_increasing_after_the_cursor(
    subgraphs: dict[str, Running], signer: AssertionSigner
) -> None:
    from tests.subgraphs.conftest import call

    fields = ["Query.feed", "Candidate.recordId"]
    for source in ("hb", "social_care"):
        document = "query($a: ID) { feed(limit: 1000, after: $a) { recordId } }"
        whole = await call(signer, subgraphs[source], document, {"a": None}, linkage(), fields=fields)
        ids = [c["recordId"] for c in whole.body["data"]["feed"]]
        assert len(ids) >= 3, ids
        assert ids == sorted(set(ids)), ids
        middle = ids[len(ids) // 2]
        rest = await call(signer, subgraphs[source], document, {"a": middle}, linkage(), fields=fields)
        assert [c["recordId"] for c in rest.body["data"]["feed"]] == [i for i in ids if i > middle]
