"""DWP's spine holds duplicates: one person registered twice under one NINO, and now and then one NINO on
two people's records. linkage.link.spine_duplicates tells them apart; a record is decided against one
person however many spine records that person has (linkage.link.decide_pairs)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np

from linkage import Band, Demographics, Thresholds, compare, prepare
from linkage.link import decide, decide_pairs, spine_duplicates
from tests.linkage.test_missing_dob import HUB, train_hub_model

HOME = {"postcode": "NT1 9QQ", "address_line1": "7 Quarry Hill", "town": "Northtown"}


def _columns(records: list[dict[str, object]]) -> dict[str, list[object]]:
    names = {k for r in records for k in r}
    return {k: [r.get(k) for r in records] for k in names}


SPINE = [
    # 0: the NINO's first record; 1: the same person registered again (a nickname, the address before);
    # 2: another NINO; 3: the first NINO on a different person's record (issued twice, or a keying slip).
    {"given_name": "Winifred", "family_name": "Applegarth", "dob": dt.date(1950, 3, 2), **HOME},
    {"given_name": "Winnie", "family_name": "Applegarth", "dob": dt.date(1950, 3, 2), "postcode": "SB1 1AA"},
    {"given_name": "Percival", "family_name": "Oyelowo", "dob": dt.date(1977, 8, 30), **HOME},
    {"given_name": "Desmond", "family_name": "Kettleborough", "dob": dt.date(1988, 11, 19), "postcode": "SB2 2BB"},
]
IDS = ["101", "102", "103", "104"]
NINOS = ["AB123456C", "AB123456C", "CE654321A", "AB123456C"]


def test_a_person_registered_twice_is_one_person_and_two_people_under_one_nino_are_not() -> None:
    model = train_hub_model(households=True).model
    spine = prepare(_columns(SPINE))
    found = spine_duplicates(spine, IDS, NINOS, model=model)
    assert {k: (d.original.spine_record_id, d.same) for k, d in found.items()} == {
        "102": ("101", True),
        "104": ("101", False),
    }
    # What a reviewer is shown of the pair: every comparison, the names and date of birth against.
    conflict = {e.comparison: e for e in found["104"].original.evidence}
    assert {"given_name", "family_name", "dob"} <= conflict.keys()
    assert all(conflict[c].weight < 0 for c in ("given_name", "family_name", "dob"))
    assert found["104"].original.probability < found["102"].original.probability
    assert spine_duplicates(spine, IDS[:3], [None, None, "CE654321A"], model=model) == {}


def test_a_record_is_decided_against_the_person_not_each_of_their_records() -> None:
    """The council record with the NINO links to the person both spine records are (one candidate, its
    probability not split between them), under the first record's id."""
    linked = train_hub_model(households=True)
    spine = prepare(_columns(SPINE[:3]))
    right_ids = ["101", "101", "103"]  # 102 is 101 registered again
    council = prepare(_columns([{"given_name": "Winifred", "family_name": "Applegarth", **HOME}]))
    pairs = (np.array([0, 0], dtype=np.int64), np.array([0, 1], dtype=np.int64))
    for ninos in (["AB123456C"], [None]):
        (decision,) = decide_pairs(
            council, ninos, spine, right_ids, NINOS[:3], pairs, model=linked.model, thresholds=Thresholds()
        )
        assert decision.chosen is not None
        assert decision.chosen.spine_record_id == "101"
        if ninos[0] is not None:
            assert (decision.band, decision.method) == (Band.LINK, "nino")
    # Two people under one NINO, and the record fits both: a person chooses.
    two = prepare(_columns([SPINE[0], {**SPINE[0], "given_name": "Winifred"}]))
    levels = compare(council, two, (np.array([0, 0]), np.array([0, 1])), HUB)
    assert levels.shape == (2, len(HUB))
    (decision,) = decide_pairs(
        council,
        ["AB123456C"],
        two,
        ["101", "104"],
        ["AB123456C", "AB123456C"],
        pairs,
        model=linked.model,
        thresholds=Thresholds(),
    )
    assert (decision.band, decision.reason) == (Band.REVIEW, "nino_conflict")
    assert {c.spine_record_id for c in decision.review} == {"101", "104"}


def _as_found(i: int) -> Demographics:
    r = SPINE[i]
    return Demographics(
        record_id=IDS[i],
        nino=NINOS[i],
        given_name=str(r["given_name"]),
        family_name=str(r["family_name"]),
        dob=r["dob"],  # type: ignore[arg-type]
        postcode=str(r["postcode"]),
        address_line1=r.get("address_line1"),  # type: ignore[arg-type]
        town=r.get("town"),  # type: ignore[arg-type]
    )


def test_the_online_and_federated_decision_takes_a_person_registered_twice_as_one_candidate() -> None:
    """linkage.link.decide (the online fallback's and the federated build's) is given DWP's records as found,
    in any order: both of Winifred's are one candidate, named by her first record, as the batch build names
    her; the record with her NINO on another person's details stays a candidate of its own."""
    linked = train_hub_model(households=True)
    council = Demographics(given_name="Winifred", family_name="Applegarth", dob=dt.date(1950, 3, 2), **HOME)
    for found in ([1, 0], [0, 1], [1, 0, 3], [3, 1, 0, 2]):
        for nino in (None, "AB123456C"):
            query = dataclasses.replace(council, nino=nino)
            (decision,) = decide(
                [query], [(0, _as_found(k)) for k in found], model=linked.model, thresholds=Thresholds()
            )
            assert decision.chosen is not None
            assert decision.chosen.spine_record_id == "101", (found, nino)
            assert decision.band is Band.LINK, (found, nino, decision)
            assert all(c.spine_record_id != "102" for c in decision.review)
