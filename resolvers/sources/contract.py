"""The source contract: what the hub may ask a source, and what the source answers, whatever the transport.

Each source is a published contract (``subgraphs/<source>.graphql``, an Apollo Federation v2 subgraph): an
entity per person record (``DwpPerson``, ``HbPerson``, ``CareClient``), keyed by NINO and by the source's
record id, with the same fields as the hub's own types, and the minimised answers (a yes/no, a total)
computed by the data owner, so that the detail behind them never crosses the wire.

Every question carries an :class:`Ask`: who asks (organisation and type), for what (purpose, legal basis),
under which hub audit record, which fields (:data:`Selection`, the caller's selection within the purpose's
allow-list), and whose councils' records may be answered. A subgraph receives it as a signed assertion
(:mod:`resolvers.sources.assertion`); the direct adapters apply it in the hub. Both answer through
:func:`answer`: council records outside the scope are not there (the same as not held), the derived
answers are computed from the full record, and every field not selected is ``None``, so that a hub that
read a field it did not ask for fails loudly rather than releasing detail.

The key fields (``nino``, ``recordId``) only echo the representation they were asked by: an entity asked
for by record id answers ``nino: null``, so a NINO is never looked up or released by a key echo. A record's
ids by NINO are ``recordIds``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar, cast

from resolvers.sources.derived import blue_badge_automatic, overnight_care_required
from resolvers.sources.records import (
    CarePlan,
    DwpRecord,
    HousingBenefitClaim,
    HousingBenefitRecord,
    SocialCareRecord,
)

__all__ = [
    "CANDIDATE_FIELDS",
    "CONTRACT_FIELDS",
    "CORRECTION_ROUTING_PURPOSE",
    "ENTITIES",
    "HUB_PURPOSES",
    "HUB_TYPES",
    "LINKAGE_PURPOSE",
    "Ask",
    "Selection",
    "answer",
    "coordinates",
    "fetched",
    "merge_care",
    "merge_claims",
    "selection_from",
]

T = TypeVar("T")

#: Per contract type, the fields it offers: the contract type of an object field, None for a leaf.
#: The person fields are the hub's own (``schema.graphql``) by the same names; the hub's own questions
#: (ties to an area, record ids, homes, open claims) are fields only the hub's own purposes reach.
CONTRACT_FIELDS: Mapping[str, Mapping[str, str | None]] = {
    "DwpPerson": {
        "recordId": None,
        "nino": None,
        "name": "PersonName",
        "dateOfBirth": None,
        "address": "Address",
        "awardsInPayment": "BenefitAward",
        "declaredIncome": "DeclaredIncome",
        "declaredCapital": "DeclaredCapital",
        "householdMembers": "HouseholdMember",
        "blueBadgeAutomaticEligibility": None,
        "councils": None,
        "postcodeDistricts": None,
        "recordIds": None,
        "homeKeys": None,
    },
    "PersonName": {"givenName": None, "middleNames": None, "familyName": None},
    "Address": {"line1": None, "line2": None, "town": None, "postcode": None},
    "BenefitAward": {
        "benefit": None,
        "component": None,
        "rate": None,
        "weeklyAmount": None,
        "startDate": None,
        "endDate": None,
    },
    "DeclaredIncome": {"kind": None, "weeklyAmount": None, "declaredOn": None},
    "DeclaredCapital": {"kind": None, "amount": None, "declaredOn": None},
    "HouseholdMember": {"relationship": None, "name": "PersonName", "dateOfBirth": None},
    "HbPerson": {
        "recordId": None,
        "nino": None,
        "claims": "HousingBenefitClaim",
        "overnightCarerRoomAwarded": None,
        "councils": None,
        "postcodeDistricts": None,
        "recordIds": None,
        "openClaims": "OpenClaim",
    },
    "HousingBenefitClaim": {
        "claimRef": None,
        "councilCode": None,
        "tenancyType": None,
        "weeklyRent": None,
        "weeklyAward": None,
        "bedroomEntitlement": None,
        "overnightCarerRoom": None,
        "startDate": None,
        "endDate": None,
        "dhpAwards": "DhpAward",
        "nonDependantCount": None,
    },
    "DhpAward": {"reason": None, "weeklyAmount": None, "startDate": None, "endDate": None},
    "OpenClaim": {"claimRef": None, "councilCode": None},
    "CareClient": {
        "recordId": None,
        "nino": None,
        "placements": "CarePlacement",
        "financialAssessments": "FinancialAssessment",
        "overnightCareRequired": None,
        "domiciliaryHoursPerWeek": None,
        "councils": None,
        "postcodeDistricts": None,
        "recordIds": None,
    },
    "CarePlacement": {"kind": None, "admittedOn": None, "dischargedOn": None},
    "FinancialAssessment": {"assessedOn": None, "weeklyAssessedCharge": None, "capitalBand": None},
}

#: The fields of ``Candidate``, the answer to candidate search, a DWP NINO look-up and a council's feed: the
#: comparison fields of :class:`linkage.Demographics`, and which query (or place in the page) it answers.
CANDIDATE_FIELDS: tuple[str, ...] = (
    "query",
    "recordId",
    "nino",
    "givenName",
    "familyName",
    "middleNames",
    "knownAs",
    "nameSuffix",
    "previousFamilyNames",
    "dateOfBirth",
    "postcode",
    "addressLine1",
    "addressLine2",
    "town",
    "nhsNumber",
)

#: The entity each source answers for a person, by source name.
ENTITIES: Mapping[str, str] = {"dwp": "DwpPerson", "hb": "HbPerson", "social_care": "CareClient"}

#: The hub's GraphQL type names that differ from the contract's (every other type has the same name).
HUB_TYPES: Mapping[str, str] = {
    "DwpRecord": "DwpPerson",
    "HousingBenefitRecord": "HbPerson",
    "SocialCareRecord": "CareClient",
}

#: The hub's own purpose for identity matching (candidate search, the batch link build): a source answers
#: comparison fields only under it, and only for the records being linked.
LINKAGE_PURPOSE = "LINKAGE"
#: The hub's own purpose for routing a reported inaccuracy to the organisation whose record it is.
CORRECTION_ROUTING_PURPOSE = "CORRECTION_ROUTING"

#: The hub's own purposes (questions the hub asks for itself, never released as they are), with their basis.
HUB_PURPOSES: Mapping[str, str] = {
    LINKAGE_PURPOSE: "UK GDPR Art. 5(1)(d) accuracy: finding the same person's records before any release",
    CORRECTION_ROUTING_PURPOSE: "UK GDPR Art. 16 and 19: rectification, told to the controller of the record",
}

#: The fields asked for, per contract type (GraphQL names): ``{"DwpPerson": {"name"}, "PersonName": {...}}``.
Selection = Mapping[str, frozenset[str]]


@dataclass(frozen=True, slots=True)
class Ask:
    """One question to a source: for whom, for what, under which audit record, which fields, whose records.

    ``councils`` is the councils whose Housing Benefit and social-care records may be answered (a council
    team's own; ``None``: every council's, for a national body or a ``cross_council`` purpose)."""

    purpose: str
    legal_basis: str
    org: str
    org_type: str
    audit_id: uuid.UUID
    selection: Selection
    councils: frozenset[str] | None = frozenset()

    def of(self, entity: str) -> frozenset[str]:
        return self.selection.get(entity, frozenset())

    def asking(self, selection: Selection, *, every_council: bool = False) -> Ask:
        """The same question for other fields (the hub's own questions: whose a record is, the answer an
        interest watches); ``every_council`` when the question is whose the record is, not its content."""
        return dataclasses.replace(self, selection=selection, councils=None if every_council else self.councils)


def selection_from(hub_coordinates: Iterable[str]) -> dict[str, frozenset[str]]:
    """The contract selection for hub ``Type.field`` coordinates (those of the hub's types the contract
    mirrors; the rest are the hub's own and ignored)."""
    found: dict[str, set[str]] = {}
    for coordinate in hub_coordinates:
        type_name, _, field = coordinate.partition(".")
        contract = HUB_TYPES.get(type_name, type_name)
        if field in CONTRACT_FIELDS.get(contract, {}):
            found.setdefault(contract, set()).add(field)
    return {t: frozenset(f) for t, f in found.items()}


def coordinates(entity: str, selection: Selection) -> list[str]:
    """The ``Type.field`` coordinates a selection reaches from ``entity`` (what an assertion names)."""
    out: list[str] = []
    seen: set[str] = set()

    def walk(type_name: str) -> None:
        if type_name in seen:
            return
        seen.add(type_name)
        for field in sorted(selection.get(type_name, ())):
            if field not in CONTRACT_FIELDS.get(type_name, {}):
                continue
            out.append(f"{type_name}.{field}")
            child = CONTRACT_FIELDS[type_name][field]
            if child is not None:
                walk(child)

    walk(entity)
    return out


def fetched(value: T | None) -> T:
    """A field of an answer that the hub asked for: None here means it read a field it did not select (a
    fault in the hub, refused loudly rather than answered as empty)."""
    if value is None:
        raise LookupError("the hub read a field it did not ask the source for")
    return value


# -- answering ---------------------------------------------------------------------------------------

#: Contract field names whose record attribute is not the snake_case of the name.
_ATTRIBUTES: Mapping[str, str] = {"address": "held_address"}


def _attribute(field: str) -> str:
    if field in _ATTRIBUTES:
        return _ATTRIBUTES[field]
    return "".join("_" + c.lower() if c.isupper() else c for c in field)


def _project(value: T, type_name: str, selection: Selection) -> T:
    """``value`` (a record dataclass) with every contract field not selected set to None."""
    offered = CONTRACT_FIELDS[type_name]
    chosen = selection.get(type_name, frozenset())
    changes: dict[str, Any] = {}
    kept: dict[str, str | None] = {_attribute(f): offered[f] for f in chosen if f in offered}
    for f in dataclasses.fields(cast(Any, value)):
        if f.name not in kept:
            changes[f.name] = None
            continue
        child = kept[f.name]
        current = getattr(value, f.name)
        if child is not None and current is not None:
            if isinstance(current, tuple):
                changes[f.name] = tuple(_project(v, child, selection) for v in current)
            else:
                changes[f.name] = _project(current, child, selection)
    return dataclasses.replace(cast(Any, value), **changes) if changes else value


def _in_scope(council: str | None, councils: frozenset[str] | None) -> bool:
    return councils is None or (council is not None and council in councils)


def _dwp(record: DwpRecord, ask: Ask) -> DwpRecord:
    derived = dataclasses.replace(
        record, blue_badge_automatic_eligibility=blue_badge_automatic(record.awards_in_payment)
    )
    protected = record.address_protected
    projected = _project(derived, "DwpPerson", ask.selection)
    # Whether the address is protected travels with the address (a subgraph answers ADDRESS_PROTECTED), and
    # a protected address itself never leaves the source.
    asked = "address" in ask.of("DwpPerson")
    return dataclasses.replace(
        projected,
        address_protected=protected if asked else None,
        held_address=None if protected else projected.held_address,
    )


def _hb(record: HousingBenefitRecord, ask: Ask) -> HousingBenefitRecord | None:
    claims = tuple(c for c in record.claims if _in_scope(c.council_code, ask.councils))
    if not claims:
        return None  # another council's claims are that council's to share: not held, for this caller
    awarded = any(c.overnight_carer_room and c.end_date is None for c in claims)
    scoped = HousingBenefitRecord(claims=claims, overnight_carer_room_awarded=awarded)
    return _project(scoped, "HbPerson", ask.selection)


def _care(record: SocialCareRecord, ask: Ask, today: dt.date) -> SocialCareRecord | None:
    councils = tuple(c for c in record.council_codes if _in_scope(c, ask.councils))
    if not councils:
        return None
    plans = tuple(p for p in record.care_plans if p.council_code in councils)
    scoped = SocialCareRecord(
        care_plans=plans,
        placements=tuple(p for p in record.placements if p.council_code in councils),
        financial_assessments=tuple(f for f in record.financial_assessments if f.council_code in councils),
        council_codes=councils,
        overnight_care_required=overnight_care_required(plans, today),
        domiciliary_hours_per_week=_current_hours(plans, today),
    )
    projected = _project(scoped, "CareClient", ask.selection)
    # Which councils' records these are is said only when asked (``councils``), as on the wire.
    return dataclasses.replace(projected, council_codes=councils if "councils" in ask.of("CareClient") else ())


def _current_hours(plans: Iterable[CarePlan], today: dt.date) -> Decimal:
    return sum((p.domiciliary_hours_per_week for p in plans if p.end_date is None or p.end_date >= today), Decimal(0))


_ANSWER: Mapping[str, Callable[[Any, Ask, dt.date], Any]] = {
    "dwp": lambda r, ask, today: _dwp(r, ask),
    "hb": lambda r, ask, today: _hb(r, ask),
    "social_care": _care,
}


def answer(source: str, records: Sequence[T | None], ask: Ask, *, today: dt.date | None = None) -> list[T | None]:
    """What the contract lets a source answer from its full ``records``: in scope, derived, projected."""
    day = today or dt.date.today()
    build = _ANSWER[source]
    return [None if r is None else build(r, ask, day) for r in records]


def merge_care(records: Sequence[SocialCareRecord]) -> SocialCareRecord:
    """One person's answers from several client records (duplicates, or more than one council's): lists
    joined, yes/no answers or'd, hours added. A field not asked for stays None."""
    if len(records) == 1:
        return records[0]

    def joined(name: str, key: Callable[[Any], Any] | None = None) -> Any:
        parts = [getattr(r, name) for r in records]
        if any(p is None for p in parts):
            return None
        items = [x for p in parts for x in p]
        return tuple(sorted(items, key=key) if key else items)

    overnight = [r.overnight_care_required for r in records]
    hours = [r.domiciliary_hours_per_week for r in records]
    return SocialCareRecord(
        care_plans=joined("care_plans"),
        placements=joined("placements", key=lambda p: p.admitted_on),
        financial_assessments=joined("financial_assessments", key=lambda f: f.assessed_on),
        council_codes=tuple(sorted({c for r in records for c in r.council_codes})),
        overnight_care_required=None if None in overnight else any(overnight),
        domiciliary_hours_per_week=None if None in hours else sum(cast(list[Decimal], hours), Decimal(0)),
    )


def merge_claims(records: Sequence[HousingBenefitRecord]) -> HousingBenefitRecord | None:
    """One person's Housing Benefit answers from several records: claims joined, yes/no or'd."""
    if not records:
        return None
    if len(records) == 1:
        return records[0]
    claims = [r.claims for r in records]
    awarded = [r.overnight_carer_room_awarded for r in records]
    joined: tuple[HousingBenefitClaim, ...] | None = (
        None if any(c is None for c in claims) else tuple(c for cs in claims for c in cs)
    )
    return HousingBenefitRecord(
        claims=cast(tuple[HousingBenefitClaim, ...], joined),
        overnight_carer_room_awarded=None if None in awarded else any(awarded),
    )
