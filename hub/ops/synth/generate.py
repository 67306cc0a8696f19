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
clients) carry errors, each labelled in ``SynthData.perturbations[record_id]``: see
:mod:`hub.ops.synth.keying` for the labels and the rate behind each.

End dates, when set, are never after ``reference_date``; NULL means current. Amounts follow the
assumed 2026/27 rates in :mod:`hub.ops.synth.rates`.

Each stage is a module: :mod:`~hub.ops.synth.addresses`, :mod:`~hub.ops.synth.people`,
:mod:`~hub.ops.synth.dwp`, :mod:`~hub.ops.synth.social_care`, :mod:`~hub.ops.synth.housing`, with the
error injection in :mod:`~hub.ops.synth.keying` and the table layout in :mod:`~hub.ops.synth.tables`.
This module runs them in order and lays out the tables.
"""

from __future__ import annotations

from hub.ops.synth.addresses import AddressBook
from hub.ops.synth.draws import stream
from hub.ops.synth.dwp import dwp_records
from hub.ops.synth.housing import housing_benefit_records
from hub.ops.synth.names import name_variants
from hub.ops.synth.params import SynthParams
from hub.ops.synth.people import population
from hub.ops.synth.realities import assign, hold
from hub.ops.synth.social_care import social_care_records
from hub.ops.synth.tables import COLUMNS, TRUTH_TABLE, Row, SynthData, Table

__all__ = ["generate"]


def generate(params: SynthParams) -> SynthData:
    """Make the whole synthetic population for ``params``. Deterministic; 100,000 people take seconds."""
    book = AddressBook(params.councils)
    people, households = population(params, book)
    if params.name_realities:
        assign(params.seed, people, households)
    dwp = dwp_records(params, people, households)
    social_care = social_care_records(params, people, book)
    housing = housing_benefit_records(params, people, households, book, social_care.overnight_now, social_care.in_home)

    held = stream(params.seed, "dwp/names")
    person_rows: list[Row] = [
        (
            p.person_id, p.nino, p.title, h.given, h.middle, h.family, h.dob, p.sex,
            p.address.line1, p.address.line2, p.address.town, p.address.postcode,
            p.household_id, p.role, p.dod, h.known_as, h.suffix, h.previous,
        )
        for p in people
        for h in (hold(held, p, "dwp"),)
    ]  # fmt: skip
    dwp_truth: list[Row] = [(f"dwp:{p.person_id}", p.person_id, p.nino) for p in people]
    # DWP's duplicates: a second record of a person, after everyone's first (ids above theirs), under the
    # same NINO and the names as that registration held them. Its own stream: no other draw changes.
    again = stream(params.seed, "dwp/duplicates")
    for p in people:
        if again.random() >= params.dwp_duplicate_rate:
            continue
        h = hold(again, p, "dwp")
        given = h.given
        if (variants := name_variants(given, p.sex)) and again.random() < 0.3:
            given = again.choice(variants)
        duplicate_id = len(dwp_truth) + 1  # after every id given so far
        person_rows.append(
            (
                duplicate_id, p.nino, p.title, given, h.middle if again.random() < 0.5 else None, h.family, h.dob,
                p.sex, p.address.line1, p.address.line2, p.address.town, p.address.postcode, p.household_id, p.role,
                p.dod, h.known_as, h.suffix, h.previous,
            )
        )  # fmt: skip
        dwp_truth.append((f"dwp:{duplicate_id}", p.person_id, p.nino))

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
            "hb.partner": table("hb.partner", housing.partners),
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
