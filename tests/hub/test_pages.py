"""The one page shape (docs/api.md): walking any paged list two at a time gives every item once, in order,
and nextCursor is null exactly on the last page, also when the total is a multiple of the page; a cursor
not given by the field is BAD_USER_INPUT, never a 500; first out of bounds is refused."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest

from hub.errors import BadUserInput
from resolvers import pages
from tests.conftest import codes, gql

EVIDENCE = json.dumps(
    [
        {"comparison": "given_name", "level": "exact", "weight": 1.0},
        {"comparison": "dob", "level": "exact", "weight": 1.0},
    ]
)


@dataclass(frozen=True)
class Field:
    """A paged field as a client asks for it: the query (with $first and $after), the id of an item."""

    name: str
    query: str
    item_id: str
    maximum: int


FIELDS = {
    f.name: f
    for f in [
        Field(
            "auditEvents",
            "query($first: Int!, $after: ID, $org: String) { auditEvents(purpose: AUDIT, organisation: $org, "
            "first: $first, after: $after) { items { eventId } nextCursor } }",
            "eventId",
            500,
        ),
        Field(
            "entitlementChanges",
            "query($first: Int!, $after: ID) { entitlementChanges(purpose: BLUE_BADGE, first: $first, "
            "after: $after) { items { changeId } nextCursor } }",
            "changeId",
            1000,
        ),
        Field(
            "reviewQueue",
            "query($first: Int!, $after: ID) { reviewQueue(purpose: IDENTITY_REVIEW, first: $first, after: $after) "
            "{ items { reviewId } nextCursor } }",
            "reviewId",
            100,
        ),
        Field(
            "correctionsToReview",
            "query($first: Int!, $after: ID) { correctionsToReview(purpose: CORRECTION_REVIEW, first: $first, "
            "after: $after) { items { correctionId } nextCursor } }",
            "correctionId",
            500,
        ),
        Field(
            "correctionsWeReported",
            "query($first: Int!, $after: ID) { correctionsWeReported(first: $first, after: $after) "
            "{ items { correctionId } nextCursor } }",
            "correctionId",
            1000,
        ),
        Field(
            "correctionNotices",
            "query($first: Int!, $after: ID) { correctionNotices(first: $first, after: $after) "
            "{ items { correctionId deliveredAt } nextCursor } }",
            "correctionId",
            1000,
        ),
        Field(
            "complaints",
            "query($first: Int!, $after: ID) { complaints(purpose: AUDIT, first: $first, after: $after) "
            "{ items { complaintId } nextCursor } }",
            "complaintId",
            500,
        ),
        Field(
            "complaintsInvolvingUs",
            "query($first: Int!, $after: ID) { complaintsInvolvingUs(first: $first, after: $after) "
            "{ items { complaintId } nextCursor } }",
            "complaintId",
            500,
        ),
    ]
}


@dataclass
class Arranged:
    """Items of one field made for a test: who asks, with what variables, and the ids made (in the order
    the field gives them)."""

    token: str
    variables: dict[str, Any]
    made: list[str]
    #: Whether the field lists only what the test made (else: others' items too, e.g. the review queue).
    alone: bool


async def _walk(client: httpx.AsyncClient, field: Field, arranged: Arranged) -> tuple[list[str], list[int]]:
    """Every page, two at a time: the ids in order and each page's length."""
    ids: list[str] = []
    sizes: list[int] = []
    after = None
    for _ in range(10_000):
        body = (
            await gql(client, arranged.token, field.query, {**arranged.variables, "first": 2, "after": after})
        ).json()
        assert "errors" not in body, body
        found = body["data"][field.name]
        ids += [i[field.item_id] for i in found["items"]]
        sizes.append(len(found["items"]))
        after = found["nextCursor"]
        if after is None:
            return ids, sizes
    raise AssertionError("the walk did not end")


def _run() -> str:
    return uuid.uuid4().hex[:10]


