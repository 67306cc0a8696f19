"""Deciding what a score means: link, review or non-link.

A false link releases one person's data to another person's case, so the automatic band is set for
precision: anything between the bands goes to a person (the clerical review queue) and releases nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["NINO_WITHOUT_DOB_GIVEN", "Band", "Thresholds", "band_for", "nino_match_band", "nino_names_agree"]


class Band(StrEnum):
    LINK = "link"
    REVIEW = "review"
    NON_LINK = "non_link"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Match-probability thresholds: ``link`` and above links automatically, ``review`` and above queues.

    ``absent`` is the prior probability that a record's person is not among the spine candidates found
    for it (not in the spine at all, or missed by blocking). A record's candidates share the rest: each
    person is in the spine once, so two plausible candidates split the probability between them, and a
    lone candidate is weighed against the chance that the right person was never found
    (:func:`linkage.link.decide_pairs`).
    """

    link: float = 0.999
    review: float = 0.5
    absent: float = 0.02

    def __post_init__(self) -> None:
        if not 0.0 < self.review <= self.link < 1.0:
            raise ValueError("thresholds must satisfy 0 < review <= link < 1")
        if not 0.0 < self.absent < 1.0:
            raise ValueError("the absent prior must satisfy 0 < absent < 1")


def band_for(probability: float, thresholds: Thresholds) -> Band:
    if probability >= thresholds.link:
        return Band.LINK
    if probability >= thresholds.review:
        return Band.REVIEW
    return Band.NON_LINK


#: The given-name level a NINO match needs when the record has no date of birth: "similar" (Jaro-Winkler
#: >= .88), a known variant, or exact (:data:`linkage.compare.COMPARISONS`). Measured on the synthetic
#: population (20,000 people, 35,520 ordered pairs of housemates, 9,000 council records against their own
#: DWP record): housemates' given names are "alike" in 2.5% of pairs and "similar" in 0.25% (and exact in
#: 1.0%: a son named after his father, whom no name can tell apart); the same person's are "alike" in 0.5%
#: and "similar" in 2.7%. If one council NINO in a hundred were a housemate's, a NINO match at "alike"
#: would be the wrong person about one time in twenty, at "similar" one in a thousand: the link band's odds.
NINO_WITHOUT_DOB_GIVEN = 3


def nino_match_band(
    *, given_name_level: int, dob_level: int, family_name_level: int = -1, dob_exact: bool = False
) -> Band:
    """A NINO match is strong evidence, not proof: councils sometimes hold a household member's NINO on
    the wrong record (a spouse's, a twin's, a father's). It links only when the names agree with it
    (levels: :data:`linkage.compare.COMPARISONS`; -1 means unknown and is no evidence):

    - the given name at least "similar" (:data:`NINO_WITHOUT_DOB_GIVEN`: a typo, a variant, another of
      the person's names) or unknown: a twin's NINO on the record of a twin whose name is only alike
      (Carl on Caroline's) has the date of birth right, and nothing else catches it;
    - the date of birth not different (level 0 is a father's NINO on his son of the same name);
    - the family name not different, unless the date of birth is exact (a married surname change: with the
      given name and the exact date of birth agreeing, a different family name is the person's new one).

    Without a date of birth (missing, or a placeholder: :mod:`linkage.placeholders`) the names are all that
    can catch the wrong NINO, so the family name must not differ either. Otherwise a person decides
    (:func:`linkage.link.decide_pairs` never lets a namesake's probabilistic link override a NINO whose
    names agree).
    """
    if 0 <= given_name_level < NINO_WITHOUT_DOB_GIVEN or dob_level == 0:
        return Band.REVIEW
    if family_name_level == 0 and not dob_exact:
        return Band.REVIEW
    return Band.LINK


def nino_names_agree(*, given_name_level: int, family_name_level: int) -> bool:
    """The names on a NINO-matched record agree with the NINO's holder (or are unknown): then a
    disagreement is the date of birth's alone, a typo more likely than a housemate's NINO, and no
    probabilistic candidate may take the record from the NINO's holder without a person deciding."""
    return (given_name_level < 0 or given_name_level >= NINO_WITHOUT_DOB_GIVEN) and family_name_level != 0
