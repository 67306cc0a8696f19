"""The contract's GraphQL types, shared by the three subgraphs: values, enums and the candidate search.

Field names are exactly :data:`resolvers.sources.contract.CONTRACT_FIELDS`; each description says what
the field means, so that another organisation can implement the same contract in its own system. The
values are built from the source's plain records (:mod:`resolvers.sources.records`), which the direct
adapter has already scoped, derived and projected: a field the question did not select is None there, and
is never selected here (the document check refused it before anything was read).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

import strawberry

from linkage import Demographics
from resolvers.sources import records

T = TypeVar("T")

__all__ = [
    "Address",
    "Benefit",
    "BenefitAward",
    "BlockingQuery",
    "Candidate",
    "CarePlacement",
    "ChangeKind",
    "DeclaredCapital",
    "DeclaredIncome",
    "DeliveryReceipt",
    "DhpAward",
    "FinancialAssessment",
    "HouseholdMember",
    "HousingBenefitClaim",
    "InboxChangeInput",
    "OpenClaim",
    "PersonName",
    "PlacementKind",
    "RoutedClaim",
    "TenancyType",
    "by_name",
    "each",
    "one",
]


# A value the question did not select is None in the record (the projection), and is never resolved: these
# helpers carry it through as None rather than fail on it.


def by_name(enum: type[Enum], value: Enum | None) -> Any:
    """The contract enum member of the same name as a record's enum member."""
    return None if value is None else enum[value.name]


def one(build: Callable[[T], object], value: T | None) -> Any:
    return None if value is None else build(value)


def each(build: Callable[[T], object], values: Iterable[T] | None) -> Any:
    return None if values is None else [build(v) for v in values]


# -- enums (GraphQL names as the hub's schema; the records' enums are converted by name) -------------


@strawberry.enum(description="A DWP benefit, by DWP's own abbreviation.")
class Benefit(Enum):
    DLA = "DLA"
    PIP = "PIP"
    AA = "AA"
    PC = "PC"
    ESA = "ESA"
    JSA = "JSA"
    IS = "IS"
    UC = "UC"
    SP = "SP"
    CA = "CA"


@strawberry.enum(description="Housing Benefit tenancy type: social rented sector or Local Housing Allowance.")
class TenancyType(Enum):
    SOCIAL = "SOCIAL"
    LHA = "LHA"


@strawberry.enum(description="Where a person was placed by social care.")
class PlacementKind(Enum):
    HOSPITAL = "HOSPITAL"
    CARE_HOME = "CARE_HOME"


# -- DWP -----------------------------------------------------------------------------------------------


@strawberry.type(description="A person's name as the source holds it.")
class PersonName:
    given_name: str = strawberry.field(description="First name.")
    middle_names: str | None = strawberry.field(description="Middle names, if any.")
    family_name: str = strawberry.field(description="Surname.")

    @classmethod
    def of(cls, name: records.PersonName) -> PersonName:
        return cls(given_name=name.given_name, middle_names=name.middle_names, family_name=name.family_name)


@strawberry.type(description="A postal address as the source holds it.")
class Address:
    line1: str | None = strawberry.field(description="First line of the address.")
    line2: str | None = strawberry.field(description="Second line of the address.")
    town: str | None = strawberry.field(description="Town.")
    postcode: str | None = strawberry.field(description="Postcode, as held (DWP holds it normalised: 'AA9A 9AA').")

    @classmethod
    def of(cls, address: records.Address) -> Address:
        return cls(line1=address.line1, line2=address.line2, town=address.town, postcode=address.postcode)


@strawberry.type(description="A DWP benefit award in payment today (started, and not ended before today).")
class BenefitAward:
    benefit: Benefit = strawberry.field(description="Which benefit is paid.")
    component: str | None = strawberry.field(
        description="The component, where the benefit has them: DLA care/mobility, PIP daily_living/mobility."
    )
    rate: str | None = strawberry.field(
        description="The rate of the component: DLA higher/lower, PIP standard/enhanced."
    )
    weekly_amount: Decimal = strawberry.field(description="How much the award pays a week, in pounds.")
    start_date: dt.date = strawberry.field(description="When the award started.")
    end_date: dt.date | None = strawberry.field(description="When the award ends, if an end is set.")

    @classmethod
    def of(cls, award: records.BenefitAward) -> BenefitAward:
        return cls(
            benefit=by_name(Benefit, award.benefit),
            component=award.component,
            rate=award.rate,
            weekly_amount=award.weekly_amount,
            start_date=award.start_date,
            end_date=award.end_date,
        )


