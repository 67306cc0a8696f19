"""Records without a date of birth, and with a placeholder for one (linkage.placeholders): linked on what
they do hold, never to someone else, and never lumped together by the placeholder.

The population is tests/linkage/test_model.py's (households, twins, a same-name father and son, names
from small skewed lists), with the hub's comparisons and m learnt from the true pairs, as the hub learns
it from NINO agreement. Its names are few, so a name and a home rarely make one person certain there: what
it shows is that, with every council date of birth taken away, nobody is linked to the wrong person. A
person whose name is rare, added to it, shows the link a name and a home make.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from linkage import COMPARISONS, PLACEHOLDER_DOBS, Band, FSModel, Thresholds, block, blocking_keys, compare, prepare
from linkage.blocking import SpineIndex
from linkage.household import PairCounter
from linkage.link import Decision, decide_pairs
from tests.linkage.test_model import Population, _columns, build_population

HUB = ("given_name", "family_name", "dob", "residence")
PLACEHOLDER = dt.date(1900, 1, 1)
NINO = COMPARISONS["given_name"].labels


@dataclasses.dataclass(repr=False)
class Linked:
    population: Population
    model: FSModel
    spine: dict[str, npt.NDArray[np.object_]]
    index: SpineIndex


@pytest.fixture(scope="module")
def linked() -> Linked:
    return train_hub_model(households=True)


@pytest.fixture(scope="module")
def singles() -> Linked:
    return train_hub_model(households=False)


def train_hub_model(*, households: bool) -> Linked:
    """The hub's model on the population: u from random pairs, m from the true pairs, the household rates
    from within the spine (the left file here)."""
    population = build_population(households=households)
    spine, council = prepare(_columns(population.left)), prepare(_columns(population.right))
    model = FSModel(HUB)
    model.estimate_u(spine, council, sample=50_000, seed=1)
    model.estimate_tf(spine, council)
    counter = PairCounter(HUB)
    counter.add(spine)
    model.estimate_household([counter])
    row_of = {int(p): i for i, p in enumerate(population.left_person)}
    true = [(row_of[int(p)], j) for j, p in enumerate(population.right_person) if int(p) in row_of]
    a, b = (np.fromiter((x[k] for x in true), np.int64, len(true)) for k in (0, 1))
    model.estimate_m_from_matches(
        compare(spine, council, (a, b), HUB),
        population_pairs=len(population.left) * len(population.right),
        expected_matches=float(len(true)),
    )
    return Linked(population, model, spine, SpineIndex(spine))


def _without_dob(records: list[dict[str, Any]], dob: dt.date | None) -> list[dict[str, Any]]:
    return [{**r, "dob": dob} for r in records]


def _decide(
    t: Linked,
    records: list[dict[str, Any]],
    *,
    ninos: list[str | None] | None = None,
    spine_ninos: list[str | None] | None = None,
    placeholder_dobs: frozenset[dt.date] = PLACEHOLDER_DOBS,
) -> list[Decision]:
    """Decisions as the batch build makes them: the spine's blocking look-ups, then the model."""
    query = prepare(_columns(records), placeholder_dobs=placeholder_dobs)
    spine_ids = [str(i) for i in range(len(t.population.left))]
    ninos, spine_ninos = ninos or [None] * len(records), spine_ninos or [None] * len(spine_ids)
    ia, ib = t.index.candidates(query)
    # And the spine records carrying each record's NINO, as the build adds them.
    by_nino = [(i, b) for i, n in enumerate(ninos) for b, m in enumerate(spine_ninos) if n is not None and n == m]
    pairs = sorted({*zip(ia.tolist(), ib.tolist(), strict=True), *by_nino})
    candidates = (np.array([a for a, _ in pairs], np.int64), np.array([b for _, b in pairs], np.int64))
    return decide_pairs(
        query, ninos, t.spine, spine_ids, spine_ninos, candidates, model=t.model, thresholds=Thresholds()
    )


