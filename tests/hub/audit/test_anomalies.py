"""The anomaly rules (hub.audit.anomalies), on activity built here rather than written to a log.

The behaviour suite (tests/hub/test_audit_chain.py) finds the four kinds in a real log once; these tables
pin each rule's edges: the volume threshold (strictly above the factor, at least the minimum, never a
user without peers), office hours in UK time across the clock change, and a shared home.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pytest

from hub.audit.anomalies import Anomaly, Release, UserActivity, classify, ordered, same_address

LONDON_TUESDAY = dt.date(2026, 3, 3)  # GMT: UK time is UTC
SUMMER_TUESDAY = dt.date(2026, 7, 7)  # BST: UK time is UTC + 1


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=dt.UTC)


def user(
    name: str,
    count: int,
    *,
    org: str = "northshire-hb",
    own: int = 0,
    times: Sequence[dt.datetime] | None = None,
    first: int = 1,
) -> UserActivity:
    when = list(times) if times is not None else [at(LONDON_TUESDAY, 10)] * count
    seqs = list(range(first, first + len(when)))
    return UserActivity(org, name, count, seqs[0] if seqs else first, seqs[-1] if seqs else first, own, when, seqs)


def kinds(found: Sequence[Anomaly]) -> list[tuple[str, str, int]]:
    return [(a.kind, a.caller_user_hash, a.count) for a in found]


# -- volume --------------------------------------------------------------------------------------------

# (description, the users' counts (the last is the one examined), factor, minimum, flagged)
VOLUME = [
    ("far above the median", [4, 4, 4, 30], 5.0, 20, True),
    ("exactly the factor times the median is not above it", [4, 4, 4, 20], 5.0, 20, False),
    ("just above the factor", [4, 4, 4, 21], 5.0, 20, True),
    ("above the factor but below the minimum", [1, 1, 1, 19], 5.0, 20, False),
    ("at the minimum and above the factor", [1, 1, 1, 20], 5.0, 20, True),
    ("a lower factor flags a smaller excess", [10, 10, 10, 25], 2.0, 20, True),
    ("the median, not the mean: one other busy user does not hide it", [2, 2, 2, 200, 60], 5.0, 20, True),
]


@pytest.mark.parametrize(("description", "counts", "factor", "minimum", "flagged"), VOLUME, ids=[v[0] for v in VOLUME])
def test_volume_is_judged_against_the_users_peers(
    description: str, counts: list[int], factor: float, minimum: int, flagged: bool
) -> None:
    activity = [user(f"user-{i}", n) for i, n in enumerate(counts)]
    examined = activity[-1].caller_user_hash
    found = [a for a in classify(activity, volume_factor=factor, minimum=minimum) if a.kind == "volume"]
    assert (examined in {a.caller_user_hash for a in found}) is flagged
    for a in found:
        if a.caller_user_hash == examined:
            assert a.count == counts[-1]


def test_a_user_alone_in_their_organisation_has_no_volume_to_compare() -> None:
    found = classify([user("only", 500, org="tiny-council"), user("a", 1), user("b", 1)])
    assert [a for a in found if a.kind == "volume"] == []


def test_peers_are_the_users_own_organisation() -> None:
    # Busy elsewhere is normal elsewhere: a user is compared with their own organisation only. Against
    # everyone (a median of 100) the south's busy user would pass unseen; against the south, not.
    north = [user(f"north-{i}", 100, org="north") for i in range(4)]
    south = [user(f"south-{i}", 2, org="south") for i in range(3)]
    found = classify([*north, *south, user("south-busy", 100, org="south")])
    assert kinds(found) == [("volume", "south-busy", 100)]
    assert kinds(classify([*north, *south])) == []


# -- own record ----------------------------------------------------------------------------------------


def test_every_attempt_at_their_own_record_is_shown() -> None:
    found = classify([user("curious", 5, own=2, first=40), user("other", 5)])
    (own,) = [a for a in found if a.kind == "own_record"]
    assert (own.caller_user_hash, own.count, own.first_seq, own.last_seq) == ("curious", 2, 40, 44)


# -- out of hours --------------------------------------------------------------------------------------

# (description, when (UTC), outside working hours 08:00-18:00 UK time)
HOURS = [
    ("ten in the morning, GMT", at(LONDON_TUESDAY, 10), False),
    ("08:00 GMT: the first minute of the day", at(LONDON_TUESDAY, 8), False),
    ("07:59 GMT", at(LONDON_TUESDAY, 7, 59), True),
    ("17:59 GMT", at(LONDON_TUESDAY, 17, 59), False),
    ("18:00 GMT: the day is over", at(LONDON_TUESDAY, 18), True),
    ("23:30 GMT", at(LONDON_TUESDAY, 23, 30), True),
    ("07:30 UTC in July is 08:30 in London", at(SUMMER_TUESDAY, 7, 30), False),
    ("17:30 UTC in July is 18:30 in London", at(SUMMER_TUESDAY, 17, 30), True),
    ("Saturday at eleven", at(dt.date(2026, 3, 7), 11), True),
    ("Sunday at noon", at(dt.date(2026, 3, 8), 12), True),
    ("23:30 UTC on a Friday in July is Saturday in London", at(dt.date(2026, 7, 10), 23, 30), True),
]


@pytest.mark.parametrize(("description", "when", "outside"), HOURS, ids=[h[0] for h in HOURS])
def test_working_hours_are_uk_time_on_weekdays(description: str, when: dt.datetime, outside: bool) -> None:
    found = classify([user("clerk", 1, times=[when])])
    assert kinds(found) == ([("out_of_hours", "clerk", 1)] if outside else [])


def test_out_of_hours_counts_only_the_late_operations_and_spans_them() -> None:
    times = [at(LONDON_TUESDAY, 9), at(LONDON_TUESDAY, 22), at(LONDON_TUESDAY, 12), at(LONDON_TUESDAY, 23)]
    (late,) = classify([user("clerk", 4, times=times, first=100)])
    assert (late.kind, late.count, late.first_seq, late.last_seq) == ("out_of_hours", 2, 101, 103)


def test_other_working_hours_can_be_given() -> None:
    evening = [at(LONDON_TUESDAY, 19)]
    assert kinds(classify([user("clerk", 1, times=evening)], working_hours=(8, 20))) == []
    assert kinds(classify([user("clerk", 1, times=evening)], working_hours=(8, 19))) == [("out_of_hours", "clerk", 1)]


# -- same address --------------------------------------------------------------------------------------


def test_a_release_about_someone_at_the_users_address_is_named() -> None:
    releases = [
        Release(10, "northshire-hb", "clerk", "dwp-clerk", "dwp-neighbour"),
        Release(12, "northshire-hb", "clerk", "dwp-clerk", "dwp-stranger"),
        Release(15, "northshire-hb", "clerk", "dwp-clerk", "dwp-neighbour"),
        Release(11, "northshire-hb", "other", "dwp-other", "dwp-stranger"),
    ]
    where = {
        "dwp-clerk": ("home-1",),
        "dwp-neighbour": ("home-2", "home-1"),  # a second home shared with the clerk
        "dwp-stranger": ("home-3",),
        "dwp-other": ("home-4",),
    }
    (found,) = same_address(releases, where)
    assert (found.kind, found.caller_user_hash, found.count, found.first_seq, found.last_seq) == (
        "same_address",
        "clerk",
        2,
        10,
        15,
    )


def test_no_known_home_is_no_shared_home() -> None:
    releases = [Release(1, "northshire-hb", "clerk", "dwp-clerk", "dwp-subject")]
    assert same_address(releases, {}) == []
    assert same_address(releases, {"dwp-clerk": ("home-1",)}) == []
    assert same_address(releases, {"dwp-clerk": (), "dwp-subject": ()}) == []


def test_one_release_about_two_people_at_the_address_counts_once() -> None:
    # A release names several subjects: each shared home is a row, but the release is one event.
    releases = [
        Release(7, "northshire-hb", "clerk", "dwp-clerk", "dwp-partner"),
        Release(7, "northshire-hb", "clerk", "dwp-clerk", "dwp-child"),
    ]
    where = {"dwp-clerk": ("h",), "dwp-partner": ("h",), "dwp-child": ("h",)}
    (found,) = same_address(releases, where)
    assert found.count == 1


# -- the order an auditor reads them in ----------------------------------------------------------------


def test_the_most_telling_come_first_then_the_most_frequent() -> None:
    def anomaly(kind: str, user: str, count: int) -> Anomaly:
        return Anomaly(kind, "northshire-hb", user, count, "", 1, 1)

    found = [
        anomaly("out_of_hours", "a", 9),
        anomaly("volume", "b", 40),
        anomaly("own_record", "c", 1),
        anomaly("same_address", "d", 1),
        anomaly("volume", "e", 80),
        anomaly("own_record", "f", 3),
    ]
    assert [(a.kind, a.caller_user_hash) for a in ordered(found)] == [
        ("own_record", "f"),
        ("own_record", "c"),
        ("same_address", "d"),
        ("volume", "e"),
        ("volume", "b"),
        ("out_of_hours", "a"),
    ]


# -- fishing -------------------------------------------------------------------------------------------

# (description, operations, of which named no one the user may ask about, flagged)
FISHING = [
    ("a date-of-birth sweep: nearly every lookup unanswered", 30, 28, True),
    ("exactly the minimum, and most of the user's operations", 12, 10, True),
    ("one short of the minimum", 12, 9, False),
    ("many, but a small share of a busy day's work", 200, 20, False),
    ("padded with answered lookups, but many in all", 400, 60, True),
    ("half the user's operations is enough", 40, 20, True),
    ("no unanswered lookups", 30, 0, False),
]


@pytest.mark.parametrize(("description", "count", "unanswered", "flagged"), FISHING, ids=[f[0] for f in FISHING])
def test_fishing_is_many_lookups_that_named_no_one(
    description: str, count: int, unanswered: int, flagged: bool
) -> None:
    probing = UserActivity(
        "northshire-hb", "u1", count, 1, count, 0, [at(LONDON_TUESDAY, 10)] * count, [*range(1, count + 1)], unanswered
    )
    found = [a for a in classify([probing]) if a.kind == "fishing"]
    assert kinds(found) == ([("fishing", "u1", unanswered)] if flagged else [])


def test_fishing_is_read_after_same_address_and_before_volume() -> None:
    mk = lambda kind: Anomaly(kind, "o", "u", 1, "", 1, 1)  # noqa: E731
    assert [a.kind for a in ordered([mk("volume"), mk("fishing"), mk("same_address")])] == [
        "same_address",
        "fishing",
        "volume",
    ]
