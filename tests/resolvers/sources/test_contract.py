"""What every source adapter must do, one suite run against each (DWP, Housing Benefit, social care), on the
real PostgreSQL the session provisions and the people in tests/people.py.

A source answers a batch of keys with one query per kind of key, however many keys there are (the hub's
latency and the sources' load both rest on it), one result per key in order with None for a key it does
not know, and plain records, never GraphQL types. It finds candidates by blocking key and the councils
and districts a person is tied to. A slow source raises SourceTimeout within its timeout and a source
that cannot be reached raises SourceUnavailable: no driver error escapes, and the span it was given says
which code, never the driver's message. The sources with an inbox (DWP, HB) write each delivery once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import enum
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from hub.config import Settings
from hub.db import create_store_pool
from hub.errors import SourceError, SourceTimeout, SourceUnavailable
from hub.records.notifications import OutboxItem
from hub.types import StoreName, SubjectKey
from linkage import Demographics, NormalisedNino
from resolvers.sources import DwpSource, HousingBenefitSource, SocialCareSource, records
from resolvers.sources.base import SpanLike
from resolvers.sources.pg import PgSource
from tests import people as P
from tests.asks import full_ask
from tests.conftest import free_port


@dataclasses.dataclass(frozen=True)
class Case:
    """One adapter and what the test people make it hold."""

    adapter: type[PgSource]
    store: StoreName
    schema: str  # the source's SQL schema: a statement naming it is one of the adapter's queries
    record: type
    held: dict[str, Callable[[Any], object]]  # record id -> what identifies its record
    expected: dict[str, object]  # record id -> that identity
    unknown_id: str
    nino_of: dict[str, str]  # a held NINO -> the record id that carries it
    ties: tuple[frozenset[str], frozenset[str]]  # the councils and districts of BADGE_DLA here


def _dwp_name(r: records.DwpRecord) -> object:
    return r.name.given_name


def _hb_claims(r: records.HousingBenefitRecord) -> object:
    return tuple(c.claim_ref for c in r.claims)


def _care_answers(r: records.SocialCareRecord) -> object:
    # The care plans never leave social care: what crosses is the answers derived from the current ones.
    return (r.overnight_care_required, r.domiciliary_hours_per_week)


CASES = [
    Case(
        DwpSource,
        "src_dwp",
        "dwp",
        records.DwpRecord,
        {"1": _dwp_name, "3": _dwp_name, "4": _dwp_name},
        {"1": "Margaret", "3": "Daniel", "4": "Aisha"},
        "999999",
        {P.BADGE_DLA: "1", P.PIP_LOW: "3"},
        (frozenset(), frozenset({"NT1"})),
    ),
    Case(
        HousingBenefitSource,
        "src_hb",
        "hb",
        records.HousingBenefitRecord,
        {"HB0000001": _hb_claims},
        {"HB0000001": ("HB0000001",)},
        "HB9999999",
        {P.BADGE_DLA: "HB0000001"},
        (frozenset({"E09000901"}), frozenset({"NT1"})),
    ),
    Case(
        SocialCareSource,
        "src_social_care",
        "social_care",
        records.SocialCareRecord,
        {"SC000001": _care_answers, "SC000002": _care_answers},
        {"SC000001": (True, Decimal("14.0")), "SC000002": (False, Decimal("7.5"))},
        "SC999999",
        {P.BADGE_DLA: "SC000001", P.CARE_ONLY: "SC000002"},
        (frozenset({"E09000901"}), frozenset({"NT1"})),
    ),
]
INBOXES = [c for c in CASES if c.adapter in (DwpSource, HousingBenefitSource)]


def _ids(case: Case) -> str:
    return case.adapter.name


class Spans:
    """A span factory that keeps what the adapter told it: (namespace, SQL), attributes and error codes."""

    def __init__(self) -> None:
        self.opened: list[tuple[str, str]] = []
        self.attributes: list[dict[str, int]] = []
        self.errors: list[str] = []

    @contextlib.contextmanager
    def __call__(self, namespace: str, query: str) -> Iterator[SpanLike]:
        self.opened.append((namespace, query))
        attributes: dict[str, int] = {}
        self.attributes.append(attributes)
        errors = self.errors

        class Span:
            def set_attribute(self, key: str, value: int) -> None:
                attributes[key] = value

            def record_error(self, code: str) -> None:
                errors.append(code)

        yield Span()


@dataclasses.dataclass
class Adapter:
    source: Any  # the adapter under test (typed loosely: each case's has its own record type)
    spans: Spans
    statements: list[str]  # the adapter's statements the database ran


@contextlib.asynccontextmanager
async def adapter(
    case: Case,
    settings: Settings,
    *,
    dsn: str | None = None,
    source_timeout: float = 5.0,
    on_connect: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
) -> AsyncIterator[Adapter]:
    """The adapter on a pool of its own (the service's role, unless ``dsn``), counting its statements."""
    statements: list[str] = []

    async def connected(conn: asyncpg.Connection) -> None:
        # asyncpg's own type introspection is not the adapter's: count what names the source's tables.
        conn.add_query_logger(lambda q: statements.append(q.query) if f"{case.schema}." in q.query else None)
        if on_connect is not None:
            await on_connect(conn)

    pool = await create_store_pool(dsn or settings.service_url(case.store), max_size=2, on_connect=connected)
    spans = Spans()
    try:
        source = case.adapter(pool, timeout=source_timeout, namespace="ns-test", db_span=spans)
        yield Adapter(source, spans, statements)
    finally:
        await pool.close()


def _assert_plain(value: object) -> None:
    """A record, all the way down: frozen dataclasses of values, tuples and enums; nothing of strawberry."""
    if dataclasses.is_dataclass(value):
        kind = type(value)
        assert kind.__module__ == "resolvers.sources.records", kind
        assert kind.__dataclass_params__.frozen, kind  # type: ignore[attr-defined]
        assert not hasattr(kind, "__strawberry_definition__"), kind
        for f in dataclasses.fields(value):
            _assert_plain(getattr(value, f.name))
    elif isinstance(value, tuple):
        for item in value:
            _assert_plain(item)
    else:
        assert value is None or isinstance(value, str | int | bool | Decimal | dt.date | enum.Enum), value


@pytest.fixture(params=CASES, ids=_ids)
def case(request: pytest.FixtureRequest) -> Case:
    """Each adapter in turn: every test that takes ``case`` is run against all three."""
    found: Case = request.param
    return found


@pytest.fixture(params=INBOXES, ids=_ids)
def inbox(request: pytest.FixtureRequest) -> Case:
    """Each adapter with an inbox in turn."""
    found: Case = request.param
    return found


# -- fetch -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("unknown", [0, 1, 60])
async def test_fetch_by_ids_is_one_query_whatever_the_number_of_keys(
    case: Case, unknown: int, settings: Settings, people: Any
) -> None:
    held = list(case.held)
    strangers = [f"{case.unknown_id[:-3]}{n:03d}" for n in range(unknown)]
    # Known and unknown keys interleaved, and a key asked twice: each gets its own answer, in order.
    asked = [held[0], *strangers[:1], *held[1:], *strangers[1:], held[0]]
    async with adapter(case, settings) as a:
        found = await a.source.fetch([("id", k) for k in asked], full_ask())
    assert len(found) == len(asked)
    for key, record in zip(asked, found, strict=True):
        if key in case.held:
            assert isinstance(record, case.record)
            assert case.held[key](record) == case.expected[key]
        else:
            assert record is None
    assert len(a.statements) == 1, a.statements


async def test_fetch_by_nino_is_one_query(case: Case, settings: Settings, people: Any) -> None:
    asked = [*case.nino_of, P.ABSENT]
    async with adapter(case, settings) as a:
        by_nino = await a.source.fetch([("nino", n) for n in asked], full_ask())
        by_id = await a.source.fetch([("id", case.nino_of[n]) for n in case.nino_of], full_ask())
    assert by_nino == [*by_id, None]  # the same record, whichever key names it
    assert len(a.statements) == 2  # one for the NINOs, one for the ids


async def test_a_batch_of_both_kinds_is_one_query_per_kind(case: Case, settings: Settings, people: Any) -> None:
    nino, record_id = next(iter(case.nino_of.items()))
    keys: list[SubjectKey] = [("nino", P.ABSENT), ("id", record_id), ("nino", nino), ("id", case.unknown_id)]
    async with adapter(case, settings) as a:
        first, by_id, by_nino, nobody = await a.source.fetch(keys, full_ask())
        assert await a.source.fetch([], full_ask()) == []
    assert first is None
    assert nobody is None
    assert by_id is not None
    assert by_id == by_nino
    assert len(a.statements) == 2  # and none for an empty batch


async def test_records_are_plain_data(case: Case, settings: Settings, people: Any) -> None:
    async with adapter(case, settings) as a:
        found = await a.source.fetch([("id", k) for k in case.held], full_ask())
    assert all(isinstance(r, case.record) for r in found)
    for record in found:
        _assert_plain(record)


# -- linkage ---------------------------------------------------------------------------------------------


async def test_candidates_share_a_blocking_key(case: Case, settings: Settings, people: Any) -> None:
    record_id = case.nino_of[P.BADGE_DLA]
    queries = [
        # Surname sound and date of birth: the given name mistyped, and no postcode.
        Demographics(given_name="Margret", family_name="Okafor", dob=dt.date(1950, 3, 14)),
        Demographics(given_name="Zebedee", family_name="Quaxworth", dob=dt.date(1901, 1, 1), postcode="ZZ9 9ZZ"),
        # Date of birth and postcode, the surname changed.
        Demographics(given_name="Margaret", family_name="Smith", dob=dt.date(1950, 3, 14), postcode="NT1 1AA"),
    ]
    async with adapter(case, settings) as a:
        found = await a.source.find_candidates(queries)
        assert await a.source.find_candidates([]) == []
    by_query: dict[int, set[str | None]] = {}
    for i, candidate in found:
        assert isinstance(candidate, Demographics)
        by_query.setdefault(i, set()).add(candidate.record_id)
    assert record_id in by_query[0]
    assert record_id in by_query[2]
    assert 1 not in by_query
    (match,) = [c for i, c in found if i == 0 and c.record_id == record_id]
    assert (match.family_name, match.dob) == ("Okafor", dt.date(1950, 3, 14))
    assert len(a.statements) == 1  # every query in one statement; none for no query


async def test_ties_are_councils_and_districts_per_key(case: Case, settings: Settings, people: Any) -> None:
    record_id = case.nino_of[P.BADGE_DLA]
    keys: list[SubjectKey] = [("id", record_id), ("nino", P.BADGE_DLA), ("id", case.unknown_id), ("nino", P.ABSENT)]
    async with adapter(case, settings) as a:
        ties = await a.source.ties(keys)
    nothing = (frozenset(), frozenset())
    assert ties == [case.ties, case.ties, nothing, nothing]
    assert len(a.statements) == 2  # one per kind of key


async def test_record_ids_carry_the_nino(case: Case, settings: Settings, people: Any) -> None:
    async with adapter(case, settings) as a:
        for nino, record_id in case.nino_of.items():
            assert await a.source.record_ids(NormalisedNino(nino)) == [record_id]
        assert await a.source.record_ids(NormalisedNino(P.ABSENT)) == []


# -- failures --------------------------------------------------------------------------------------------

OPERATIONS: dict[str, Callable[[Any], Awaitable[object]]] = {
    "fetch": lambda s: s.fetch([("nino", P.BADGE_DLA)], full_ask()),
    "find_candidates": lambda s: s.find_candidates([Demographics(family_name="Okafor", dob=dt.date(1950, 3, 14))]),
    "ties": lambda s: s.ties([("nino", P.BADGE_DLA)]),
    "record_ids": lambda s: s.record_ids(NormalisedNino(P.BADGE_DLA)),
}


def _assert_mapped(error: SourceError, case: Case, code: str, spans: Spans) -> None:
    assert error.extensions == {"code": code, "source": case.adapter.name}
    assert spans.errors == [code]  # the span says which code, never the driver's message
    assert not isinstance(error, asyncpg.PostgresError | asyncpg.InterfaceError)


@pytest.mark.parametrize("operation", OPERATIONS)
async def test_a_slow_statement_is_a_timeout(case: Case, operation: str, settings: Settings, people: Any) -> None:
    blocker = await asyncpg.connect(settings.admin_url(case.store))
    try:
        async with adapter(case, settings, source_timeout=0.3) as a:
            async with blocker.transaction():
                # Holding an exclusive lock makes every read of the table wait: a slow source.
                await blocker.execute(f"LOCK TABLE {case.adapter.people.table} IN ACCESS EXCLUSIVE MODE")
                started = time.monotonic()
                with pytest.raises(SourceTimeout) as raised:
                    await OPERATIONS[operation](a.source)
                assert time.monotonic() - started < 2.0
            _assert_mapped(raised.value, case, "SOURCE_TIMEOUT", a.spans)
            await OPERATIONS[operation](a.source)  # the lock gone, the same adapter answers again
    finally:
        await blocker.close()


async def test_a_slow_connection_is_a_timeout(case: Case, settings: Settings, people: Any) -> None:
    async def slow(conn: asyncpg.Connection) -> None:
        await conn.execute("SELECT pg_sleep(2)")

    async with adapter(case, settings, source_timeout=0.3, on_connect=slow) as a:
        started = time.monotonic()
        with pytest.raises(SourceTimeout) as raised:
            await a.source.fetch([("nino", P.BADGE_DLA)], full_ask())
        assert time.monotonic() - started < 2.0
    _assert_mapped(raised.value, case, "SOURCE_TIMEOUT", a.spans)


def _closed_port(settings: Settings, store: StoreName) -> str:
    return f"postgresql://nobody@127.0.0.1:{free_port()}/nothing"


def _no_such_database(settings: Settings, store: StoreName) -> str:
    return settings.service_url(store).rsplit("/", 1)[0] + f"/missing_{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("unreachable", [_closed_port, _no_such_database], ids=["closed_port", "no_database"])
@pytest.mark.parametrize("operation", OPERATIONS)
async def test_an_unreachable_source_is_unavailable(
    case: Case, operation: str, unreachable: Callable[[Settings, StoreName], str], settings: Settings
) -> None:
    async with adapter(case, settings, dsn=unreachable(settings, case.store)) as a:
        with pytest.raises(SourceUnavailable) as raised:
            await OPERATIONS[operation](a.source)
    _assert_mapped(raised.value, case, "SOURCE_UNAVAILABLE", a.spans)
    assert isinstance(raised.value.__cause__, OSError | asyncpg.PostgresError)  # kept, chained, not raised


async def test_each_query_is_one_span_with_no_values(case: Case, settings: Settings, people: Any) -> None:
    async with adapter(case, settings) as a:
        found = await a.source.fetch([("nino", P.BADGE_DLA)], full_ask())
    ((namespace, sql),) = a.spans.opened
    assert namespace == "ns-test"
    assert "$1" in sql
    assert P.BADGE_DLA not in sql
    assert a.spans.attributes == [{"db.response.returned_rows": len(found)}]
    assert a.spans.errors == []


# -- the inbox (DWP, HB) ---------------------------------------------------------------------------------


def _change(case: Case, *, target_ref: str, council: str | None) -> OutboxItem:
    return OutboxItem(
        delivery_id=uuid.uuid4(),
        target=case.adapter.name,
        target_ref=target_ref,
        council_code=council,
        notification_id=uuid.uuid4(),
        kind="hospital_admission",
        effective_date=dt.date(2025, 9, 1),
        sender_org="sender-org",
        sender_org_type="council_social_care",
        correction_id=None,
        field=None,
        request_ids=(),
    )


async def _landed(admin: dict[str, asyncpg.Connection], case: Case, changes: Sequence[OutboxItem]) -> list[Any]:
    rows = await admin[case.store].fetch(
        f"SELECT * FROM {case.schema}.hub_inbox WHERE item_id = ANY($1::uuid[]) ORDER BY received_at, item_id",
        [c.delivery_id for c in changes],
    )
    return [dict(r) for r in rows]


async def test_a_delivery_lands_once_however_often_it_is_repeated(
    inbox: Case, settings: Settings, admin: dict[str, asyncpg.Connection], people: Any
) -> None:
    case = inbox
    change = _change(case, target_ref=case.nino_of[P.BADGE_DLA], council="E09000901")
    async with adapter(case, settings) as a:  # the service's role: read-only but for its inbox
        assert await a.source.deliver([change]) == {}
        assert await a.source.deliver([change, change]) == {}
    (row,) = await _landed(admin, case, [change])
    assert (row["notification_id"], row["kind"], row["effective_date"], row["sender_org_type"]) == (
        change.notification_id,
        "hospital_admission",
        dt.date(2025, 9, 1),
        "council_social_care",
    )
    if case.adapter is HousingBenefitSource:
        assert (row["claim_ref"], row["council_code"]) == ("HB0000001", "E09000901")
    else:
        assert row["person_id"] == 1


async def test_hb_reads_the_council_of_a_claim_routed_without_one(
    settings: Settings, admin: dict[str, asyncpg.Connection], people: Any
) -> None:
    (case,) = [c for c in CASES if c.adapter is HousingBenefitSource]
    routed = _change(case, target_ref="HB0000001", council=None)
    gone = _change(case, target_ref="HB0000404", council=None)  # a claim HB no longer holds: no team to tell
    async with adapter(case, settings) as a:
        assert await a.source.deliver([routed, gone]) == {"HB0000001": "E09000901"}
    assert [(r["claim_ref"], r["council_code"]) for r in await _landed(admin, case, [routed, gone])] == [
        ("HB0000001", "E09000901")
    ]


async def test_an_unreachable_inbox_is_unavailable(inbox: Case, settings: Settings) -> None:
    case = inbox
    async with adapter(case, settings, dsn=_closed_port(settings, case.store)) as a:
        with pytest.raises(SourceUnavailable) as raised:
            await a.source.deliver([_change(case, target_ref="1", council="E09000901")])
    assert raised.value.extensions == {"code": "SOURCE_UNAVAILABLE", "source": case.adapter.name}
