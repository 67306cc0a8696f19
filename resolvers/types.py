"""The GraphQL types of the public contract (``schema.graphql`` is printed from these).

Each type says in its description which source answers it. Derived yes/no fields exist so that a purpose
can be given the answer it needs without the detail behind it (data minimisation, UK GDPR Art. 5(1)(c)).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import Enum

import strawberry

from resolvers.derived import blue_badge_automatic, overnight_care_required

__all__ = [
    "Address",
    "Benefit",
    "BenefitAward",
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
    "Purpose",
    "SocialCareRecord",
]


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


@strawberry.enum(description="A DWP benefit.")
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
    SOCIAL = "social"
    LHA = "lha"


@strawberry.enum(description="Where a person was placed by social care.")
class PlacementKind(Enum):
    HOSPITAL = "hospital"
    CARE_HOME = "care_home"


@strawberry.type(description="A person's name as the source holds it.")
class PersonName:
    given_name: str
    middle_names: str | None
    family_name: str


@strawberry.type(description="A postal address as the source holds it.")
class Address:
    line1: str | None
    line2: str | None
    town: str | None
    postcode: str | None


@strawberry.type(description="A DWP benefit award in payment.")
class BenefitAward:
    benefit: Benefit
    component: str | None = strawberry.field(description="e.g. DLA care/mobility, PIP daily_living/mobility")
    rate: str | None = strawberry.field(description="e.g. DLA higher/lower, PIP standard/enhanced")
    weekly_amount: Decimal
    start_date: dt.date
    end_date: dt.date | None
    # Assessment detail the hub needs to derive Blue Badge eligibility; never itself released.
    pip_moving_around_points: strawberry.Private[int | None] = None
    pip_planning_journeys_descriptor: strawberry.Private[str | None] = None


@strawberry.type(description="Income declared to DWP.")
class DeclaredIncome:
    kind: str
    weekly_amount: Decimal
    declared_on: dt.date


@strawberry.type(description="Capital declared to DWP.")
class DeclaredCapital:
    kind: str
    amount: Decimal
    declared_on: dt.date


@strawberry.type(description="Another member of the person's DWP household.")
class HouseholdMember:
    relationship: str
    name: PersonName
    date_of_birth: dt.date


@strawberry.type(description="What DWP holds about the person.")
class DwpRecord:
    name: PersonName
    date_of_birth: dt.date
    address: Address
    awards_in_payment: list[BenefitAward] = strawberry.field(
        description="Awards in payment today: benefit, component, rate, weekly amount, dates."
    )
    declared_income: list[DeclaredIncome]
    declared_capital: list[DeclaredCapital]
    household_members: list[HouseholdMember]

    @strawberry.field(
        description=(
            "Yes/no: the person qualifies for a Blue Badge without further assessment because of a DWP "
            "award (DLA higher-rate mobility; PIP 8+ points in 'moving around'; or PIP descriptor E of "
            "'planning and following journeys'). The award itself is not released."
        )
    )
    def blue_badge_automatic_eligibility(self) -> bool:
        return blue_badge_automatic(self.awards_in_payment)


@strawberry.type(description="A Discretionary Housing Payment award.")
class DhpAward:
    reason: str
    weekly_amount: Decimal
    start_date: dt.date
    end_date: dt.date | None


@strawberry.type(description="A Housing Benefit claim held by a council's HB team.")
class HousingBenefitClaim:
    claim_ref: str
    council_code: str
    tenancy_type: TenancyType
    weekly_rent: Decimal
    weekly_award: Decimal
    bedroom_entitlement: int
    overnight_carer_room: bool = strawberry.field(description="An extra bedroom is allowed for an overnight carer.")
    start_date: dt.date
    end_date: dt.date | None
    dhp_awards: list[DhpAward]
    non_dependant_count: int


@strawberry.type(description="What the councils' Housing Benefit teams hold about the person.")
class HousingBenefitRecord:
    claims: list[HousingBenefitClaim]

    @strawberry.field(description="Yes/no: a current claim allows a bedroom for an overnight carer.")
    def overnight_carer_room_awarded(self) -> bool:
        return any(c.overnight_carer_room and c.end_date is None for c in self.claims)


@strawberry.type(description="A hospital or care-home placement known to social care.")
class CarePlacement:
    kind: PlacementKind
    admitted_on: dt.date
    discharged_on: dt.date | None


@strawberry.type(description="A social-care financial assessment.")
class FinancialAssessment:
    assessed_on: dt.date
    weekly_assessed_charge: Decimal
    capital_band: str


@strawberry.type(description="A social-care care plan (private: only derived answers are released).")
class CarePlan:
    start_date: dt.date
    end_date: dt.date | None
    overnight_care_required: bool
    domiciliary_hours_per_week: Decimal


@strawberry.type(description="What the councils' adult social care teams hold about the person.")
class SocialCareRecord:
    care_plans: strawberry.Private[list[CarePlan]]
    placements: list[CarePlacement]
    financial_assessments: list[FinancialAssessment]

    @strawberry.field(
        description=(
            "Yes/no: a current care plan says the person needs overnight care (all an HB team may learn "
            "for the overnight-carer room; report section 2.18)."
        )
    )
    def overnight_care_required(self) -> bool:
        return overnight_care_required(self.care_plans)

    @strawberry.field(description="Domiciliary care hours a week under current care plans.")
    def domiciliary_hours_per_week(self) -> Decimal:
        today = dt.date.today()
        return sum(
            (p.domiciliary_hours_per_week for p in self.care_plans if p.end_date is None or p.end_date >= today),
            Decimal(0),
        )