def _linked_person(t: Linked, decision: Decision) -> int | None:
    if decision.band is not Band.LINK or decision.chosen is None:
        return None
    return int(t.population.left_person[int(decision.chosen.spine_record_id)])


@pytest.mark.parametrize("dob", [None, PLACEHOLDER], ids=["missing", "placeholder 1900-01-01"])
def test_without_any_council_date_of_birth_no_one_is_linked_to_someone_else(linked: Linked, dob: Any) -> None:
    records = _without_dob(linked.population.right, dob)
    decisions = _decide(linked, records)
    wrong = [
        j
        for j, d in enumerate(decisions)
        if (person := _linked_person(linked, d)) is not None and person != int(linked.population.right_person[j])
    ]
    assert not wrong, f"{len(wrong)} records linked to someone else"
    # Nor are they lost: a record whose person the spine holds still has them as its best candidate.
    in_spine = set(linked.population.left_person.tolist())
    held = [j for j, p in enumerate(linked.population.right_person.tolist()) if p in in_spine]
    best = sum(
        decisions[j].chosen is not None
        and int(linked.population.left_person[int(decisions[j].chosen.spine_record_id)])  # type: ignore[union-attr]
        == int(linked.population.right_person[j])
        for j in held
    )
    assert best / len(held) >= 0.7


def test_a_placeholder_is_decided_as_a_missing_date(linked: Linked) -> None:
    missing = _decide(linked, _without_dob(linked.population.right, None))
    placeholder = _decide(linked, _without_dob(linked.population.right, PLACEHOLDER))
    assert [(d.band, d.chosen and d.chosen.spine_record_id) for d in placeholder] == [
        (d.band, d.chosen and d.chosen.spine_record_id) for d in missing
    ]
    # Read as a date instead, 1900-01-01 disagrees with every real one: the records it was loaded on fall out.
    as_date = _decide(linked, _without_dob(linked.population.right, PLACEHOLDER), placeholder_dobs=frozenset())
    assert sum(d.band is Band.NON_LINK for d in as_date) > sum(d.band is Band.NON_LINK for d in missing)


def _with_rare_person(t: Linked) -> Linked:
    """The population with one more spine person, of a name no one else has, at a home of their own."""
    rare = {
        "given_name": "ZEBEDEE",
        "family_name": "QUAXWORTH",
        "dob": dt.date(1948, 2, 11),
        "postcode": "MV9 9QQ",
        "address_line1": "7 QUARRY HILL",
        "town": "MIDVALE",
        "nhs_number": None,
    }
    left = [*t.population.left, rare]
    population = dataclasses.replace(t.population, left=left, left_person=np.append(t.population.left_person, 10**6))
    spine = prepare(_columns(left))
    return Linked(population, t.model, spine, SpineIndex(spine))


RARE = {"given_name": "Zebedee", "family_name": "Quaxworth", "postcode": "MV9 9QQ", "address_line1": "7 Quarry Hill"}

# (description, what the council record holds, expected band where everyone lives at their own address,
# expected band among households). The spine holds the person; None: anything but a link.
RARE_CASES: list[tuple[str, dict[str, Any], Band | None, Band | None]] = [
    ("name and home, the date of birth missing", {**RARE, "dob": None}, Band.LINK, Band.REVIEW),
    ("name and home, the placeholder 1900-01-01", {**RARE, "dob": "1900-01-01"}, Band.LINK, Band.REVIEW),
    ("name and home, the placeholder 0001-01-01", {**RARE, "dob": dt.date(1, 1, 1)}, Band.LINK, Band.REVIEW),
    ("name and home, the real date of birth", {**RARE, "dob": "1948-02-11"}, Band.LINK, Band.LINK),
    ("a typo in the given name, no date of birth", {**RARE, "given_name": "Zebedde"}, Band.LINK, Band.REVIEW),
    # The name alone, at another home and with no date of birth, is not enough to release anything.
    (
        "the name elsewhere, no date of birth",
        {**RARE, "postcode": "SB1 2AB", "address_line1": "1 Low Road"},
        None,
        None,
    ),
]


