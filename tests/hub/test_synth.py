"""Synthetic source data: deterministic, valid, noisy in the documented ways, and loadable by COPY.

The error-rate tests read the rates back from the rows themselves (a NULL NINO, a postcode that differs
from DWP's), not only from the labels the generator wrote, so a generator that labels one thing and
does another fails here.
"""

from __future__ import annotations

import asyncio
import math
import re
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from hub.ops.synth import (
    COLUMNS,
    DATABASES,
    WEEKLY_RATES_2026,
    SynthData,
    SynthParams,
    Table,
    generate,
    load,
    name_variants,
    nhs_number_valid,
)
from hub.ops.synth import names as nm
from hub.ops.synth.rates import DWP_DUPLICATE
from linkage import check_nino

MIGRATIONS = Path(__file__).resolve().parents[2] / "hub" / "migrations"
PLACEHOLDERS = {date(1900, 1, 1), date(1901, 1, 1)}  # what the generator writes for an unknown date of birth
REF = date(2026, 11, 1)
POSTCODE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]? [0-9][ABD-HJLNP-UW-Z]{2}$")


@pytest.fixture(scope="module")
def data() -> SynthData:
    return generate(SynthParams(people=5000, seed=20261101))


def rows(data: SynthData, table: str) -> list[dict[str, Any]]:
    columns, body = data.tables[table]
    return [dict(zip(columns, row, strict=True)) for row in body]


def people(data: SynthData) -> list[dict[str, Any]]:
    """DWP's first record of each person (ids 1..people); its duplicates come after (ids above)."""
    return [r for r in rows(data, "dwp.person") if r["person_id"] <= data.params.people]


def truth(data: SynthData, database: str) -> dict[str, tuple[int, str]]:
    """record id -> (true person id, true NINO)."""
    out: dict[str, tuple[int, str]] = {}
    for record_id, person_id, nino in data.truth[database].rows:
        assert isinstance(record_id, str)
        assert isinstance(person_id, int)
        assert isinstance(nino, str)
        out[record_id] = (person_id, nino)
    return out


def age(dob: date, on: date = REF) -> int:
    return on.year - dob.year - ((on.month, on.day) < (dob.month, dob.day))


def shape(postcode: str) -> str:
    return re.sub(r"[0-9]", "9", re.sub(r"[A-Z]", "A", postcode.split()[0]))


# --- determinism and parameters -------------------------------------------------------------------


def test_same_seed_gives_the_same_data() -> None:
    a = generate(SynthParams(people=2000, seed=7))
    b = generate(SynthParams(people=2000, seed=7))
    assert a.databases == b.databases
    assert a.perturbations == b.perturbations


def test_another_seed_gives_other_data() -> None:
    a = generate(SynthParams(people=2000, seed=7))
    b = generate(SynthParams(people=2000, seed=8))
    assert a.tables["dwp.person"].rows != b.tables["dwp.person"].rows
    assert {r[1] for r in a.tables["dwp.person"].rows}.isdisjoint({r[1] for r in b.tables["dwp.person"].rows})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"people": -1}, "people must be zero or more"),
        ({"nino_missing_rate": 1.5}, "nino_missing_rate must be between 0 and 1"),
        ({"dob_swap_rate": -0.1}, "dob_swap_rate must be between 0 and 1"),
        ({"social_care_dob_missing_rate": 1.2}, "social_care_dob_missing_rate must be between 0 and 1"),
        (
            {"hb_dob_missing_rate": 0.6, "hb_dob_placeholder_rate": 0.6},
            "hb_dob_missing_rate and hb_dob_placeholder_rate must add up to at most 1",
        ),
        ({"councils": ()}, "councils must name at least one council code"),
        ({"councils": ("E09000901", "E09000901")}, "councils must not repeat a code"),
    ],
)
def test_bad_params_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        SynthParams(**{"people": 10, "seed": 1, **changes})


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ValueError, match=r"people must.*hb_coverage must.*councils must"):
        SynthParams(people=-1, seed=1, hb_coverage=2.0, councils=())


def test_no_people_gives_empty_tables() -> None:
    empty = generate(SynthParams(people=0, seed=1))
    assert all(n == 0 for n in empty.row_counts().values())


