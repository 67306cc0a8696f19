"""Housing Benefit stage: one claim per claiming household, its Discretionary Housing Payments, the
partner who claims with the claimant, and the household's non-dependants: each member a record (its own
truth row), keyed with errors as the claimant is.

Claimants are a weighted sample (pensioners, people on means-tested benefits, disabled people and
those who need overnight care more often), keyed with errors by :mod:`hub.ops.synth.keying`. Two
labels mark deliberate inconsistencies with social care rather than identity errors:
``overnight_room_not_recorded`` (the care plan needs overnight care, the HB claim has no carer room)
and ``overnight_room_without_plan`` (the reverse).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Final

from hub.ops.synth.addresses import AddressBook
from hub.ops.synth.draws import Weighted, age_on, between, money, state_pension_date, stream, years_after
from hub.ops.synth.keying import as_keyed, as_keyed_nino, keyed_name_and_dob, recorded_dob, weighted_order
from hub.ops.synth.params import SynthParams
from hub.ops.synth.people import Person
from hub.ops.synth.rates import NON_DEPENDANT_NINO_HELD, REF
from hub.ops.synth.realities import hold
from hub.ops.synth.tables import Row

__all__ = ["housing_benefit_records"]


_PASSPORTING = frozenset({"PC", "IS", "ESA", "JSA"})  # stand-ins for the income-related passports to max HB


@dataclass(slots=True)
class _Housing:
    claims: list[Row] = field(default_factory=list)
    dhps: list[Row] = field(default_factory=list)
    partners: list[Row] = field(default_factory=list)
    non_dependants: list[Row] = field(default_factory=list)
    truth: list[Row] = field(default_factory=list)
    perturbations: dict[str, frozenset[str]] = field(default_factory=dict)


def _housing_weight(p: Person, ref: date, overnight_now: set[int], in_home: set[int]) -> float:
    horizon = p.dod or ref
    if age_on(p.dob, horizon) < 18 or p.person_id in in_home:
        return 0.0  # no HB for children, nor for care home residents
    weight = {"claimant": 6.0, "partner": 0.25, "non_dependant": 0.4}.get(p.role, 0.0)
    if state_pension_date(p.dob) <= horizon:
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


def _bedrooms(household: list[Person], claimant: Person, ref: date) -> int:
    # Size criteria: one room per couple, per other adult, per two children of one sex under 16, per
    # two children under 10, per other child.
    if claimant.role == "non_dependant":
        return 1
    others = [m for m in household if m is not claimant and m.role != "partner" and m.dod is None]
    adults = [m for m in others if age_on(m.dob, ref) >= 16]
    young = [m for m in others if age_on(m.dob, ref) < 16]
    boys = sum(1 for m in young if m.sex == "M")
    girls = len(young) - boys
    rooms = 1 + len(adults) + math.ceil(boys / 2) + math.ceil(girls / 2)
    odd_under_ten = [m for m in young if age_on(m.dob, ref) < 10]
    if boys % 2 == 1 and girls % 2 == 1 and len({m.sex for m in odd_under_ten}) == 2:
        rooms -= 1
    return rooms


def housing_benefit_records(
    params: SynthParams,
    people: list[Person],
    households: list[list[Person]],
    book: AddressBook,
    overnight_now: set[int],
    in_home: set[int],
) -> _Housing:
    rng = stream(params.seed, "housing_benefit")
    ref = params.reference_date
    out = _Housing()
    k = round(params.hb_coverage * len(people))
    weights = [(p, _housing_weight(p, ref, overnight_now, in_home)) for p in people]
    # One claim per household: walk the weighted order and skip households that already claim.
    claimants: list[Person] = []
    claiming: set[int] = set()
    for p in weighted_order(rng, weights):
        if len(claimants) >= k:
            break
        if p.household_id not in claiming:
            claiming.add(p.household_id)
            claimants.append(p)
    rng.shuffle(claimants)
    gaps = stream(params.seed, "housing_benefit/dob_gaps")
    held = stream(params.seed, "housing_benefit/names")
    # The members' own draws: a stream of their own, so that adding them changed no claimant's record.
    members = stream(params.seed, "housing_benefit/members")
    for number, p in enumerate(claimants, start=1):
        claim_ref = f"HB{number:06d}"
        household = households[p.household_id - 1]
        labels: set[str] = set()
        names = hold(held, p, "hb")
        keyed = as_keyed(rng, params, book, p, 1.0 - params.nino_missing_rate, labels, names)
        dob = recorded_dob(
            gaps,
            keyed.dob,
            missing=params.hb_dob_missing_rate,
            placeholder=params.hb_dob_placeholder_rate,
            labels=labels,
        )
        horizon = p.dod or ref
        pensioner = state_pension_date(p.dob) <= horizon
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
        eligible -= len(non_deps) * REF["hb_non_dependant_deduction"]
        if not (p.current & _PASSPORTING):
            eligible *= rng.uniform(0.25, 1.0)  # income taper
        weekly_rent = money(rent)
        weekly_award = min(weekly_rent, money(max(0.0, eligible)))
        start = between(rng, max(years_after(p.dob, 18), horizon - timedelta(days=12 * 365)), horizon)
        end: date | None = None
        if p.dod is not None:
            end = min(ref, p.dod + timedelta(days=rng.randint(0, 28)))
        elif rng.random() < 0.08:
            end = between(rng, start, ref)
        out.claims.append(
            (
                claim_ref, p.council, keyed.nino, keyed.given, keyed.family, dob, keyed.address.line1,
                keyed.address.town, keyed.address.postcode, "social" if social else "lha", weekly_rent,
                weekly_award, bedrooms, carer_room, start, end, names.middle, names.known_as, names.suffix,
                names.previous,
            )
        )  # fmt: skip
        out.truth.append((f"hb:{claim_ref}", p.person_id, p.nino))
        if labels:
            out.perturbations[f"hb:{claim_ref}"] = frozenset(labels)
        if rng.random() < 0.07:
            _dhp(rng, out, claim_ref, weekly_rent - weekly_award, social, under_occupied, pensioner, start, end, ref)
        partner = _partner(household, p)
        if partner is not None:
            _record_partner(members, params, book, out, claim_ref, partner)
        for m in non_deps:
            nd_labels: set[str] = set()
            given, family, keyed_dob = keyed_name_and_dob(rng, params, m, nd_labels)
            nd_dob = recorded_dob(
                gaps,
                keyed_dob,
                missing=params.non_dependant_dob_missing_rate,
                placeholder=params.non_dependant_dob_placeholder_rate,
                labels=nd_labels,
            )
            income = None if rng.random() < 0.25 else money(rng.uniform(0, 700))
            nd_id = len(out.non_dependants) + 1
            nd_names = hold(members, m, "hb")
            # HB need not hold a non-dependant's NINO: not holding it is no keying error (no label).
            nino_labels: set[str] = set()
            nd_nino = as_keyed_nino(members, params, m, NON_DEPENDANT_NINO_HELD, nino_labels)
            nd_labels |= nino_labels - {"nino_missing"}
            out.non_dependants.append(
                (
                    nd_id, claim_ref, given, family, nd_dob, income, nd_nino, nd_names.middle, nd_names.known_as,
                    nd_names.suffix, nd_names.previous,
                )
            )  # fmt: skip
            out.truth.append((f"hb:{claim_ref}/N{nd_id}", m.person_id, m.nino))
            if nd_labels:
                out.perturbations[f"hb:{claim_ref}/N{nd_id}"] = frozenset(nd_labels)
    return out


def _partner(household: list[Person], claimant: Person) -> Person | None:
    """Who claims with the claimant: the household's other half of its couple, alive."""
    if claimant.role not in ("claimant", "partner"):
        return None
    other = "partner" if claimant.role == "claimant" else "claimant"
    return next((m for m in household if m.role == other and m is not claimant and m.dod is None), None)


