"""A NINO the link index holds for more than one person (DWP's spine holds duplicates, migration
src_dwp 0007) names no one: no records are read by it, and a look-up by it is answered as "not found"."""

from __future__ import annotations

import uuid

from hub.records.links import NO_PERSON, LinkIndex

A, B = uuid.uuid4(), uuid.uuid4()


def _rows(*rows: tuple[uuid.UUID, str, str]) -> list[dict[str, object]]:
    return [{"nino_hash": "h", "person_key": p, "source": s, "source_record_id": r} for p, s, r in rows]


def test_one_person_is_named_with_all_their_records() -> None:
    found = LinkIndex._person(_rows((A, "dwp", "1"), (A, "dwp", "7"), (A, "hb", "HB1")))  # type: ignore[arg-type]
    assert found is not None
    assert (found.person_key, found.records, found.ambiguous) == (A, {"dwp": ["1", "7"], "hb": ["HB1"]}, False)


def test_two_people_under_one_nino_name_no_one_and_read_nothing() -> None:
    found = LinkIndex._person(_rows((A, "dwp", "1"), (B, "dwp", "2"), (A, "hb", "HB1")))  # type: ignore[arg-type]
    assert found is not None
    assert (found.person_key, found.records, found.ambiguous) == (NO_PERSON, {}, True)


def test_no_rows_is_not_in_the_index() -> None:
    assert LinkIndex._person([]) is None
