"""Bands: what a score means (link, review, non-link), and when a NINO match still needs a person."""

from __future__ import annotations

import dataclasses
import math

import pytest

from linkage import COMPARISONS, Band, Thresholds, band_for, nino_match_band

DEFAULT = Thresholds()
CUSTOM = Thresholds(link=0.95, review=0.2)
EQUAL = Thresholds(link=0.8, review=0.8)  # no review band: link or nothing

# (description, probability, thresholds, expected)
BANDS = [
    ("certain", 1.0, DEFAULT, Band.LINK),
    ("at the link threshold", 0.999, DEFAULT, Band.LINK),
    ("just below the link threshold", math.nextafter(0.999, 0), DEFAULT, Band.REVIEW),
    ("between the thresholds", 0.9, DEFAULT, Band.REVIEW),
    ("at the review threshold", 0.5, DEFAULT, Band.REVIEW),
    ("just below the review threshold", math.nextafter(0.5, 0), DEFAULT, Band.NON_LINK),
    ("impossible", 0.0, DEFAULT, Band.NON_LINK),
    ("custom: at link", 0.95, CUSTOM, Band.LINK),
    ("custom: just below link", math.nextafter(0.95, 0), CUSTOM, Band.REVIEW),
    ("custom: at review", 0.2, CUSTOM, Band.REVIEW),
    ("custom: just below review", math.nextafter(0.2, 0), CUSTOM, Band.NON_LINK),
    ("custom: what the default would review", 0.3, CUSTOM, Band.REVIEW),
    ("equal thresholds: at them", 0.8, EQUAL, Band.LINK),
    ("equal thresholds: just below", math.nextafter(0.8, 0), EQUAL, Band.NON_LINK),
]


@pytest.mark.parametrize(("description", "probability", "thresholds", "expected"), BANDS, ids=[c[0] for c in BANDS])
def test_band_for(description: str, probability: float, thresholds: Thresholds, expected: Band) -> None:
    assert band_for(probability, thresholds) is expected


VALID = [
    ("defaults", 0.999, 0.5),
    ("review equal to link", 0.7, 0.7),
    ("review just above zero", 0.9, math.nextafter(0.0, 1)),
    ("link just below one", math.nextafter(1.0, 0), 0.5),
]


@pytest.mark.parametrize(("description", "link", "review"), VALID, ids=[c[0] for c in VALID])
def test_valid_thresholds(description: str, link: float, review: float) -> None:
    thresholds = Thresholds(link=link, review=review)
    assert (thresholds.link, thresholds.review) == (link, review)


INVALID = [
    ("review above link", 0.5, 0.9),
    ("review zero: everything would be reviewed", 0.999, 0.0),
    ("review negative", 0.999, -0.1),
    ("link one: nothing would ever link", 1.0, 0.5),
    ("link above one", 1.5, 0.5),
    ("both zero", 0.0, 0.0),
    ("not a number", math.nan, 0.5),
]