def test_exactly_the_people_asked_for() -> None:
    data = generate(SynthParams(people=1234, seed=3))
    assert [r["person_id"] for r in people(data)] == list(range(1, 1235))
    assert {person for person, _ in truth(data, "src_dwp").values()} == set(range(1, 1235))
    assert len(generate(SynthParams(people=1234, seed=3, dwp_duplicate_rate=0)).tables["dwp.person"].rows) == 1234


def test_dwp_holds_some_people_twice_under_their_nino(data: SynthData) -> None:
    first = {r["person_id"]: r for r in people(data)}
    known = truth(data, "src_dwp")
    duplicates = [r for r in rows(data, "dwp.person") if r["person_id"] not in first]
    assert_rate(len(duplicates), len(first), DWP_DUPLICATE)
    for d in duplicates:
        person, nino = known[f"dwp:{d['person_id']}"]
        original = first[person]
        assert d["nino"] == nino == original["nino"]
        assert (d["date_of_birth"], d["household_id"], d["sex"]) == (
            original["date_of_birth"],
            original["household_id"],
            original["sex"],
        )
    # Registered again, names as that registration held them: now and then a nickname, a middle name left off.
    assert any(d["given_name"] != first[known[f"dwp:{d['person_id']}"][0]]["given_name"] for d in duplicates)


def test_rows_follow_the_column_order() -> None:
    assert set(COLUMNS) == {t for tables in DATABASES.values() for t in tables}
    sample = generate(SynthParams(people=300, seed=1))
    for database, tables in sample.databases.items():
        assert tuple(tables) == DATABASES[database]
        for name, (columns, body) in tables.items():
            assert columns == COLUMNS[name]
            assert all(len(row) == len(columns) for row in body)


# --- identifiers ---------------------------------------------------------------------------------


def test_true_ninos_are_valid_normalised_and_unique(data: SynthData) -> None:
    ninos = [r["nino"] for r in people(data)]
    checks = [check_nino(n) for n in ninos]
    assert all(c.valid and c.nino == n for c, n in zip(checks, ninos, strict=True))
    # Unique even without the suffix: the suffix does not tell two people apart.
    assert len({n[:8] for n in ninos}) == len(ninos)
    for database in DATABASES:
        assert all(check_nino(true_nino).valid for _, true_nino in truth(data, database).values())


def test_truth_names_every_record_and_agrees_with_dwp(data: SynthData) -> None:
    nino_of = {r["person_id"]: r["nino"] for r in rows(data, "dwp.person")}
    expected = {
        "src_dwp": {f"dwp:{r['person_id']}" for r in rows(data, "dwp.person")},
        "src_hb": {f"hb:{r['claim_ref']}" for r in rows(data, "hb.claim")}
        | {f"hb:{r['claim_ref']}/P{r['partner_id']}" for r in rows(data, "hb.partner")}
        | {f"hb:{r['claim_ref']}/N{r['non_dependant_id']}" for r in rows(data, "hb.non_dependant")},
        "src_social_care": {f"sc:{r['client_id']}" for r in rows(data, "social_care.client")},
    }
    for database, ids in expected.items():
        known = truth(data, database)
        assert set(known) == ids
        assert all(nino_of[person] == nino for person, nino in known.values())
    assert set(data.perturbations) <= set(truth(data, "src_hb")) | set(truth(data, "src_social_care"))


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("9434765919", True),  # NHS Digital's worked example
        ("9434765918", False),  # wrong check digit
        ("943476591", False),  # too short
        ("94347659x9", False),
        ("4010232137", True),
        ("0000000000", True),  # 11 - 0 = 11 counts as check digit 0
        ("1000000010", False),  # the check digit would be 10: such numbers are never issued
    ],
)
def test_nhs_number_check(value: str, valid: bool) -> None:
    assert nhs_number_valid(value) is valid


def test_nhs_numbers_pass_modulus_11_and_are_unique(data: SynthData) -> None:
    numbers = [r["nhs_number"] for r in rows(data, "social_care.client") if r["nhs_number"] is not None]
    assert numbers
    assert all(nhs_number_valid(n) and n.startswith("999") for n in numbers)  # the NHS test range
    assert len(set(numbers)) == len(numbers)


def test_record_references_have_their_shapes(data: SynthData) -> None:
    assert all(re.fullmatch(r"HB[0-9]{6}", r["claim_ref"]) for r in rows(data, "hb.claim"))
    assert all(re.fullmatch(r"SC[0-9]{6}", r["client_id"]) for r in rows(data, "social_care.client"))
    councils = set(SynthParams(people=1, seed=1).councils)
    assert {r["council_code"] for r in rows(data, "hb.claim")} == councils
    assert {r["council_code"] for r in rows(data, "social_care.client")} == councils