@strawberry.type(description="Income the person declared to DWP.")
class DeclaredIncome:
    kind: str = strawberry.field(description="The kind of income (earnings, an occupational pension, ...).")
    weekly_amount: Decimal = strawberry.field(description="How much it is a week, in pounds.")
    declared_on: dt.date = strawberry.field(description="When the person declared it.")

    @classmethod
    def of(cls, income: records.DeclaredIncome) -> DeclaredIncome:
        return cls(kind=income.kind, weekly_amount=income.weekly_amount, declared_on=income.declared_on)


@strawberry.type(description="Savings or capital the person declared to DWP.")
class DeclaredCapital:
    kind: str = strawberry.field(description="The kind of savings or capital.")
    amount: Decimal = strawberry.field(description="How much it is, in pounds.")
    declared_on: dt.date = strawberry.field(description="When the person declared it.")

    @classmethod
    def of(cls, capital: records.DeclaredCapital) -> DeclaredCapital:
        return cls(kind=capital.kind, amount=capital.amount, declared_on=capital.declared_on)


@strawberry.type(description="Another member of the person's DWP household.")
class HouseholdMember:
    relationship: str = strawberry.field(
        description="Their role in the household: claimant, partner, child or non_dependant (member if unknown)."
    )
    name: PersonName = strawberry.field(description="Their name.")
    date_of_birth: dt.date = strawberry.field(description="Their date of birth.")

    @classmethod
    def of(cls, member: records.HouseholdMember) -> HouseholdMember:
        return cls(
            relationship=member.relationship,
            name=one(PersonName.of, member.name),
            date_of_birth=member.date_of_birth,
        )


# -- Housing Benefit -------------------------------------------------------------------------------------


@strawberry.type(description="A Discretionary Housing Payment award made on a claim.")
class DhpAward:
    reason: str = strawberry.field(description="Why the payment was made.")
    weekly_amount: Decimal = strawberry.field(description="How much it paid a week, in pounds.")
    start_date: dt.date = strawberry.field(description="When it started.")
    end_date: dt.date | None = strawberry.field(description="When it ended, if it has.")

    @classmethod
    def of(cls, award: records.DhpAward) -> DhpAward:
        return cls(
            reason=award.reason, weekly_amount=award.weekly_amount, start_date=award.start_date, end_date=award.end_date
        )


@strawberry.type(description="A Housing Benefit claim held by a council's Housing Benefit team.")
class HousingBenefitClaim:
    claim_ref: str = strawberry.field(description="The council's reference for the claim.")
    council_code: str = strawberry.field(description="The council that holds the claim (its code).")
    tenancy_type: TenancyType = strawberry.field(description="Social rented sector or Local Housing Allowance.")
    weekly_rent: Decimal = strawberry.field(description="The eligible rent a week, in pounds.")
    weekly_award: Decimal = strawberry.field(description="The Housing Benefit awarded a week, in pounds.")
    bedroom_entitlement: int = strawberry.field(description="How many bedrooms the award allows for.")
    overnight_carer_room: bool = strawberry.field(
        description="Whether the award allows an extra bedroom for a non-resident overnight carer."
    )
    start_date: dt.date = strawberry.field(description="When the claim started.")
    end_date: dt.date | None = strawberry.field(description="When the claim ended, if it has.")
    dhp_awards: list[DhpAward] = strawberry.field(description="Discretionary Housing Payments made on the claim.")
    non_dependant_count: int = strawberry.field(
        description="How many non-dependant adults live in the claimant's household."
    )

    @classmethod
    def of(cls, claim: records.HousingBenefitClaim) -> HousingBenefitClaim:
        return cls(
            claim_ref=claim.claim_ref,
            council_code=claim.council_code,
            tenancy_type=by_name(TenancyType, claim.tenancy_type),
            weekly_rent=claim.weekly_rent,
            weekly_award=claim.weekly_award,
            bedroom_entitlement=claim.bedroom_entitlement,
            overnight_carer_room=claim.overnight_carer_room,
            start_date=claim.start_date,
            end_date=claim.end_date,
            dhp_awards=each(DhpAward.of, claim.dhp_awards),
            non_dependant_count=claim.non_dependant_count,
        )


