"""Blocking: true pairs survive the errors real records carry, unrelated records are never paired, and the
sessions EM learns from agree with the keys that found each pair."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from linkage import block, blocking_keys, prepare, sessions
from linkage.blocking import BLOCKED_COMPARISONS, BLOCKING_KEYS

PERSON: dict[str, Any] = {
    "given_name": "William",
    "family_name": "Okafor",
    "dob": "1990-05-11",
    "postcode": "NT1 1AA",
    "address_line1": "12 High Street",
    "town": "Northtown",
}
MOVED_IN_TOWN = {"postcode": "NT1 9ZZ", "address_line1": "3 Low Road"}
MOVED_AWAY = {"postcode": "SB2 4QT", "address_line1": "7 Mill Lane", "town": "Southbury"}
NICKNAME = {"given_name": "Bill"}
MARRIED = {"family_name": "Bennett"}
TRANSPOSED = {"dob": "1990-11-05"}
ALL = set(BLOCKING_KEYS)

# (description, the other record's changes, the keys that find the pair)
CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    ("exact copy", {}, ALL),
    ("moved within town", MOVED_IN_TOWN, ALL - {"postcode", "address"}),
    (
        "moved to another town",
        MOVED_AWAY,
        {"dob", "family_sound_year", "family_sound_birthday", "given_family_initial", "given_family_sound", "name_set"},
    ),
    ("DOB day and month transposed", TRANSPOSED, ALL - {"dob", "family_sound_birthday"}),
    ("surname typo, same sound", {"family_name": "Okafur"}, ALL - {"given_family_initial", "name_set"}),
    (
        "names swapped between boxes",
        {"given_name": "Okafor", "family_name": "William"},
        {"dob", "postcode", "address", "name_set"},
    ),
    # Several errors at once: each key is the only one left for some true pair.
    (
        "swapped, moved away, year one digit off",
        {"given_name": "Okafor", "family_name": "William", "dob": "1991-05-11", **MOVED_AWAY},
        {"name_set"},
    ),
    ("married, nickname, moved away", {**MARRIED, **NICKNAME, **MOVED_AWAY}, {"dob"}),
    (
        "married, nickname, DOB transposed, address written another way",
        {**MARRIED, **NICKNAME, **TRANSPOSED, "address_line1": "Flat 2, 12 High St"},
        {"postcode"},
    ),
    (
        "married, nickname, DOB and postcode mistyped, same address",
        {**MARRIED, **NICKNAME, "dob": "1989-05-12", "postcode": "NT1 1AB"},
        {"address"},
    ),
    (
        "surname typo (same sound), moved away, DOB wrong",
        {"family_name": "Okafur", **MOVED_AWAY, "dob": "1989-05-12"},
        {"given_family_sound"},
    ),
    (
        "nickname, moved in town, DOB transposed",
        {**NICKNAME, **MOVED_IN_TOWN, **TRANSPOSED},
        {"family_sound_year", "family_sound_town"},
    ),
    ("nickname, moved away, DOB transposed", {**NICKNAME, **MOVED_AWAY, **TRANSPOSED}, {"family_sound_year"}),
    ("nickname, moved away, year mistyped", {**NICKNAME, **MOVED_AWAY, "dob": "1980-05-11"}, {"family_sound_birthday"}),
    (
        "typo in given name, moved away, year and day wrong",
        {"given_name": "Wiliam", **MOVED_AWAY, "dob": "1989-05-12"},
        {"given_family_initial"},
    ),
    ("married, moved in town, DOB transposed", {**MARRIED, **MOVED_IN_TOWN, **TRANSPOSED}, {"given_town"}),
    (
        "nickname, moved in town, year and day wrong",
        {**NICKNAME, **MOVED_IN_TOWN, "dob": "1989-05-12"},
        {"family_sound_town"},
    ),
    # Not the same person, nothing in common: never a candidate.
    ("nothing in common", {"given_name": "Harry", "family_name": "Bennett", "dob": "1962-09-27", **MOVED_AWAY}, set()),
]


def _one(record: dict[str, Any]) -> dict[str, list[Any]]:
    return {k: [v] for k, v in record.items()}


@pytest.mark.parametrize(("description", "changes", "keys"), CASES, ids=[c[0] for c in CASES])
def test_which_keys_find_the_pair(description: str, changes: dict[str, Any], keys: set[str]) -> None:
    left, right = blocking_keys(prepare(_one(PERSON))), blocking_keys(prepare(_one({**PERSON, **changes})))
    ia, ib = block(left, right)
    found_by = {key for key, (mask, _) in sessions(left, right, (ia, ib)).items() if mask.any()}
    assert found_by == keys
    assert list(zip(ia.tolist(), ib.tolist(), strict=True)) == ([(0, 0)] if keys else [])


def test_every_key_is_the_only_one_left_for_some_true_pair() -> None:
    # Drop a key and a case above is lost: none of them is redundant with the others.
    assert {next(iter(keys)) for _, _, keys in CASES if len(keys) == 1} == ALL


MISSING = [
    ("given name", {"given_name": None}, {"given_family_initial", "given_family_sound", "name_set", "given_town"}),
    ("family name", {"family_name": None}, ALL - {"dob", "postcode", "address", "given_town"}),
    ("address", {"address_line1": None}, {"address"}),
    ("address of one word", {"address_line1": "Rosecroft"}, {"address"}),
    ("DOB", {"dob": None}, {"dob", "family_sound_year", "family_sound_birthday"}),
    ("invalid DOB", {"dob": "1990-02-30"}, {"dob", "family_sound_year", "family_sound_birthday"}),
    ("postcode", {"postcode": None}, {"postcode"}),
    ("town", {"town": None}, {"given_town", "family_sound_town"}),
]


@pytest.mark.parametrize(("description", "changes", "none"), MISSING, ids=[c[0] for c in MISSING])
def test_a_key_with_a_missing_part_is_none(description: str, changes: dict[str, Any], none: set[str]) -> None:
    keys = blocking_keys(prepare(_one({**PERSON, **changes})))
    assert {k for k, v in keys.items() if v[0] is None} == none


def test_missing_keys_never_pair_records() -> None:
    # Two records with everything missing must not meet in a "None" block.
    blank = dict.fromkeys(PERSON)
    keys = blocking_keys(prepare({k: [v, v] for k, v in blank.items()}))
    ia, _ = block(keys, keys)
    assert len(ia) == 0


# People at one postcode (a tower block) with nothing else in common: distinct names, sounds, towns, DOBs.
TOWER_LEFT = [("Amy", "Adams", "1950-01-02", "Ashby"), ("Ben", "Baker", "1951-03-04", "Bourne"), ("Cal", "Carter", "1952-05-06", "Cheam")]  # fmt: skip
TOWER_RIGHT = [("Dan", "Dixon", "1960-07-08", "Diss"), ("Eve", "Evans", "1961-09-10", "Ely"), ("Fay", "Fisher", "1962-11-12", "Frome"), ("Gus", "Grant", "1963-12-01", "Goole")]  # fmt: skip


def _tower_block(people: list[tuple[str, str, str, str]]) -> dict[str, list[str | None]]:
    given, family, dob, town = (list(column) for column in zip(*people, strict=True))
    return blocking_keys(
        prepare(
            {
                "given_name": given,
                "family_name": family,
                "dob": dob,
                "postcode": ["NT1 1AA"] * len(people),
                "town": town,
            }
        )
    )


MAX_BLOCK = [
    ("block of 3 x 4 = 12 pairs, limit 12: kept", 12, 12),
    ("block of 3 x 4 = 12 pairs, limit 11: skipped", 11, 0),
]


@pytest.mark.parametrize(("description", "max_block", "expected"), MAX_BLOCK, ids=[c[0] for c in MAX_BLOCK])
def test_max_block_skips_oversized_blocks(description: str, max_block: int, expected: int) -> None:
    ia, _ = block(_tower_block(TOWER_LEFT), _tower_block(TOWER_RIGHT), max_block=max_block)
    assert len(ia) == expected


def test_a_skipped_block_only_skips_that_key() -> None:
    # One pair in the oversized postcode block also shares a DOB: the DOB key still finds it.
    right = [TOWER_RIGHT[0], (*TOWER_RIGHT[1][:2], TOWER_LEFT[1][2], TOWER_RIGHT[1][3]), *TOWER_RIGHT[2:]]
    ia, ib = block(_tower_block(TOWER_LEFT), _tower_block(right), max_block=11)
    assert list(zip(ia.tolist(), ib.tolist(), strict=True)) == [(1, 1)]


def _random_keys(rng: np.random.Generator, n: int) -> dict[str, list[str | None]]:
    pools: dict[str, list[Any]] = {
        "given_name": ["William", "Bill", "Harry", "Okafor", "Kate", None],
        "family_name": ["Okafor", "Okafur", "Smith", "Smyth", "William", None],
        "dob": ["1990-05-11", "1990-11-05", "1991-05-11", "1962-09-27", None],
        "postcode": ["NT1 1AA", "NT1 1AB", "SB2 4QT", None],
        "town": ["Northtown", "Southbury", None],
    }
    return blocking_keys(prepare({k: [v[i] for i in rng.integers(0, len(v), n)] for k, v in pools.items()}))


def test_sessions_masks_agree_with_the_keys() -> None:
    rng = np.random.default_rng(11)
    left, right = _random_keys(rng, 80), _random_keys(rng, 70)
    ia, ib = block(left, right)
    assert len(ia) > 0
    found = sessions(left, right, (ia, ib))
    assert set(found) == ALL
    for key, (mask, excluded) in found.items():
        agree = [left[key][i] is not None and left[key][i] == right[key][j] for i, j in zip(ia, ib, strict=True)]
        assert mask.tolist() == agree, key
        assert excluded == BLOCKED_COMPARISONS[key]
    # Every candidate came from some key.
    assert np.logical_or.reduce([mask for mask, _ in found.values()]).all()


def test_block_finds_exactly_the_pairs_sharing_a_key() -> None:
    rng = np.random.default_rng(5)
    left, right = _random_keys(rng, 40), _random_keys(rng, 30)
    ia, ib = block(left, right)
    expected = {
        (i, j)
        for i in range(40)
        for j in range(30)
        if any(left[k][i] is not None and left[k][i] == right[k][j] for k in BLOCKING_KEYS)
    }
    got = list(zip(ia.tolist(), ib.tolist(), strict=True))
    assert len(got) == len(set(got))  # a pair found by several keys appears once
    assert set(got) == expected


def test_block_on_chosen_keys_only() -> None:
    rng = np.random.default_rng(9)
    left, right = _random_keys(rng, 30), _random_keys(rng, 30)
    ia, ib = block(left, right, ["dob"])
    assert all(left["dob"][i] == right["dob"][j] for i, j in zip(ia, ib, strict=True))
    assert len(ia) == sum(x is not None and x == y for x in left["dob"] for y in right["dob"])