@pytest.mark.parametrize(
    ("description", "record", "alone", "among_households"), RARE_CASES, ids=[c[0] for c in RARE_CASES]
)
def test_a_name_and_a_home_link_without_a_date_of_birth_where_housemates_rarely_share_a_name(
    linked: Linked,
    singles: Linked,
    description: str,
    record: dict[str, Any],
    alone: Band | None,
    among_households: Band | None,
) -> None:
    # Where people live alone, a rare name at its home is the person, date of birth or not. Among the
    # households population's, where one home in seven (225 of 1,534) has two people of one full name (a
    # few common given names, shared by one family), the same evidence is not certain without the date of
    # birth: a person decides, and the right one is their first candidate. Either way, never someone else.
    full = {"dob": None, "town": "MIDVALE", "nhs_number": None, **record}
    for population, expected in ((singles, alone), (linked, among_households)):
        t = _with_rare_person(population)
        (decision,) = _decide(t, [full])
        if expected is None:
            assert decision.band is not Band.LINK
            continue
        assert decision.band is expected
        assert decision.chosen is not None
        assert int(t.population.left_person[int(decision.chosen.spine_record_id)]) == 10**6


def test_the_placeholder_read_as_a_date_loses_the_rare_person(singles: Linked) -> None:
    # What the hub did before placeholders were read as missing: 1900-01-01 against a real date of birth
    # is a disagreement, and the person is not linked.
    t = _with_rare_person(singles)
    record = {**RARE, "dob": "1900-01-01", "town": "MIDVALE", "nhs_number": None}
    (decision,) = _decide(t, [record], placeholder_dobs=frozenset())
    assert decision.band is not Band.LINK


def test_housemates_are_never_linked_for_each_other_without_a_date_of_birth(linked: Linked) -> None:
    p = linked.population
    # The son's record, without a date of birth: father and son share every name and the home. Nothing
    # tells them apart, so a person decides.
    son = {**p.right[p.son_copy], "dob": None}
    # One twin's record, without a date of birth: the other twin differs only by the given name.
    twin = {**p.right[p.twin_copy], "dob": None}
    son_decision, twin_decision = _decide(linked, [son, twin])
    assert son_decision.band is not Band.LINK
    assert {c.spine_record_id for c in son_decision.review} <= {str(p.father), str(p.son)}
    assert _linked_person(linked, twin_decision) in (None, int(p.left_person[p.twin_self]))
    if twin_decision.chosen is not None:
        assert twin_decision.chosen.spine_record_id != str(p.twin)


# -- a NINO, and no date of birth -----------------------------------------------------------------------

SPINE_NINO = "WX901234A"  # a valid NINO (normalised), as the build passes them


def _nino_case(t: Linked, record: dict[str, Any]) -> Decision:
    """A council record carrying the NINO of the spine's twin_self (OLIVIA NOWAK), without a date of birth."""
    p = t.population
    spine_ninos: list[str | None] = [None] * len(p.left)
    spine_ninos[p.twin_self] = SPINE_NINO
    (decision,) = _decide(
        t, [{**p.left[p.twin_self], **record, "dob": None}], ninos=[SPINE_NINO], spine_ninos=spine_ninos
    )
    return decision


# (description, the council record's names, expected band, decided by)
NINO_CASES: list[tuple[str, dict[str, Any], Band, str]] = [
    ("the names agree", {}, Band.LINK, "nino"),
    ("a nickname", {"given_name": "LIVVY"}, Band.LINK, "nino"),
    ("a typo in the given name", {"given_name": "OLIVIE"}, Band.LINK, "nino"),
    # A housemate's NINO typed on the wrong record: the given name clearly differs.
    ("another given name (the twin's NINO on Amelia)", {"given_name": "AMELIA"}, Band.REVIEW, "nino"),
    ("another person's name altogether", {"given_name": "PETER", "family_name": "LEWIS"}, Band.REVIEW, "nino"),
    # A mistyped NINO that is a stranger's: the given name agrees, the family name does not.
    ("the given name only", {"family_name": "OKAFOR"}, Band.REVIEW, "nino"),
]


