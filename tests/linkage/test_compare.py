"""Comparisons through ``prepare`` + ``compare``: every level of every comparison has a named case, and so
does each trap a household puts in front of linkage (twins, a father and son with one name)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest

from linkage import COMPARISONS, compare, prepare

NAMES = tuple(COMPARISONS)
BASE: dict[str, Any] = {
    "given_name": "William",
    "family_name": "Okafor",
    "dob": "1990-05-11",  # day <= 12, so a transposed date is a real date
    "postcode": "NT1 1AA",
    "address_line1": "1 Mill Lane",
    "address_line2": None,
    "town": "Northtown",
    "nhs_number": "943 476 5919",
}
EXACT = {name: len(c.labels) - 1 for name, c in COMPARISONS.items()}


def levels_of(left: dict[str, Any], right: dict[str, Any]) -> dict[str, int]:
    a = prepare({k: [v] for k, v in left.items()})
    b = prepare({k: [v] for k, v in right.items()})
    row = compare(a, b, (np.array([0]), np.array([0])), NAMES)[0]
    return dict(zip(NAMES, row.tolist(), strict=True))


# (description, changes to the left record, changes to the right record, comparison, expected label)
CASES: list[tuple[str, dict[str, Any], dict[str, Any], str, str]] = [
    # given_name
    ("given: identical", {}, {}, "given_name", "exact"),
    ("given: case and accents", {"given_name": "ZOË"}, {"given_name": "zoe"}, "given_name", "exact"),
    ("given: middle name on one side", {"given_name": "William James"}, {}, "given_name", "exact"),
    ("given: title on one side", {"given_name": "Dr William"}, {}, "given_name", "exact"),
    ("given: William / Bill", {}, {"given_name": "Bill"}, "given_name", "variant"),
    ("given: Bill / William (either side)", {"given_name": "Bill"}, {}, "given_name", "variant"),
    ("given: Mohammed / Muhammad", {"given_name": "Mohammed"}, {"given_name": "Muhammad"}, "given_name", "variant"),
    ("given: Catherine / Kate", {"given_name": "Catherine"}, {"given_name": "Kate"}, "given_name", "variant"),
    ("given: Stephen / Steven", {"given_name": "Stephen"}, {"given_name": "Steven"}, "given_name", "variant"),
    ("given: Iain / Ian", {"given_name": "Iain"}, {"given_name": "Ian"}, "given_name", "variant"),
    ("given: nickname with a middle name", {"given_name": "Bill Henry"}, {}, "given_name", "variant"),
    ("given: typo", {}, {"given_name": "Wiliam"}, "given_name", "similar"),
    # residence: postcode and address as one fact (a move changes both)
    ("residence: identical", {}, {}, "residence", "same home"),
    (
        "residence: same postcode, another address",
        {},
        {"address_line1": "22 Acacia Avenue"},
        "residence",
        "same postcode or address",
    ),
    (
        "residence: same address, postcode mistyped",
        {},
        {"postcode": "NT9 9ZZ"},
        "residence",
        "same postcode or address",
    ),
    (
        "residence: moved within the sector",
        {},
        {"postcode": "NT1 1ZZ", "address_line1": "22 Acacia Avenue"},
        "residence",
        "same sector",
    ),
    (
        "residence: moved within the district",
        {},
        {"postcode": "NT1 9ZZ", "address_line1": "22 Acacia Avenue"},
        "residence",
        "same district",
    ),
    (
        "residence: moved within the area",
        {},
        {"postcode": "NT7 9ZZ", "address_line1": "22 Acacia Avenue"},
        "residence",
        "same area",
    ),
    (
        "residence: moved away",
        {},
        {"postcode": "SB1 1AA", "address_line1": "22 Acacia Avenue"},
        "residence",
        "different",
    ),
    ("given: alike, not a typo's distance", {"given_name": "Jon"}, {"given_name": "Joan"}, "given_name", "similar"),
    ("given: two letters wrong", {"given_name": "Emiily"}, {"given_name": "Emiioy"}, "given_name", "similar"),
    ("given: some letters shared", {"given_name": "Luke"}, {"given_name": "Luge"}, "given_name", "alike"),
    (
        "given: Chris / Charles, not a known variant",
        {"given_name": "Chris"},
        {"given_name": "Charles"},
        "given_name",
        "alike",
    ),
    ("given: Emma / Ella (twins' names)", {"given_name": "Emma"}, {"given_name": "Ella"}, "given_name", "different"),
    (
        "given: spelling not in the nickname list",
        {"given_name": "Olivia"},
        {"given_name": "Olivea"},
        "given_name",
        "similar",
    ),
    ("given: initial / full name", {}, {"given_name": "W"}, "given_name", "initial"),
    ("given: initial with a full stop", {}, {"given_name": "W."}, "given_name", "initial"),
    ("given: full name / initial (either side)", {"given_name": "W"}, {}, "given_name", "initial"),
    ("given: initial of another name", {}, {"given_name": "J"}, "given_name", "different"),
    ("given: different", {}, {"given_name": "Harry"}, "given_name", "different"),
    (
        "given: names swapped between boxes",
        {},
        {"given_name": "Okafor", "family_name": "William"},
        "given_name",
        "exact",
    ),
    # family_name
    ("family: identical", {}, {}, "family_name", "exact"),
    ("family: case", {}, {"family_name": "OKAFOR"}, "family_name", "exact"),
    ("family: apostrophe", {"family_name": "O'Neill"}, {"family_name": "ONeill"}, "family_name", "exact"),
    ("family: typo", {}, {"family_name": "Okafur"}, "family_name", "similar"),
    ("family: double-barrelled on one side", {}, {"family_name": "Bennett-Okafor"}, "family_name", "shares a word"),
    ("family: married-name change", {}, {"family_name": "Bennett"}, "family_name", "different"),
    (
        "family: names swapped between boxes",
        {},
        {"given_name": "Okafor", "family_name": "William"},
        "family_name",
        "exact",
    ),
    # dob
    # every name a record holds (linkage.naming): middle and "known as" names, prefixes, suffixes, previous
    # and convention surnames
    (
        "given: a middle name used as the first",
        {"given_name": "James"},
        {"middle_names": "James Henry"},
        "given_name",
        "variant",
    ),
    (
        "given: a known-as name",
        {"given_name": "Olufemi", "known_as": "Femi"},
        {"given_name": "Femi"},
        "given_name",
        "variant",
    ),
    (
        "given: a second given name used",
        {"given_name": "William James"},
        {"given_name": "James"},
        "given_name",
        "variant",
    ),
    (
        "given: Mohammed prefix dropped",
        {"given_name": "Mohammed Imran"},
        {"given_name": "Imran"},
        "given_name",
        "exact",
    ),
    (
        "given: Mohammed prefix in its own box",
        {"given_name": "Muhammad", "middle_names": "Imran"},
        {"given_name": "Imran"},
        "given_name",
        "variant",
    ),
    (
        "given: brothers with one prefix",
        {"given_name": "Mohammed Imran"},
        {"given_name": "Mohammed Ali"},
        "given_name",
        "different",
    ),
    (
        "given: a middle initial is no first name",
        {"given_name": "James"},
        {"middle_names": "J"},
        "given_name",
        "different",
    ),
    ("given: Jnr and Snr", {"name_suffix": "Jnr"}, {"name_suffix": "Snr."}, "given_name", "different"),
    (
        "given: suffix typed in the family box",
        {"family_name": "Okafor Junior"},
        {"name_suffix": "SR"},
        "given_name",
        "different",
    ),
    ("family: suffix typed in the family box", {"family_name": "Okafor Jnr"}, {}, "family_name", "exact"),
    ("given: one side has a suffix", {"name_suffix": "Jnr"}, {}, "given_name", "exact"),
    (
        "family: a previous surname",
        {"family_name": "Bennett", "previous_family_names": "Okafor"},
        {},
        "family_name",
        "similar",
    ),
    (
        "family: the other's previous surname, among several",
        {},
        {"family_name": "Bennett", "previous_family_names": "Smith; Okafur"},
        "family_name",
        "similar",
    ),
    (
        "family: convention surname against the family name",
        {"given_name": "Harpreet", "family_name": "Kaur"},
        {"given_name": "Harpreet", "family_name": "Sandhu"},
        "family_name",
        "missing",
    ),
    (
        "family: convention surname beside the family name",
        {"family_name": "Kaur Sandhu"},
        {"family_name": "Sandhu"},
        "family_name",
        "exact",
    ),
    ("family: two convention surnames", {"family_name": "Singh"}, {"family_name": "Kaur"}, "family_name", "different"),
    ("family: Begum against a family name", {"family_name": "Begum"}, {}, "family_name", "missing"),
    ("dob: estimated as 1 January, the same year", {"dob": "1990-01-01"}, {}, "dob", "estimated (1 January)"),
    ("dob: 1 January of another year", {"dob": "1991-01-01"}, {}, "dob", "different"),
    ("dob: identical", {}, {}, "dob", "exact"),
    ("dob: date object and ISO string", {"dob": dt.date(1990, 5, 11)}, {}, "dob", "exact"),
    ("dob: compact and ISO", {"dob": "19900511"}, {}, "dob", "exact"),
    ("dob: day and month transposed", {}, {"dob": "1990-11-05"}, "dob", "day/month transposed"),
    ("dob: year one digit off", {}, {"dob": "1991-05-11"}, "dob", "one digit off or swapped"),
    ("dob: month one digit off", {}, {"dob": "1990-06-11"}, "dob", "one digit off or swapped"),
    ("dob: day one digit off", {}, {"dob": "1990-05-12"}, "dob", "one digit off or swapped"),
    ("dob: two digits off", {}, {"dob": "1990-05-22"}, "dob", "two digits off"),
    (
        "dob: two neighbouring year digits swapped",
        {"dob": "1937-04-16"},
        {"dob": "1973-04-16"},
        "dob",
        "one digit off or swapped",
    ),
    (
        "dob: two digits off, not neighbours swapped",
        {"dob": "1937-04-16"},
        {"dob": "1947-03-16"},
        "dob",
        "two digits off",
    ),
    ("dob: three digits off", {}, {"dob": "1990-06-22"}, "dob", "different"),
    ("dob: a generation apart", {}, {"dob": "1962-09-27"}, "dob", "different"),
    # A date before the year 1000 (a typo): a date object and its ISO string must compare, not crash.
    (
        "dob: date before the year 1000, object and ISO string",
        {"dob": dt.date(999, 3, 14)},
        {"dob": "0999-03-14"},
        "dob",
        "exact",
    ),
    # Some systems store "unknown" as 0001-01-01 or 1900-01-01: a placeholder (linkage.placeholders) is no
    # date of birth, so two records carrying one do not agree, nor does one disagree with a real date.
    ("dob: the same placeholder on both sides", {"dob": dt.date(1, 1, 1)}, {"dob": "0001-01-01"}, "dob", "missing"),
    ("dob: 1900-01-01 on both sides", {"dob": "1900-01-01"}, {"dob": dt.date(1900, 1, 1)}, "dob", "missing"),
    ("dob: a placeholder against a real date", {"dob": "1900-01-01"}, {"dob": "1947-08-15"}, "dob", "missing"),
    ("dob: transposed into a date that does not exist", {"dob": "1990-05-14"}, {"dob": "1990-14-05"}, "dob", "missing"),
    # postcode
    ("postcode: identical", {}, {}, "postcode", "unit"),
    ("postcode: case and spacing", {}, {"postcode": "nt11aa"}, "postcode", "unit"),
    ("postcode: same sector", {}, {"postcode": "NT1 1AB"}, "postcode", "sector"),
    ("postcode: same district", {}, {"postcode": "NT1 2AB"}, "postcode", "district"),
    ("postcode: same area", {}, {"postcode": "NT9 2AB"}, "postcode", "area"),
    ("postcode: area that is a prefix of another", {}, {"postcode": "N1 1AA"}, "postcode", "different"),
    (
        "postcode: district that is a prefix of another",
        {"postcode": "NT1 1AA"},
        {"postcode": "NT11 1AA"},
        "postcode",
        "area",
    ),
    ("postcode: different area", {}, {"postcode": "SB1 1AA"}, "postcode", "different"),
    ("postcode: same non-UK code", {"postcode": "75008"}, {"postcode": "75008"}, "postcode", "unit"),
    ("postcode: different non-UK codes", {"postcode": "75008"}, {"postcode": "13001"}, "postcode", "different"),
    # A partial UK postcode (outward code only) is all some records hold: it must not claim more than it has.
    ("postcode: outward code only, same district", {}, {"postcode": "NT1"}, "postcode", "district"),
    ("postcode: outward code only, another district", {}, {"postcode": "NT11"}, "postcode", "area"),
    # address
    ("address: identical", {}, {}, "address", "same tokens"),
    ("address: abbreviated", {}, {"address_line1": "1 Mill Ln"}, "address", "same tokens"),
    (
        "address: split over two lines",
        {"address_line1": "Flat 2", "address_line2": "1 Mill Lane"},
        {"address_line1": "Flat 2, 1 Mill Lane"},
        "address",
        "same tokens",
    ),
    (
        "address: one extra token",
        {},
        {"address_line1": "1 Mill Lane", "address_line2": "Eastside"},
        "address",
        "most tokens",
    ),
    ("address: flat number added", {}, {"address_line1": "Flat 2, 1 Mill Lane"}, "address", "some tokens"),
    ("address: same number, other street type", {}, {"address_line1": "1 Mill Road"}, "address", "some tokens"),
    ("address: different", {}, {"address_line1": "22 Acacia Avenue"}, "address", "different"),
    (
        "address: a space slipped",
        {"address_line1": "7 Murrell Place"},
        {"address_line1": "7 Murrellplace"},
        "address",
        "same letters",
    ),
    (
        "address: a word with two letters swapped counts as the same word",
        {"address_line1": "34 Stephen Street"},
        {"address_line1": "34 Stephen Tsreet"},
        "address",
        "most tokens",
    ),
    (
        "address: a slipped word and a missing one",
        {"address_line1": "244 Markool Road", "address_line2": "Eastside"},
        {"address_line1": "244 Makrool"},
        "address",
        "some tokens",
    ),
    (
        "address: house numbers one digit apart are different doors",
        {"address_line1": "12 Acacia Avenue"},
        {"address_line1": "21 Acacia Avenue"},
        "address",
        "some tokens",
    ),
    (
        "address: short words are not matched loosely",
        {"address_line1": "1 Elm Way"},
        {"address_line1": "1 Ely Way"},
        "address",
        "some tokens",
    ),
    # town
    ("town: identical", {}, {}, "town", "exact"),
    ("town: case", {}, {"town": "NORTHTOWN"}, "town", "exact"),
    ("town: typo", {}, {"town": "Northtwn"}, "town", "similar"),
    ("town: different", {}, {"town": "Southbury"}, "town", "different"),
    # nhs_number
    ("nhs: identical", {}, {}, "nhs_number", "exact"),
    ("nhs: with and without spaces", {}, {"nhs_number": "9434765919"}, "nhs_number", "exact"),
    ("nhs: hyphenated", {}, {"nhs_number": "943-476-5919"}, "nhs_number", "exact"),
    ("nhs: different", {}, {"nhs_number": "401 023 2137"}, "nhs_number", "different"),
    ("nhs: blank", {}, {"nhs_number": "   "}, "nhs_number", "missing"),
]


@pytest.mark.parametrize(("description", "left", "right", "comparison", "label"), CASES, ids=[c[0] for c in CASES])
def test_level(description: str, left: dict[str, Any], right: dict[str, Any], comparison: str, label: str) -> None:
    got = levels_of({**BASE, **left}, {**BASE, **right})[comparison]
    assert got == (-1 if label == "missing" else COMPARISONS[comparison].labels.index(label))


def test_every_level_of_every_comparison_has_a_case() -> None:
    covered = {(c[3], c[4]) for c in CASES}
    assert {(name, label) for name, c in COMPARISONS.items() for label in c.labels} <= covered


# The traps, as whole rows: what agrees and what does not. (description, left changes, right changes, levels)
TRAPS: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, int]]] = [
    (
        "twins: one family name, DOB and address; different given names",
        {"given_name": "Oliver"},
        {"given_name": "Harry", "nhs_number": None},
        {**EXACT, "given_name": 0, "nhs_number": -1},
    ),
    (
        "father and son: one name, one address, DOBs a generation apart",
        {"dob": "1962-09-27"},
        {"nhs_number": None},
        {**EXACT, "dob": 0, "nhs_number": -1},
    ),
    (
        "names swapped between the boxes: still full agreement",
        {},
        {"given_name": "OKAFOR", "family_name": "william"},
        EXACT,
    ),
    (
        "spouse: different given name and DOB, married name shared",
        {"given_name": "Grace", "dob": "1991-02-03"},
        {"nhs_number": "401 023 2137"},
        {**EXACT, "given_name": 0, "dob": 0, "nhs_number": 0},
    ),
]


@pytest.mark.parametrize(("description", "left", "right", "expected"), TRAPS, ids=[c[0] for c in TRAPS])
def test_household_traps(
    description: str, left: dict[str, Any], right: dict[str, Any], expected: dict[str, int]
) -> None:
    assert levels_of({**BASE, **left}, {**BASE, **right}) == expected


# Each comparison's raw columns: missing on one side makes that comparison -1 and leaves the others alone.
MISSING = [
    ("given_name", {"given_name": None}),
    ("family_name", {"family_name": None}),
    ("dob", {"dob": None}),
    ("dob", {"dob": "not a date"}),
    ("postcode", {"postcode": None}),
    ("postcode", {"postcode": " "}),
    ("address", {"address_line1": None}),
    ("town", {"town": None}),
    ("nhs_number", {"nhs_number": None}),
]


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize(("comparison", "blank"), MISSING, ids=[f"{c}={v}" for c, v in MISSING])
def test_missing_value_is_unknown_for_that_comparison_only(comparison: str, blank: dict[str, Any], side: str) -> None:
    left, right = ({**BASE, **blank}, BASE) if side == "left" else (BASE, {**BASE, **blank})
    expected = {**EXACT, comparison: -1}
    if comparison in ("postcode", "address"):
        # Residence reads both: with one missing, the other (identical here) still says "same place".
        expected["residence"] = COMPARISONS["residence"].labels.index("same postcode or address")
    assert levels_of(left, right) == expected


def test_missing_on_both_sides_is_unknown_not_agreement() -> None:
    blank = {**BASE, "given_name": None, "dob": None, "postcode": None, "nhs_number": None}
    got = levels_of(blank, blank)
    same_address = COMPARISONS["residence"].labels.index("same postcode or address")
    assert got == {**EXACT, "given_name": -1, "dob": -1, "postcode": -1, "nhs_number": -1, "residence": same_address}


def test_absent_columns_are_missing() -> None:
    got = levels_of({"family_name": "Okafor"}, {"family_name": "Okafor"})
    assert got == {**dict.fromkeys(NAMES, -1), "family_name": EXACT["family_name"]}


def _random_file(rng: np.random.Generator, n: int) -> dict[str, list[Any]]:
    # Small pools so values and value pairs repeat a lot, as they do in real files; None sprinkled in.
    pools: dict[str, list[Any]] = {
        "given_name": ["William", "Bill", "W", "Wiliam", "Harry", "Kate", "Catherine", "Okafor", None],
        "family_name": ["Okafor", "Okafur", "Bennett-Okafor", "Smith", "William", "Harry", None],
        "dob": ["1990-05-11", "1990-11-05", "1991-05-11", "1962-09-27", "1990-05-22", dt.date(1990, 5, 11), None],
        "postcode": ["NT1 1AA", "NT1 1AB", "NT1 2AB", "NT9 2AB", "SB1 1AA", "75008", "NT1", None],
        "address_line1": ["1 Mill Lane", "1 Mill Ln", "Flat 2, 1 Mill Lane", "22 Acacia Avenue", None],
        "town": ["Northtown", "Northtwn", "Southbury", None],
        "nhs_number": ["943 476 5919", "9434765919", "401 023 2137", None],
    }
    return {k: [v[i] for i in rng.integers(0, len(v), n)] for k, v in pools.items()}


def test_a_batch_gives_the_levels_of_its_pairs_one_by_one() -> None:
    # compare() scores each distinct pair of values once and scatters the result back: that must not
    # change any pair's level, whatever else is in the batch.
    rng = np.random.default_rng(7)
    left_raw, right_raw = _random_file(rng, 60), _random_file(rng, 50)
    left, right = prepare(left_raw), prepare(right_raw)
    ia, ib = rng.integers(0, 60, 600), rng.integers(0, 50, 600)
    batch = compare(left, right, (ia, ib), NAMES)
    one_by_one = np.stack([compare(left, right, (ia[i : i + 1], ib[i : i + 1]), NAMES)[0] for i in range(len(ia))])
    assert np.array_equal(batch, one_by_one)
    # The batch did exercise every kind of level, missing included.
    assert set(np.unique(batch).tolist()) >= {-1, 0, 1, 2, 3, 4}


def test_columns_follow_the_names_asked_for() -> None:
    rng = np.random.default_rng(3)
    left, right = prepare(_random_file(rng, 20)), prepare(_random_file(rng, 20))
    pairs = (rng.integers(0, 20, 50), rng.integers(0, 20, 50))
    full = compare(left, right, pairs, NAMES)
    some = compare(left, right, pairs, ["dob", "given_name"])
    assert np.array_equal(some, full[:, [NAMES.index("dob"), NAMES.index("given_name")]])


def test_no_pairs_give_an_empty_matrix() -> None:
    left = prepare({k: [v] for k, v in BASE.items()})
    empty = np.empty(0, np.int64)
    got = compare(left, left, (empty, empty), NAMES)
    assert got.shape == (0, len(NAMES))
    assert got.dtype == np.int8
