"""Deterministic synthetic population for the three source databases.

``generate(SynthParams(people=..., seed=...))`` returns every row of every source table, in the exact
column order of the migrations, plus the ground truth (``synth_truth.record_identity``) and, per
council record, the list of errors injected into it. Pure: no I/O, no clock, no global random state;
the same parameters always give the same data (each stage draws from its own ``random.Random`` seeded
from ``(seed, stage)``).

The model, in short:

- People live in households (singles, couples, families with children, lone parents, parents with
  grown-up children at home). Families sometimes have twins (same surname, date of birth and address,
  different given names) and a son named after his father (John Smith senior and junior at one
  address): the two cases that defeat linkage on name + date of birth + postcode alone.
- DWP holds every person, with a true, valid and unique NINO (children too: a simplification, the
  schema requires one), and their benefit awards, declared income and capital.
- Councils hold Housing Benefit claims and adult social care clients for the people living in their
  area. What a council keyed is a noisy copy of the truth: see the error model below.

Error model. DWP is the truth; council records (HB claims and their non-dependants, social care
clients) carry these errors, each labelled in ``SynthData.perturbations[record_id]``:

=====================  ===================================================================================
label                  what happened (the rate that drives it)
=====================  ===================================================================================
``nino_missing``       nino is NULL (HB: ``nino_missing_rate``; social care: ``1 - social_care_nino_present``)
``nino_mistyped``      of the present NINOs, ``nino_mistyped_rate``: one digit changed or two adjacent
                       digits transposed (still valid-looking), or, for a fifth of them, keyed so that
                       it is no longer a valid NINO (O for 0, bad or missing suffix, digit dropped)
``nino_formatted``     of the present NINOs, ``nino_formatted_rate``: spaces or lower case only; it
                       normalises (``linkage.normalise_nino``) to the value keyed
``nickname``           given name is a nickname or spelling variant (``nickname_rate``, among the records
                       whose given name has one: see ``names.name_variants``)
``name_typo``          one typo in the given or family name (``name_typo_rate``)
``dob_swap``           day and month transposed (``dob_swap_rate``, among the records where the swap
                       gives a different valid date not after ``reference_date``)
``moved_address``      the council holds an older address with a different postcode (``moved_address_rate``)
=====================  ===================================================================================

Two labels mark deliberate inconsistencies between HB and social care rather than identity errors:
``overnight_room_not_recorded`` (the care plan needs overnight care, the HB claim has no carer room)
and ``overnight_room_without_plan`` (the reverse).

End dates, when set, are never after ``reference_date``; NULL means current. Amounts follow the
assumed 2026/27 rates in :data:`WEEKLY_RATES_2026` and :data:`REFERENCE_AMOUNTS_2026`.
"""

from __future__ import annotations

import bisect
import math
import random
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from itertools import accumulate
from typing import Final, Generic, NamedTuple, TypeVar

from hub.ops.synth import names as nm
from hub.ops.synth.names import Origin, Sex
from linkage.nino import FIRST_LETTER_EXCLUDED, SECOND_LETTER_EXCLUDED, SUFFIXES, UNALLOCATED_PREFIXES

__all__ = [
    "COLUMNS",
    "DATABASES",
    "REFERENCE_AMOUNTS_2026",
    "TRUTH_TABLE",
    "WEEKLY_RATES_2026",
    "Row",
    "SynthData",
    "SynthParams",
    "Table",
    "generate",
    "nhs_number_valid",
]

Row = tuple[object, ...]
TRUTH_TABLE: Final = "synth_truth.record_identity"

#: Column order of every table, exactly as in ``hub/migrations/src_*/0001_init.sql``.
COLUMNS: Final[Mapping[str, tuple[str, ...]]] = {
    "dwp.person": (
        "person_id", "nino", "title", "given_name", "middle_names", "family_name", "date_of_birth", "sex",
        "address_line1", "address_line2", "town", "postcode", "household_id", "household_role",
        "date_of_death",
    ),
    "dwp.benefit_award": (
        "award_id", "person_id", "benefit", "component", "rate", "weekly_amount", "start_date", "end_date",
        "pip_moving_around_points", "pip_planning_journeys_descriptor",
    ),
    "dwp.declared_income": ("income_id", "person_id", "kind", "weekly_amount", "declared_on"),
    "dwp.declared_capital": ("capital_id", "person_id", "kind", "amount", "declared_on"),
    "hb.claim": (
        "claim_ref", "council_code", "nino", "given_name", "family_name", "date_of_birth", "address_line1",
        "town", "postcode", "tenancy_type", "weekly_rent", "weekly_award", "bedroom_entitlement",
        "overnight_carer_room", "start_date", "end_date",
    ),
    "hb.dhp_award": ("dhp_id", "claim_ref", "reason", "weekly_amount", "start_date", "end_date"),
    "hb.non_dependant": (
        "non_dependant_id", "claim_ref", "given_name", "family_name", "date_of_birth", "gross_weekly_income",
    ),
    "social_care.client": (
        "client_id", "council_code", "nhs_number", "nino", "given_name", "family_name", "date_of_birth",
        "address_line1", "town", "postcode",
    ),
    "social_care.care_plan": (
        "plan_id", "client_id", "start_date", "end_date", "overnight_care_required",
        "domiciliary_hours_per_week",
    ),
    "social_care.placement": ("placement_id", "client_id", "kind", "provider", "admitted_on", "discharged_on"),
    "social_care.financial_assessment": (
        "assessment_id", "client_id", "assessed_on", "weekly_assessed_charge", "capital_band",
    ),
    TRUTH_TABLE: ("record_id", "true_person_id", "true_nino"),
}  # fmt: skip

#: The tables of each source database, parents before children (the order to load them in).
DATABASES: Final[Mapping[str, tuple[str, ...]]] = {
    "src_dwp": ("dwp.person", "dwp.benefit_award", "dwp.declared_income", "dwp.declared_capital", TRUTH_TABLE),
    "src_hb": ("hb.claim", "hb.dhp_award", "hb.non_dependant", TRUTH_TABLE),
    "src_social_care": (
        "social_care.client",
        "social_care.care_plan",
        "social_care.placement",
        "social_care.financial_assessment",
        TRUTH_TABLE,
    ),
}

_D = Decimal
#: Weekly rates assumed for 2026/27. Disability, carer and working-age rates are the 2025/26 rates
#: uprated by September 2025 CPI (3.8%). For plausible synthetic data only: not the statutory table.
WEEKLY_RATES_2026: Final[Mapping[tuple[str, str | None, str | None], Decimal]] = {
    ("DLA", "care", "lowest"): _D("30.30"),
    ("DLA", "care", "middle"): _D("76.70"),
    ("DLA", "care", "highest"): _D("114.60"),
    ("DLA", "mobility", "lower"): _D("30.30"),
    ("DLA", "mobility", "higher"): _D("80.00"),
    ("PIP", "daily_living", "standard"): _D("76.70"),
    ("PIP", "daily_living", "enhanced"): _D("114.60"),
    ("PIP", "mobility", "standard"): _D("30.30"),
    ("PIP", "mobility", "enhanced"): _D("80.00"),
    ("AA", None, "lower"): _D("76.70"),
    ("AA", None, "higher"): _D("114.60"),
    ("CA", None, None): _D("86.45"),
}
#: Reference amounts for awards that depend on circumstances (weekly; UC converted from monthly x12/52).
#: State Pension and the Pension Credit guarantee rise with earnings (4.8%, the triple lock); UC by the
#: Universal Credit Act 2025 uplift. Approximate, as above.
REFERENCE_AMOUNTS_2026: Final[Mapping[str, Decimal]] = {
    "state_pension_new_full": _D("241.30"),
    "state_pension_basic_full": _D("184.90"),
    "pension_credit_guarantee_single": _D("238.00"),
    "pension_credit_guarantee_couple": _D("363.25"),
    "pension_credit_savings_max_single": _D("17.94"),
    "personal_allowance_25_plus": _D("95.55"),  # JSA, ESA, IS
    "personal_allowance_under_25": _D("75.65"),
    "esa_support_component": _D("49.50"),
    "uc_standard_single_25_plus": _D("98.05"),
    "uc_standard_single_under_25": _D("77.68"),
    "uc_standard_couple_25_plus": _D("153.92"),
    "uc_child_element": _D("70.14"),
    "uc_lcwra_element": _D("101.39"),
    "hb_non_dependant_deduction": _D("19.30"),
}
_REF = {key: float(value) for key, value in REFERENCE_AMOUNTS_2026.items()}

_PIP_START: Final = date(2013, 4, 8)
_NEW_STATE_PENSION_FROM: Final = date(2016, 4, 6)
_DLA_ADULTS_BORN_BEFORE: Final = date(1948, 4, 8)  # kept DLA instead of being reassessed for PIP
_UC_FULL_SERVICE: Final = date(2016, 5, 1)
_MIGRATION_FROM, _MIGRATION_TO = date(2024, 6, 1), date(2026, 3, 31)  # legacy benefits moved to UC
_CAPITAL_LOWER, _CAPITAL_UPPER = 14_250.0, 23_250.0  # England social care charging limits
_PASSPORTING = frozenset({"PC", "IS", "ESA", "JSA"})  # stand-ins for the income-related passports to max HB