@pytest.mark.parametrize(("description", "names", "band", "method"), NINO_CASES, ids=[c[0] for c in NINO_CASES])
def test_a_nino_without_a_date_of_birth_links_only_when_the_names_agree(
    linked: Linked, description: str, names: dict[str, Any], band: Band, method: str
) -> None:
    decision = _nino_case(linked, names)
    assert decision.band is band
    assert decision.method == method
    if band is Band.REVIEW:
        assert decision.reason == "nino_conflict"


# -- blocking ---------------------------------------------------------------------------------------


def letters(i: int, width: int = 3) -> str:
    """A name part of its own for each number (names keep letters only: digits would all normalise away)."""
    return "".join(chr(ord("A") + i // 26**k % 26) for k in reversed(range(width)))


def _care_home(n: int, dob: Any) -> dict[str, list[Any]]:
    """``n`` residents of one care home, all entered with the same date of birth, no two named alike."""
    return {
        "given_name": [f"Res{letters(i)}" for i in range(n)],
        "family_name": [f"Home{letters(i)}" for i in range(n)],
        "dob": [dob] * n,
        "postcode": ["MV1 1CH"] * n,
        "address_line1": [f"Room {i}, Hill House" for i in range(n)],
    }


@pytest.mark.parametrize("placeholder", sorted(PLACEHOLDER_DOBS))
def test_a_placeholder_is_never_a_blocking_key(placeholder: dt.date) -> None:
    keys = blocking_keys(prepare(_care_home(3, placeholder)))
    for key in ("dob", "family_sound_year", "family_sound_birthday"):
        assert keys[key] == [None, None, None], key


def test_a_placeholder_never_blocks_thousands_together() -> None:
    # 3,000 records on each side entered with 1900-01-01 and no other key in common: no pair. Read as a
    # date, the one date of birth would pair all nine million (and then be skipped as too large a block).
    n = 3000
    left, right = _care_home(n, PLACEHOLDER), _care_home(n, "1900-01-01")
    right["given_name"] = [f"Ora{letters(i)}" for i in range(n)]
    right["family_name"] = [f"Field{letters(i)}" for i in range(n)]
    right["postcode"] = ["SB9 9ZZ"] * n
    right["address_line1"] = [f"{i} Low Road" for i in range(n)]
    keys_left, keys_right = blocking_keys(prepare(left)), blocking_keys(prepare(right))
    assert len(block(keys_left, keys_right, max_block=10**8)[0]) == 0
    as_dates = (
        blocking_keys(prepare(left, placeholder_dobs=frozenset())),
        blocking_keys(prepare(right, placeholder_dobs=frozenset())),
    )
    assert len(block(*as_dates, keys=("dob",), max_block=10**8)[0]) == n * n


def test_a_care_home_of_placeholders_gives_a_query_no_candidates_by_them() -> None:
    # A spine of 5,000 residents at one postcode entered with 1900-01-01; a query there, also entered with
    # it, for someone whose names none of them share: the date of birth finds no one.
    spine = prepare(_care_home(5000, PLACEHOLDER))
    query = {
        "given_name": ["ZEBEDEE"],
        "family_name": ["QUAXWORTH"],
        "dob": ["1900-01-01"],
        "postcode": ["MV1 1CH"],
        "address_line1": ["Room 9999, Hill House"],
    }
    assert len(SpineIndex(spine).candidates(prepare(query))[0]) == 0
    # Read as a date, "date of birth and postcode" would hand it a hundred strangers.
    as_date = SpineIndex(prepare(_care_home(5000, PLACEHOLDER), placeholder_dobs=frozenset()))
    assert len(as_date.candidates(prepare(query, placeholder_dobs=frozenset()))[0]) == 100
