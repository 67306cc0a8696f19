"""Adult social care stage: the clients each council holds, their care plans, hospital and care home
placements, and financial assessments; and the NHS numbers they carry.

Clients are a weighted sample of adults (older and disabled people more often), keyed with errors by
:mod:`hub.ops.synth.keying`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Final

from hub.ops.synth import names as nm
from hub.ops.synth.addresses import AddressBook
from hub.ops.synth.draws import Weighted, age_on, between, money, stream, years_after
from hub.ops.synth.keying import as_keyed, recorded_dob, weighted_order
from hub.ops.synth.params import SynthParams
from hub.ops.synth.people import Person
from hub.ops.synth.realities import hold
from hub.ops.synth.tables import Row

__all__ = ["nhs_number_valid", "social_care_records"]


_CAPITAL_LOWER, _CAPITAL_UPPER = 14_250.0, 23_250.0  # England social care charging limits


def nhs_number_valid(value: str) -> bool:
    """NHS number modulus 11 check: weights 10..2 on the first nine digits; 10 is never issued."""
    if len(value) != 10 or not value.isdigit():
        return False
    check = 11 - sum(int(d) * w for d, w in zip(value[:9], range(10, 1, -1), strict=True)) % 11
    check = 0 if check == 11 else check
    return check != 10 and check == int(value[9])


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


_PLAN_COUNT: Final = Weighted.of(((1, 60.0), (2, 30.0), (3, 10.0)))  # care plans per client, over time


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


def _social_care_weight(p: Person, ref: date) -> float:
    horizon = p.dod or ref
    age = age_on(p.dob, horizon)
    if age < 18:
        return 0.0
    weight = 1.0 if age < 40 else 1.5 if age < 65 else 4.0 if age < 75 else 9.0 if age < 85 else 16.0
    if p.disability:
        weight *= 4.0
    if p.dod is not None:
        weight *= 0.5
    return weight


def social_care_records(params: SynthParams, people: list[Person], book: AddressBook) -> _SocialCare:
    rng = stream(params.seed, "social_care")
    ref = params.reference_date
    out = _SocialCare()
    k = round(params.social_care_coverage * len(people))
    chosen = weighted_order(rng, [(p, _social_care_weight(p, ref)) for p in people])[:k]
    rng.shuffle(chosen)  # client numbers follow no DWP order
    gaps = stream(params.seed, "social_care/dob_gaps")
    held = stream(params.seed, "social_care/names")
    nhs_used: set[str] = set()
    for number, p in enumerate(chosen, start=1):
        client_id = f"SC{number:06d}"
        labels: set[str] = set()
        nhs = None if rng.random() < params.nhs_number_missing_rate else _nhs_number(rng, nhs_used)
        names = hold(held, p, "social_care")
        keyed = as_keyed(rng, params, book, p, params.social_care_nino_present, labels, names)
        dob = recorded_dob(
            gaps,
            keyed.dob,
            missing=params.social_care_dob_missing_rate,
            placeholder=params.social_care_dob_placeholder_rate,
            labels=labels,
        )
        out.clients.append(
            (
                client_id, p.council, nhs, keyed.nino, keyed.given, keyed.family, dob,
                keyed.address.line1, keyed.address.town, keyed.address.postcode, names.middle, names.known_as,
                names.suffix, names.previous,
            )
        )  # fmt: skip
        out.truth.append((f"sc:{client_id}", p.person_id, p.nino))
        if labels:
            out.perturbations[f"sc:{client_id}"] = frozenset(labels)

        horizon = p.dod or ref
        age = age_on(p.dob, horizon)
        adult_from = max(years_after(p.dob, 18), date(2012, 4, 1))
        # Placements first: a care home resident's current plan has no home care hours.
        in_home = _placements(rng, out, client_id, p, age, adult_from, horizon, ref)
        if in_home:
            out.in_home.add(p.person_id)
        overnight_chance = 0.12 + (0.10 if age >= 75 else 0) + (0.10 if age >= 85 else 0)
        overnight_chance += 0.12 if p.disability == 2 else 0
        starts = sorted(between(rng, adult_from, horizon) for _ in range(_PLAN_COUNT.pick(rng)))
        for i, start in enumerate(starts):
            last = i == len(starts) - 1
            end: date | None
            if not last:
                end = max(start, starts[i + 1] - timedelta(days=1))
            elif p.dod is not None:
                end = max(start, p.dod)
            else:
                end = between(rng, start, ref) if rng.random() < 0.12 else None
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
            for on in sorted(between(rng, starts[0], horizon) for _ in range(1 if rng.random() < 0.7 else 2)):
                band = _capital_band(rng, p.capital)
                charge = {
                    "below_lower_limit": rng.uniform(150, 260) if in_home else rng.uniform(0, 90),
                    "tariff": rng.uniform(200, 400) if in_home else rng.uniform(40, 160),
                    "above_upper_limit": rng.uniform(900, 1600) if in_home else rng.uniform(150, 600),
                }[band]
                out.assessments.append((len(out.assessments) + 1, client_id, on, money(charge), band))
    return out


def _placements(
    rng: random.Random,
    out: _SocialCare,
    client_id: str,
    p: Person,
    age: int,
    adult_from: date,
    horizon: date,
    ref: date,
) -> bool:
    if rng.random() < 0.35:
        for _ in range(1 if rng.random() < 0.7 else 2):
            admitted = between(rng, max(adult_from, ref - timedelta(days=3 * 365)), horizon)
            discharged: date | None = admitted + timedelta(days=1 + int(rng.expovariate(1 / 10)))
            if discharged is not None and discharged > horizon:
                discharged = p.dod  # still in hospital, unless they died there
            out.placements.append(
                (len(out.placements) + 1, client_id, "hospital", rng.choice(nm.HOSPITALS), admitted, discharged)
            )
    in_home = False
    if rng.random() < (0.25 if age >= 80 else 0.10 if age >= 65 else 0.02):
        admitted = between(rng, max(adult_from, ref - timedelta(days=6 * 365)), horizon)
        if p.dod is not None:
            discharged = p.dod
        elif rng.random() < 0.12 and admitted + timedelta(days=14) <= ref:
            discharged = between(rng, admitted + timedelta(days=14), ref)
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


_CAPITAL_BANDS: Final = Weighted.of((("below_lower_limit", 75.0), ("tariff", 15.0), ("above_upper_limit", 10.0)))
