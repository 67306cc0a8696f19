"""The GraphQL types of the public contract (``schema.graphql`` is printed from these).

Each type says in its description which source answers it. Derived yes/no fields exist so that a purpose
can be given the answer it needs without the detail behind it (data minimisation, UK GDPR Art. 5(1)(c)).

The source records' types are views of :mod:`resolvers.sources.records`: a source returns plain records,
and these types declare which of their fields the schema shows, and how (descriptions, sensitivity tiers).
They are never built in Python: the resolvers return the records, and strawberry reads each field from
the record by its name (a field computed here, like a derived yes/no, reads the record as its
``strawberry.Parent``). What a record holds and the schema does not declare (a PIP award's points, a care
plan, a protected address) cannot be selected. The enums are the records' own, registered with strawberry,
so each is defined once.

A closed set of values is an enum in the schema, never a ``String``: its GraphQL values are the members'
UPPER_CASE names, and each member's value is the plain string the code, the sources and the database keep
(``Enum(stored)`` reads a stored value, ``member.value`` is what is stored), so the mapping happens at the
resolver boundary and nothing stored changes.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

import strawberry

from hub.errors import ProtectedAddress, SourceUnavailable
from resolvers.sensitivity import tier
from resolvers.sources import records
from resolvers.sources.contract import fetched
from resolvers.sources.records import Benefit, PlacementKind, TenancyType

__all__ = [
    "Address",
    "Benefit",
    "BenefitAward",
    "CapitalBand",
    "CarePlacement",
    "DeclaredCapital",
    "DeclaredIncome",
    "DhpAward",
    "DwpRecord",
    "FinancialAssessment",
    "HouseholdMember",
    "HousingBenefitClaim",
    "HousingBenefitRecord",
    "PersonName",
    "PlacementKind",
    "Purpose",
    "PurposeArgument",
    "SocialCareRecord",
    "SourceSystem",
    "TenancyType",
    "describe_values",
]


def describe_values(cls: type[Enum], values: dict[Any, str]) -> None:
    """Describe each value of an enum registered with strawberry. Done here rather than with
    ``strawberry.enum_value`` so that each member's value stays the plain string the code and the database
    use (and the records module stays free of strawberry). Every member must be described, once."""
    assert set(values) == set(cls), f"describe every value of {cls.__name__}"
    for value in cls.__strawberry_definition__.values:  # type: ignore[attr-defined]
        value.description = values[cls[value.name]]


@strawberry.enum(description="A purpose for which the law allows data to be shared (the purpose register).")
class Purpose(Enum):
    BLUE_BADGE = "BLUE_BADGE"
    CONCESSIONARY_TRAVEL = "CONCESSIONARY_TRAVEL"
    CARE_CHARGING_DOMICILIARY = "CARE_CHARGING_DOMICILIARY"
    CARE_CHARGING_RESIDENTIAL = "CARE_CHARGING_RESIDENTIAL"
    DISABLED_FACILITIES_GRANT = "DISABLED_FACILITIES_GRANT"
    SUPPORTING_PEOPLE = "SUPPORTING_PEOPLE"
    DISCRETIONARY_HOUSING_PAYMENT = "DISCRETIONARY_HOUSING_PAYMENT"
    HOMELESSNESS_PREVENTION = "HOMELESSNESS_PREVENTION"
    HB_OVERNIGHT_CARER_ROOM = "HB_OVERNIGHT_CARER_ROOM"
    INCOME_MAXIMISATION = "INCOME_MAXIMISATION"
    IDENTITY_REVIEW = "IDENTITY_REVIEW"
    CHANGE_OF_CIRCUMSTANCES = "CHANGE_OF_CIRCUMSTANCES"
    AUDIT = "AUDIT"
    SUBJECT_ACCESS = "SUBJECT_ACCESS"
    CHANGE_NOTIFICATION = "CHANGE_NOTIFICATION"
    OVERNIGHT_CARE_CONFIRMATION = "OVERNIGHT_CARE_CONFIRMATION"
    CORRECTION_REVIEW = "CORRECTION_REVIEW"
    COMPLAINTS = "COMPLAINTS"


describe_values(
    Purpose,
    {
        Purpose.BLUE_BADGE: "Deciding a Blue Badge application.",
        Purpose.CONCESSIONARY_TRAVEL: "Deciding a disabled person's concessionary travel pass.",
        Purpose.CARE_CHARGING_DOMICILIARY: "Financial assessment for charging for care at home.",
        Purpose.CARE_CHARGING_RESIDENTIAL: "Financial assessment for charging for residential care.",
        Purpose.DISABLED_FACILITIES_GRANT: (
            "Means test for a Disabled Facilities Grant (England and Wales) or adaptation grant (Scotland)."
        ),
        Purpose.SUPPORTING_PEOPLE: "Supporting People / housing-related support.",
        Purpose.DISCRETIONARY_HOUSING_PAYMENT: "Deciding a Discretionary Housing Payment.",
        Purpose.HOMELESSNESS_PREVENTION: "Preventing homelessness.",
        Purpose.HB_OVERNIGHT_CARER_ROOM: "Housing Benefit: an extra bedroom for an overnight carer.",
        Purpose.INCOME_MAXIMISATION: (
            "Income maximisation advice by a welfare rights team (outside the gateway: consent only)."
        ),
        Purpose.IDENTITY_REVIEW: "Deciding uncertain record links (clerical review of the link index).",
        Purpose.CHANGE_OF_CIRCUMSTANCES: "DWP learning that a person has gone into, or left, hospital or a care home.",
        Purpose.AUDIT: "Audit of the hub's decisions by internal audit or the Information Commissioner.",
        Purpose.SUBJECT_ACCESS: "Telling you who has received your information through the hub.",
        Purpose.CHANGE_NOTIFICATION: (
            "Telling DWP and your council's Housing Benefit team that you went into, or left, hospital or a care home."
        ),
        Purpose.OVERNIGHT_CARE_CONFIRMATION: (
            "Social care telling your council's Housing Benefit team that your overnight care started or ended."
        ),
        Purpose.CORRECTION_REVIEW: "Putting right a mistake in what the hub shared about you.",
        Purpose.COMPLAINTS: "Your complaint about how your information was shared.",
    },
)

#: The purpose argument every purpose-bound field takes: the one thing the access decision turns on.
PurposeArgument = Annotated[
    Purpose,
    strawberry.argument(
        description="The purpose you declare for this operation. It decides which fields your organisation may "
        "select and is recorded in the audit log; a purpose not granted to your organisation type refuses the "
        "whole operation."
    ),
]


@strawberry.enum(description="A system the hub reads records from.")
class SourceSystem(Enum):
    DWP = "dwp"
    HB = "hb"
    SOCIAL_CARE = "social_care"


describe_values(
    SourceSystem,
    {
        SourceSystem.DWP: "DWP's benefit records (the spine: every person with a NINO).",
        SourceSystem.HB: "A council's Housing Benefit records.",
        SourceSystem.SOCIAL_CARE: "A council's adult social care records.",
    },
)


@strawberry.enum(description="Savings and capital as a band against the care charging limits, never the amount.")
class CapitalBand(Enum):
    BELOW_LOWER_LIMIT = "below_lower_limit"
    TARIFF = "tariff"
    ABOVE_UPPER_LIMIT = "above_upper_limit"


describe_values(
    CapitalBand,
    {
        CapitalBand.BELOW_LOWER_LIMIT: "Below the lower capital limit: capital is disregarded.",
        CapitalBand.TARIFF: "Between the limits: a tariff income is assumed from the capital.",
        CapitalBand.ABOVE_UPPER_LIMIT: "Above the upper capital limit: the person pays the full cost of care.",
    },
)


def _enum(cls: type[Enum], description: str, values: dict[Any, str]) -> None:
    """Register a record's enum with strawberry (which marks the class itself: one definition each)."""
    strawberry.enum(cls, description=description)
    describe_values(cls, values)