@strawberry.type(description="An open claim: where a change of circumstance about the claimant goes.")
class OpenClaim:
    claim_ref: str = strawberry.field(description="The council's reference for the claim.")
    council_code: str = strawberry.field(description="The council that holds it.")


# -- adult social care -------------------------------------------------------------------------------------


@strawberry.type(description="A hospital or care-home placement known to social care.")
class CarePlacement:
    kind: PlacementKind = strawberry.field(description="Hospital or care home.")
    admitted_on: dt.date = strawberry.field(description="When the person went in.")
    discharged_on: dt.date | None = strawberry.field(description="When they came out, if they have.")

    @classmethod
    def of(cls, placement: records.CarePlacement) -> CarePlacement:
        return cls(
            kind=by_name(PlacementKind, placement.kind),
            admitted_on=placement.admitted_on,
            discharged_on=placement.discharged_on,
        )


@strawberry.type(description="A social-care financial assessment (what the person is assessed to pay for care).")
class FinancialAssessment:
    assessed_on: dt.date = strawberry.field(description="When the assessment was made.")
    weekly_assessed_charge: Decimal = strawberry.field(description="What the person was assessed to pay a week.")
    capital_band: str = strawberry.field(
        description="The person's capital as a band against the charging limits (below, between or above), "
        "never the amount."
    )

    @classmethod
    def of(cls, assessment: records.FinancialAssessment) -> FinancialAssessment:
        return cls(
            assessed_on=assessment.assessed_on,
            weekly_assessed_charge=assessment.weekly_assessed_charge,
            capital_band=assessment.capital_band,
        )


# -- candidate search (the hub's linkage purpose only) ---------------------------------------------------


@strawberry.input(
    description="One record's blocking keys, computed by the hub (resolvers/sources/demographics.py "
    "query_batch). The source finds its records sharing a key with them, each key pairing two facts: date of "
    "birth and surname sound (soundex); date of birth and postcode; swapped day and month with surname sound; "
    "surname sound and birth month; postcode and given-name initial; both names and postcode; both names and "
    "birth year; names swapped between the boxes. At most 100 records per key per query."
)
class BlockingQuery:
    given: str | None = strawberry.field(default=None, description="Given name, trimmed and upper-cased.")
    family: str | None = strawberry.field(default=None, description="Family name, trimmed and upper-cased.")
    dob: dt.date | None = strawberry.field(default=None, description="Date of birth.")
    dob_swapped: dt.date | None = strawberry.field(
        default=None, description="Date of birth with day and month swapped (null when that is no other date)."
    )
    postcode: str | None = strawberry.field(default=None, description="Postcode, normalised ('AA9A 9AA').")
    town: str | None = strawberry.field(default=None, description="Town, upper-cased.")
    month_start: dt.date | None = strawberry.field(default=None, description="First day of the birth month.")
    month_end: dt.date | None = strawberry.field(default=None, description="Last day of the birth month.")
    year_start: dt.date | None = strawberry.field(default=None, description="1 January of the birth year.")
    year_end: dt.date | None = strawberry.field(default=None, description="31 December of the birth year.")


