"""What households share, learnt from within-source pairs: the counts, the rates, and the correction they
make to a pair's score (twins and a same-name father and son lose what the independence assumption gave
them; people who merely share a common name lose nothing)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from linkage import FSModel, prepare
from linkage.household import PairCounter, correction, event_sets, rates
from linkage.model import HOUSEHOLD

HUB = ("given_name", "family_name", "dob", "residence")


def _columns(people: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("given_name", "family_name", "dob", "postcode", "address_line1")
    return prepare({k: [p.get(k) for p in people] for k in keys})


def _person(given: str, family: str, dob: str, postcode: str, address: str) -> dict[str, Any]:
    return {"given_name": given, "family_name": family, "dob": dob, "postcode": postcode, "address_line1": address}


HOME = ("NT1 1AA", "1 Mill Lane")
SOURCE = [
    _person("Olivia", "Nowak", "1994-07-21", *HOME),  # twins
    _person("Amelia", "Nowak", "1994-07-21", *HOME),
    _person("James", "Okafor", "1961-03-09", "NT2 2BB", "2 High Street"),  # father and son
    _person("James", "Okafor", "1989-11-23", "NT2 2BB", "2 High Street"),
    _person("Ann", "Smith", "1950-01-01", "NT3 3CC", "3 Low Road"),  # no one shares her home
    _person("Ann", "Smith", "1950-01-01", "NT4 4DD", "4 Park Avenue"),  # a namesake at another home
]


def test_pairs_are_counted_for_each_combination_with_the_home() -> None:
    counter = PairCounter(HUB)
    counter.add(_columns(SOURCE))
    assert counter.total_pairs == 15
    assert counter.pairs() == {
        "family+home": 2,  # the twins, the father and son
        "home+dob": 1,
        "home+given": 1,
        "family+home+dob": 1,
        "family+home+given": 1,
        "home+dob+given": 0,
        "family+home+dob+given": 0,
    }


def test_shared_names_away_from_home_are_not_a_household_combination() -> None:
    # The two Ann Smiths share name and birthday at different homes: chance, priced by term frequencies.
    assert all("home" in combo for combo in event_sets(HUB))
    assert ("family", "dob", "given") not in event_sets(HUB)


def test_counting_in_chunks_is_counting_at_once() -> None:
    whole, chunked = PairCounter(HUB), PairCounter(HUB)
    whole.add(_columns(SOURCE))
    for start in range(0, len(SOURCE), 2):
        chunked.add(_columns(SOURCE[start : start + 2]))
    assert chunked.pairs() == whole.pairs()
    assert chunked.records == whole.records == len(SOURCE)


def test_missing_values_are_never_a_shared_value() -> None:
    blank = [_person("A", "B", "2000-01-01", None, None), _person("C", "B", "2000-01-01", None, None)]  # type: ignore[arg-type]
    counter = PairCounter(HUB)
    counter.add(_columns(blank))
    assert sum(counter.pairs().values()) == 0


def test_rates_pool_sources_over_all_their_pairs() -> None:
    a, b = PairCounter(HUB), PairCounter(HUB)
    a.add(_columns(SOURCE))
    b.add(_columns(SOURCE[:2]))  # one more pair of twins, in a source of two
    got = rates([a, b])
    assert got["family+home+dob"] == pytest.approx(2 / 16)
    assert "home+dob+given" not in got  # never seen: no rate, no correction


def _one_pair(levels: list[int], log2_u: list[float], log2_slip: list[float] | None = None) -> tuple[Any, Any, Any]:
    return (
        np.array([levels], dtype=np.int8),
        np.array([log2_u], dtype=np.float64),
        np.array([log2_slip or [0.0] * len(levels)], dtype=np.float64),
    )


# Levels in HUB order (given, family, dob, residence): exact family, dob and home; given different.
TWIN_LEVELS = [0, 3, 4, 5]
TWIN_U = [-0.01, -10.0, -15.0, -20.0]  # chance agreement: 2^-10 on the surname, 2^-15 the DOB, 2^-20 the home


def test_a_twin_pattern_is_scored_at_the_rate_twins_occur() -> None:
    levels, log2_u, slip = _one_pair(TWIN_LEVELS, TWIN_U)
    observed = {"family+home+dob": 2.0**-30}
    fix, mask = correction(levels, log2_u, slip, HUB, observed)
    # Independence said 2^-45; twins occur at 2^-30: the pair loses 15 bits.
    assert fix[0] == pytest.approx(-15.0)
    assert mask[0] == 0b0111  # family, home, dob


def test_the_largest_observed_explanation_wins() -> None:
    levels, log2_u, slip = _one_pair(TWIN_LEVELS, TWIN_U)
    # Spouses (same surname and home) at 2^-25, times the DOB by chance (2^-15) = 2^-40, beats 2^-45 but
    # not the twins' 2^-30.
    fix, _ = correction(levels, log2_u, slip, HUB, {"family+home": 2.0**-25, "family+home+dob": 2.0**-30})
    assert fix[0] == pytest.approx(-15.0)
    fix, _ = correction(levels, log2_u, slip, HUB, {"family+home": 2.0**-25})
    assert fix[0] == pytest.approx(-5.0)


def test_rates_below_the_independent_product_change_nothing() -> None:
    levels, log2_u, slip = _one_pair(TWIN_LEVELS, TWIN_U)
    fix, _ = correction(levels, log2_u, slip, HUB, {"family+home+dob": 2.0**-50, "family+home": 2.0**-31})
    assert fix[0] == 0.0


def test_a_twin_with_a_mistyped_surname_is_a_twin_and_a_typo() -> None:
    similar = [0, 2, 4, 5]
    u = [-0.01, -6.0, -15.0, -20.0]  # "similar" surnames agree by chance far more often than exact ones
    slip = [0.0, -4.0, 0.0, 0.0]  # a typo in 1 of 16 true surnames
    levels, log2_u, log2_slip = _one_pair(similar, u, slip)
    fix, _ = correction(levels, log2_u, log2_slip, HUB, {"family+home+dob": 2.0**-30})
    # Twins and a typo: 2^-34, against independence's 2^-41.
    assert fix[0] == pytest.approx(-7.0)


def test_no_shared_home_no_correction() -> None:
    moved = [0, 3, 4, 0]  # same surname and DOB, different homes
    levels, log2_u, slip = _one_pair(moved, TWIN_U)
    fix, _ = correction(levels, log2_u, slip, HUB, {"family+home+dob": 2.0**-30, "family+home": 2.0**-20})
    assert fix[0] == 0.0


def _model(household: dict[str, float]) -> FSModel:
    return FSModel(
        HUB,
        m={
            "given_name": [0.02, 0.01, 0.02, 0.05, 0.1, 0.8],
            "family_name": [0.02, 0.03, 0.05, 0.9],
            "dob": [0.01, 0.01, 0.02, 0.02, 0.94],
            "residence": [0.05, 0.01, 0.01, 0.01, 0.02, 0.9],
        },
        u={
            "given_name": [0.9, 0.02, 0.05, 0.02, 0.005, 0.005],
            "family_name": [0.95, 0.02, 0.02, 0.01],
            "dob": [0.99, 0.005, 0.004, 0.0009, 0.0001],
            "residence": [0.9, 0.05, 0.04, 0.009, 0.0009, 0.0001],
        },
        prior=1e-5,
        household=household,
    )


def test_the_model_explains_the_correction_and_it_adds_up() -> None:
    model = _model({"family+home+dob": 1e-7})
    levels = np.array([TWIN_LEVELS], dtype=np.int8)
    weights = model.weights(levels)
    explained = model.explain(levels[0].tolist(), weights[0].tolist())
    household = [f for f in explained if f.comparison == HOUSEHOLD]
    assert len(household) == 1
    assert household[0].weight < 0
    assert "family+home+dob" in household[0].level
    total = sum(f.weight for f in explained) + math.log2(model.prior / (1 - model.prior))
    assert total == pytest.approx(model.match_weight(levels)[0], abs=0.01)


def test_the_model_file_keeps_the_rates() -> None:
    model = _model({"family+home+dob": 1e-7, "family+home": 1e-5})
    loaded = FSModel.loads(model.dumps())
    assert loaded.household == model.household
    levels = np.array([TWIN_LEVELS, [5, 3, 4, 5]], dtype=np.int8)
    assert loaded.match_weight(levels).tolist() == model.match_weight(levels).tolist()


def test_without_households_in_the_data_a_twin_keeps_its_independent_score() -> None:
    # What the rates buy: the same twin pair, with and without the learnt rate.
    levels = np.array([TWIN_LEVELS], dtype=np.int8)
    naive, aware = _model({}), _model({"family+home+dob": 1e-6})
    assert naive.probability(naive.match_weight(levels))[0] > 0.999
    assert aware.probability(aware.match_weight(levels))[0] < 0.5