_enum(
    Benefit,
    "A DWP benefit, by DWP's own abbreviation.",
    {
        Benefit.DLA: "Disability Living Allowance.",
        Benefit.PIP: "Personal Independence Payment.",
        Benefit.AA: "Attendance Allowance.",
        Benefit.PC: "Pension Credit.",
        Benefit.ESA: "Employment and Support Allowance.",
        Benefit.JSA: "Jobseeker's Allowance.",
        Benefit.IS: "Income Support.",
        Benefit.UC: "Universal Credit.",
        Benefit.SP: "State Pension.",
        Benefit.CA: "Carer's Allowance.",
    },
)
_enum(
    TenancyType,
    "Housing Benefit tenancy type: social rented sector or Local Housing Allowance.",
    {
        TenancyType.SOCIAL: "Rented from a council or housing association (social rented sector).",
        TenancyType.LHA: "Rented privately: the award follows the Local Housing Allowance rates.",
    },
)
_enum(
    PlacementKind,
    "Where a person was placed by social care.",
    {PlacementKind.HOSPITAL: "A stay in hospital.", PlacementKind.CARE_HOME: "A stay in a care home."},
)


@strawberry.type(description="A person's name as the source holds it.", directives=tier("identity"))
class PersonName:
    given_name: str = strawberry.field(description="First name.")
    middle_names: str | None = strawberry.field(description="Middle names, if any.")
    family_name: str = strawberry.field(description="Surname.")