@dataclass(frozen=True, kw_only=True, slots=True)
class SynthParams:
    """What to generate. Rates are probabilities in [0, 1]; see the module docstring for each one."""

    people: int
    seed: int
    hb_coverage: float = 0.30
    social_care_coverage: float = 0.15
    social_care_nino_present: float = 0.33
    nino_missing_rate: float = 0.05
    nino_mistyped_rate: float = 0.03
    nino_formatted_rate: float = 0.05
    nhs_number_missing_rate: float = 0.03
    name_typo_rate: float = 0.05
    nickname_rate: float = 0.10
    moved_address_rate: float = 0.05
    dob_swap_rate: float = 0.02
    councils: tuple[str, ...] = ("E09000901", "E09000902", "E09000903")
    reference_date: date = date(2026, 11, 1)

    def __post_init__(self) -> None:
        # Every problem at once, so a bad benchmark configuration is fixed in one go.
        problems: list[str] = []
        if self.people < 0:
            problems.append("people must be zero or more")
        for name in (
            "hb_coverage",
            "social_care_coverage",
            "social_care_nino_present",
            "nino_missing_rate",
            "nino_mistyped_rate",
            "nino_formatted_rate",
            "nhs_number_missing_rate",
            "name_typo_rate",
            "nickname_rate",
            "moved_address_rate",
            "dob_swap_rate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                problems.append(f"{name} must be between 0 and 1")
        if not self.councils:
            problems.append("councils must name at least one council code")
        if len(set(self.councils)) != len(self.councils):
            problems.append("councils must not repeat a code")
        if problems:
            raise ValueError("invalid SynthParams: " + "; ".join(problems))


class Table(NamedTuple):
    """Rows of one table, each a tuple in ``columns`` order."""

    columns: tuple[str, ...]
    rows: list[Row]


@dataclass(frozen=True, slots=True)
class SynthData:
    """Everything :func:`generate` made.

    ``databases`` maps a source database key (``src_dwp``, ``src_hb``, ``src_social_care``) to its
    tables keyed ``schema.table``, in load order, truth table last. ``perturbations`` maps a council
    record id (``hb:HB000123``, ``hb_nd:17``, ``sc:SC000045``) to the errors injected into it; records
    keyed exactly as the truth are absent.
    """

    params: SynthParams
    databases: Mapping[str, Mapping[str, Table]]
    perturbations: Mapping[str, frozenset[str]]

    @property
    def tables(self) -> dict[str, Table]:
        """The source tables (not the truth), keyed ``schema.table``, e.g. ``dwp.person``."""
        return {
            name: table for tables in self.databases.values() for name, table in tables.items() if name != TRUTH_TABLE
        }

    @property
    def truth(self) -> dict[str, Table]:
        """``synth_truth.record_identity`` of each source database, keyed by database key."""
        return {database: tables[TRUTH_TABLE] for database, tables in self.databases.items()}

    def row_counts(self) -> dict[str, int]:
        """Rows per table keyed ``database.schema.table``: what :func:`hub.ops.synth.load` reports."""
        return {
            f"{database}.{name}": len(table.rows)
            for database, tables in self.databases.items()
            for name, table in tables.items()
        }


def council_areas(params: SynthParams) -> list[tuple[str, str]]:
    """(postcode district, council code) for the synthetic councils: the council-area table they imply."""
    return [
        (district, council)
        for i, council in enumerate(params.councils)
        for town in nm.AREAS[i % len(nm.AREAS)].towns
        for district in town.districts
    ]


def generate(params: SynthParams) -> SynthData:
    """Make the whole synthetic population for ``params``. Deterministic; 100,000 people take seconds."""
    book = _AddressBook(params.councils)
    people, households = _population(params, book)
    dwp = _dwp(params, people, households)
    social_care = _social_care(params, people, book)
    housing = _housing_benefit(params, people, households, book, social_care.overnight_now, social_care.in_home)

    person_rows: list[Row] = [
        (
            p.person_id, p.nino, p.title, p.given, p.middle, p.family, p.dob, p.sex,
            p.address.line1, p.address.line2, p.address.town, p.address.postcode,
            p.household_id, p.role, p.dod,
        )
        for p in people
    ]  # fmt: skip
    dwp_truth: list[Row] = [(f"dwp:{p.person_id}", p.person_id, p.nino) for p in people]

    def table(name: str, rows: list[Row]) -> Table:
        return Table(COLUMNS[name], rows)

    databases: dict[str, dict[str, Table]] = {
        "src_dwp": {
            "dwp.person": table("dwp.person", person_rows),
            "dwp.benefit_award": table("dwp.benefit_award", dwp.awards),
            "dwp.declared_income": table("dwp.declared_income", dwp.incomes),
            "dwp.declared_capital": table("dwp.declared_capital", dwp.capitals),
            TRUTH_TABLE: table(TRUTH_TABLE, dwp_truth),
        },
        "src_hb": {
            "hb.claim": table("hb.claim", housing.claims),
            "hb.dhp_award": table("hb.dhp_award", housing.dhps),
            "hb.non_dependant": table("hb.non_dependant", housing.non_dependants),
            TRUTH_TABLE: table(TRUTH_TABLE, housing.truth),
        },
        "src_social_care": {
            "social_care.client": table("social_care.client", social_care.clients),
            "social_care.care_plan": table("social_care.care_plan", social_care.plans),
            "social_care.placement": table("social_care.placement", social_care.placements),
            "social_care.financial_assessment": table("social_care.financial_assessment", social_care.assessments),
            TRUTH_TABLE: table(TRUTH_TABLE, social_care.truth),
        },
    }
    perturbations = {**housing.perturbations, **social_care.perturbations}
    return SynthData(params=params, databases=databases, perturbations=perturbations)


def nhs_number_valid(value: str) -> bool:
    """NHS number modulus 11 check: weights 10..2 on the first nine digits; 10 is never issued."""
    if len(value) != 10 or not value.isdigit():
        return False
    check = 11 - sum(int(d) * w for d, w in zip(value[:9], range(10, 1, -1), strict=True)) % 11
    check = 0 if check == 11 else check
    return check != 10 and check == int(value[9])


# ---------------------------------------------------------------------------------------------------
# Small pure helpers

T = TypeVar("T")


def _stream(seed: int, stage: str) -> random.Random:
    # One generator per stage: changing how one stage draws does not reshuffle the others. A str seed
    # is hashed with SHA-512 by random.seed, so this is stable across runs and PYTHONHASHSEED.
    return random.Random(f"welfare-hub-synth/{seed}/{stage}")  # noqa: S311 (test data, not secrets)


@dataclass(frozen=True, slots=True)
class _Weighted(Generic[T]):
    items: tuple[T, ...]
    cumulative: tuple[float, ...]

    @classmethod
    def of(cls, pairs: Iterable[tuple[T, float]]) -> _Weighted[T]:
        kept = [(item, weight) for item, weight in pairs if weight > 0]
        return cls(tuple(i for i, _ in kept), tuple(accumulate(w for _, w in kept)))

    def pick(self, rng: random.Random) -> T:
        index = bisect.bisect_right(self.cumulative, rng.random() * self.cumulative[-1])
        return self.items[min(index, len(self.items) - 1)]


def _years_after(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February in a common year
        return d.replace(year=d.year + years, day=28)


def _months_after(d: date, months: int) -> date:
    month0 = d.month - 1 + months
    year, month = d.year + month0 // 12, month0 % 12 + 1
    for day in (d.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable: every month has 28 days")


def _age(dob: date, on: date) -> int:
    return on.year - dob.year - ((on.month, on.day) < (dob.month, dob.day))


def _between(rng: random.Random, low: date, high: date) -> date:
    if high <= low:
        return low
    return date.fromordinal(rng.randint(low.toordinal(), high.toordinal()))


def _money(pounds: float) -> Decimal:
    return Decimal(max(0, round(pounds * 100))).scaleb(-2)


def _state_pension_date(dob: date) -> date:
    """State Pension age under the Pensions Acts 2007-2014 (66, rising to 67 from 2026, 68 later)."""
    if dob < date(1960, 4, 6):
        return _years_after(dob, 66)
    if dob < date(1961, 3, 6):
        # Born 6 April 1960 - 5 March 1961: 66 years and 1 to 11 months, by birth month (6th to 5th).
        months = (dob.year - 1960) * 12 + dob.month - 4 + (1 if dob.day >= 6 else 0)
        return _months_after(_years_after(dob, 66), months)
    if dob < date(1977, 4, 6):
        return _years_after(dob, 67)
    return _years_after(dob, 68)


# ---------------------------------------------------------------------------------------------------
# People, households and addresses


@dataclass(frozen=True, slots=True)
class _Address:
    line1: str
    line2: str | None
    town: str
    postcode: str


@dataclass(slots=True)
class _Person:
    person_id: int
    household_id: int
    role: str
    sex: Sex
    title: str | None
    given: str
    middle: str | None
    family: str
    dob: date
    dod: date | None
    council: str
    address: _Address
    nino: str = ""
    # Set by the DWP stage, read by the council stages.
    current: set[str] = field(default_factory=set)  # benefits in payment at the horizon
    disability: int = 0  # 0 none, 1 lower rates, 2 higher rates
    care_award_start: date | None = None  # start of an award that qualifies a carer for CA
    capital: float = 0.0
    state_pension: float = 0.0


@dataclass(slots=True)
class _Draft:
    role: str
    sex: Sex
    given: str
    middle: str | None
    family: str
    dob: date
    partnered: bool


@dataclass(slots=True)
class _Street:
    town: nm.Town
    name: str
    district: str
    next_number: int = 1
    postcodes: list[str] = field(default_factory=list)
    block: int = 0
    flats_left: int = 0
    flat_number: int = 0


_INWARD_LETTERS: Final = "ABDEFGHJLNPQRSTUWXYZ"  # C, I, K, M, O and V never appear in an inward code
_POSTCODE_BLOCK: Final = 14  # house numbers that share one postcode
_NEW_STREET_CHANCE: Final = 1 / 30


class _AddressBook:
    """Streets of each council's area, filled house by house so that neighbours share postcodes."""

    def __init__(self, councils: Sequence[str]) -> None:
        self._areas = {c: nm.AREAS[i % len(nm.AREAS)] for i, c in enumerate(councils)}
        self._towns = {c: _Weighted.of((t, t.weight) for t in a.towns) for c, a in self._areas.items()}
        self._streets: dict[str, list[_Street]] = {c: [] for c in councils}
        self._street_names: set[tuple[str, str]] = set()
        self._postcodes: set[str] = set()

    def rent_index(self, council: str) -> float:
        return self._areas[council].rent_index

    def new_address(self, rng: random.Random, council: str) -> _Address:
        streets = self._streets[council]
        if not streets or rng.random() < _NEW_STREET_CHANCE:
            street = self._new_street(rng, council)
            streets.append(street)
        else:
            street = streets[rng.randrange(len(streets))]
        if rng.random() < 0.25:
            if street.flats_left == 0:
                street.block, street.flats_left, street.flat_number = street.next_number, rng.randint(4, 24), 0
                street.next_number += 1
            street.flat_number += 1
            street.flats_left -= 1
            number = street.block
            line1 = f"Flat {street.flat_number}, {number} {street.name}"
        else:
            number = street.next_number
            street.next_number += 1 if rng.random() < 0.7 else 2
            line1 = f"{number} {street.name}"
        index = (number - 1) // _POSTCODE_BLOCK
        while len(street.postcodes) <= index:
            street.postcodes.append(self._new_postcode(rng, street.district))
        line2 = rng.choice(street.town.localities) if rng.random() < 0.2 else None
        return _Address(line1, line2, street.town.name, street.postcodes[index])

    def older_address(self, rng: random.Random, council: str, current: _Address) -> _Address:
        # A move within the council's area; a different postcode, or the move would be invisible.
        for _ in range(20):
            address = self.new_address(rng, council)
            if address.postcode != current.postcode:
                return address
        return self._on_new_street(rng, council)

    def _on_new_street(self, rng: random.Random, council: str) -> _Address:
        street = self._new_street(rng, council)
        self._streets[council].append(street)
        street.next_number = 2
        street.postcodes.append(self._new_postcode(rng, street.district))
        return _Address(f"1 {street.name}", None, street.town.name, street.postcodes[0])

    def _new_street(self, rng: random.Random, council: str) -> _Street:
        town = self._towns[council].pick(rng)
        name = ""
        for attempt in range(40):
            name = f"{rng.choice(nm.STREET_STEMS)} {rng.choice(nm.STREET_SUFFIXES)}"
            if attempt >= 10:
                name = f"{rng.choice(nm.STREET_PREFIXES)} {name}"
            if (town.name, name) not in self._street_names:
                break
        # After 40 tries the name repeats: real towns have two Station Roads too.
        self._street_names.add((town.name, name))
        return _Street(town=town, name=name, district=rng.choice(town.districts))

    def _new_postcode(self, rng: random.Random, district: str) -> str:
        code = ""
        for _ in range(100):
            code = f"{district} {rng.randrange(10)}{rng.choice(_INWARD_LETTERS)}{rng.choice(_INWARD_LETTERS)}"
            if code not in self._postcodes:
                break
        self._postcodes.add(code)
        return code


class _Names:
    """Weighted pickers for given names (by origin, sex and birth cohort) and surnames."""

    def __init__(self) -> None:
        self.origins = _Weighted.of(nm.ORIGIN_WEIGHTS.items())
        self._given = {
            (origin, sex, cohort): _Weighted.of(
                (g.name, g.weights[cohort]) for g in nm.given_names(origin) if g.sex == sex
            )
            for origin in nm.ORIGINS
            for sex in ("F", "M")
            for cohort in range(3)
        }
        self._surnames = {
            (origin, sex): _Weighted.of((s, s.weight) for s in nm.surnames(origin) if s.sex_only in (None, sex))
            for origin in nm.ORIGINS
            for sex in ("F", "M")
        }

    def given(self, rng: random.Random, origin: Origin, sex: Sex, born: date, avoid: set[str]) -> str:
        cohort = 0 if born.year < 1960 else 1 if born.year < 1990 else 2
        chooser = self._given[(origin, sex, cohort)]
        name = chooser.pick(rng)
        for _ in range(50):
            if name not in avoid:
                break
            name = chooser.pick(rng)
        return name

    def middle(self, rng: random.Random, origin: Origin, sex: Sex, born: date, given: str) -> str | None:
        draw = rng.random()
        if draw < 0.35:
            return None
        first = self.given(rng, origin, sex, born, {given})
        if draw < 0.9:
            return first
        return f"{first} {self.given(rng, origin, sex, born, {given, first})}"

    def surname(self, rng: random.Random, origin: Origin, sex: Sex) -> nm.Surname:
        return self._surnames[(origin, sex)].pick(rng)


def _form(surname: nm.Surname, sex: Sex) -> str:
    return surname.female_form if sex == "F" and surname.female_form else surname.name


_KINDS: Final = _Weighted.of(
    (("single", 30.0), ("couple", 27.0), ("family", 19.0), ("lone_parent", 8.0), ("multi_generation", 10.0))
)
_CHILD_COUNT: Final = _Weighted.of(((1, 45.0), (2, 38.0), (3, 13.0), (4, 4.0)))
_TWIN_RATE: Final = 0.06  # of families with two or more children: far above life, so tests meet them
_JUNIOR_RATE: Final = 0.10  # a son given his father's first name, living with him


def _population(params: SynthParams, book: _AddressBook) -> tuple[list[_Person], list[list[_Person]]]:
    rng = _stream(params.seed, "population")
    names = _Names()
    people: list[_Person] = []
    households: list[list[_Person]] = []
    while len(people) < params.people:
        council = params.councils[rng.randrange(len(params.councils))]
        drafts = _household(rng, names, params.reference_date)[: params.people - len(people)]
        address = book.new_address(rng, council)
        household_id = len(households) + 1
        members = []
        for d in drafts:
            age = _age(d.dob, params.reference_date)
            member = _Person(
                person_id=len(people) + 1,
                household_id=household_id,
                role=d.role,
                sex=d.sex,
                title=_title(rng, d.sex, age, d.partnered),
                given=d.given,
                middle=d.middle,
                family=d.family,
                dob=d.dob,
                dod=_date_of_death(rng, d.dob, age, params.reference_date),
                council=council,
                address=address,
            )
            people.append(member)
            members.append(member)
        households.append(members)
    _assign_ninos(params.seed, people)
    return people, households


def _birthday(rng: random.Random, on: date, age: int) -> date:
    return _years_after(on, -age) - timedelta(days=rng.randrange(365))


# Ages of people over 66 in five-year bands (UK mid-year estimates, rounded): centenarians are rare.
_PENSIONER_BANDS: Final = _Weighted.of(
    (((66, 69), 14.5), ((70, 74), 24.0), ((75, 79), 21.0), ((80, 84), 15.0), ((85, 89), 9.0), ((90, 94), 4.0),
     ((95, 99), 1.0), ((100, 100), 0.1))
)  # fmt: skip


def _pensioner_age(rng: random.Random) -> int:
    low, high = _PENSIONER_BANDS.pick(rng)
    return rng.randint(low, high)


def _adult_age(rng: random.Random, low: int, high: int, mode: float) -> int:
    return min(high, int(rng.triangular(low, high + 1, mode)))


def _household(rng: random.Random, names: _Names, ref: date) -> list[_Draft]:
    kind = _KINDS.pick(rng)
    origin = names.origins.pick(rng)
    if kind == "single":
        pensioner = rng.random() < 0.42
        age = _pensioner_age(rng) if pensioner else rng.randint(18, 65)
        sex: Sex = "F" if rng.random() < (0.6 if pensioner else 0.45) else "M"
        surname = names.surname(rng, origin, sex)
        return [_adult(rng, names, ref, origin, "claimant", sex, age, _form(surname, sex), partnered=False)]
    if kind == "couple":
        age = _pensioner_age(rng) if rng.random() < 0.4 else _adult_age(rng, 22, 65, 60)
        first, second, _ = _couple(rng, names, ref, origin, age)
        return [first, second]
    if kind == "family":
        mother_age = max(20, min(55, round(rng.gauss(37, 7))))
        first, second, father_surname = _couple(rng, names, ref, origin, mother_age + round(rng.gauss(2, 3)))
        parents = [first, second]
        return parents + _children(rng, names, ref, origin, mother_age, father_surname, parents)
    if kind == "lone_parent":
        sex = "F" if rng.random() < 0.88 else "M"
        age = max(18, min(60, round(rng.gauss(38, 8))))
        surname = names.surname(rng, origin, sex)
        parent = _adult(rng, names, ref, origin, "claimant", sex, age, _form(surname, sex), partnered=False)
        # Children of a mother called Begum or Kaur carry their father's name, not hers.
        child_surname = surname if surname.sex_only is None else names.surname(rng, origin, "M")
        return [parent, *_children(rng, names, ref, origin, age, child_surname, [parent])]
    # multi_generation: parent(s) with grown-up children living at home as non-dependants
    parent_age = _adult_age(rng, 45, 85, 60)
    if rng.random() < 0.55:
        first, second, surname = _couple(rng, names, ref, origin, parent_age)
        parents = [first, second]
    else:
        sex = "F" if rng.random() < 0.6 else "M"
        surname = names.surname(rng, origin, sex)
        if surname.sex_only is not None:
            surname = names.surname(rng, origin, "M")
        parents = [_adult(rng, names, ref, origin, "claimant", sex, parent_age, _form(surname, sex), False)]
    members = list(parents)
    used = {p.given for p in parents}
    for _ in range(1 if rng.random() < 0.7 else 2):
        age = rng.randint(18, max(18, min(50, parent_age - 20)))
        sex = "F" if rng.random() < 0.45 else "M"
        child = _adult(rng, names, ref, origin, "non_dependant", sex, age, _form(surname, sex), False, used)
        used.add(child.given)
        members.append(child)
    _maybe_junior(rng, members)
    return members


def _adult(
    rng: random.Random,
    names: _Names,
    ref: date,
    origin: Origin,
    role: str,
    sex: Sex,
    age: int,
    family: str,
    partnered: bool,
    avoid: set[str] | None = None,
) -> _Draft:
    dob = _birthday(rng, ref, max(0, min(100, age)))
    given = names.given(rng, origin, sex, dob, avoid or set())
    return _Draft(role, sex, given, names.middle(rng, origin, sex, dob, given), family, dob, partnered)


def _couple(
    rng: random.Random, names: _Names, ref: date, origin: Origin, age: int
) -> tuple[_Draft, _Draft, nm.Surname]:
    # Returns (claimant, partner, the surname children take).
    sexes: tuple[Sex, Sex] = ("M", "F")
    if rng.random() < 0.02:
        sexes = ("M", "M") if rng.random() < 0.5 else ("F", "F")
    surname = names.surname(rng, origin, "M")
    if surname.sex_only is not None:
        surname = names.surname(rng, origin, "M")
    partner_origin = origin if rng.random() < 0.9 else names.origins.pick(rng)
    a = _adult(rng, names, ref, origin, "claimant", sexes[0], age, _form(surname, sexes[0]), True)
    if rng.random() < 0.7:
        b_family = _form(surname, sexes[1])
    else:
        b_family = _form(names.surname(rng, partner_origin, sexes[1]), sexes[1])
    b_age = max(18, min(100, age + round(rng.gauss(-2, 4))))
    b = _adult(rng, names, ref, partner_origin, "partner", sexes[1], b_age, b_family, True, {a.given})
    if rng.random() < 0.5:
        a.role, b.role = "partner", "claimant"
        return b, a, surname
    return a, b, surname


def _children(
    rng: random.Random,
    names: _Names,
    ref: date,
    origin: Origin,
    mother_age: int,
    surname: nm.Surname,
    parents: list[_Draft],
) -> list[_Draft]:
    low, high = max(0, mother_age - 45), min(17, mother_age - 18)
    if high < low:
        return []
    count = _CHILD_COUNT.pick(rng)
    dobs = sorted(_birthday(rng, ref, rng.randint(low, high)) for _ in range(count))
    if count >= 2 and rng.random() < _TWIN_RATE:
        dobs[1] = dobs[0]
    used = {p.given for p in parents}
    children: list[_Draft] = []
    for dob in dobs:
        sex: Sex = "F" if rng.random() < 0.49 else "M"
        given = names.given(rng, origin, sex, dob, used)
        used.add(given)
        middle = names.middle(rng, origin, sex, dob, given)
        children.append(_Draft("child", sex, given, middle, _form(surname, sex), dob, False))
    _maybe_junior(rng, [*parents, *children])
    return children


def _maybe_junior(rng: random.Random, members: list[_Draft]) -> None:
    fathers = [m for m in members if m.role in ("claimant", "partner") and m.sex == "M"]
    sons = [m for m in members if m.role in ("child", "non_dependant") and m.sex == "M"]
    if fathers and sons and rng.random() < _JUNIOR_RATE:
        father, son = fathers[0], sons[0]
        if son.family == father.family and all(m.given != father.given for m in members if m is not father):
            son.given = father.given


def _title(rng: random.Random, sex: Sex, age: int, partnered: bool) -> str | None:
    if age < 16:
        return None if rng.random() < 0.8 else ("Master" if sex == "M" else "Miss")
    draw = rng.random()
    if draw < 0.04:
        return None
    if draw < 0.06:
        return "Dr"
    if draw < 0.063:
        return "Mx"
    if sex == "M":
        return "Mr"
    if partnered:
        return "Mrs" if rng.random() < 0.75 else "Ms"
    if age < 30:
        return "Miss" if rng.random() < 0.6 else "Ms"
    if age < 65:
        return rng.choice(("Ms", "Ms", "Miss", "Mrs"))
    return rng.choice(("Mrs", "Mrs", "Mrs", "Miss", "Ms"))


def _date_of_death(rng: random.Random, dob: date, age: int, ref: date) -> date | None:
    chance = 0.0005 if age < 40 else 0.003 if age < 65 else 0.02 if age < 80 else 0.06 if age < 90 else 0.12
    if rng.random() >= chance:
        return None
    return max(dob, ref - timedelta(days=rng.randint(1, 3 * 365)))


_NINO_PREFIXES: Final = tuple(
    a + b
    for a in string.ascii_uppercase
    for b in string.ascii_uppercase
    if a not in FIRST_LETTER_EXCLUDED and b not in SECOND_LETTER_EXCLUDED and a + b not in UNALLOCATED_PREFIXES
)
_NINO_SUFFIXES: Final = "".join(sorted(SUFFIXES))


def _assign_ninos(seed: int, people: list[_Person]) -> None:
    rng = _stream(seed, "nino")
    # Unique on the first eight characters: the suffix does not tell two people apart.
    used: set[str] = set()
    for p in people:
        while True:
            stem = f"{_NINO_PREFIXES[rng.randrange(len(_NINO_PREFIXES))]}{rng.randrange(1_000_000):06d}"
            if stem not in used:
                break
        used.add(stem)
        p.nino = stem + _NINO_SUFFIXES[rng.randrange(len(_NINO_SUFFIXES))]


# ---------------------------------------------------------------------------------------------------
# DWP: awards, declared income and capital

# PIP mobility: (planning-and-following-journeys descriptor, moving-around points). The mobility rate
# follows the total: planning a=0 b=4 c=8 d=10 e=10 f=12 plus moving-around points; standard needs
# 8-11 points, enhanced 12+. Weighted so that many reach the Blue Badge criteria (8+ moving around,
# or planning descriptor e).
_PLANNING_POINTS: Final = {"a": 0, "b": 4, "c": 8, "d": 10, "e": 10, "f": 12}
_PIP_STANDARD: Final = _Weighted.of(
    ((("a", 8), 30.0), (("a", 10), 15.0), (("b", 4), 15.0), (("c", 0), 10.0), (("d", 0), 10.0), (("e", 0), 20.0))
)
_PIP_ENHANCED: Final = _Weighted.of(
    (
        (("a", 12), 35.0), (("b", 8), 10.0), (("b", 10), 8.0), (("b", 12), 10.0), (("c", 4), 5.0),
        (("c", 8), 4.0), (("d", 4), 4.0), (("e", 4), 6.0), (("e", 8), 4.0), (("e", 12), 2.0),
        (("f", 0), 8.0), (("f", 4), 4.0),
    )
)  # fmt: skip
_DLA_CARE: Final = _Weighted.of((("lowest", 30.0), ("middle", 45.0), ("highest", 25.0)))


@dataclass(slots=True)
class _DwpRows:
    ref: date
    awards: list[Row] = field(default_factory=list)
    incomes: list[Row] = field(default_factory=list)
    capitals: list[Row] = field(default_factory=list)
    starts: dict[tuple[int, str], date] = field(default_factory=dict)  # (person, benefit) -> latest start

    def award(
        self,
        p: _Person,
        benefit: str,
        component: str | None,
        rate: str | None,
        amount: Decimal,
        start: date,
        end: date | None,
        points: int | None = None,
        descriptor: str | None = None,
    ) -> None:
        horizon = p.dod or self.ref
        start = min(start, horizon)
        if p.dod is not None and (end is None or end > p.dod):
            end = p.dod  # DWP ends every award on the date of death
        elif end is not None and end > horizon:
            end = None  # not ended yet: end dates are never after the reference date
        if end is not None and end < start:
            end = start
        if end is None or (p.dod is not None and end == p.dod):
            p.current.add(benefit)
        self.starts[(p.person_id, benefit)] = start
        self.awards.append(
            (len(self.awards) + 1, p.person_id, benefit, component, rate, amount, start, end, points, descriptor)
        )


def _dwp(params: SynthParams, people: list[_Person], households: list[list[_Person]]) -> _DwpRows:
    rng = _stream(params.seed, "dwp")
    rows = _DwpRows(ref=params.reference_date)
    ref = params.reference_date
    for household in households:
        children = sum(1 for m in household if m.role == "child")
        has_partner = any(m.role == "partner" for m in household)
        for p in household:
            horizon = p.dod or ref
            age = _age(p.dob, horizon)
            spa = _state_pension_date(p.dob)
            if age < 16:
                _child_dla(rng, rows, p, horizon, age)
            elif spa > horizon:
                _working_age(rng, rows, p, horizon, age, children, has_partner)
            else:
                _pension_age(rng, rows, p, horizon, age, spa, has_partner)
    _carers(rng, rows, households, ref)
    _income_and_capital(rng, rows, people, ref)
    return rows


def _child_dla(rng: random.Random, rows: _DwpRows, p: _Person, horizon: date, age: int) -> None:
    earliest = p.dob + timedelta(days=91)
    if earliest > horizon or rng.random() >= 0.05:
        return
    start = _between(rng, earliest, horizon)
    end = _between(rng, start, horizon) if rng.random() < 0.05 else None
    care = _DLA_CARE.pick(rng)
    rows.award(p, "DLA", "care", care, WEEKLY_RATES_2026[("DLA", "care", care)], start, end)
    p.disability = 2 if care != "lowest" else 1
    if end is None and care != "lowest":
        p.care_award_start = start
    if age >= 3 and rng.random() < 0.55:
        mobility = "higher" if age < 5 or rng.random() < 0.55 else "lower"
        first = _years_after(p.dob, 3 if mobility == "higher" else 5)
        mobility_start = _between(rng, max(start, first), horizon)
        rows.award(
            p, "DLA", "mobility", mobility, WEEKLY_RATES_2026[("DLA", "mobility", mobility)], mobility_start, end
        )
        if mobility == "higher":
            p.disability = 2


def _pip(rng: random.Random, rows: _DwpRows, p: _Person, start: date, end: date | None) -> None:
    daily_living = rng.random() < 0.92
    if daily_living:
        rate = "enhanced" if rng.random() < 0.48 else "standard"
        rows.award(p, "PIP", "daily_living", rate, WEEKLY_RATES_2026[("PIP", "daily_living", rate)], start, end)
        p.disability = max(p.disability, 2 if rate == "enhanced" else 1)
        if end is None:
            p.care_award_start = start
    if not daily_living or rng.random() < 0.75:
        rate = "enhanced" if rng.random() < 0.55 else "standard"
        planning, moving = (_PIP_ENHANCED if rate == "enhanced" else _PIP_STANDARD).pick(rng)
        rows.award(
            p, "PIP", "mobility", rate, WEEKLY_RATES_2026[("PIP", "mobility", rate)], start, end, moving, planning
        )
        p.disability = max(p.disability, 2 if rate == "enhanced" else 1)


def _working_age(
    rng: random.Random,
    rows: _DwpRows,
    p: _Person,
    horizon: date,
    age: int,
    children: int,
    has_partner: bool,
) -> None:
    # PIP: claimed from 16; a young adult may have had child DLA until their 16th birthday.
    if rng.random() < (0.04 if age < 25 else 0.06 if age < 50 else 0.11):
        start = _between(rng, max(_PIP_START, _years_after(p.dob, 16)), horizon)
        if age <= 25 and rng.random() < 0.5:
            dla_start = _between(rng, _years_after(p.dob, 2), _years_after(p.dob, 15))
            dla_end = min(start - timedelta(days=1), _years_after(p.dob, 16) + timedelta(days=rng.randrange(300)))
            if dla_start <= dla_end <= horizon:
                care = _DLA_CARE.pick(rng)
                rows.award(p, "DLA", "care", care, WEEKLY_RATES_2026[("DLA", "care", care)], dla_start, dla_end)
        _pip(rng, rows, p, start, _between(rng, start, horizon) if rng.random() < 0.08 else None)
    if age < 18:
        return
    allowance = _REF["personal_allowance_25_plus"] if age >= 25 else _REF["personal_allowance_under_25"]
    adult_from = _years_after(p.dob, 18)
    lone_parent = p.role == "claimant" and children > 0 and not has_partner
    on_uc = False
    # Legacy Income Support, closed by managed migration to UC.
    if p.role == "claimant" and adult_from < date(2021, 1, 1) and rng.random() < (0.05 if lone_parent else 0.008):
        start = _between(rng, max(adult_from, date(2008, 1, 1)), min(horizon, date(2020, 12, 31)))
        migrated = _between(rng, max(start, _MIGRATION_FROM), min(horizon, _MIGRATION_TO))
        rows.award(p, "IS", None, None, _money(allowance + rng.uniform(0, 40)), start, migrated)
        if migrated < horizon:
            on_uc = _universal_credit(rng, rows, p, migrated + timedelta(days=1), horizon, age, children, has_partner)
    # ESA: new-style (contribution) continues; income-related moved to UC.
    end: date | None
    if age >= 25 and rng.random() < 0.035 + (0.12 if p.disability else 0.0):
        support = _REF["esa_support_component"] if rng.random() < 0.5 else 0.0
        start = _between(rng, max(adult_from, date(2010, 1, 1)), horizon)
        if rng.random() < 0.55:
            end = None if rng.random() < 0.7 else _between(rng, start, horizon)
            rows.award(p, "ESA", "contribution", None, _money(allowance + support), start, end)
        else:
            end = (
                None if rng.random() < 0.1 else _between(rng, max(start, _MIGRATION_FROM), min(horizon, _MIGRATION_TO))
            )
            rows.award(p, "ESA", "income", None, _money(allowance + support + rng.uniform(0, 30)), start, end)
            if end is not None and end < horizon and not on_uc:
                on_uc = _universal_credit(rng, rows, p, end + timedelta(days=1), horizon, age, children, has_partner)
    # JSA: mostly short spells long ended; new-style JSA lasts at most six months.
    if rng.random() < 0.03:
        if rng.random() < 0.85:
            start = _between(rng, max(adult_from, date(2010, 1, 1)), horizon - timedelta(days=28))
            end = min(horizon, start + timedelta(days=rng.randint(28, 182)))
            component = "contribution" if rng.random() < 0.9 or start > date(2020, 1, 1) else "income"
            rows.award(p, "JSA", component, None, _money(allowance), start, end)
        else:
            start = _between(rng, max(adult_from, horizon - timedelta(days=182)), horizon)
            rows.award(p, "JSA", "contribution", None, _money(allowance), start, None)
    if not on_uc and p.role in ("claimant", "non_dependant"):
        chance = 0.55 if lone_parent else 0.18 if p.role == "claimant" else 0.10
        if p.disability:
            chance += 0.15
        if rng.random() < chance:
            start = _between(rng, max(adult_from, _UC_FULL_SERVICE), horizon)
            _universal_credit(rng, rows, p, start, horizon, age, children, has_partner)


def _universal_credit(
    rng: random.Random,
    rows: _DwpRows,
    p: _Person,
    start: date,
    horizon: date,
    age: int,
    children: int,
    has_partner: bool,
) -> bool:
    if has_partner and p.role == "claimant":
        amount = _REF["uc_standard_couple_25_plus"]
    else:
        amount = _REF["uc_standard_single_25_plus"] if age >= 25 else _REF["uc_standard_single_under_25"]
    if p.role == "claimant":
        amount += children * _REF["uc_child_element"]
    if p.disability:
        amount += _REF["uc_lcwra_element"]
    if rng.random() < 0.4:  # earnings taper
        amount *= 1 - rng.uniform(0, 0.8)
    end = _between(rng, start + timedelta(days=30), horizon) if rng.random() < 0.12 else None
    rows.award(p, "UC", None, None, _money(max(5.0, amount)), start, end)
    return end is None


def _pension_age(
    rng: random.Random, rows: _DwpRows, p: _Person, horizon: date, age: int, spa: date, has_partner: bool
) -> None:
    # State Pension from State Pension age: new State Pension for those reaching it from April 2016.
    if spa >= _NEW_STATE_PENSION_FROM:
        full = _REF["state_pension_new_full"]
        p.state_pension = full if rng.random() < 0.65 else full * rng.uniform(0.55, 1.0)
    else:
        p.state_pension = _REF["state_pension_basic_full"] * rng.uniform(0.85, 1.0) + rng.uniform(0, 80)
    rows.award(p, "SP", None, None, _money(p.state_pension), spa, None)
    # Disability: PIP kept from before State Pension age, legacy DLA for the oldest, otherwise AA.
    if age < 80 and spa > _PIP_START + timedelta(days=1) and rng.random() < 0.05:
        start = _between(rng, max(_PIP_START, _years_after(p.dob, 16)), spa - timedelta(days=1))
        _pip(rng, rows, p, start, None)
    elif p.dob < _DLA_ADULTS_BORN_BEFORE and rng.random() < 0.04:
        start = _between(rng, _years_after(p.dob, 40), min(horizon, _PIP_START - timedelta(days=1)))
        care = _DLA_CARE.pick(rng)
        rows.award(p, "DLA", "care", care, WEEKLY_RATES_2026[("DLA", "care", care)], start, None)
        p.disability = 2 if care != "lowest" else 1
        if care != "lowest":
            p.care_award_start = start
        if rng.random() < 0.6:
            mobility = "higher" if rng.random() < 0.6 else "lower"
            rows.award(p, "DLA", "mobility", mobility, WEEKLY_RATES_2026[("DLA", "mobility", mobility)], start, None)
    elif rng.random() < (0.07 if age < 75 else 0.17 if age < 85 else 0.33):
        rate = "higher" if rng.random() < 0.45 else "lower"
        start = _between(rng, spa, horizon)
        rows.award(p, "AA", None, rate, WEEKLY_RATES_2026[("AA", None, rate)], start, None)
        p.disability = 2 if rate == "higher" else 1
        p.care_award_start = start
    # Pension Credit: one award per couple, so only the claimant's record carries it.
    if p.role != "partner" and rng.random() < 0.10 + (0.10 if p.disability else 0.0) + (0.05 if age >= 80 else 0.0):
        key = "pension_credit_guarantee_couple" if has_partner else "pension_credit_guarantee_single"
        guarantee = max(2.5, _REF[key] - p.state_pension - rng.uniform(0, 40))
        start = _between(rng, spa, horizon)
        rows.award(p, "PC", "guarantee", None, _money(guarantee), start, None)
        if spa < _NEW_STATE_PENSION_FROM and rng.random() < 0.3:
            savings = rng.uniform(1, _REF["pension_credit_savings_max_single"])
            rows.award(p, "PC", "savings", None, _money(savings), start, None)


def _carers(rng: random.Random, rows: _DwpRows, households: list[list[_Person]], ref: date) -> None:
    # Carer's Allowance goes to someone at the same address who cares for a person on a qualifying
    # disability award (PIP daily living, DLA care middle/highest, AA).
    for household in households:
        for cared_for in household:
            if cared_for.care_award_start is None or cared_for.dod is not None or rng.random() >= 0.45:
                continue
            carers = [
                m
                for m in household
                if m is not cared_for
                and m.dod is None
                and _age(m.dob, ref) >= 16
                and _state_pension_date(m.dob) > ref
                and "CA" not in m.current
            ]
            if not carers:
                continue
            carers.sort(key=lambda m: (m.role != "partner", m.role != "claimant", m.person_id))
            carer = carers[0]
            start = _between(rng, max(cared_for.care_award_start, _years_after(carer.dob, 16)), ref)
            end = _between(rng, start, ref) if rng.random() < 0.1 else None
            rows.award(carer, "CA", None, None, WEEKLY_RATES_2026[("CA", None, None)], start, end)


def _income_and_capital(rng: random.Random, rows: _DwpRows, people: list[_Person], ref: date) -> None:
    def since(p: _Person, benefit: str) -> date:
        return _between(rng, rows.starts[(p.person_id, benefit)], p.dod or ref)

    def capital(p: _Person, kind: str, amount: float, on: date) -> None:
        rows.capitals.append((len(rows.capitals) + 1, p.person_id, kind, _money(amount), on))
        p.capital += amount

    # Pensioners declare pensions, UC claimants earnings; capital is asked for by the means-tested
    # benefits (PC, UC) and volunteered by a few others. Social care charging reads it back later.
    for p in people:
        if (p.person_id, "SP") in rows.starts:
            if rng.random() < 0.40:
                amount = 15 + rng.expovariate(1 / 90)
                on = since(p, "SP")
                rows.incomes.append((len(rows.incomes) + 1, p.person_id, "occupational_pension", _money(amount), on))
            if rng.random() < 0.12:
                on = since(p, "SP")
                amount = rng.uniform(5, 150)
                rows.incomes.append((len(rows.incomes) + 1, p.person_id, "private_pension", _money(amount), on))
        if (p.person_id, "UC") in rows.starts and rng.random() < 0.35:
            on = since(p, "UC")
            amount = rng.uniform(40, 450)
            rows.incomes.append((len(rows.incomes) + 1, p.person_id, "earnings", _money(amount), on))
        if p.current and rng.random() < 0.03:
            benefit = min(p.current)
            on = since(p, benefit)
            amount = rng.uniform(5, 60)
            rows.incomes.append((len(rows.incomes) + 1, p.person_id, "other", _money(amount), on))
        if (p.person_id, "PC") in rows.starts:
            if rng.random() < 0.45:
                capital(p, "savings", min(60_000.0, rng.expovariate(1 / 5000)), since(p, "PC"))
        elif (p.person_id, "UC") in rows.starts:
            if rng.random() < 0.20:
                capital(p, "savings", min(15_999.0, rng.expovariate(1 / 3000)), since(p, "UC"))
        elif (p.person_id, "SP") in rows.starts:
            if rng.random() < 0.10:
                capital(p, "savings", rng.expovariate(1 / 15_000), since(p, "SP"))
            if rng.random() < 0.04:
                capital(p, "investments", rng.expovariate(1 / 25_000), since(p, "SP"))
            if rng.random() < 0.01:
                capital(p, "property", rng.uniform(60_000, 250_000), since(p, "SP"))


# ---------------------------------------------------------------------------------------------------
# What a council keyed: the truth, with errors


@dataclass(frozen=True, slots=True)
class _Keyed:
    nino: str | None
    given: str
    family: str
    dob: date
    address: _Address


_KEY_NEIGHBOURS: Final = {
    "a": "qwsz", "b": "vghn", "c": "xdfv", "d": "serfcx", "e": "wsdr", "f": "drtgvc", "g": "ftyhbv",
    "h": "gyujnb", "i": "ujko", "j": "huikmn", "k": "jiolm", "l": "kop", "m": "njk", "n": "bhjm",
    "o": "iklp", "p": "ol", "q": "wa", "r": "edft", "s": "awedxz", "t": "rfgy", "u": "yhji", "v": "cfgb",
    "w": "qase", "x": "zsdc", "y": "tghu", "z": "asx",
}  # fmt: skip
_BAD_SUFFIXES: Final = "EFGHJKLMNPRSTWXYZ"


def _typo(rng: random.Random, name: str) -> str:
    """One keying slip: neighbouring key, dropped or doubled letter, transposition, lost punctuation."""
    for _ in range(30):
        op = rng.randrange(5)
        i = rng.randrange(len(name))
        c = name[i]
        if op == 0 and c.lower() in _KEY_NEIGHBOURS:
            r = rng.choice(_KEY_NEIGHBOURS[c.lower()])
            candidate = name[:i] + (r.upper() if c.isupper() else r) + name[i + 1 :]
        elif op == 1 and len(name) > 3 and c.isalpha() and i > 0:
            candidate = name[:i] + name[i + 1 :]
        elif op == 2 and c.isalpha() and i > 0:
            candidate = name[: i + 1] + c + name[i + 1 :]
        elif op == 3 and 0 < i < len(name) - 1 and name[i] != name[i + 1] and name[i : i + 2].isalpha():
            candidate = name[:i] + name[i + 1] + name[i] + name[i + 2 :]
        elif op == 4 and any(ch in name for ch in " -'"):
            candidate = name.replace("'", "", 1) if "'" in name else name.replace("-", " ", 1).replace(" ", "", 1)
        else:
            continue
        if candidate and candidate != name:
            return candidate
    return name + name[-1]


def _mistype_nino(rng: random.Random, nino: str) -> str:
    digits = nino[2:8]
    kind = rng.random()
    if kind < 0.8:
        pairs = [i for i in range(5) if digits[i] != digits[i + 1]]
        if kind >= 0.5 and pairs:  # adjacent digits transposed
            i = rng.choice(pairs)
            digits = digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :]
        else:  # one digit changed
            i = rng.randrange(6)
            digits = digits[:i] + str((int(digits[i]) + rng.randint(1, 9)) % 10) + digits[i + 1 :]
        return nino[:2] + digits + nino[8]
    # Keyed so that it no longer looks like a NINO at all.
    invalid = rng.randrange(4)
    if invalid == 0 and "0" in digits:
        return nino[:2] + digits.replace("0", "O", 1) + nino[8]
    if invalid == 1:
        return nino[:8] + rng.choice(_BAD_SUFFIXES)
    if invalid == 2:
        return nino[:8]
    i = rng.randrange(6)
    return nino[:2] + digits[:i] + digits[i + 1 :] + nino[8]


def _format_nino(rng: random.Random, value: str) -> str:
    draw = rng.random()
    if draw < 0.6 and len(value) == 9:
        return f"{value[:2]} {value[2:4]} {value[4:6]} {value[6:8]} {value[8]}"
    if draw < 0.85:
        return value.lower()
    return f" {value} "


def _swap_day_month(dob: date, ref: date) -> date | None:
    if dob.day > 12 or dob.day == dob.month:
        return None
    swapped = date(dob.year, dob.day, dob.month)
    return swapped if swapped <= ref else None


def _as_keyed(
    rng: random.Random,
    params: SynthParams,
    book: _AddressBook,
    p: _Person,
    nino_present: float,
    labels: set[str],
) -> _Keyed:
    nino: str | None = None
    if rng.random() < nino_present:
        nino = p.nino
        if rng.random() < params.nino_mistyped_rate:
            nino = _mistype_nino(rng, nino)
            labels.add("nino_mistyped")
        if rng.random() < params.nino_formatted_rate:
            nino = _format_nino(rng, nino)
            labels.add("nino_formatted")
    else:
        labels.add("nino_missing")
    given, family, dob = _keyed_name_and_dob(rng, params, p, labels)
    address = p.address
    if rng.random() < params.moved_address_rate:
        address = book.older_address(rng, p.council, p.address)
        labels.add("moved_address")
    return _Keyed(nino, given, family, dob, address)


def _keyed_name_and_dob(rng: random.Random, params: SynthParams, p: _Person, labels: set[str]) -> tuple[str, str, date]:
    given, family, dob = p.given, p.family, p.dob
    variants = nm.name_variants(given, p.sex)
    if variants and rng.random() < params.nickname_rate:
        given = rng.choice(variants)
        labels.add("nickname")
    if rng.random() < params.name_typo_rate:
        if rng.random() < 0.5:
            given = _typo(rng, given)
        else:
            family = _typo(rng, family)
        labels.add("name_typo")
    swapped = _swap_day_month(p.dob, params.reference_date)
    if swapped is not None and rng.random() < params.dob_swap_rate:
        dob = swapped
        labels.add("dob_swap")
    return given, family, dob


def _weighted_order(rng: random.Random, weights: Sequence[tuple[_Person, float]]) -> list[_Person]:
    # Efraimidis-Spirakis: ordering by u ** (1 / w), the first k are a weighted sample without
    # replacement. Zero weights are never drawn.
    keyed = [(rng.random() ** (1.0 / w), p.person_id, p) for p, w in weights if w > 0]
    keyed.sort(key=lambda t: (t[0], t[1]), reverse=True)
    return [p for _, _, p in keyed]


# ---------------------------------------------------------------------------------------------------
# Adult social care


@dataclass(slots=True)
class _SocialCare:
    clients: list[Row] = field(default_factory=list)
    plans: list[Row] = field(default_factory=list)
    placements: list[Row] = field(default_factory=list)
    assessments: list[Row] = field(default_factory=list)
    truth: list[Row] = field(default_factory=list)
    perturbations: dict[str, frozenset[str]] = field(default_factory=dict)
    overnight_now: set[int] = field(default_factory=set)  # person ids whose current plan needs overnight care
    in_home: set[int] = field(default_factory=set)  # person ids living in a care home now


_PLAN_COUNT: Final = _Weighted.of(((1, 60.0), (2, 30.0), (3, 10.0)))  # care plans per client, over time


def _nhs_number(rng: random.Random, used: set[str]) -> str:
    # 999 is the NHS's test range: a synthetic number can never be a real patient's.
    if len(used) >= 900_000:
        raise ValueError("too many social care clients for the 999 NHS test number range; lower the coverage")
    while True:
        body = f"999{rng.randrange(1_000_000):06d}"
        check = 11 - sum(int(d) * w for d, w in zip(body, range(10, 1, -1), strict=True)) % 11
        check = 0 if check == 11 else check
        if check == 10:
            continue
        number = f"{body}{check}"
        if number not in used:
            used.add(number)
            return number


def _social_care_weight(p: _Person, ref: date) -> float:
    horizon = p.dod or ref
    age = _age(p.dob, horizon)
    if age < 18:
        return 0.0
    weight = 1.0 if age < 40 else 1.5 if age < 65 else 4.0 if age < 75 else 9.0 if age < 85 else 16.0
    if p.disability:
        weight *= 4.0
    if p.dod is not None:
        weight *= 0.5
    return weight


def _social_care(params: SynthParams, people: list[_Person], book: _AddressBook) -> _SocialCare:
    rng = _stream(params.seed, "social_care")
    ref = params.reference_date
    out = _SocialCare()
    k = round(params.social_care_coverage * len(people))
    chosen = _weighted_order(rng, [(p, _social_care_weight(p, ref)) for p in people])[:k]
    rng.shuffle(chosen)  # client numbers follow no DWP order
    nhs_used: set[str] = set()
    for number, p in enumerate(chosen, start=1):
        client_id = f"SC{number:06d}"
        labels: set[str] = set()
        nhs = None if rng.random() < params.nhs_number_missing_rate else _nhs_number(rng, nhs_used)
        keyed = _as_keyed(rng, params, book, p, params.social_care_nino_present, labels)
        out.clients.append(
            (
                client_id, p.council, nhs, keyed.nino, keyed.given, keyed.family, keyed.dob,
                keyed.address.line1, keyed.address.town, keyed.address.postcode,
            )
        )  # fmt: skip
        out.truth.append((f"sc:{client_id}", p.person_id, p.nino))
        if labels:
            out.perturbations[f"sc:{client_id}"] = frozenset(labels)

        horizon = p.dod or ref
        age = _age(p.dob, horizon)
        adult_from = max(_years_after(p.dob, 18), date(2012, 4, 1))
        # Placements first: a care home resident's current plan has no home care hours.
        in_home = _placements(rng, out, client_id, p, age, adult_from, horizon, ref)
        if in_home:
            out.in_home.add(p.person_id)
        overnight_chance = 0.12 + (0.10 if age >= 75 else 0) + (0.10 if age >= 85 else 0)
        overnight_chance += 0.12 if p.disability == 2 else 0
        starts = sorted(_between(rng, adult_from, horizon) for _ in range(_PLAN_COUNT.pick(rng)))
        for i, start in enumerate(starts):
            last = i == len(starts) - 1
            end: date | None
            if not last:
                end = max(start, starts[i + 1] - timedelta(days=1))
            elif p.dod is not None:
                end = max(start, p.dod)
            else:
                end = _between(rng, start, ref) if rng.random() < 0.12 else None
            overnight = rng.random() < overnight_chance
            if end is None and in_home:
                overnight, hours = True, 0.0
            elif rng.random() < 0.05:
                hours = 0.0  # day care or direct payments only
            else:
                hours = rng.uniform(1, 14) + (rng.uniform(7, 28) if overnight else 0.0)
            out.plans.append(
                (len(out.plans) + 1, client_id, start, end, overnight, Decimal(round(hours * 10)).scaleb(-1))
            )
            if end is None and overnight and not in_home:
                out.overnight_now.add(p.person_id)
        if rng.random() < 0.65:
            for on in sorted(_between(rng, starts[0], horizon) for _ in range(1 if rng.random() < 0.7 else 2)):
                band = _capital_band(rng, p.capital)
                charge = {
                    "below_lower_limit": rng.uniform(150, 260) if in_home else rng.uniform(0, 90),
                    "tariff": rng.uniform(200, 400) if in_home else rng.uniform(40, 160),
                    "above_upper_limit": rng.uniform(900, 1600) if in_home else rng.uniform(150, 600),
                }[band]
                out.assessments.append((len(out.assessments) + 1, client_id, on, _money(charge), band))
    return out


def _placements(
    rng: random.Random,
    out: _SocialCare,
    client_id: str,
    p: _Person,
    age: int,
    adult_from: date,
    horizon: date,
    ref: date,
) -> bool:
    if rng.random() < 0.35:
        for _ in range(1 if rng.random() < 0.7 else 2):
            admitted = _between(rng, max(adult_from, ref - timedelta(days=3 * 365)), horizon)
            discharged: date | None = admitted + timedelta(days=1 + int(rng.expovariate(1 / 10)))
            if discharged is not None and discharged > horizon:
                discharged = p.dod  # still in hospital, unless they died there
            out.placements.append(
                (len(out.placements) + 1, client_id, "hospital", rng.choice(nm.HOSPITALS), admitted, discharged)
            )
    in_home = False
    if rng.random() < (0.25 if age >= 80 else 0.10 if age >= 65 else 0.02):
        admitted = _between(rng, max(adult_from, ref - timedelta(days=6 * 365)), horizon)
        if p.dod is not None:
            discharged = p.dod
        elif rng.random() < 0.12 and admitted + timedelta(days=14) <= ref:
            discharged = _between(rng, admitted + timedelta(days=14), ref)
        else:
            discharged, in_home = None, True
        out.placements.append(
            (len(out.placements) + 1, client_id, "care_home", rng.choice(nm.CARE_HOMES), admitted, discharged)
        )
    return in_home


def _capital_band(rng: random.Random, capital: float) -> str:
    if capital <= 0:
        return _CAPITAL_BANDS.pick(rng)
    if capital < _CAPITAL_LOWER:
        return "below_lower_limit"
    return "tariff" if capital <= _CAPITAL_UPPER else "above_upper_limit"


_CAPITAL_BANDS: Final = _Weighted.of((("below_lower_limit", 75.0), ("tariff", 15.0), ("above_upper_limit", 10.0)))


# ---------------------------------------------------------------------------------------------------
# Housing Benefit


@dataclass(slots=True)
class _Housing:
    claims: list[Row] = field(default_factory=list)
    dhps: list[Row] = field(default_factory=list)
    non_dependants: list[Row] = field(default_factory=list)
    truth: list[Row] = field(default_factory=list)
    perturbations: dict[str, frozenset[str]] = field(default_factory=dict)


def _housing_weight(p: _Person, ref: date, overnight_now: set[int], in_home: set[int]) -> float:
    horizon = p.dod or ref
    if _age(p.dob, horizon) < 18 or p.person_id in in_home:
        return 0.0  # no HB for children, nor for care home residents
    weight = {"claimant": 6.0, "partner": 0.25, "non_dependant": 0.4}.get(p.role, 0.0)
    if _state_pension_date(p.dob) <= horizon:
        weight *= 2.5  # working-age HB has mostly moved into UC
    if p.current & {"UC", "PC", "ESA", "JSA", "IS"}:
        weight *= 2.0
    if p.disability:
        weight *= 1.5
    if p.person_id in overnight_now:
        weight *= 2.0
    if p.dod is not None:
        weight *= 0.3
    return weight


def _bedrooms(household: list[_Person], claimant: _Person, ref: date) -> int:
    # Size criteria: one room per couple, per other adult, per two children of one sex under 16, per
    # two children under 10, per other child.
    if claimant.role == "non_dependant":
        return 1
    others = [m for m in household if m is not claimant and m.role != "partner" and m.dod is None]
    adults = [m for m in others if _age(m.dob, ref) >= 16]
    young = [m for m in others if _age(m.dob, ref) < 16]
    boys = sum(1 for m in young if m.sex == "M")
    girls = len(young) - boys
    rooms = 1 + len(adults) + math.ceil(boys / 2) + math.ceil(girls / 2)
    odd_under_ten = [m for m in young if _age(m.dob, ref) < 10]
    if boys % 2 == 1 and girls % 2 == 1 and len({m.sex for m in odd_under_ten}) == 2:
        rooms -= 1
    return rooms


def _housing_benefit(
    params: SynthParams,
    people: list[_Person],
    households: list[list[_Person]],
    book: _AddressBook,
    overnight_now: set[int],
    in_home: set[int],
) -> _Housing:
    rng = _stream(params.seed, "housing_benefit")
    ref = params.reference_date
    out = _Housing()
    k = round(params.hb_coverage * len(people))
    weights = [(p, _housing_weight(p, ref, overnight_now, in_home)) for p in people]
    # One claim per household: walk the weighted order and skip households that already claim.
    claimants: list[_Person] = []
    claiming: set[int] = set()
    for p in _weighted_order(rng, weights):
        if len(claimants) >= k:
            break
        if p.household_id not in claiming:
            claiming.add(p.household_id)
            claimants.append(p)
    rng.shuffle(claimants)
    for number, p in enumerate(claimants, start=1):
        claim_ref = f"HB{number:06d}"
        household = households[p.household_id - 1]
        labels: set[str] = set()
        keyed = _as_keyed(rng, params, book, p, 1.0 - params.nino_missing_rate, labels)
        horizon = p.dod or ref
        pensioner = _state_pension_date(p.dob) <= horizon
        partner_ids = {m.person_id for m in household if m.role in ("claimant", "partner")}
        needs_room = p.person_id in overnight_now or (p.role != "non_dependant" and bool(partner_ids & overnight_now))
        if needs_room:
            carer_room = rng.random() < 0.88
            if not carer_room:
                labels.add("overnight_room_not_recorded")
        else:
            carer_room = rng.random() < 0.004
            if carer_room:
                labels.add("overnight_room_without_plan")
        bedrooms = min(6, _bedrooms(household, p, ref) + (1 if carer_room else 0))
        social = rng.random() < (0.7 if pensioner else 0.55)
        rent_index = book.rent_index(p.council)
        if social:
            rent = (70 + 18 * bedrooms) * (0.7 + 0.3 * rent_index) + rng.uniform(-8, 15)
            eligible = rent
            under_occupied = not pensioner and rng.random() < 0.1
            if under_occupied:
                eligible *= 0.86 if rng.random() < 0.7 else 0.75
        else:
            rent = (110 + 45 * bedrooms) * rent_index + rng.uniform(-15, 60)
            eligible = min(rent, (100 + 40 * bedrooms) * rent_index)
            under_occupied = False
        non_deps = [m for m in household if m.role == "non_dependant" and m is not p and m.dod is None]
        if p.role == "non_dependant":
            non_deps = []
        eligible -= len(non_deps) * _REF["hb_non_dependant_deduction"]
        if not (p.current & _PASSPORTING):
            eligible *= rng.uniform(0.25, 1.0)  # income taper
        weekly_rent = _money(rent)
        weekly_award = min(weekly_rent, _money(max(0.0, eligible)))
        start = _between(rng, max(_years_after(p.dob, 18), horizon - timedelta(days=12 * 365)), horizon)
        end: date | None = None
        if p.dod is not None:
            end = min(ref, p.dod + timedelta(days=rng.randint(0, 28)))
        elif rng.random() < 0.08:
            end = _between(rng, start, ref)
        out.claims.append(
            (
                claim_ref, p.council, keyed.nino, keyed.given, keyed.family, keyed.dob, keyed.address.line1,
                keyed.address.town, keyed.address.postcode, "social" if social else "lha", weekly_rent,
                weekly_award, bedrooms, carer_room, start, end,
            )
        )  # fmt: skip
        out.truth.append((f"hb:{claim_ref}", p.person_id, p.nino))
        if labels:
            out.perturbations[f"hb:{claim_ref}"] = frozenset(labels)
        if rng.random() < 0.07:
            _dhp(rng, out, claim_ref, weekly_rent - weekly_award, social, under_occupied, pensioner, start, end, ref)
        for m in non_deps:
            nd_labels: set[str] = set()
            given, family, dob = _keyed_name_and_dob(rng, params, m, nd_labels)
            income = None if rng.random() < 0.25 else _money(rng.uniform(0, 700))
            nd_id = len(out.non_dependants) + 1
            out.non_dependants.append((nd_id, claim_ref, given, family, dob, income))
            out.truth.append((f"hb_nd:{nd_id}", m.person_id, m.nino))
            if nd_labels:
                out.perturbations[f"hb_nd:{nd_id}"] = frozenset(nd_labels)
    return out


def _dhp(
    rng: random.Random,
    out: _Housing,
    claim_ref: str,
    shortfall: Decimal,
    social: bool,
    under_occupied: bool,
    pensioner: bool,
    start: date,
    end: date | None,
    ref: date,
) -> None:
    if under_occupied and rng.random() < 0.7:
        reason = "under_occupancy"
    elif not social and shortfall > 0 and rng.random() < 0.6:
        reason = "lha_shortfall"
    else:
        reason = _DHP_OTHER_PENSION.pick(rng) if pensioner else _DHP_OTHER.pick(rng)
    amount = rng.uniform(5, 60)
    if shortfall > 0:
        amount = min(amount, float(shortfall))
    dhp_start = _between(rng, start, end or ref)
    dhp_end: date | None = None
    if rng.random() < 0.65:
        dhp_end = dhp_start + timedelta(weeks=rng.randint(13, 26))
        dhp_end = None if dhp_end > ref and end is None else min(dhp_end, end or ref)
    elif end is not None:
        dhp_end = end
    out.dhps.append((len(out.dhps) + 1, claim_ref, reason, _money(amount), dhp_start, dhp_end))


_DHP_OTHER: Final = _Weighted.of((("benefit_cap", 30.0), ("moving_costs", 20.0), ("other", 50.0)))
_DHP_OTHER_PENSION: Final = _Weighted.of((("moving_costs", 30.0), ("other", 70.0)))