def _record_partner(
    rng: random.Random, params: SynthParams, book: AddressBook, out: _Housing, claim_ref: str, partner: Person
) -> None:
    labels: set[str] = set()
    names = hold(rng, partner, "hb")
    keyed = as_keyed(rng, params, book, partner, 1.0 - params.nino_missing_rate, labels, names)
    dob = recorded_dob(
        rng, keyed.dob, missing=params.hb_dob_missing_rate, placeholder=params.hb_dob_placeholder_rate, labels=labels
    )
    labels.discard("moved_address")  # a partner's address is the claim's
    partner_id = len(out.partners) + 1
    out.partners.append(
        (
            partner_id, claim_ref, None, keyed.nino, keyed.given, keyed.family, dob, names.middle,
            names.known_as, names.suffix, names.previous,
        )
    )  # fmt: skip
    out.truth.append((f"hb:{claim_ref}/P{partner_id}", partner.person_id, partner.nino))
    if labels:
        out.perturbations[f"hb:{claim_ref}/P{partner_id}"] = frozenset(labels)


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
    dhp_start = between(rng, start, end or ref)
    dhp_end: date | None = None
    if rng.random() < 0.65:
        dhp_end = dhp_start + timedelta(weeks=rng.randint(13, 26))
        dhp_end = None if dhp_end > ref and end is None else min(dhp_end, end or ref)
    elif end is not None:
        dhp_end = end
    out.dhps.append((len(out.dhps) + 1, claim_ref, reason, money(amount), dhp_start, dhp_end))


_DHP_OTHER: Final = Weighted.of((("benefit_cap", 30.0), ("moving_costs", 20.0), ("other", 50.0)))
_DHP_OTHER_PENSION: Final = Weighted.of((("moving_costs", 30.0), ("other", 70.0)))