@strawberry.type(description="A postal address as the source holds it.", directives=tier("identity"))
class Address:
    line1: str | None = strawberry.field(description="First line of the address.")
    line2: str | None = strawberry.field(description="Second line of the address.")
    town: str | None = strawberry.field(description="Town.")
    postcode: str | None = strawberry.field(description="Postcode.")


@strawberry.type(description="A DWP benefit award in payment.", directives=tier("benefit_status"))
class BenefitAward:
    benefit: Benefit = strawberry.field(description="Which benefit you are paid.")
    component: str | None = strawberry.field(description="e.g. DLA care/mobility, PIP daily_living/mobility")
    rate: str | None = strawberry.field(description="e.g. DLA higher/lower, PIP standard/enhanced")
    weekly_amount: Decimal = strawberry.field(
        description="How much the benefit pays a week.", directives=tier("financial")
    )
    start_date: dt.date = strawberry.field(description="When the award started.")
    end_date: dt.date | None = strawberry.field(description="When the award ends, if it does.")


@strawberry.type(description="Income declared to DWP.", directives=tier("financial"))
class DeclaredIncome:
    kind: str = strawberry.field(description="The kind of income you told DWP about (earnings, a pension, ...).")
    weekly_amount: Decimal = strawberry.field(description="How much that income is a week.")
    declared_on: dt.date = strawberry.field(description="When you told DWP.")


@strawberry.type(description="Capital declared to DWP.", directives=tier("financial"))
class DeclaredCapital:
    kind: str = strawberry.field(description="The kind of savings or capital you told DWP about.")
    amount: Decimal = strawberry.field(description="How much it is.")
    declared_on: dt.date = strawberry.field(description="When you told DWP.")


@strawberry.type(description="Another member of the person's DWP household.", directives=tier("financial"))
class HouseholdMember:
    relationship: str = strawberry.field(description="How someone who lives with you is related to you.")
    name: PersonName = strawberry.field(description="Their name.")
    date_of_birth: dt.date = strawberry.field(description="Their date of birth.")


@strawberry.type(description="What DWP holds about the person.", directives=tier("benefit_status"))
class DwpRecord:
    name: PersonName = strawberry.field(description="Your name as DWP holds it.", directives=tier("identity"))
    date_of_birth: dt.date = strawberry.field(description="Your date of birth.", directives=tier("identity"))
    awards_in_payment: list[BenefitAward] = strawberry.field(
        description="Awards in payment today: benefit, component, rate, weekly amount, dates."
    )
    declared_income: list[DeclaredIncome] = strawberry.field(
        description="Income you told DWP about.", directives=tier("financial")
    )
    declared_capital: list[DeclaredCapital] = strawberry.field(
        description="Savings and capital you told DWP about.", directives=tier("financial")
    )
    household_members: list[HouseholdMember] = strawberry.field(
        description="Who lives with you, as DWP knows it.", directives=tier("financial")
    )

    @strawberry.field(
        description=(
            "Yes/no: the person qualifies for a Blue Badge without further assessment because of a DWP "
            "award (DLA higher-rate mobility; PIP 8+ points in 'moving around'; or PIP descriptor E of "
            "'planning and following journeys'). The award itself is not released."
        )
    )
    def blue_badge_automatic_eligibility(self, record: strawberry.Parent[records.DwpRecord]) -> bool:
        return fetched(record.blue_badge_automatic_eligibility)  # derived by DWP: the award detail stays there

    @strawberry.field(
        description="Your address as DWP holds it. Never released when your address is protected.",
        directives=tier("identity"),
        graphql_type=Address | None,
    )
    def address(self, record: strawberry.Parent[records.DwpRecord]) -> records.Address | None:
        if record.address_protected:
            # Whatever the purpose: a protected address is withheld, and the caller is told so.
            raise ProtectedAddress("this person's address is protected and is never released")
        return record.held_address