# --- people, households and places ---------------------------------------------------------------


def test_ages_sexes_deaths_and_titles_are_plausible(data: SynthData) -> None:
    people = rows(data, "dwp.person")
    ages = [age(p["date_of_birth"]) for p in people]
    assert min(ages) >= 0
    assert max(ages) <= 100
    assert 0.15 < sum(a < 18 for a in ages) / len(ages) < 0.30
    assert 0.12 < sum(a >= 66 for a in ages) / len(ages) < 0.30
    assert {p["sex"] for p in people} == {"F", "M"}
    dead = [p for p in people if p["date_of_death"] is not None]
    assert 0 < len(dead) < 0.02 * len(people)
    assert all(p["date_of_birth"] <= p["date_of_death"] <= REF for p in dead)
    assert all(p["title"] != "Mrs" for p in people if p["sex"] == "M")


def test_social_care_clients_are_older_than_everyone(data: SynthData) -> None:
    dob = {r["person_id"]: r["date_of_birth"] for r in rows(data, "dwp.person")}
    clients = [person for person, _ in truth(data, "src_social_care").values()]
    client_ages = [age(dob[p]) for p in clients]
    all_ages = [age(d) for d in dob.values()]
    assert min(client_ages) >= 18
    assert sum(client_ages) / len(client_ages) > sum(all_ages) / len(all_ages) + 15


def test_households_have_couples_twins_and_a_junior(data: SynthData) -> None:
    by_household: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for p in people(data):
        by_household[p["household_id"]].append(p)
    assert all(len({(m["address_line1"], m["postcode"]) for m in h}) == 1 for h in by_household.values())
    couples = [h for h in by_household.values() if {"claimant", "partner"} <= {m["household_role"] for m in h}]
    twins = [
        (a, b)
        for h in by_household.values()
        for a in h
        for b in h
        if a["person_id"] < b["person_id"]
        and a["household_role"] == b["household_role"] == "child"
        and a["date_of_birth"] == b["date_of_birth"]
        and a["family_name"] == b["family_name"]
    ]
    juniors = [
        (a, b)
        for h in by_household.values()
        for a in h
        for b in h
        if a["person_id"] < b["person_id"]
        and (a["given_name"], a["family_name"]) == (b["given_name"], b["family_name"])
        and abs(age(a["date_of_birth"]) - age(b["date_of_birth"])) >= 16
    ]
    assert len(couples) > 0.2 * len(by_household)
    assert len(twins) >= 5
    assert all(a["given_name"] != b["given_name"] for a, b in twins)
    assert len(juniors) >= 5


def test_postcodes_are_normalised_and_shared_by_neighbours(data: SynthData) -> None:
    people = rows(data, "dwp.person")
    postcodes = [p["postcode"] for p in people]
    assert all(POSTCODE.fullmatch(pc) for pc in postcodes)
    assert {"A9", "A99", "AA9", "AA99", "A9A", "AA9A"} <= {shape(pc) for pc in postcodes}
    households_per_postcode = Counter(pc for pc in {(p["household_id"], p["postcode"]) for p in people})
    assert 3 < len(people) / len(set(postcodes)) < 80
    assert max(Counter(pc for _, pc in households_per_postcode).values()) > 1
    council_postcodes = [r["postcode"] for r in rows(data, "hb.claim")]
    council_postcodes += [r["postcode"] for r in rows(data, "social_care.client")]
    assert all(POSTCODE.fullmatch(pc) for pc in council_postcodes)


def test_name_data_is_large_and_skewed(data: SynthData) -> None:
    given = {g.name for origin in nm.ORIGINS for g in nm.given_names(origin)}
    surnames = {s.name for origin in nm.ORIGINS for s in nm.surnames(origin)}
    assert len(given) >= 150
    assert len(surnames) >= 250
    counts = Counter(r["family_name"] for r in rows(data, "dwp.person"))
    top = [name for name, _ in counts.most_common(40)]
    assert top[0] == "Smith"
    assert {"Jones", "Williams", "Patel", "Khan"} <= set(top)
    assert sum(1 for n in counts.values() if n <= 3) > 0.2 * len(counts)  # a long tail of rare names