@pytest.mark.parametrize(("description", "link", "review"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_thresholds_are_refused(description: str, link: float, review: float) -> None:
    with pytest.raises(ValueError, match="0 < review <= link < 1"):
        Thresholds(link=link, review=review)


def test_thresholds_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT.link = 0.5  # type: ignore[misc]


GIVEN = COMPARISONS["given_name"].labels
DOB = COMPARISONS["dob"].labels
UNKNOWN = -1

# (description, given_name level, dob level, expected): the NINO matched in every case.
NINO = [
    ("everything agrees", GIVEN.index("exact"), DOB.index("exact"), Band.LINK),
    ("spouse's NINO: given name and DOB differ", GIVEN.index("different"), DOB.index("different"), Band.REVIEW),
    ("twin's NINO: DOB same, given name differs", GIVEN.index("different"), DOB.index("exact"), Band.REVIEW),
    ("father's NINO on the son: same name, DOB differs", GIVEN.index("exact"), DOB.index("different"), Band.REVIEW),
    ("married-name change: only the family name differs", GIVEN.index("exact"), DOB.index("exact"), Band.LINK),
    ("nickname", GIVEN.index("variant"), DOB.index("exact"), Band.LINK),
    # An initial, or a name only alike, is not the NINO holder's name: a twin's NINO (Carl on Caroline's
    # record) has the date of birth right.
    ("initial only", GIVEN.index("initial"), DOB.index("exact"), Band.REVIEW),
    ("twin's NINO: DOB same, given name only alike", GIVEN.index("alike"), DOB.index("exact"), Band.REVIEW),
    ("DOB estimated on one side", GIVEN.index("exact"), DOB.index("estimated (1 January)"), Band.LINK),
    ("given name typo", GIVEN.index("similar"), DOB.index("exact"), Band.LINK),
    ("DOB day/month transposed", GIVEN.index("exact"), DOB.index("day/month transposed"), Band.LINK),
    ("DOB one digit off", GIVEN.index("exact"), DOB.index("one digit off or swapped"), Band.LINK),
    ("given name unknown", UNKNOWN, DOB.index("exact"), Band.LINK),
    ("DOB unknown", GIVEN.index("exact"), UNKNOWN, Band.LINK),
    ("both unknown: the NINO is all there is", UNKNOWN, UNKNOWN, Band.LINK),
    ("given name unknown, DOB differs", UNKNOWN, DOB.index("different"), Band.REVIEW),
    ("DOB unknown, given name differs", GIVEN.index("different"), UNKNOWN, Band.REVIEW),
]


@pytest.mark.parametrize(("description", "given", "dob", "expected"), NINO, ids=[c[0] for c in NINO])
def test_nino_match_band(description: str, given: int, dob: int, expected: Band) -> None:
    exact = dob == DOB.index("exact")
    assert nino_match_band(given_name_level=given, dob_level=dob, dob_exact=exact) is expected


FAMILY = COMPARISONS["family_name"].labels

# (description, given_name level, dob level, family_name level, expected): the NINO matched in every case.
# Without a date of birth the names are all that can catch a housemate's NINO on the wrong record.
NINO_NAMES = [
    ("DOB held: a married surname change still links", GIVEN.index("exact"), DOB.index("exact"), 0, Band.LINK),
    # Only an exact date of birth lets a different family name through: one digit off and another family name
    # is as likely a housemate's NINO.
    (
        "DOB one digit off and the family name differs",
        GIVEN.index("exact"),
        DOB.index("one digit off or swapped"),
        0,
        Band.REVIEW,
    ),
    ("no DOB: both names exact", GIVEN.index("exact"), UNKNOWN, FAMILY.index("exact"), Band.LINK),
    ("no DOB: a nickname", GIVEN.index("variant"), UNKNOWN, FAMILY.index("exact"), Band.LINK),
    ("no DOB: a typo in the given name", GIVEN.index("similar"), UNKNOWN, FAMILY.index("exact"), Band.LINK),
    ("no DOB: a typo in the family name", GIVEN.index("exact"), UNKNOWN, FAMILY.index("similar"), Band.LINK),
    ("no DOB: a double-barrelled name", GIVEN.index("exact"), UNKNOWN, FAMILY.index("shares a word"), Band.LINK),
    ("no DOB: only alike (Joan on John's NINO)", GIVEN.index("alike"), UNKNOWN, FAMILY.index("exact"), Band.REVIEW),
    ("no DOB: an initial only", GIVEN.index("initial"), UNKNOWN, FAMILY.index("exact"), Band.REVIEW),
    ("no DOB: a different given name", GIVEN.index("different"), UNKNOWN, FAMILY.index("exact"), Band.REVIEW),
    # A mistyped NINO that is a stranger's: a common given name is not enough without a date of birth.
    ("no DOB: the family name differs", GIVEN.index("exact"), UNKNOWN, FAMILY.index("different"), Band.REVIEW),
    ("no DOB, no given name: the family name differs", UNKNOWN, UNKNOWN, FAMILY.index("different"), Band.REVIEW),
    ("no DOB, no given name: the family name agrees", UNKNOWN, UNKNOWN, FAMILY.index("exact"), Band.LINK),
]


@pytest.mark.parametrize(
    ("description", "given", "dob", "family", "expected"), NINO_NAMES, ids=[c[0] for c in NINO_NAMES]
)
def test_nino_match_band_without_a_date_of_birth(
    description: str, given: int, dob: int, family: int, expected: Band
) -> None:
    exact = dob == DOB.index("exact")
    band = nino_match_band(given_name_level=given, dob_level=dob, family_name_level=family, dob_exact=exact)
    assert band is expected


def test_band_values_are_stable_strings() -> None:
    # Stored in audit records and sent to callers.
    assert [b.value for b in Band] == ["link", "review", "non_link"]
