"""Population stage: people in households, with names, dates of birth, titles, deaths and NINOs.

Households are singles, couples, families with children, lone parents, and parents with grown-up
children at home. Families sometimes have twins (same surname, date of birth and address, different
given names) and a son named after his father (John Smith senior and junior at one address): the two
cases that defeat linkage on name + date of birth + postcode alone. Every person gets a true, valid
and unique NINO (children too: a simplification, the schema requires one).
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Final

from hub.ops.synth import names as nm
from hub.ops.synth.addresses import Address, AddressBook
from hub.ops.synth.draws import Weighted, age_on, stream, years_after
from hub.ops.synth.names import Origin, Sex
from hub.ops.synth.params import SynthParams
from linkage.nino import FIRST_LETTER_EXCLUDED, SECOND_LETTER_EXCLUDED, SUFFIXES, UNALLOCATED_PREFIXES

__all__ = ["Person", "population"]


@dataclass(slots=True)
class Person:
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
    address: Address
    nino: str = ""
    origin: Origin = "british"
    # Set by the names stage (hub.ops.synth.realities): how systems come to hold a person's names apart.
    goes_by: str | None = None  # the name used instead of the given name (a middle name, Mohammed dropped)
    suffix: str | None = None  # "Jnr" / "Snr": a son named after his father at one address
    birth_family: str | None = None  # the family name before a change on marriage
    alt_family: str | None = None  # the family name proper beside a convention surname (Kaur Sandhu)
    actual_dob: date | None = None  # when ``dob`` is an estimate (1 January), the true date some system holds
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


class _Names:
    """Weighted pickers for given names (by origin, sex and birth cohort) and surnames."""

    def __init__(self) -> None:
        self.origins = Weighted.of(nm.ORIGIN_WEIGHTS.items())
        self._given = {
            (origin, sex, cohort): Weighted.of(
                (g.name, g.weights[cohort]) for g in nm.given_names(origin) if g.sex == sex
            )
            for origin in nm.ORIGINS
            for sex in ("F", "M")
            for cohort in range(3)
        }
        self._surnames = {
            (origin, sex): Weighted.of((s, s.weight) for s in nm.surnames(origin) if s.sex_only in (None, sex))
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


_KINDS: Final = Weighted.of(
    (("single", 30.0), ("couple", 27.0), ("family", 19.0), ("lone_parent", 8.0), ("multi_generation", 10.0))
)
_CHILD_COUNT: Final = Weighted.of(((1, 45.0), (2, 38.0), (3, 13.0), (4, 4.0)))
_TWIN_RATE: Final = 0.06  # of families with two or more children: far above life, so tests meet them
_JUNIOR_RATE: Final = 0.10  # a son given his father's first name, living with him


def population(params: SynthParams, book: AddressBook) -> tuple[list[Person], list[list[Person]]]:
    rng = stream(params.seed, "population")
    names = _Names()
    people: list[Person] = []
    households: list[list[Person]] = []
    while len(people) < params.people:
        council = params.councils[rng.randrange(len(params.councils))]
        origin, drafts = _household(rng, names, params.reference_date)
        drafts = drafts[: params.people - len(people)]
        address = book.new_address(rng, council)
        household_id = len(households) + 1
        members = []
        for d in drafts:
            age = age_on(d.dob, params.reference_date)
            member = Person(
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
                origin=origin,
            )
            people.append(member)
            members.append(member)
        households.append(members)
    _assign_ninos(params.seed, people)
    return people, households


def _birthday(rng: random.Random, on: date, age: int) -> date:
    return years_after(on, -age) - timedelta(days=rng.randrange(365))


# Ages of people over 66 in five-year bands (UK mid-year estimates, rounded): centenarians are rare.
_PENSIONER_BANDS: Final = Weighted.of(
    (((66, 69), 14.5), ((70, 74), 24.0), ((75, 79), 21.0), ((80, 84), 15.0), ((85, 89), 9.0), ((90, 94), 4.0),
     ((95, 99), 1.0), ((100, 100), 0.1))
)  # fmt: skip


def _pensioner_age(rng: random.Random) -> int:
    low, high = _PENSIONER_BANDS.pick(rng)
    return rng.randint(low, high)


def _adult_age(rng: random.Random, low: int, high: int, mode: float) -> int:
    return min(high, int(rng.triangular(low, high + 1, mode)))


def _household(rng: random.Random, names: _Names, ref: date) -> tuple[Origin, list[_Draft]]:
    kind = _KINDS.pick(rng)
    origin = names.origins.pick(rng)
    if kind == "single":
        pensioner = rng.random() < 0.42
        age = _pensioner_age(rng) if pensioner else rng.randint(18, 65)
        sex: Sex = "F" if rng.random() < (0.6 if pensioner else 0.45) else "M"
        surname = names.surname(rng, origin, sex)
        return origin, [_adult(rng, names, ref, origin, "claimant", sex, age, _form(surname, sex), partnered=False)]
    if kind == "couple":
        age = _pensioner_age(rng) if rng.random() < 0.4 else _adult_age(rng, 22, 65, 60)
        first, second, _ = _couple(rng, names, ref, origin, age)
        return origin, [first, second]
    if kind == "family":
        mother_age = max(20, min(55, round(rng.gauss(37, 7))))
        first, second, father_surname = _couple(rng, names, ref, origin, mother_age + round(rng.gauss(2, 3)))
        parents = [first, second]
        return origin, parents + _children(rng, names, ref, origin, mother_age, father_surname, parents)
    if kind == "lone_parent":
        sex = "F" if rng.random() < 0.88 else "M"
        age = max(18, min(60, round(rng.gauss(38, 8))))
        surname = names.surname(rng, origin, sex)
        parent = _adult(rng, names, ref, origin, "claimant", sex, age, _form(surname, sex), partnered=False)
        # Children of a mother called Begum or Kaur carry their father's name, not hers.
        child_surname = surname if surname.sex_only is None else names.surname(rng, origin, "M")
        return origin, [parent, *_children(rng, names, ref, origin, age, child_surname, [parent])]
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
    return origin, members


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


def _assign_ninos(seed: int, people: list[Person]) -> None:
    rng = stream(seed, "nino")
    # Unique on the first eight characters: the suffix does not tell two people apart.
    used: set[str] = set()
    for p in people:
        while True:
            stem = f"{_NINO_PREFIXES[rng.randrange(len(_NINO_PREFIXES))]}{rng.randrange(1_000_000):06d}"
            if stem not in used:
                break
        used.add(stem)
        p.nino = stem + _NINO_SUFFIXES[rng.randrange(len(_NINO_SUFFIXES))]