@pytest.mark.parametrize(
    ("name", "sex", "variant"),
    [
        ("William", "M", "Bill"),
        ("Bill", "M", "William"),
        ("Mohammed", "M", "Muhammad"),
        ("Muhammad", "M", "Mohammad"),
        ("Catherine", "F", "Katherine"),
        ("Catherine", "F", "Kate"),
        ("Kathryn", "F", "Cathy"),
        ("Stephen", "M", "Steven"),
        ("Steven", "M", "Steve"),
        ("Piotr", "M", "Peter"),
    ],
)
def test_name_variants(name: str, sex: nm.Sex, variant: str) -> None:
    assert variant in name_variants(name, sex)


def test_name_variants_keep_to_one_sex_and_one_direction() -> None:
    assert "Alexandra" not in name_variants("Alex", "M")
    assert "Alexander" in name_variants("Alex", "M")
    assert "Piotr" not in name_variants("Peter", "M")
    assert name_variants("Zebedee", "M") == ()


# --- the error model -----------------------------------------------------------------------------


def council_records(data: SynthData) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(record id, what the council keyed, the DWP truth) for every HB claim and care client."""
    dwp = {r["person_id"]: r for r in rows(data, "dwp.person")}
    out = []
    for table, prefix, key, database in (
        ("hb.claim", "hb", "claim_ref", "src_hb"),
        ("social_care.client", "sc", "client_id", "src_social_care"),
    ):
        known = truth(data, database)
        for r in rows(data, table):
            record_id = f"{prefix}:{r[key]}"
            out.append((record_id, r, dwp[known[record_id][0]]))
    return out


#: What a system holds of a person's names that another may hold otherwise (hub.ops.synth.realities).
NAME_REALITIES = frozenset({"other_name", "suffix", "earlier_surname", "convention_surname"})
CONVENTION_SURNAMES = frozenset({"Singh", "Kaur", "Begum", "Bibi"})


def swapped(d: date) -> date | None:
    if d.day > 12 or d.day == d.month:
        return None
    s = date(d.year, d.day, d.month)
    return s if s <= REF else None


def test_council_records_equal_the_truth_except_where_labelled(data: SynthData) -> None:
    for record_id, keyed, true in council_records(data):
        labels = data.perturbations.get(record_id, frozenset())
        if "nino_missing" in labels:
            assert keyed["nino"] is None
        else:
            normalised = check_nino(keyed["nino"]).nino
            if "nino_mistyped" in labels:
                assert normalised != true["nino"]
            else:
                assert normalised == true["nino"]
                assert (keyed["nino"] == true["nino"]) is ("nino_formatted" not in labels)
        keyed_as_written = not labels & {"nickname", "name_typo"}
        if keyed_as_written and not labels & NAME_REALITIES:
            assert (keyed["given_name"], keyed["family_name"]) == (true["given_name"], true["family_name"])
        if keyed_as_written and "other_name" in labels:
            # Another of the person's registered names: a middle name, alone or after the given name.
            assert keyed["given_name"] != true["given_name"]
            assert set(keyed["given_name"].split()) <= {true["given_name"], *(true["middle_names"] or "").split()}
        if "suffix" in labels:
            assert keyed["name_suffix"] in {"Jnr", "Snr"} or keyed["family_name"].endswith((" Jnr", " Snr"))
        if keyed_as_written and "earlier_surname" in labels:
            assert keyed["family_name"] != true["family_name"]
        if keyed_as_written and "convention_surname" in labels:
            words = {*keyed["family_name"].split(), *true["family_name"].split()}
            assert words & CONVENTION_SURNAMES or keyed["family_name"] == true["family_name"]
        if "nickname" in labels and "name_typo" not in labels:
            # Of the given name, or of the middle name the person goes by.
            held = (true["middle_names"] or "").split() if "other_name" in labels else [true["given_name"]]
            assert any(keyed["given_name"] in name_variants(name, true["sex"]) for name in held)
        if "name_typo" in labels and "nickname" not in labels:
            assert (keyed["given_name"], keyed["family_name"]) != (true["given_name"], true["family_name"])
        if "dob_missing" in labels:
            assert keyed["date_of_birth"] is None
        elif "dob_placeholder" in labels:
            assert keyed["date_of_birth"] in PLACEHOLDERS
        elif "dob_swap" in labels:
            assert keyed["date_of_birth"] == swapped(true["date_of_birth"])
        elif "actual_dob" in labels:
            # DWP holds an estimate, 1 January of the year; the council the real date.
            assert (true["date_of_birth"].month, true["date_of_birth"].day) == (1, 1)
            assert keyed["date_of_birth"] != true["date_of_birth"]
            assert keyed["date_of_birth"].year == true["date_of_birth"].year
        else:
            assert keyed["date_of_birth"] == true["date_of_birth"]
        address = (keyed["address_line1"], keyed["town"], keyed["postcode"])
        if "moved_address" in labels:
            assert keyed["postcode"] != true["postcode"]
        else:
            assert address == (true["address_line1"], true["town"], true["postcode"])


def assert_rate(hits: int, total: int, expected: float) -> None:
    """``hits / total`` is within four binomial standard deviations of ``expected``."""
    assert total > 100, "too few records to measure a rate"
    tolerance = 4 * math.sqrt(expected * (1 - expected) / total) + 0.002
    assert abs(hits / total - expected) <= tolerance, f"{hits}/{total} = {hits / total:.4f}, expected {expected}"


def test_error_rates_are_roughly_honoured(data: SynthData) -> None:
    records = council_records(data)
    claims = [(k, t) for rid, k, t in records if rid.startswith("hb:")]
    clients = [(k, t) for rid, k, t in records if rid.startswith("sc:")]

    assert_rate(sum(k["nino"] is None for k, _ in claims), len(claims), 0.05)
    assert_rate(sum(k["nino"] is not None for k, _ in clients), len(clients), 0.33)

    present = [(k, t) for k, t in claims + clients if k["nino"] is not None]
    mistyped = [(k, t) for k, t in present if check_nino(k["nino"]).nino != t["nino"]]
    assert_rate(len(mistyped), len(present), 0.03)
    # Most mistypes still look like a NINO (the dangerous kind); some do not.
    looks_valid = sum(check_nino(k["nino"]).valid for k, _ in mistyped)
    assert 0 < looks_valid < len(mistyped)

    everyone = claims + clients
    assert_rate(sum(k["postcode"] != t["postcode"] for k, t in everyone), len(everyone), 0.05)

    # Dates of birth not held: NULL, or a placeholder (no one in the population was born on one).
    params = data.params
    for people, missing, placeholder in (
        (claims, params.hb_dob_missing_rate, params.hb_dob_placeholder_rate),
        (clients, params.social_care_dob_missing_rate, params.social_care_dob_placeholder_rate),
    ):
        assert_rate(sum(k["date_of_birth"] is None for k, _ in people), len(people), missing)
        assert_rate(sum(k["date_of_birth"] in PLACEHOLDERS for k, _ in people), len(people), placeholder)
    assert not [t for _, t in everyone if t["date_of_birth"] in PLACEHOLDERS]
    held = [(k, t) for k, t in everyone if k["date_of_birth"] is not None and k["date_of_birth"] not in PLACEHOLDERS]
    swappable = [(k, t) for k, t in held if swapped(t["date_of_birth"]) is not None]
    assert_rate(sum(k["date_of_birth"] != t["date_of_birth"] for k, t in swappable), len(swappable), 0.02)

    with_variants = [(k, t) for k, t in everyone if name_variants(t["given_name"], t["sex"])]
    nicknames = sum(k["given_name"] in name_variants(t["given_name"], t["sex"]) for k, t in with_variants)
    assert_rate(nicknames, len(with_variants), 0.10)

    typos = sum("name_typo" in data.perturbations.get(rid, ()) for rid, _, _ in records)
    assert_rate(typos, len(records), 0.05)


def test_rates_of_zero_give_exact_copies() -> None:
    clean = generate(
        SynthParams(
            people=1500,
            seed=5,
            social_care_nino_present=1.0,
            nino_missing_rate=0,
            nino_mistyped_rate=0,
            nino_formatted_rate=0,
            name_typo_rate=0,
            nickname_rate=0,
            moved_address_rate=0,
            dob_swap_rate=0,
            hb_dob_missing_rate=0,
            hb_dob_placeholder_rate=0,
            social_care_dob_missing_rate=0,
            social_care_dob_placeholder_rate=0,
            name_realities=False,
        )
    )
    identity = ("nino", "given_name", "family_name", "date_of_birth", "address_line1", "town", "postcode")
    for _, keyed, true in council_records(clean):
        assert tuple(keyed[c] for c in identity) == tuple(true[c] for c in identity)
    assert not [labels for labels in clean.perturbations.values() if labels & {"nino_missing", "name_typo"}]


# --- benefits, claims and care -------------------------------------------------------------------


def test_awards_are_well_formed(data: SynthData) -> None:
    allowed: dict[str, set[tuple[str | None, str | None]]] = {
        "DLA": {
            ("care", "lowest"),
            ("care", "middle"),
            ("care", "highest"),
            ("mobility", "lower"),
            ("mobility", "higher"),
        },
        "PIP": {(c, r) for c in ("daily_living", "mobility") for r in ("standard", "enhanced")},
        "AA": {(None, "lower"), (None, "higher")},
        "PC": {("guarantee", None), ("savings", None)},
        "ESA": {("contribution", None), ("income", None)},
        "JSA": {("contribution", None), ("income", None)},
        "IS": {(None, None)},
        "UC": {(None, None)},
        "SP": {(None, None)},
        "CA": {(None, None)},
    }
    dob = {r["person_id"]: r["date_of_birth"] for r in rows(data, "dwp.person")}
    awards = rows(data, "dwp.benefit_award")
    assert {a["benefit"] for a in awards} == set(allowed)
    for a in awards:
        assert (a["component"], a["rate"]) in allowed[a["benefit"]]
        assert dob[a["person_id"]] <= a["start_date"] <= REF
        assert a["end_date"] is None or a["start_date"] <= a["end_date"] <= REF
        assert a["weekly_amount"] > 0
        fixed = WEEKLY_RATES_2026.get((a["benefit"], a["component"], a["rate"]))
        assert fixed is None or a["weekly_amount"] == fixed
        if a["benefit"] == "AA":
            assert age(dob[a["person_id"]], a["start_date"]) >= 66
    current_dla = [a for a in awards if a["benefit"] == "DLA" and a["end_date"] is None]
    assert sum(age(dob[a["person_id"]]) < 16 for a in current_dla) > 0.5 * len(current_dla)
    assert any(a["end_date"] is not None for a in awards)
    assert rows(data, "dwp.declared_income")
    assert rows(data, "dwp.declared_capital")


def test_pip_points_agree_with_the_mobility_rate() -> None:
    awards = rows(generate(SynthParams(people=20_000, seed=11)), "dwp.benefit_award")
    planning = {"a": 0, "b": 4, "c": 8, "d": 10, "e": 10, "f": 12}
    mobility = [a for a in awards if a["benefit"] == "PIP" and a["component"] == "mobility"]
    for a in mobility:
        total = a["pip_moving_around_points"] + planning[a["pip_planning_journeys_descriptor"]]
        assert (8 <= total <= 11) if a["rate"] == "standard" else (total >= 12)
    others = [a for a in awards if not (a["benefit"] == "PIP" and a["component"] == "mobility")]
    assert all(a["pip_moving_around_points"] is None for a in others)
    assert all(a["pip_planning_journeys_descriptor"] is None for a in others)
    # Enough Blue Badge cases to test on: 8+ points moving around, or planning descriptor e.
    assert sum(a["pip_moving_around_points"] >= 8 for a in mobility) > 0.4 * len(mobility)
    assert sum(a["pip_planning_journeys_descriptor"] == "e" for a in mobility) > 0.05 * len(mobility)


def test_hb_claims_are_plausible(data: SynthData) -> None:
    claims = rows(data, "hb.claim")
    assert len(claims) == round(0.3 * 5000)
    assert all(c["weekly_award"] <= c["weekly_rent"] for c in claims)
    assert all(1 <= c["bedroom_entitlement"] <= 6 for c in claims)
    assert {c["tenancy_type"] for c in claims} == {"social", "lha"}
    assert all(c["end_date"] is None or c["start_date"] <= c["end_date"] <= REF for c in claims)
    household = {r["person_id"]: r["household_id"] for r in rows(data, "dwp.person")}
    known = truth(data, "src_hb")
    claimants = [p for rid, (p, _) in known.items() if rid.startswith("hb:") and "/" not in rid]
    assert len({household[p] for p in claimants}) == len(claimants)  # one claim per household
    claim_refs = {c["claim_ref"] for c in claims}
    # Every member is a record of their own, of the claimant's household: the partner one of its couple.
    role = {r["person_id"]: r["household_role"] for r in rows(data, "dwp.person")}
    claimant_of = {c["claim_ref"]: known[f"hb:{c['claim_ref']}"][0] for c in claims}
    partners = rows(data, "hb.partner")
    assert len(partners) > 0.2 * len(claims)
    for p in partners:
        person, claimant = known[f"hb:{p['claim_ref']}/P{p['partner_id']}"][0], claimant_of[p["claim_ref"]]
        assert person != claimant
        assert household[person] == household[claimant]
        assert {role[person], role[claimant]} == {"claimant", "partner"}
    for n in rows(data, "hb.non_dependant"):
        person = known[f"hb:{n['claim_ref']}/N{n['non_dependant_id']}"][0]
        assert household[person] == household[claimant_of[n["claim_ref"]]]
        assert role[person] == "non_dependant"
    assert rows(data, "hb.dhp_award")
    assert rows(data, "hb.non_dependant")
    assert all(d["claim_ref"] in claim_refs for d in rows(data, "hb.dhp_award"))


def test_overnight_carer_room_follows_care_plans(data: SynthData) -> None:
    # The room is for a carer staying overnight at the claimant's home: it follows a current care plan
    # needing overnight care, for the claimant or partner, unless that person now lives in a care home.
    sc_truth = truth(data, "src_social_care")
    in_care_home = {
        sc_truth[f"sc:{p['client_id']}"][0]
        for p in rows(data, "social_care.placement")
        if p["kind"] == "care_home" and p["discharged_on"] is None
    }
    overnight_people = {
        sc_truth[f"sc:{plan['client_id']}"][0]
        for plan in rows(data, "social_care.care_plan")
        if plan["end_date"] is None and plan["overnight_care_required"]
    } - in_care_home
    dwp = {r["person_id"]: r for r in rows(data, "dwp.person")}
    couple_of = defaultdict(set)
    for p in dwp.values():
        if p["household_role"] in ("claimant", "partner"):
            couple_of[p["household_id"]].add(p["person_id"])
    hb_truth = truth(data, "src_hb")
    with_room, needing = [], []
    for claim in rows(data, "hb.claim"):
        person = hb_truth[f"hb:{claim['claim_ref']}"][0]
        household = (
            couple_of[dwp[person]["household_id"]] if person in couple_of[dwp[person]["household_id"]] else {person}
        )
        needs = bool(household & overnight_people)
        if claim["overnight_carer_room"]:
            with_room.append(needs)
        if needs:
            needing.append(claim["overnight_carer_room"])
    assert len(needing) >= 20
    assert sum(with_room) / len(with_room) > 0.85  # a room nearly always has a plan behind it
    assert 0.8 < sum(needing) / len(needing) < 1.0  # and a plan nearly always has a room; a few slip


def test_care_records_are_plausible(data: SynthData) -> None:
    plans = rows(data, "social_care.care_plan")
    placements = rows(data, "social_care.placement")
    assessments = rows(data, "social_care.financial_assessment")
    assert any(p["overnight_care_required"] for p in plans)
    assert any(p["end_date"] is None for p in plans)
    assert all(p["end_date"] is None or p["start_date"] <= p["end_date"] for p in plans)
    assert {p["kind"] for p in placements} == {"hospital", "care_home"}
    assert any(p["discharged_on"] is None for p in placements)
    assert any(p["discharged_on"] is not None for p in placements)
    assert all(p["discharged_on"] is None or p["admitted_on"] <= p["discharged_on"] <= REF for p in placements)
    assert {a["capital_band"] for a in assessments} == {"below_lower_limit", "tariff", "above_upper_limit"}


# --- loading into PostgreSQL ---------------------------------------------------------------------


@pytest.fixture(scope="module")
async def source_dbs(server_url: str) -> AsyncIterator[dict[str, asyncpg.Connection]]:
    """Three fresh, uniquely named databases with the source migrations applied; dropped afterwards."""
    prefix = f"synthtest_{uuid.uuid4().hex[:8]}_"
    admin = await asyncpg.connect(server_url)
    conns: dict[str, asyncpg.Connection] = {}
    try:
        for database in DATABASES:
            await admin.execute(f'CREATE DATABASE "{prefix}{database}"')
            conn = await asyncpg.connect(server_url, database=prefix + database)
            conns[database] = conn
            await conn.execute((MIGRATIONS / database / "0001_init.sql").read_text())
            # ... and those that change what the generator's columns accept: a date of birth may be unknown,
            # the names systems hold beside the given and family name, a NINO on more than one DWP record, every
            # member of an HB claim (its indexes need the blocking migration's soundex).
            changes = [
                *(MIGRATIONS / database).glob("*_blocking_indexes.sql"),
                *(MIGRATIONS / database).glob("*_dob_nullable.sql"),
                *(MIGRATIONS / database).glob("*_names.sql"),
                *(MIGRATIONS / database).glob("*_nino_duplicates.sql"),
                *(MIGRATIONS / database).glob("*_household_members.sql"),
            ]
            for migration in sorted(changes):
                await conn.execute(migration.read_text())
        yield conns
    finally:
        await asyncio.gather(*(c.close() for c in conns.values()))
        for database in DATABASES:
            await admin.execute(f'DROP DATABASE IF EXISTS "{prefix}{database}" WITH (FORCE)')
        await admin.close()


async def test_columns_match_the_migrations(source_dbs: dict[str, asyncpg.Connection]) -> None:
    for database, tables in DATABASES.items():
        for table in tables:
            schema, name = table.split(".")
            columns = await source_dbs[database].fetch(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
                schema,
                name,
            )
            assert tuple(c["column_name"] for c in columns) == COLUMNS[table]


async def test_load_round_trip(source_dbs: dict[str, asyncpg.Connection], data: SynthData) -> None:
    counts = await load(source_dbs, data)
    assert counts == data.row_counts()
    for database, tables in data.databases.items():
        for table, (_, expected) in tables.items():
            schema, name = table.split(".")
            # Identifiers from our own whitelist (DATABASES), not from input.
            stored = await source_dbs[database].fetch(f'SELECT * FROM "{schema}"."{name}"')
            # Every value comes back equal: dates, Decimals, booleans, NULLs and non-ASCII names.
            assert Counter(tuple(r) for r in stored) == Counter(expected), f"{database}.{table}"

    # Loading again replaces rather than adds.
    assert await load(source_dbs, data) == counts
    assert await source_dbs["src_dwp"].fetchval("SELECT count(*) FROM dwp.person") == len(
        data.tables["dwp.person"].rows
    )


async def test_without_truncate_a_second_load_fails_and_changes_nothing(
    source_dbs: dict[str, asyncpg.Connection], data: SynthData
) -> None:
    await load(source_dbs, data)
    with pytest.raises(asyncpg.UniqueViolationError):
        await load(source_dbs, data, truncate=False)
    assert await source_dbs["src_dwp"].fetchval("SELECT count(*) FROM dwp.person") == len(
        data.tables["dwp.person"].rows
    )


async def test_a_failure_in_one_database_rolls_back_all_three(
    source_dbs: dict[str, asyncpg.Connection], data: SynthData
) -> None:
    await load(source_dbs, data)
    smaller = generate(SynthParams(people=100, seed=1))
    clients = smaller.databases["src_social_care"]["social_care.client"]
    broken_row = ("SC999999", "E09000901", "not-a-number", *clients.rows[0][3:])
    broken = replace(
        smaller,
        databases={
            **smaller.databases,
            "src_social_care": {
                **smaller.databases["src_social_care"],
                "social_care.client": Table(clients.columns, [*clients.rows, broken_row]),
            },
        },
    )
    with pytest.raises(asyncpg.CheckViolationError):
        await load(source_dbs, broken)
    # The DWP and HB loads had succeeded, and were rolled back with social care's.
    assert await source_dbs["src_dwp"].fetchval("SELECT count(*) FROM dwp.person") == len(
        data.tables["dwp.person"].rows
    )
    assert await source_dbs["src_hb"].fetchval("SELECT count(*) FROM hb.claim") == len(data.tables["hb.claim"].rows)


async def test_constraints_accept_a_larger_population(source_dbs: dict[str, asyncpg.Connection]) -> None:
    # COPY enforces every CHECK, NOT NULL, UNIQUE and foreign key: loading is the constraint test.
    bigger = generate(
        SynthParams(people=20_000, seed=99, councils=("E06000901", "W06000902", "S12000903", "E08000904"))
    )
    assert await load(source_dbs, bigger, analyze=False) == bigger.row_counts()


async def test_load_refuses_the_wrong_connections(source_dbs: dict[str, asyncpg.Connection], data: SynthData) -> None:
    with pytest.raises(ValueError, match="missing \\['src_social_care'\\]"):
        await load({k: v for k, v in source_dbs.items() if k != "src_social_care"}, data)
