"""Names stage: how systems come to hold one person's names and date of birth differently (issue 17).

After the population is made, each person may go by another name than the registered given name (a middle
name; the name after Mohammed), carry a generational suffix (a son named after his father), have changed
surname on marriage, carry a convention surname (Kaur, Singh, Begum) beside or instead of a family name, or
have an estimated date of birth (1 January) on the NINO record. :func:`hold` then says what one system
holds of those names: each system records them its own way (rates in :mod:`hub.ops.synth.rates`). Its own
random streams: no other stage's draws change.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from typing import Final, Literal

from hub.ops.synth import names as nm
from hub.ops.synth import rates
from hub.ops.synth.draws import Weighted, stream
from hub.ops.synth.people import Person

__all__ = ["HeldNames", "System", "assign", "held_labels", "hold"]

System = Literal["dwp", "hb", "social_care"]

_MOHAMMED: Final = frozenset({"Mohammed", "Muhammad", "Mohammad", "Mohamed", "Mohamad"})
_SIKH_CONVENTION: Final = frozenset({"Singh", "Kaur"})
_WIFE_CONVENTION: Final = frozenset({"Begum", "Bibi"})
_CLANS: Final = Weighted.of(
    (("Sandhu", 5.0), ("Gill", 8.0), ("Sidhu", 5.0), ("Dhillon", 4.0), ("Grewal", 3.0), ("Bains", 3.0),
     ("Johal", 2.0), ("Atwal", 2.0), ("Bassi", 2.0), ("Virdi", 2.0))
)  # fmt: skip


def assign(seed: int, people: list[Person], households: list[list[Person]]) -> None:
    """Give each person the names and dates that systems will hold differently."""
    rng = stream(seed, "names/realities")
    surnames = {
        origin: Weighted.of((s.name, s.weight) for s in nm.surnames(origin) if s.sex_only is None)
        for origin in nm.ORIGINS
    }
    for household in households:
        for p in household:
            middle_first = p.middle.split(" ")[0] if p.middle else None
            if (middle_first and p.given in _MOHAMMED and rng.random() < rates.GOES_BY_AFTER_MOHAMMED) or (
                middle_first and rng.random() < rates.GOES_BY_MIDDLE
            ):
                p.goes_by = middle_first
            if p.family in _SIKH_CONVENTION and rng.random() < rates.SIKH_CLAN_NAME:
                p.alt_family = _CLANS.pick(rng)
            if p.origin != "british" and p.dob.year < 1985 and rng.random() < rates.ESTIMATED_DOB_BORN_ABROAD:
                p.actual_dob, p.dob = p.dob, date(p.dob.year, 1, 1)
        adults = [p for p in household if p.role in ("claimant", "partner")]
        if len(adults) == 2:
            a, b = adults
            for spouse, other in ((a, b), (b, a)):
                if spouse.sex == "F" and spouse.family == other.family and rng.random() < rates.CHANGED_ON_MARRIAGE:
                    birth = surnames[spouse.origin].pick(rng)
                    spouse.birth_family = birth if birth != spouse.family else None  # none to change from
                if spouse.family in _WIFE_CONVENTION and rng.random() < rates.BEGUM_HUSBANDS_NAME:
                    spouse.alt_family = other.family if other.family not in _WIFE_CONVENTION else None
        fathers = [p for p in adults if p.sex == "M"]
        for father in fathers:
            for son in household:
                if son is not father and son.sex == "M" and son.given == father.given and son.dob > father.dob:
                    father.suffix, son.suffix = "Snr", "Jnr"


@dataclass(frozen=True, slots=True)
class HeldNames:
    given: str
    middle: str | None
    known_as: str | None
    suffix: str | None
    family: str
    previous: str | None
    dob: date


def _convention_family(rng: random.Random, p: Person) -> str:
    if p.alt_family is None:
        return p.family
    draw = rng.random()
    if p.family in _SIKH_CONVENTION:
        return f"{p.family} {p.alt_family}" if draw < 0.4 else p.alt_family if draw < 0.7 else p.family
    return p.alt_family if draw < 0.5 else p.family  # Begum, or her husband's family name


def hold(rng: random.Random, p: Person, system: System) -> HeldNames:
    """What ``system`` holds of ``p``'s names and date of birth (before keying errors)."""
    council = system != "dwp"
    given, middle = p.given, p.middle
    if council and p.goes_by and rng.random() < rates.COUNCIL_KEYS_GOES_BY:
        # Now and then both, in the given name box.
        given = f"{p.given} {p.goes_by}" if rng.random() < 0.2 else p.goes_by
        rest = [w for w in (p.middle or "").split(" ") if w and w != p.goes_by]
        middle = " ".join(rest) or None
    holds_middle = {"dwp": 1.0, "hb": rates.HB_HOLDS_MIDDLE, "social_care": rates.SOCIAL_CARE_HOLDS_MIDDLE}[system]
    if rng.random() >= holds_middle:
        middle = None
    known_as = None
    holds_known_as = {"dwp": 0.0, "hb": rates.HB_HOLDS_KNOWN_AS, "social_care": rates.SOCIAL_CARE_HOLDS_KNOWN_AS}
    if p.goes_by and given != p.goes_by and rng.random() < holds_known_as[system]:
        known_as = p.goes_by
    family = _convention_family(rng, p)
    suffix = None
    if p.suffix and rng.random() < (rates.COUNCIL_HOLDS_SUFFIX if council else rates.DWP_HOLDS_SUFFIX):
        if council and rng.random() < 0.4:
            family = f"{family} {p.suffix}"  # typed into the family name box
        else:
            suffix = p.suffix
    previous = None
    if p.birth_family:
        if council and rng.random() < rates.COUNCIL_HOLDS_EARLIER_SURNAME:
            family = p.birth_family  # the record was opened before the change and never updated
        elif rng.random() < (rates.COUNCIL_HOLDS_PREVIOUS_SURNAME if council else rates.DWP_HOLDS_PREVIOUS_SURNAME):
            previous = p.birth_family
    dob = p.dob
    if council and p.actual_dob and rng.random() < rates.COUNCIL_HOLDS_ACTUAL_DOB:
        dob = p.actual_dob
    return HeldNames(given, middle, known_as, suffix, family, previous, dob)


def held_labels(p: Person, held: HeldNames) -> set[str]:
    """The perturbation labels (:mod:`hub.ops.synth.keying`) of what a council holds of ``p``."""
    labels = set()
    if held.given != p.given:
        labels.add("other_name")
    if held.suffix or (p.suffix and held.family.endswith(p.suffix)):
        labels.add("suffix")
    if p.birth_family and held.family == p.birth_family:
        labels.add("earlier_surname")
    elif p.alt_family:
        labels.add("convention_surname")  # whichever form this system holds, DWP's may be another
    if held.dob != p.dob:
        labels.add("actual_dob")
    return labels