@strawberry.federation.type(
    shareable=True,
    description="A record answering one of the hub's linkage questions (candidate search, peopleByNino, feed): "
    "the comparison fields only, for the hub's linkage model.",
)
class Candidate:
    query: int = strawberry.field(
        description="Which query it answers: in candidate search, the index of the blocking query; in "
        "peopleByNino, the index of the NINO it carries; in a feed page, its place in the page."
    )
    record_id: strawberry.ID = strawberry.field(description="The source's id of the record.")
    nino: str | None = strawberry.field(description="The NINO on the record, as held, if any.")
    given_name: str | None = strawberry.field(description="Given name, as held.")
    family_name: str | None = strawberry.field(description="Family name, as held.")
    middle_names: str | None = strawberry.field(description="Middle names, as held.")
    known_as: str | None = strawberry.field(description="The name the person goes by, as held.")
    name_suffix: str | None = strawberry.field(description="A generational suffix (Jnr, Snr, III), as held.")
    previous_family_names: str | None = strawberry.field(
        description="Earlier family names (on marriage, by deed poll), ';'-separated, as held."
    )
    date_of_birth: dt.date | None = strawberry.field(description="Date of birth, as held.")
    postcode: str | None = strawberry.field(description="Postcode, as held.")
    address_line1: str | None = strawberry.field(description="First line of the address, as held.")
    address_line2: str | None = strawberry.field(description="Second line of the address, as held.")
    town: str | None = strawberry.field(description="Town, as held.")
    nhs_number: str | None = strawberry.field(description="NHS number, as held (social care only).")

    @classmethod
    def of(cls, query: int, record: Demographics) -> Candidate:
        assert record.record_id is not None  # every source's records have ids
        born = record.dob
        return cls(
            query=query,
            record_id=strawberry.ID(record.record_id),
            nino=record.nino,
            given_name=record.given_name,
            family_name=record.family_name,
            middle_names=record.middle_names,
            known_as=record.known_as,
            name_suffix=record.name_suffix,
            previous_family_names=record.previous_family_names,
            date_of_birth=born if isinstance(born, dt.date) or born is None else dt.date.fromisoformat(born),
            postcode=record.postcode,
            address_line1=record.address_line1,
            address_line2=record.address_line2,
            town=record.town,
            nhs_number=record.nhs_number,
        )


# -- changes of circumstance delivered by the hub (DWP and HB, which have inboxes) ----------------------


@strawberry.enum(description="A change of circumstance the hub delivers (the notification's kind).")
class ChangeKind(Enum):
    HOSPITAL_ADMISSION = "hospital_admission"
    HOSPITAL_DISCHARGE = "hospital_discharge"
    CARE_HOME_ADMISSION = "care_home_admission"
    CARE_HOME_DISCHARGE = "care_home_discharge"
    OVERNIGHT_CARE_STARTED = "overnight_care_started"
    OVERNIGHT_CARE_ENDED = "overnight_care_ended"


@strawberry.input(
    description="One delivery of a change of circumstance to this source's inbox. The delivery id is the key: "
    "a delivery repeated (after a fault, or a lease that expired) lands once. Who sent it (the sender's "
    "organisation type) is the assertion's, not the input's."
)
class InboxChangeInput:
    delivery_id: strawberry.ID = strawberry.field(description="The hub's id of this delivery (a UUID): the key.")
    notification_id: strawberry.ID = strawberry.field(description="The hub's id of the notification (a UUID).")
    kind: ChangeKind = strawberry.field(description="What changed.")
    effective_date: dt.date = strawberry.field(description="When it took effect.")
    target_ref: strawberry.ID = strawberry.field(
        description="The record here the change is about: a DWP person id, or an HB claim reference."
    )
    council_code: str | None = strawberry.field(
        default=None,
        description="HB: the council whose team receives it; null when the hub routed it while HB did not answer "
        "(the council is then read here, and answered in the receipt). DWP: null.",
    )


@strawberry.federation.type(
    shareable=True, description="A claim a change was routed to without its council, and the council holding it."
)
class RoutedClaim:
    claim_ref: str = strawberry.field(description="The claim reference the change was routed to.")
    council_code: str = strawberry.field(description="The council that holds the claim.")


@strawberry.federation.type(shareable=True, description="What a delivery call left in this source's inbox.")
class DeliveryReceipt:
    landed: list[strawberry.ID] = strawberry.field(
        description="The delivery ids held in the inbox after this call (landed now, or by an earlier repeat). A "
        "delivery to a record this source no longer holds has no one to tell: it is not held, and not an error."
    )
    routed: list[RoutedClaim] = strawberry.field(
        description="For the changes sent without a council: the councils of the claims they are about."
    )
