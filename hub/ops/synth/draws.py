"""Deterministic draws shared by every stage: one seeded random stream per stage, weighted picks, dates
and money, and State Pension age.

Pure: no I/O, no clock, no global random state.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from itertools import accumulate
from typing import Generic, TypeVar

__all__ = ["Weighted", "age_on", "between", "money", "state_pension_date", "stream", "years_after"]


T = TypeVar("T")


def stream(seed: int, stage: str) -> random.Random:
    # One generator per stage: changing how one stage draws does not reshuffle the others. A str seed
    # is hashed with SHA-512 by random.seed, so this is stable across runs and PYTHONHASHSEED.
    return random.Random(f"welfare-hub-synth/{seed}/{stage}")  # noqa: S311 (test data, not secrets)


@dataclass(frozen=True, slots=True)
class Weighted(Generic[T]):
    items: tuple[T, ...]
    cumulative: tuple[float, ...]

    @classmethod
    def of(cls, pairs: Iterable[tuple[T, float]]) -> Weighted[T]:
        kept = [(item, weight) for item, weight in pairs if weight > 0]
        return cls(tuple(i for i, _ in kept), tuple(accumulate(w for _, w in kept)))

    def pick(self, rng: random.Random) -> T:
        index = bisect.bisect_right(self.cumulative, rng.random() * self.cumulative[-1])
        return self.items[min(index, len(self.items) - 1)]


def years_after(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February in a common year
        return d.replace(year=d.year + years, day=28)


def _months_after(d: date, months: int) -> date:
    month0 = d.month - 1 + months
    year, month = d.year + month0 // 12, month0 % 12 + 1
    for day in (d.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable: every month has 28 days")


def age_on(dob: date, on: date) -> int:
    return on.year - dob.year - ((on.month, on.day) < (dob.month, dob.day))


def between(rng: random.Random, low: date, high: date) -> date:
    if high <= low:
        return low
    return date.fromordinal(rng.randint(low.toordinal(), high.toordinal()))


def money(pounds: float) -> Decimal:
    return Decimal(max(0, round(pounds * 100))).scaleb(-2)


def state_pension_date(dob: date) -> date:
    """State Pension age under the Pensions Acts 2007-2014 (66, rising to 67 from 2026, 68 later)."""
    if dob < date(1960, 4, 6):
        return years_after(dob, 66)
    if dob < date(1961, 3, 6):
        # Born 6 April 1960 - 5 March 1961: 66 years and 1 to 11 months, by birth month (6th to 5th).
        months = (dob.year - 1960) * 12 + dob.month - 4 + (1 if dob.day >= 6 else 0)
        return _months_after(years_after(dob, 66), months)
    if dob < date(1977, 4, 6):
        return years_after(dob, 67)
    return years_after(dob, 68)