class Arrange:
    """Makes items of each field (a method named as the field), and takes away after the test what others'
    tests would see (the shared lists)."""

    def __init__(self, hub: asyncpg.Connection, token: Any, client: httpx.AsyncClient) -> None:
        self.hub, self.token, self.client = hub, token, client
        self.cleanups: list[tuple[str, list[int]]] = []

    async def __call__(self, name: str, count: int) -> Arranged:
        return await getattr(self, name)(count)

    async def auditEvents(self, count: int) -> Arranged:
        org = f"pages-audit-{_run()}"
        refused = self.token("council_hb", "AUDIT", org=org)
        for _ in range(count):  # each refusal is an audit event of org's
            assert codes((await gql(self.client, refused, "{ auditEvents(purpose: AUDIT) { nextCursor } }")).json())
        seqs = await self.hub.fetch("SELECT seq FROM hub.audit_event WHERE caller_org = $1 ORDER BY seq DESC", org)
        auditor = self.token("auditor", "AUDIT", org=f"pages-auditor-{_run()}")
        return Arranged(auditor, {"org": org}, [str(r["seq"]) for r in seqs], alone=True)

    async def entitlementChanges(self, count: int) -> Arranged:
        org = f"pages-badge-{_run()}"
        interest = await self.hub.fetchval(
            "INSERT INTO hub.interest (org, purpose, field, subject_key_id, subject_hash, person_key, "
            "subject_pseudonym, dwp_person_id, last_answer, registered_by_hash) "
            "VALUES ($1, 'BLUE_BADGE', 'DwpRecord.blueBadgeAutomaticEligibility', 'k', 'h', $2, 'p', 'd', true, 'u') "
            "RETURNING interest_id",
            org,
            uuid.uuid4(),
        )
        made = [
            await self.hub.fetchval(
                "INSERT INTO hub.entitlement_change (interest_id, org, answer) VALUES ($1, $2, $3) RETURNING change_id",
                interest,
                org,
                i % 2 == 0,
            )
            for i in range(count)
        ]
        return Arranged(self.token("council_blue_badge", "BLUE_BADGE", org=org), {}, [str(m) for m in made], True)

    async def reviewQueue(self, count: int) -> Arranged:
        run = _run()
        made = [
            await self.hub.fetchval(
                "INSERT INTO hub.review_item (source, source_record_id, candidate_person, reason, probability, "
                "match_weight, model_version, evidence) VALUES ('dwp', $1, $2, 'probabilistic', 0.5, 1.0, 'pages', "
                "$3::jsonb) RETURNING review_id",
                f"pages-{run}-{i}",
                uuid.uuid4(),
                EVIDENCE,
            )
            for i in range(count)
        ]
        self.cleanups.append(("DELETE FROM hub.review_item WHERE review_id = ANY($1::bigint[])", made))
        reviewer = self.token("linkage_reviewer", "IDENTITY_REVIEW", org="pages-reviewer")
        return Arranged(reviewer, {}, [str(m) for m in made], alone=False)

    async def _corrections(self, reporter: str, count: int) -> list[int]:
        made = [
            await self.hub.fetchval(
                "INSERT INTO hub.correction (reporter_org, reporter_user_hash, field, source, source_record_ids, "
                "subject_hashes, evidence) VALUES ($1, 'u', 'DwpRecord.blueBadgeAutomaticEligibility', 'dwp', "
                "ARRAY['pages'], ARRAY['pages'], 'made by a test') RETURNING correction_id",
                reporter,
            )
            for _ in range(count)
        ]
        self.cleanups.append(("DELETE FROM hub.correction WHERE correction_id = ANY($1::bigint[])", made))
        return made

    async def correctionsToReview(self, count: int) -> Arranged:
        made = await self._corrections(f"pages-reporter-{_run()}", count)
        dwp = self.token("dwp_benefits", "CORRECTION_REVIEW", org="pages-dwp")
        return Arranged(dwp, {}, [str(m) for m in made], alone=False)

    async def correctionsWeReported(self, count: int) -> Arranged:
        org = f"pages-reporter-{_run()}"
        made = await self._corrections(org, count)
        return Arranged(self.token("council_hb", "HB_OVERNIGHT_CARER_ROOM", org=org), {}, [str(m) for m in made], True)

    async def correctionNotices(self, count: int) -> Arranged:
        org = f"pages-notified-{_run()}"
        (correction,) = await self._corrections(f"pages-reporter-{_run()}", 1)
        # Every notice delivered at one moment: the order rests on the tiebreaker (the notice id) alone.
        at = dt.datetime.now(dt.UTC)
        ids = sorted(uuid.uuid4() for _ in range(count))
        await self.hub.executemany(
            "INSERT INTO hub.correction_notice (notice_id, correction_id, org, field, request_ids, delivered_at) "
            "VALUES ($1, $2, $3, 'DwpRecord.blueBadgeAutomaticEligibility', '{}', $4)",
            [(i, correction, org, at) for i in ids],
        )
        self.cleanups.insert(
            0, ("DELETE FROM hub.correction_notice WHERE correction_id = ANY($1::bigint[])", [correction])
        )
        # The notices carry their correction's id, one for all: the test compares how many, in order of ids.
        made = [str(correction)] * count
        return Arranged(self.token("council_hb", "HB_OVERNIGHT_CARER_ROOM", org=org), {}, made, True)

    async def _complaints(self, org: str, count: int) -> list[int]:
        made = []
        for _ in range(count):
            complaint = await self.hub.fetchval(
                "INSERT INTO hub.complaint (raised_by_org, raised_by_hash, summary, event_seqs, organisations) "
                "VALUES ($1, 'u', 'made by a test', ARRAY[1]::bigint[], ARRAY[$1]) RETURNING complaint_id",
                org,
            )
            await self.hub.execute(
                "INSERT INTO hub.complaint_party (complaint_id, org) VALUES ($1, $2)", complaint, org
            )
            made.append(complaint)
        self.cleanups.insert(0, ("DELETE FROM hub.complaint_party WHERE complaint_id = ANY($1::bigint[])", made))
        self.cleanups.append(("DELETE FROM hub.complaint WHERE complaint_id = ANY($1::bigint[])", made))
        return made[::-1]  # newest first

    async def complaints(self, count: int) -> Arranged:
        made = await self._complaints(f"pages-party-{_run()}", count)
        auditor = self.token("auditor", "AUDIT", org="pages-complaints-auditor")
        return Arranged(auditor, {}, [str(m) for m in made], alone=False)

    async def complaintsInvolvingUs(self, count: int) -> Arranged:
        org = f"pages-party-{_run()}"
        made = await self._complaints(org, count)
        return Arranged(self.token("council_hb", "HB_OVERNIGHT_CARER_ROOM", org=org), {}, [str(m) for m in made], True)

    async def close(self) -> None:
        for statement, ids in self.cleanups:
            await self.hub.execute(statement, ids)