@strawberry.type(description="A Discretionary Housing Payment award.", directives=tier("financial"))
class DhpAward:
    reason: str = strawberry.field(description="Why an earlier Discretionary Housing Payment was made.")
    weekly_amount: Decimal = strawberry.field(description="How much it paid a week.")
    start_date: dt.date = strawberry.field(description="When it started.")
    end_date: dt.date | None = strawberry.field(description="When it ended, if it has.")


@strawberry.type(description="A Housing Benefit claim held by a council's HB team.", directives=tier("benefit_status"))
class HousingBenefitClaim:
    claim_ref: str = strawberry.field(description="The council's reference for your Housing Benefit claim.")
    council_code: str = strawberry.field(description="Which council holds the claim.")
    tenancy_type: TenancyType = strawberry.field(description="Whether you rent from a social landlord or privately.")
    weekly_rent: Decimal = strawberry.field(description="Your rent a week.", directives=tier("financial"))
    weekly_award: Decimal = strawberry.field(description="Your Housing Benefit a week.", directives=tier("financial"))
    bedroom_entitlement: int = strawberry.field(description="How many bedrooms your Housing Benefit allows for.")
    overnight_carer_room: bool = strawberry.field(description="An extra bedroom is allowed for an overnight carer.")
    start_date: dt.date = strawberry.field(description="When the claim started.")
    end_date: dt.date | None = strawberry.field(description="When it ended, if it has.")
    dhp_awards: list[DhpAward] = strawberry.field(
        description="Discretionary Housing Payments made on the claim.", directives=tier("financial")
    )
    non_dependant_count: int = strawberry.field(description="How many other adults live with you (non-dependants).")


@strawberry.type(
    description="What the councils' Housing Benefit teams hold about the person.", directives=tier("benefit_status")
)
class HousingBenefitRecord:
    claims: list[HousingBenefitClaim] = strawberry.field(description="Your Housing Benefit claims.")

    @strawberry.field(description="Yes/no: a current claim allows a bedroom for an overnight carer.")
    def overnight_carer_room_awarded(self, record: strawberry.Parent[records.HousingBenefitRecord]) -> bool:
        return fetched(record.overnight_carer_room_awarded)  # derived by the HB team, over the claims in scope


@strawberry.type(
    description="A hospital or care-home placement known to social care.", directives=tier("special_category")
)
class CarePlacement:
    kind: PlacementKind = strawberry.field(description="Whether you went into hospital or a care home.")
    admitted_on: dt.date = strawberry.field(description="When you went in.")
    discharged_on: dt.date | None = strawberry.field(description="When you came out, if you have.")


@strawberry.type(description="A social-care financial assessment.", directives=tier("special_category"))
class FinancialAssessment:
    assessed_on: dt.date = strawberry.field(description="When social care last assessed what you pay for care.")
    weekly_assessed_charge: Decimal = strawberry.field(description="What you were assessed to pay a week.")

    @strawberry.field(description="Your savings as a band against the charging limits, not the amount.")
    def capital_band(self, record: strawberry.Parent[records.FinancialAssessment]) -> CapitalBand:
        try:
            return CapitalBand(fetched(record.capital_band))
        except ValueError:
            # A source's word outside the contract: a failure to answer, never passed on as something else.
            raise SourceUnavailable("social_care", "the source sent a capital band outside the contract") from None


@strawberry.type(
    description="What the councils' adult social care teams hold about the person.",
    directives=tier("special_category"),
)
class SocialCareRecord:
    placements: list[CarePlacement] = strawberry.field(description="Your stays in hospital or a care home.")
    financial_assessments: list[FinancialAssessment] = strawberry.field(
        description="Social care's assessments of what you pay for care."
    )

    @strawberry.field(
        description=(
            "Yes/no: a current care plan says the person needs overnight care (all an HB team may learn "
            "for the overnight-carer room; report section 2.18)."
        )
    )
    def overnight_care_required(self, record: strawberry.Parent[records.SocialCareRecord]) -> bool:
        return fetched(record.overnight_care_required)  # derived by social care: the care plans stay there

    @strawberry.field(description="Domiciliary care hours a week under current care plans.")
    def domiciliary_hours_per_week(self, record: strawberry.Parent[records.SocialCareRecord]) -> Decimal:
        return fetched(record.domiciliary_hours_per_week)
