"""What a source answers: plain, immutable records, the same shape whichever transport fetched them.

These are data, not GraphQL: an adapter builds them from its own rows, or from a subgraph's answer, and
:mod:`resolvers.types` presents them in the schema. What a source answers under the contract
(:func:`resolvers.sources.contract.answer`) has every field the question did not select set to None. Keeping
the two apart means a source never depends on the hub's GraphQL types. A record may carry detail the
schema never shows (a PIP award's points, a care plan, a protected address): the hub derives its yes/no
answers from it (data minimisation, UK GDPR Art. 5(1)(c)), and only the GraphQL types decide what is
released.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

__all__ = [
    "Address",
    "Benefit",
    "BenefitAward",
    "CarePlacement",
    "CarePlan",
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
    "SocialCareRecord",
    "TenancyType",
]


# -- DWP ---------------------------------------------------------------------------------------------


class Benefit(Enum):
    """A DWP benefit, by DWP's own abbreviation."""

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


@dataclass(frozen=True, slots=True)
class PersonName:
    given_name: str
    middle_names: str | None
    family_name: str


@dataclass(frozen=True, slots=True)
class Address:
    line1: str | None
    line2: str | None
    town: str | None
    postcode: str | None


@dataclass(frozen=True, slots=True)
class BenefitAward:
    benefit: Benefit
    component: str | None
    rate: str | None
    weekly_amount: Decimal
    start_date: dt.date
    end_date: dt.date | None
    # PIP assessment detail, read to derive Blue Badge eligibility; never itself released.
    pip_moving_around_points: int | None = None
    pip_planning_journeys_descriptor: str | None = None


@dataclass(frozen=True, slots=True)
class DeclaredIncome:
    kind: str
    weekly_amount: Decimal
    declared_on: dt.date


@dataclass(frozen=True, slots=True)
class DeclaredCapital:
    kind: str
    amount: Decimal
    declared_on: dt.date


@dataclass(frozen=True, slots=True)
class HouseholdMember:
    relationship: str
    name: PersonName
    date_of_birth: dt.date


@dataclass(frozen=True, slots=True)
class DwpRecord:
    """One DWP person: awards in payment today, declared income and capital, household."""

    name: PersonName
    date_of_birth: dt.date
    held_address: Address | None  # None when protected (it never leaves the source) or not asked for
    address_protected: bool | None  # a protected address is never released, whatever the purpose
    awards_in_payment: tuple[BenefitAward, ...]
    declared_income: tuple[DeclaredIncome, ...]
    declared_capital: tuple[DeclaredCapital, ...]
    household_members: tuple[HouseholdMember, ...]
    #: Derived by the source (the contract), so the award detail behind it need not leave it.
    blue_badge_automatic_eligibility: bool | None = None


# -- Housing Benefit ---------------------------------------------------------------------------------


class TenancyType(Enum):
    """Housing Benefit tenancy type: social rented sector or Local Housing Allowance."""

    SOCIAL = "social"
    LHA = "lha"


@dataclass(frozen=True, slots=True)
class DhpAward:
    reason: str
    weekly_amount: Decimal
    start_date: dt.date
    end_date: dt.date | None


@dataclass(frozen=True, slots=True)
class HousingBenefitClaim:
    claim_ref: str
    council_code: str
    tenancy_type: TenancyType
    weekly_rent: Decimal
    weekly_award: Decimal
    bedroom_entitlement: int
    overnight_carer_room: bool
    start_date: dt.date
    end_date: dt.date | None
    dhp_awards: tuple[DhpAward, ...]
    non_dependant_count: int


@dataclass(frozen=True, slots=True)
class HousingBenefitRecord:
    """A person's claims, at every council that holds one."""

    claims: tuple[HousingBenefitClaim, ...]
    #: Derived by the source over the claims the caller may be given: a current claim allows the room.
    overnight_carer_room_awarded: bool | None = None


# -- adult social care -------------------------------------------------------------------------------


class PlacementKind(Enum):
    """Where a person was placed by social care."""

    HOSPITAL = "hospital"
    CARE_HOME = "care_home"


@dataclass(frozen=True, slots=True)
class CarePlan:
    """A care plan: private (UK GDPR Art. 9), only answers derived from it are released."""

    start_date: dt.date
    end_date: dt.date | None
    overnight_care_required: bool
    domiciliary_hours_per_week: Decimal
    council_code: str | None = None  # the council that holds it


@dataclass(frozen=True, slots=True)
class CarePlacement:
    kind: PlacementKind
    admitted_on: dt.date
    discharged_on: dt.date | None
    council_code: str | None = None  # the council that holds it


@dataclass(frozen=True, slots=True)
class FinancialAssessment:
    assessed_on: dt.date
    weekly_assessed_charge: Decimal
    capital_band: str
    council_code: str | None = None  # the council that holds it


@dataclass(frozen=True, slots=True)
class SocialCareRecord:
    """A person as a council's adult social care holds them (duplicate client records merged)."""

    care_plans: tuple[CarePlan, ...]
    placements: tuple[CarePlacement, ...]
    financial_assessments: tuple[FinancialAssessment, ...]
    council_codes: tuple[str, ...] = ()  # the councils whose client records are merged here, sorted
    #: Derived by the source over current care plans (the plans themselves never leave it).
    overnight_care_required: bool | None = None
    domiciliary_hours_per_week: Decimal | None = None
