"""Deciding what a score means: link, review or non-link.

A false link releases one person's data to another person's case, so the automatic band is set for
precision: anything between the bands goes to a person (the clerical review queue) and releases nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Band", "Thresholds", "band_for", "nino_match_band"]


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


def nino_match_band(*, given_name_level: int, dob_level: int) -> Band:
    """A NINO match is strong evidence, not proof: councils sometimes hold a household member's NINO on
    the wrong record (a spouse's, a twin's, a father's). Link unless the given name or the date of birth
    clearly disagrees (level 0; -1 means unknown and is no evidence), in which case a person decides.
    """
    if given_name_level == 0 or dob_level == 0:
        return Band.REVIEW
    return Band.LINK
