"""DWP stage: every person's benefit awards, declared income and capital.

DWP is the truth: its records are never perturbed. Amounts follow the assumed 2026/27 rates in
:mod:`hub.ops.synth.rates`; end dates, when set, are never after ``reference_date``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Final

from hub.ops.synth.draws import Weighted, age_on, between, money, state_pension_date, stream, years_after
from hub.ops.synth.params import SynthParams
from hub.ops.synth.people import Person
from hub.ops.synth.rates import REF, WEEKLY_RATES_2026
from hub.ops.synth.tables import Row

__all__ = ["dwp_records"]


_PIP_START: Final = date(2013, 4, 8)
_NEW_STATE_PENSION_FROM: Final = date(2016, 4, 6)
_DLA_ADULTS_BORN_BEFORE: Final = date(1948, 4, 8)  # kept DLA instead of being reassessed for PIP
_UC_FULL_SERVICE: Final = date(2016, 5, 1)
_MIGRATION_FROM, _MIGRATION_TO = date(2024, 6, 1), date(2026, 3, 31)  # legacy benefits moved to UC

# PIP mobility: (planning-and-following-journeys descriptor, moving-around points). The mobility rate
# follows the total: planning a=0 b=4 c=8 d=10 e=10 f=12 plus moving-around points; standard needs
# 8-11 points, enhanced 12+. Weighted so that many reach the Blue Badge criteria (8+ moving around,
# or planning descriptor e).
_PLANNING_POINTS: Final = {"a": 0, "b": 4, "c": 8, "d": 10, "e": 10, "f": 12}
_PIP_STANDARD: Final = Weighted.of(
    ((("a", 8), 30.0), (("a", 10), 15.0), (("b", 4), 15.0), (("c", 0), 10.0), (("d", 0), 10.0), (("e", 0), 20.0))
)
_PIP_ENHANCED: Final = Weighted.of(
    (
        (("a", 12), 35.0), (("b", 8), 10.0), (("b", 10), 8.0), (("b", 12), 10.0), (("c", 4), 5.0),
        (("c", 8), 4.0), (("d", 4), 4.0), (("e", 4), 6.0), (("e", 8), 4.0), (("e", 12), 2.0),
        (("f", 0), 8.0), (("f", 4), 4.0),
    )
)  # fmt: skip
_DLA_CARE: Final = Weighted.of((("lowest", 30.0), ("middle", 45.0), ("highest", 25.0)))


@dataclass(slots=True)
class _DwpRows:
    ref: date
    awards: list[Row] = field(default_factory=list)
    incomes: list[Row] = field(default_factory=list)
    capitals: list[Row] = field(default_factory=list)
    starts: dict[tuple[int, str], date] = field(default_factory=dict)  # (person, benefit) -> latest start

    def award(
        self,
        p: Person,
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


def dwp_records(params: SynthParams, people: list[Person], households: list[list[Person]]) -> _DwpRows:
    rng = stream(params.seed, "dwp")
    rows = _DwpRows(ref=params.reference_date)
    ref = params.reference_date
    for household in households:
        children = sum(1 for m in household if m.role == "child")
        has_partner = any(m.role == "partner" for m in household)
        for p in household:
            horizon = p.dod or ref
            age = age_on(p.dob, horizon)
            spa = state_pension_date(p.dob)
            if age < 16:
                _child_dla(rng, rows, p, horizon, age)
            elif spa > horizon:
                _working_age(rng, rows, p, horizon, age, children, has_partner)
            else:
                _pension_age(rng, rows, p, horizon, age, spa, has_partner)
    _carers(rng, rows, households, ref)
    _income_and_capital(rng, rows, people, ref)
    return rows


def _child_dla(rng: random.Random, rows: _DwpRows, p: Person, horizon: date, age: int) -> None:
    earliest = p.dob + timedelta(days=91)
    if earliest > horizon or rng.random() >= 0.05:
        return
    start = between(rng, earliest, horizon)
    end = between(rng, start, horizon) if rng.random() < 0.05 else None
    care = _DLA_CARE.pick(rng)
    rows.award(p, "DLA", "care", care, WEEKLY_RATES_2026[("DLA", "care", care)], start, end)
    p.disability = 2 if care != "lowest" else 1
    if end is None and care != "lowest":
        p.care_award_start = start
    if age >= 3 and rng.random() < 0.55:
        mobility = "higher" if age < 5 or rng.random() < 0.55 else "lower"
        first = years_after(p.dob, 3 if mobility == "higher" else 5)
        mobility_start = between(rng, max(start, first), horizon)
        rows.award(
            p, "DLA", "mobility", mobility, WEEKLY_RATES_2026[("DLA", "mobility", mobility)], mobility_start, end
        )
        if mobility == "higher":
            p.disability = 2


def _pip(rng: random.Random, rows: _DwpRows, p: Person, start: date, end: date | None) -> None:
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
    p: Person,
    horizon: date,
    age: int,
    children: int,
    has_partner: bool,
) -> None:
    # PIP: claimed from 16; a young adult may have had child DLA until their 16th birthday.
    if rng.random() < (0.04 if age < 25 else 0.06 if age < 50 else 0.11):
        start = between(rng, max(_PIP_START, years_after(p.dob, 16)), horizon)
        if age <= 25 and rng.random() < 0.5:
            dla_start = between(rng, years_after(p.dob, 2), years_after(p.dob, 15))
            dla_end = min(start - timedelta(days=1), years_after(p.dob, 16) + timedelta(days=rng.randrange(300)))
            if dla_start <= dla_end <= horizon:
                care = _DLA_CARE.pick(rng)
                rows.award(p, "DLA", "care", care, WEEKLY_RATES_2026[("DLA", "care", care)], dla_start, dla_end)
        _pip(rng, rows, p, start, between(rng, start, horizon) if rng.random() < 0.08 else None)
    if age < 18:
        return
    allowance = REF["personal_allowance_25_plus"] if age >= 25 else REF["personal_allowance_under_25"]
    adult_from = years_after(p.dob, 18)
    lone_parent = p.role == "claimant" and children > 0 and not has_partner
    on_uc = False
    # Legacy Income Support, closed by managed migration to UC.
    if p.role == "claimant" and adult_from < date(2021, 1, 1) and rng.random() < (0.05 if lone_parent else 0.008):
        start = between(rng, max(adult_from, date(2008, 1, 1)), min(horizon, date(2020, 12, 31)))
        migrated = between(rng, max(start, _MIGRATION_FROM), min(horizon, _MIGRATION_TO))
        rows.award(p, "IS", None, None, money(allowance + rng.uniform(0, 40)), start, migrated)
        if migrated < horizon:
            on_uc = _universal_credit(rng, rows, p, migrated + timedelta(days=1), horizon, age, children, has_partner)
    # ESA: new-style (contribution) continues; income-related moved to UC.
    end: date | None
    if age >= 25 and rng.random() < 0.035 + (0.12 if p.disability else 0.0):
        support = REF["esa_support_component"] if rng.random() < 0.5 else 0.0
        start = between(rng, max(adult_from, date(2010, 1, 1)), horizon)
        if rng.random() < 0.55:
            end = None if rng.random() < 0.7 else between(rng, start, horizon)
            rows.award(p, "ESA", "contribution", None, money(allowance + support), start, end)
        else:
            end = None if rng.random() < 0.1 else between(rng, max(start, _MIGRATION_FROM), min(horizon, _MIGRATION_TO))
            rows.award(p, "ESA", "income", None, money(allowance + support + rng.uniform(0, 30)), start, end)
            if end is not None and end < horizon and not on_uc:
                on_uc = _universal_credit(rng, rows, p, end + timedelta(days=1), horizon, age, children, has_partner)
    # JSA: mostly short spells long ended; new-style JSA lasts at most six months.
    if rng.random() < 0.03:
        if rng.random() < 0.85:
            start = between(rng, max(adult_from, date(2010, 1, 1)), horizon - timedelta(days=28))
            end = min(horizon, start + timedelta(days=rng.randint(28, 182)))
            component = "contribution" if rng.random() < 0.9 or start > date(2020, 1, 1) else "income"
            rows.award(p, "JSA", component, None, money(allowance), start, end)
        else:
            start = between(rng, max(adult_from, horizon - timedelta(days=182)), horizon)
            rows.award(p, "JSA", "contribution", None, money(allowance), start, None)
    if not on_uc and p.role in ("claimant", "non_dependant"):
        chance = 0.55 if lone_parent else 0.18 if p.role == "claimant" else 0.10
        if p.disability:
            chance += 0.15
        if rng.random() < chance:
            start = between(rng, max(adult_from, _UC_FULL_SERVICE), horizon)
            _universal_credit(rng, rows, p, start, horizon, age, children, has_partner)


def _universal_credit(
    rng: random.Random,
    rows: _DwpRows,
    p: Person,
    start: date,
    horizon: date,
    age: int,
    children: int,
    has_partner: bool,
) -> bool:
    if has_partner and p.role == "claimant":
        amount = REF["uc_standard_couple_25_plus"]
    else:
        amount = REF["uc_standard_single_25_plus"] if age >= 25 else REF["uc_standard_single_under_25"]
    if p.role == "claimant":
        amount += children * REF["uc_child_element"]
    if p.disability:
        amount += REF["uc_lcwra_element"]
    if rng.random() < 0.4:  # earnings taper
        amount *= 1 - rng.uniform(0, 0.8)
    end = between(rng, start + timedelta(days=30), horizon) if rng.random() < 0.12 else None
    rows.award(p, "UC", None, None, money(max(5.0, amount)), start, end)
    return end is None


def _pension_age(
    rng: random.Random, rows: _DwpRows, p: Person, horizon: date, age: int, spa: date, has_partner: bool
) -> None:
    # State Pension from State Pension age: new State Pension for those reaching it from April 2016.
    if spa >= _NEW_STATE_PENSION_FROM:
        full = REF["state_pension_new_full"]
        p.state_pension = full if rng.random() < 0.65 else full * rng.uniform(0.55, 1.0)
    else:
        p.state_pension = REF["state_pension_basic_full"] * rng.uniform(0.85, 1.0) + rng.uniform(0, 80)
    rows.award(p, "SP", None, None, money(p.state_pension), spa, None)
    # Disability: PIP kept from before State Pension age, legacy DLA for the oldest, otherwise AA.
    if age < 80 and spa > _PIP_START + timedelta(days=1) and rng.random() < 0.05:
        start = between(rng, max(_PIP_START, years_after(p.dob, 16)), spa - timedelta(days=1))
        _pip(rng, rows, p, start, None)
    elif p.dob < _DLA_ADULTS_BORN_BEFORE and rng.random() < 0.04:
        start = between(rng, years_after(p.dob, 40), min(horizon, _PIP_START - timedelta(days=1)))
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
        start = between(rng, spa, horizon)
        rows.award(p, "AA", None, rate, WEEKLY_RATES_2026[("AA", None, rate)], start, None)
        p.disability = 2 if rate == "higher" else 1
        p.care_award_start = start
    # Pension Credit: one award per couple, so only the claimant's record carries it.
    if p.role != "partner" and rng.random() < 0.10 + (0.10 if p.disability else 0.0) + (0.05 if age >= 80 else 0.0):
        key = "pension_credit_guarantee_couple" if has_partner else "pension_credit_guarantee_single"
        guarantee = max(2.5, REF[key] - p.state_pension - rng.uniform(0, 40))
        start = between(rng, spa, horizon)
        rows.award(p, "PC", "guarantee", None, money(guarantee), start, None)
        if spa < _NEW_STATE_PENSION_FROM and rng.random() < 0.3:
            savings = rng.uniform(1, REF["pension_credit_savings_max_single"])
            rows.award(p, "PC", "savings", None, money(savings), start, None)


def _carers(rng: random.Random, rows: _DwpRows, households: list[list[Person]], ref: date) -> None:
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
                and age_on(m.dob, ref) >= 16
                and state_pension_date(m.dob) > ref
                and "CA" not in m.current
            ]
            if not carers:
                continue
            carers.sort(key=lambda m: (m.role != "partner", m.role != "claimant", m.person_id))
            carer = carers[0]
            start = between(rng, max(cared_for.care_award_start, years_after(carer.dob, 16)), ref)
            end = between(rng, start, ref) if rng.random() < 0.1 else None
            rows.award(carer, "CA", None, None, WEEKLY_RATES_2026[("CA", None, None)], start, end)


def _income_and_capital(rng: random.Random, rows: _DwpRows, people: list[Person], ref: date) -> None:
    def since(p: Person, benefit: str) -> date:
        return between(rng, rows.starts[(p.person_id, benefit)], p.dod or ref)

    def capital(p: Person, kind: str, amount: float, on: date) -> None:
        rows.capitals.append((len(rows.capitals) + 1, p.person_id, kind, money(amount), on))
        p.capital += amount

    # Pensioners declare pensions, UC claimants earnings; capital is asked for by the means-tested
    # benefits (PC, UC) and volunteered by a few others. Social care charging reads it back later.
    for p in people:
        if (p.person_id, "SP") in rows.starts:
            if rng.random() < 0.40:
                amount = 15 + rng.expovariate(1 / 90)
                on = since(p, "SP")
                rows.incomes.append((len(rows.incomes) + 1, p.person_id, "occupational_pension", money(amount), on))
            if rng.random() < 0.12:
                on = since(p, "SP")
                amount = rng.uniform(5, 150)
                rows.incomes.append((len(rows.incomes) + 1, p.person_id, "private_pension", money(amount), on))
        if (p.person_id, "UC") in rows.starts and rng.random() < 0.35:
            on = since(p, "UC")
            amount = rng.uniform(40, 450)
            rows.incomes.append((len(rows.incomes) + 1, p.person_id, "earnings", money(amount), on))
        if p.current and rng.random() < 0.03:
            benefit = min(p.current)
            on = since(p, benefit)
            amount = rng.uniform(5, 60)
            rows.incomes.append((len(rows.incomes) + 1, p.person_id, "other", money(amount), on))
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
