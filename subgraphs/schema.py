"""One Apollo Federation v2 subgraph schema per source, printed as the published contract SDL.

Each source answers for one entity (``DwpPerson``, ``HbPerson``, ``CareClient``), keyed by NINO and by the
source's record id, and the hub's candidate search (``Query.candidates``, shared by the three so that
they compose). ``_entities`` is batched: all the representations of a request make one
``await source.fetch(keys, ask)`` (the direct adapter groups them by kind of key), never one call each.

DWP also answers the records carrying given NINOs (``Query.peopleByNino``), the councils' sources their
own records a page at a time (``Query.feed``): the batch link build's questions, for the hub's linkage
purpose. DWP and HB take the changes of circumstance the hub delivers (``Mutation.deliverChanges``),
idempotent by delivery id.

The entity types read the plain records the adapter answered, already scoped to the assertion's councils,
derived (the yes/no answers) and projected (a field not selected is None, and is never selected: the
document check refused it before anything was read).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.federation.schema import FederationAny
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info

from hub.types import SubjectKey
from linkage import check_nino
from resolvers.sources import records
from resolvers.sources.base import HeldChange
from resolvers.sources.contract import ENTITIES, Ask
from resolvers.sources.demographics import QueryBatch, candidate_sql
from resolvers.sources.pg import PgSource
from subgraphs.batches import Batches
from subgraphs.spans import current_trace
from subgraphs.types import (
    Address,
    BenefitAward,
    BlockingQuery,
    Candidate,
    CarePlacement,
    DeclaredCapital,
    DeclaredIncome,
    DeliveryReceipt,
    FinancialAssessment,
    HouseholdMember,
    HousingBenefitClaim,
    InboxChangeInput,
    OpenClaim,
    PersonName,
    RoutedClaim,
    each,
    one,
)

__all__ = [
    "INBOXES",
    "MAX_CANDIDATE_QUERIES",
    "MAX_DELIVERIES",
    "MAX_FEED",
    "MAX_NINOS",
    "BadRepresentation",
    "CareClient",
    "ContractSchema",
    "DwpPerson",
    "HbPerson",
    "SubgraphRequest",
    "build_schema",
    "representation_key",
]

#: Most blocking queries in one candidate search (the hub sends a batch of records being linked).
MAX_CANDIDATE_QUERIES = 100
#: Most NINOs in one peopleByNino call, records in one feed page, changes in one delivery.
MAX_NINOS = 100
MAX_FEED = 1000
MAX_DELIVERIES = 1000
_MAX_RECORD_ID = 64  # characters: every source's record ids are far shorter


class BadRepresentation(GraphQLError):
    """A representation that is not ``{"__typename": <this source's entity>, "nino" | "recordId": str}``."""

    def __init__(self, message: str) -> None:
        super().__init__(message, extensions={"code": "BAD_REPRESENTATION"})


def representation_key(source: PgSource, representation: object) -> SubjectKey | None:
    """The subject key a representation names, or None for one this source cannot hold (an invalid NINO,
    a malformed id): answered null, like a person not held, without a read."""
    if not isinstance(representation, Mapping):
        raise BadRepresentation("a representation is an object")
    if representation.get("__typename") != ENTITIES[source.name]:
        raise BadRepresentation(f"this source answers for {ENTITIES[source.name]} only")
    rest = {k: v for k, v in representation.items() if k != "__typename"}
    if len(rest) != 1 or not all(isinstance(v, str) for v in rest.values()):
        raise BadRepresentation('a representation names one key: "nino" or "recordId", as a string')
    ((name, value),) = rest.items()
    if name == "nino":
        checked = check_nino(value)
        return None if checked.nino is None else ("nino", str(checked.nino))
    if name == "recordId":
        if not value or len(value) > _MAX_RECORD_ID:
            return None
        if source.people.id_type == "bigint" and not (value.isascii() and value.isdigit() and int(value) < 2**63):
            return None
        return ("id", value)
    raise BadRepresentation('a representation names one key: "nino" or "recordId"')


# -- the request: the source, the question, and what is batched per request --------------------------


@dataclass
class SubgraphRequest:
    """What the resolvers of one request share: the source, the verified question, per-request batches."""

    source: Any  # the source's direct adapter (DwpSource, HousingBenefitSource, SocialCareSource)
    ask: Ask
    batches: Batches = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.batches = Batches(self.source, self.ask)

    def in_scope(self, council: str | None) -> bool:
        return self.batches.in_scope(council)

    async def entities(self, representations: Sequence[object]) -> list[object]:
        """One answer per representation, in order: the entity, null (not held, or not this caller's), or
        the error for a malformed one. One fetch for all of them."""
        slots: list[object] = []
        wanted: list[tuple[int, SubjectKey]] = []
        for i, representation in enumerate(representations):
            try:
                key = representation_key(self.source, representation)
            except BadRepresentation as e:
                slots.append(e)
                continue
            slots.append(None)
            if key is not None:
                wanted.append((i, key))
        if wanted:
            trace = current_trace.get()
            with trace.span("fetch", keys=len(wanted)) if trace is not None else contextlib.nullcontext():
                found = await self.source.fetch([k for _, k in wanted], self.ask)
            entity = _ENTITY_TYPES[self.source.name]
            for (i, key), record in zip(wanted, found, strict=True):
                if record is not None:
                    slots[i] = entity(key=key, record=record)
        return slots

    async def ties(self, key: SubjectKey) -> tuple[list[str], list[str]]:
        return await self.batches.ties(key)

    async def record_ids(self, key: SubjectKey) -> list[str]:
        return await self.batches.record_ids(key)


def _request(info: Info[SubgraphRequest, None]) -> SubgraphRequest:
    return info.context


def _key_value(key: SubjectKey, kind: str) -> str | None:
    # The key fields echo the representation only: a person asked for by record id is not told their NINO.
    return key[1] if key[0] == kind else None


_RECORD_ID = "The source's record id, when the representation named the record by it (else null: ask recordIds)."
_NINO = "The normalised NINO, when the representation named the person by it (else null: never looked up)."
_COUNCILS = (
    "Hub-internal (legitimate relationship): the councils whose records here tie the person to them, "
    "within the assertion's councils."
)
_DISTRICTS = (
    "Hub-internal (legitimate relationship): the postcode districts of the person's records here, within the "
    "assertion's councils (DWP, national: wherever the person lives)."
)
_RECORD_IDS = (
    "Hub-internal: the ids of this source's records of the person (by NINO: every record carrying it, "
    "within the assertion's councils)."
)


# -- DWP -----------------------------------------------------------------------------------------------


@strawberry.federation.type(keys=["nino", "recordId"], description="A person as DWP holds them (the spine).")
class DwpPerson:
    key: strawberry.Private[SubjectKey]
    record: strawberry.Private[records.DwpRecord]

    @strawberry.field(description=_RECORD_ID)
    def record_id(self) -> strawberry.ID | None:
        value = _key_value(self.key, "id")
        return None if value is None else strawberry.ID(value)

    @strawberry.field(description=_NINO)
    def nino(self) -> str | None:
        return _key_value(self.key, "nino")

    @strawberry.field(description="The person's name as DWP holds it.")
    def name(self) -> PersonName:
        return cast(PersonName, one(PersonName.of, self.record.name))

    @strawberry.field(description="The person's date of birth.")
    def date_of_birth(self) -> dt.date:
        return self.record.date_of_birth

    @strawberry.field(
        description="The person's address as DWP holds it. When the address is protected (a person at risk), "
        "null with an error at this path whose extensions.code is ADDRESS_PROTECTED, whatever the purpose."
    )
    def address(self) -> Address | None:
        if self.record.address_protected:
            raise GraphQLError("the address is protected", extensions={"code": "ADDRESS_PROTECTED"})
        return cast(Address | None, one(Address.of, self.record.held_address))

    @strawberry.field(description="Awards in payment today (started, not yet ended): benefit, component, rate.")
    def awards_in_payment(self) -> list[BenefitAward]:
        return cast(list[BenefitAward], each(BenefitAward.of, self.record.awards_in_payment))

    @strawberry.field(description="Income the person declared to DWP.")
    def declared_income(self) -> list[DeclaredIncome]:
        return cast(list[DeclaredIncome], each(DeclaredIncome.of, self.record.declared_income))

    @strawberry.field(description="Savings and capital the person declared to DWP.")
    def declared_capital(self) -> list[DeclaredCapital]:
        return cast(list[DeclaredCapital], each(DeclaredCapital.of, self.record.declared_capital))

    @strawberry.field(description="The other members of the person's DWP household.")
    def household_members(self) -> list[HouseholdMember]:
        return cast(list[HouseholdMember], each(HouseholdMember.of, self.record.household_members))

    @strawberry.field(
        description="Derived by DWP (the award is not released): yes when an award in payment today makes the "
        "person eligible for a Blue Badge without further assessment under the Disabled Persons (Badges for "
        "Motor Vehicles) (England) Regulations 2000 reg. 4(2): the higher rate of the DLA mobility component; "
        "or PIP mobility with 8 points or more in 'moving around'; or PIP mobility with descriptor E (10 "
        "points) of 'planning and following journeys'. Otherwise no."
    )
    def blue_badge_automatic_eligibility(self) -> bool:
        return bool(self.record.blue_badge_automatic_eligibility)

    @strawberry.field(description=_COUNCILS)
    async def councils(self, info: Info[SubgraphRequest, None]) -> list[str]:
        return (await _request(info).ties(self.key))[0]

    @strawberry.field(description=_DISTRICTS)
    async def postcode_districts(self, info: Info[SubgraphRequest, None]) -> list[str]:
        return (await _request(info).ties(self.key))[1]

    @strawberry.field(description=_RECORD_IDS)
    async def record_ids(self, info: Info[SubgraphRequest, None]) -> list[strawberry.ID]:
        return [strawberry.ID(i) for i in await _request(info).record_ids(self.key)]

    @strawberry.field(
        description="Hub-internal (the auditors' same-address check): where the person lives, as opaque keys to "
        "compare, never to show: their household, and their postcode with the first line of their address."
    )
    async def home_keys(self, info: Info[SubgraphRequest, None]) -> list[str]:
        return await _request(info).batches.home_keys(self.key)


# -- Housing Benefit ---------------------------------------------------------------------------------------


@strawberry.federation.type(
    keys=["nino", "recordId"],
    description="A person's Housing Benefit claims, at the councils within the assertion's councils.",
)
class HbPerson:
    key: strawberry.Private[SubjectKey]
    record: strawberry.Private[records.HousingBenefitRecord]

    @strawberry.field(
        description=_RECORD_ID
        + " The record id is the claim reference for its claimant, '<claim>/P<id>' for a partner and "
        "'<claim>/N<id>' for a non-dependant: every member of a claim is a record."
    )
    def record_id(self) -> strawberry.ID | None:
        value = _key_value(self.key, "id")
        return None if value is None else strawberry.ID(value)

    @strawberry.field(description=_NINO)
    def nino(self) -> str | None:
        return _key_value(self.key, "nino")

    @strawberry.field(
        description=(
            "The person's Housing Benefit claims as claimant or current partner (a couple claims jointly), oldest "
            "first. A non-dependant's record, or a former partner's, is no entity here: the claim is not theirs."
        )
    )
    def claims(self) -> list[HousingBenefitClaim]:
        return cast(list[HousingBenefitClaim], each(HousingBenefitClaim.of, self.record.claims))

    @strawberry.field(
        description="Derived by the HB team (the claims are not released): yes when a current claim (no end "
        "date) within the assertion's councils allows a bedroom for a non-resident overnight carer."
    )
    def overnight_carer_room_awarded(self) -> bool:
        return bool(self.record.overnight_carer_room_awarded)

    @strawberry.field(description=_COUNCILS + " A claim ties while open and for a year after it ends.")
    async def councils(self, info: Info[SubgraphRequest, None]) -> list[str]:
        return (await _request(info).ties(self.key))[0]

    @strawberry.field(description=_DISTRICTS)
    async def postcode_districts(self, info: Info[SubgraphRequest, None]) -> list[str]:
        return (await _request(info).ties(self.key))[1]

    @strawberry.field(description=_RECORD_IDS)
    async def record_ids(self, info: Info[SubgraphRequest, None]) -> list[strawberry.ID]:
        return [strawberry.ID(i) for i in await _request(info).record_ids(self.key)]

    @strawberry.field(
        description="Hub-internal (changes of circumstance): the person's open claims (no end date, or one "
        "not yet passed) within the assertion's councils: where a change about them goes."
    )
    async def open_claims(self, info: Info[SubgraphRequest, None]) -> list[OpenClaim]:
        found = await _request(info).batches.open_claims(self.key)
        return [OpenClaim(claim_ref=c, council_code=k) for c, k in found]


# -- adult social care -------------------------------------------------------------------------------------


@strawberry.federation.type(
    keys=["nino", "recordId"],
    description="A person as adult social care holds them: every client record of theirs (duplicates merged) "
    "at the councils within the assertion's councils.",
)
class CareClient:
    key: strawberry.Private[SubjectKey]
    record: strawberry.Private[records.SocialCareRecord]

    @strawberry.field(description=_RECORD_ID + " The record id is a client id.")
    def record_id(self) -> strawberry.ID | None:
        value = _key_value(self.key, "id")
        return None if value is None else strawberry.ID(value)

    @strawberry.field(description=_NINO + " Social care often holds no NINO: key by record id then.")
    def nino(self) -> str | None:
        return _key_value(self.key, "nino")

    @strawberry.field(description="The person's stays in hospital or a care home, by admission date.")
    def placements(self) -> list[CarePlacement]:
        return cast(list[CarePlacement], each(CarePlacement.of, self.record.placements))

    @strawberry.field(description="The financial assessments of what the person pays for care, oldest first.")
    def financial_assessments(self) -> list[FinancialAssessment]:
        return cast(list[FinancialAssessment], each(FinancialAssessment.of, self.record.financial_assessments))

    @strawberry.field(
        description="Derived by social care (the care plans are not released): yes when a current care plan "
        "(no end date, or one not before today) says the person needs overnight care."
    )
    def overnight_care_required(self) -> bool:
        return bool(self.record.overnight_care_required)

    @strawberry.field(
        description="Derived by social care: the domiciliary care hours a week of the current care plans (no "
        "end date, or one not before today), added up."
    )
    def domiciliary_hours_per_week(self) -> Decimal:
        hours = self.record.domiciliary_hours_per_week
        return Decimal(0) if hours is None else hours

    @strawberry.field(description=_COUNCILS + " A client record ties its person to its council.")
    async def councils(self, info: Info[SubgraphRequest, None]) -> list[str]:
        return (await _request(info).ties(self.key))[0]

    @strawberry.field(description=_DISTRICTS)
    async def postcode_districts(self, info: Info[SubgraphRequest, None]) -> list[str]:
        return (await _request(info).ties(self.key))[1]

    @strawberry.field(description=_RECORD_IDS)
    async def record_ids(self, info: Info[SubgraphRequest, None]) -> list[strawberry.ID]:
        return [strawberry.ID(i) for i in await _request(info).record_ids(self.key)]


_ENTITY_TYPES: Mapping[str, Any] = {"dwp": DwpPerson, "hb": HbPerson, "social_care": CareClient}


# -- the root: candidate search ---------------------------------------------------------------------------


def _batch(queries: Sequence[BlockingQuery]) -> QueryBatch:
    """The hub-computed keys as candidate_sql's bind parameters (the order of its unnest)."""
    return QueryBatch(
        (
            list(range(len(queries))),
            [q.given for q in queries],
            [q.family for q in queries],
            [q.dob for q in queries],
            [q.dob_swapped for q in queries],
            [q.postcode for q in queries],
            [q.town for q in queries],
            [q.month_start for q in queries],
            [q.month_end for q in queries],
            [q.year_start for q in queries],
            [q.year_end for q in queries],
        )
    )


@strawberry.type(name="Query")
class CandidateQuery:
    @strawberry.federation.field(
        shareable=True,
        description="Hub-internal (the linkage purpose only): the records sharing a blocking key with each "
        f"query, evaluated on this source's indexes; at most {MAX_CANDIDATE_QUERIES} queries a call. Only the "
        "comparison fields of the candidates are answered, never a whole population.",
    )
    async def candidates(self, info: Info[SubgraphRequest, None], queries: list[BlockingQuery]) -> list[Candidate]:
        if len(queries) > MAX_CANDIDATE_QUERIES:
            raise GraphQLError(
                f"at most {MAX_CANDIDATE_QUERIES} queries a call", extensions={"code": "TOO_MANY_QUERIES"}
            )
        if not queries:
            return []
        source: PgSource = _request(info).source
        # The adapter's own query runner (timeout, error mapping, span); the keys are the hub's, as sent.
        rows = await source._fetch(candidate_sql(source.people), *_batch(queries).args)
        return [
            Candidate(
                query=row["i"],
                record_id=strawberry.ID(row["record_id"]),
                nino=row["nino"],
                given_name=row["given_name"],
                family_name=row["family_name"],
                middle_names=row["middle_names"],
                known_as=row["known_as"],
                name_suffix=row["name_suffix"],
                previous_family_names=row["previous_family_names"],
                date_of_birth=row["date_of_birth"],
                postcode=row["postcode"],
                address_line1=row["address_line1"],
                address_line2=row["address_line2"],
                town=row["town"],
                nhs_number=row["nhs_number"],
            )
            for row in rows
        ]


def _at_most(values: Sequence[object], limit: int, what: str) -> None:
    if len(values) > limit:
        raise GraphQLError(f"at most {limit} {what} a call", extensions={"code": "TOO_MANY_QUERIES"})


@strawberry.type(name="Query")
class DwpQuery(CandidateQuery):
    @strawberry.field(
        description="Hub-internal (the linkage purpose only): the records carrying these NINOs (normalised; "
        f"at most {MAX_NINOS} a call), their comparison fields only; a candidate's query is the index of the NINO "
        "it carries. The hub asks only for the NINOs of the records it is linking."
    )
    async def people_by_nino(self, info: Info[SubgraphRequest, None], ninos: list[strawberry.ID]) -> list[Candidate]:
        _at_most(ninos, MAX_NINOS, "NINOs")
        index: dict[str, int] = {}
        for i, value in enumerate(ninos):
            checked = check_nino(str(value)).nino
            if checked is not None:
                index.setdefault(str(checked), i)  # a NINO that cannot exist is held by no one: no read for it
        if not index:
            return []
        source: PgSource = _request(info).source
        found = await source.people_by_nino(sorted(index), _request(info).ask)
        return [Candidate.of(index[str(check_nino(r.nino or "").nino)], r) for r in found]


@strawberry.type(name="Query")
class CouncilQuery(CandidateQuery):
    @strawberry.federation.field(
        shareable=True,
        description="Hub-internal (the linkage purpose only): this source's own records in record-id order, "
        f"after the record id `after` (null: from the first), at most `limit` (1 to {MAX_FEED}) of them; their "
        "comparison fields only, a candidate's query being its place in the page. The keyset feed a batch link "
        "run reads a page at a time: the next page is after the last record id of this one.",
    )
    async def feed(
        self, info: Info[SubgraphRequest, None], limit: int, after: strawberry.ID | None = None
    ) -> list[Candidate]:
        if not 1 <= limit <= MAX_FEED:
            raise GraphQLError(f"limit is 1 to {MAX_FEED}", extensions={"code": "TOO_MANY_QUERIES"})
        source: PgSource = _request(info).source
        cursor = None if after is None else _feed_cursor(source, str(after))
        found = await source.feed(cursor, limit, _request(info).ask)
        _check_feed_order(source, cursor, [str(r.record_id) for r in found])
        return [Candidate.of(i, r) for i, r in enumerate(found)]


def _feed_cursor(source: PgSource, after: str) -> str:
    """``after`` when it can be one of this source's record ids; else BAD_USER_INPUT (a cursor that is no id
    would answer an empty page, and a reader would take that for the end of the feed)."""
    numeric = source.people.id_type == "bigint"
    well_formed = 0 < len(after) <= _MAX_RECORD_ID and (
        not numeric or (after.isascii() and after.isdigit() and int(after) < 2**63)
    )
    if not well_formed:
        what = "a record id of this source (digits)" if numeric else f"a record id (1 to {_MAX_RECORD_ID} characters)"
        raise GraphQLError(f"after is {what}, the last of the previous page", extensions={"code": "BAD_USER_INPUT"})
    return after


def _check_feed_order(source: PgSource, after: str | None, ids: Sequence[str]) -> None:
    """The page's ids are strictly increasing and after the cursor, in the order the hub reads them by
    (numbers; text by code point): a store whose collation orders ids otherwise would make the next page
    repeat or skip records, so it is an error, never a silent page."""
    key: Any = int if source.people.id_type == "bigint" else str
    previous = None if after is None else key(after)
    for record_id in ids:
        current = key(record_id)
        if previous is not None and not current > previous:
            raise GraphQLError(
                'the store\'s record ids are not in code-point order (index them with COLLATE "C")',
                extensions={"code": "FEED_OUT_OF_ORDER"},
            )
        previous = current


@strawberry.type
class Mutation:
    @strawberry.federation.mutation(
        shareable=True,
        description="Hub-internal (the notification purposes only): deliver changes of circumstance to this "
        f"source's inbox, at most {MAX_DELIVERIES} a call, in one transaction. Idempotent by delivery id: a "
        "delivery repeated lands once. The sender's organisation type is the assertion's.",
    )
    async def deliver_changes(
        self, info: Info[SubgraphRequest, None], changes: list[InboxChangeInput]
    ) -> DeliveryReceipt:
        _at_most(changes, MAX_DELIVERIES, "changes")
        request = _request(info)
        source = request.source
        items = [_inbox_change(c, request.ask, source) for c in changes]
        if not items:
            return DeliveryReceipt(landed=[], routed=[])
        routed = await source.deliver(items)
        # What the inbox holds now (landed here, or by an earlier repeat): the receipt is the store's word.
        rows = await source._fetch(
            f"SELECT item_id FROM {source.name}.hub_inbox WHERE item_id = ANY($1::uuid[])",  # noqa: S608 (closed set)
            [i.delivery_id for i in items],
        )
        held = {r["item_id"] for r in rows}
        return DeliveryReceipt(
            landed=[strawberry.ID(str(i.delivery_id)) for i in items if i.delivery_id in held],
            routed=[RoutedClaim(claim_ref=ref, council_code=council) for ref, council in sorted(routed.items())],
        )


def _inbox_change(change: InboxChangeInput, ask: Ask, source: PgSource) -> HeldChange:
    try:
        delivery_id, notification_id = uuid.UUID(str(change.delivery_id)), uuid.UUID(str(change.notification_id))
    except ValueError:
        raise GraphQLError("deliveryId and notificationId are UUIDs", extensions={"code": "BAD_USER_INPUT"}) from None
    ref = str(change.target_ref)
    if not 0 < len(ref) <= _MAX_RECORD_ID or (
        source.people.id_type == "bigint" and not (ref.isascii() and ref.isdigit() and len(ref) <= 18)
    ):
        raise GraphQLError("targetRef is not a record id of this source", extensions={"code": "BAD_USER_INPUT"})
    return HeldChange(
        delivery_id=delivery_id,
        notification_id=notification_id,
        kind=change.kind.value,
        effective_date=change.effective_date,
        target_ref=ref,
        council_code=change.council_code if source.name == "hb" else None,
        sender_org_type=ask.org_type,
    )


_QUERIES: Mapping[str, type] = {"dwp": DwpQuery, "hb": CouncilQuery, "social_care": CouncilQuery}
#: The sources with an inbox the hub delivers changes of circumstance to.
INBOXES = frozenset({"dwp", "hb"})


class ContractSchema(strawberry.federation.Schema):
    """A source's subgraph schema whose ``_entities`` makes one fetch for all representations."""

    async def entities_resolver(  # type: ignore[override]
        self, info: Info[SubgraphRequest, None], representations: list[FederationAny]
    ) -> list[FederationAny]:
        return cast(list[FederationAny], await info.context.entities(representations))


def build_schema(source: str) -> ContractSchema:
    """The subgraph schema of ``source`` ("dwp", "hb" or "social_care")."""
    return ContractSchema(
        query=_QUERIES[source],
        mutation=Mutation if source in INBOXES else None,
        types=[_ENTITY_TYPES[source]],
        # No "did you mean": a refused document must not teach the schema it was refused.
        config=StrawberryConfig(disable_field_suggestions=True),
        # The hub sends a handful of documents (one per selection), over and over: parse and validate each
        # once. Factories: the caches live at module level, shared across requests. The validation is the
        # schema's own rules only; the document check that depends on the assertion runs on every request.
        extensions=[lambda: ParserCache(maxsize=512), lambda: ValidationCache(maxsize=512)],
    )