@pytest.fixture
async def arrange(
    admin: dict[str, asyncpg.Connection], token: Any, client: httpx.AsyncClient
) -> AsyncIterator[Arrange]:
    made = Arrange(admin["hub"], token, client)
    try:
        yield made
    finally:
        await made.close()


def _in_order(ids: list[str], made: list[str], alone: bool) -> None:
    assert len(ids) == len(set(ids)) or len(set(made)) == 1, "an item given twice"
    if alone:
        assert ids == made
    else:
        assert [i for i in ids if i in set(made)] == made  # ours, once each, in the field's order among others'


@pytest.mark.parametrize("count", [5, 4], ids=["odd", "a-multiple-of-first"])
@pytest.mark.parametrize("name", list(FIELDS))
async def test_walking_two_at_a_time_gives_everything_once_in_order(
    arrange: Arrange, client: httpx.AsyncClient, name: str, count: int
) -> None:
    field = FIELDS[name]
    arranged = await arrange(name, count)
    ids, sizes = await _walk(client, field, arranged)
    _in_order(ids, arranged.made, arranged.alone)
    assert all(s == 2 for s in sizes[:-1]), sizes  # only the last page may be short
    assert sizes[-1] > 0, "nextCursor was given with nothing after it"
    if arranged.alone:
        assert sizes == [2] * (count // 2) + ([count % 2] if count % 2 else [])


async def test_notices_at_one_moment_keep_the_order_of_their_ids(
    arrange: Arrange, client: httpx.AsyncClient, admin: dict[str, asyncpg.Connection]
) -> None:
    field = FIELDS["correctionNotices"]
    arranged = await arrange("correctionNotices", 5)
    ids: list[str] = []
    after = None
    while True:
        found = (await gql(client, arranged.token, field.query, {"first": 2, "after": after})).json()["data"][
            "correctionNotices"
        ]
        ids += [n["deliveredAt"] for n in found["items"]]
        after = found["nextCursor"]
        if after is None:
            break
        assert json.loads(base64.urlsafe_b64decode(after + "=="))[0] == "correctionNotices"
    assert len(ids) == 5
    assert len(set(ids)) == 1  # one moment: the cursor carried the tiebreaker, nothing was lost or repeated


def _b64(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


BAD_CURSORS = {
    "not base64": "!!not a cursor!!",
    "base64 of no JSON": base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    "a bare id (the old cursor)": "12",
    "JSON that is no list": _b64({"after": 1}),
    "another field's cursor": pages.encode("someOtherField", (1,)),
    "a key of the wrong kind": _b64(["{field}", "1"]),
    "a negative id": _b64(["{field}", -1]),
    "too many parts": _b64(["{field}", 1, 2, 3]),
    "padded": "{good}=",
    "far too long": "A" * 5000,
}


@pytest.mark.parametrize("bad", list(BAD_CURSORS))
@pytest.mark.parametrize("name", list(FIELDS))
async def test_a_cursor_the_field_did_not_give_is_bad_input(
    arrange: Arrange, client: httpx.AsyncClient, name: str, bad: str
) -> None:
    field = FIELDS[name]
    arranged = await arrange(name, 3)
    first = (await gql(client, arranged.token, field.query, {**arranged.variables, "first": 2})).json()
    good = first["data"][name]["nextCursor"]
    assert good is not None
    cursor = _fill(BAD_CURSORS[bad], name, good)
    response = await gql(client, arranged.token, field.query, {**arranged.variables, "first": 2, "after": cursor})
    assert response.status_code == 200
    body = response.json()
    assert codes(body) == ["BAD_USER_INPUT"], body
    assert "cursor" in body["errors"][0]["message"]
    assert body.get("data") is None or body["data"].get(name) is None


def _fill(template: str, name: str, good: str) -> str:
    """A BAD_CURSORS entry for ``name``: the field's name put in, or its own good cursor spoiled."""
    if template == "{good}=":
        return good + "="
    for parts in (["{field}", "1"], ["{field}", -1], ["{field}", 1, 2, 3]):
        if template == _b64(parts):
            return _b64([name if p == "{field}" else p for p in parts])
    return template


@pytest.mark.parametrize("name", list(FIELDS))
async def test_first_out_of_bounds_is_refused(arrange: Arrange, client: httpx.AsyncClient, name: str) -> None:
    field = FIELDS[name]
    arranged = await arrange(name, 1)
    for first in (0, -1, field.maximum + 1):
        body = (await gql(client, arranged.token, field.query, {**arranged.variables, "first": first})).json()
        assert codes(body) == ["BAD_USER_INPUT"], (first, body)
        assert f"between 1 and {field.maximum}" in body["errors"][0]["message"]
    body = (await gql(client, arranged.token, field.query, {**arranged.variables, "first": field.maximum})).json()
    assert "errors" not in body, body


CURSOR_CASES = [
    # (description, field, key, kinds)
    ("an id", "auditEvents", (7,), (int,)),
    (
        "a time and a UUID",
        "correctionNotices",
        (dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC), uuid.UUID(int=5)),
        (dt.datetime, uuid.UUID),
    ),
    ("the largest bigint", "reviewQueue", (2**63 - 1,), (int,)),
]


@pytest.mark.parametrize(("description", "field", "key", "kinds"), CURSOR_CASES, ids=[c[0] for c in CURSOR_CASES])
def test_a_cursor_round_trips_and_is_url_safe(description: str, field: str, key: Any, kinds: Any) -> None:
    cursor = pages.encode(field, key)
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert pages.decode(cursor, field, kinds) == key
    assert pages.decode(None, field, kinds) is None


ID: tuple[pages.Kind, ...] = (int,)
NOTICE: tuple[pages.Kind, ...] = (dt.datetime, uuid.UUID)
SPOILT = [
    ("an id of 0 (ids are positive)", pages.encode("auditEvents", (0,)), ID),
    ("an id past a bigint", pages.encode("auditEvents", (2**63,)), ID),
    ("a boolean for an id", _b64(["auditEvents", True]), ID),
    ("a fraction for an id", _b64(["auditEvents", 1.5]), ID),
    (
        "a time without its UTC offset",
        _b64(["correctionNotices", "2026-01-02T03:04:05", str(uuid.UUID(int=5))]),
        NOTICE,
    ),
    ("no UUID", _b64(["correctionNotices", "2026-01-02T03:04:05+00:00", "not a uuid"]), NOTICE),
    ("an empty cursor", "", ID),
]


@pytest.mark.parametrize(("description", "value", "kinds"), SPOILT, ids=[c[0] for c in SPOILT])
def test_a_spoilt_cursor_is_bad_input(description: str, value: str, kinds: tuple[pages.Kind, ...]) -> None:
    field = "auditEvents" if kinds == ID else "correctionNotices"
    with pytest.raises(BadUserInput, match="cursor"):
        pages.decode(value, field, kinds)


def test_the_page_holds_back_the_extra_row() -> None:
    rows = [1, 2, 3]
    assert pages.page(rows, 2, "f", lambda r: (r,)) == ([1, 2], pages.encode("f", (2,)))
    assert pages.page(rows, 3, "f", lambda r: (r,)) == ([1, 2, 3], None)  # exactly first: nothing more
    assert pages.page([], 3, "f", lambda r: (r,)) == ([], None)
