"""What people who share a home share, learnt from the data instead of assumed away.

Fellegi-Sunter multiplies each comparison's chance agreement ``u`` as if fields were independent among
different people. In a household they are not: a spouse shares the family name *and* the home; a twin
shares those *and* the date of birth; a father and son may share every name and the home. Under the
independence assumption such a pair looks astronomically unlikely by chance, so a twin scores as the
same person. The hub's answer is the data's own: count, within one source (one record per person, so
every pair is two different people), how many pairs agree on each combination of these events, and use
that rate as the chance agreement of the combination whenever it is larger than the product.

For a pair agreeing on the set ``A`` of events, the chance of agreeing on ``A`` among different people
is estimated as the largest of: the independent product of the comparisons' ``u``; for every subset
``S`` of ``A`` that includes the home (and one more event) the observed rate of ``S`` times the
product over the rest. The rate of a combination with the home needs no term-frequency adjustment:
a person has as many housemates whatever their surname, so the chance that a random other record is a
same-surname housemate is the same for Smith and Zielinski. The
correction ``log2(product / estimate)`` is never positive: data without households (FEBRL's, say)
yields rates near the product and no correction; data with twins learns that agreement on family
name, home and date of birth is what twins do, and the score says so.

Events are agreement at or above a level of a comparison, counted on exact keys of normalised values:
the rates are of pairs that truly share a value. A pair seen agreeing only nearly (a twin whose surname
was mistyped) is such a pair plus a slip, so the slip's chance (``m`` of its level over ``m`` of exact
agreement) multiplies the rate.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from linkage.compare import Columns, Levels

__all__ = [
    "EVENTS",
    "Event",
    "PairCounter",
    "correction",
    "describe",
    "event_mask",
    "event_sets",
    "events_of",
    "label_of",
    "rates",
]


@dataclass(frozen=True)
class Event:
    """Agreement on one thing people in a household share: ``comparison`` at ``min_level`` or better,
    counted on the exact value of ``key`` (a prepared column, or "home"). ``where`` marks the events that
    are the shared home itself."""

    name: str
    comparison: str
    min_level: int
    key: str
    where: bool = False


EVENTS: tuple[Event, ...] = (
    Event("family", "family_name", 1, "family_name"),
    # One home: the hub's "residence" comparison (postcode or address), or postcode and address apart.
    Event("home", "residence", 4, "home", where=True),
    Event("postcode", "postcode", 4, "postcode", where=True),
    Event("address", "address", 3, "address", where=True),
    Event("dob", "dob", 3, "dob"),  # one digit off or closer (linkage.compare: "dob" levels)
    Event("given", "given_name", 1, "given_first"),
)


def events_of(comparisons: Sequence[str]) -> list[Event]:
    """The events a model with these comparisons can see, in ``EVENTS`` order."""
    return [e for e in EVENTS if e.comparison in comparisons]


def _combinations(events: Sequence[Event]) -> list[tuple[str, ...]]:
    """Combinations of two or more events that include the home: what a household shares. (Shared names
    or birthdays at different homes are chance, and the term-frequency adjustment prices chance better
    than a population-wide rate: one rate for "same full name" would be Smith's, not Zielinski's.)"""
    return [
        tuple(e.name for e in combo)
        for k in range(2, len(events) + 1)
        for combo in itertools.combinations(events, k)
        if any(e.where for e in combo)
    ]


def event_sets(comparisons: Sequence[str]) -> list[tuple[str, ...]]:
    """The combinations of the model's events whose rates the model keeps, by name."""
    return _combinations(events_of(comparisons))


def label_of(names: Iterable[str]) -> str:
    return "+".join(names)


def _key(columns: Columns, key: str) -> npt.NDArray[np.object_]:
    if key == "home":
        pairs = zip(columns["postcode"], columns["address"], strict=True)
        return np.fromiter((p if p is not None else a and f"address:{a}" for p, a in pairs), object)
    if key == "given_first":
        return np.fromiter((None if g is None else g.split(" ")[0] for g in columns["given_name"]), object)
    return columns[key]


def _hashes(values: npt.NDArray[np.object_]) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.bool_]]:
    present = np.fromiter((v is not None for v in values), bool, len(values))
    # Python's string hash: stable within the process, which is all a count needs.
    hashed = np.fromiter((hash(v) & 0xFFFFFFFFFFFFFFFF if v is not None else 0 for v in values), np.uint64)
    return hashed, present


class PairCounter:
    """Pairs of records in one source that agree on each combination of a model's events (streamed, chunk
    by chunk; memory: eight bytes per record per combination)."""

    def __init__(self, comparisons: Sequence[str]) -> None:
        self._events = {e.name: e for e in events_of(comparisons)}
        self._parts: dict[tuple[str, ...], list[npt.NDArray[np.uint64]]] = {s: [] for s in event_sets(comparisons)}
        self.records = 0

    def add(self, columns: Columns) -> None:
        """Add prepared columns (:func:`linkage.compare.prepare`) of records from the same source."""
        hashed = {name: _hashes(_key(columns, e.key)) for name, e in self._events.items()}
        self.records += len(next(iter(columns.values())))
        for names in self._parts:
            combined = np.zeros(len(hashed[names[0]][0]), dtype=np.uint64)
            present = np.ones(len(combined), dtype=bool)
            with np.errstate(over="ignore"):
                for name in names:
                    h, p = hashed[name]
                    combined = combined * np.uint64(0x100000001B3) ^ h
                    present &= p
            self._parts[names].append(combined[present])

    def pairs(self) -> dict[str, int]:
        """Pairs of records agreeing on every event of each combination, keyed by :func:`label_of`."""
        out = {}
        for names, parts in self._parts.items():
            counts = np.unique(np.concatenate(parts), return_counts=True)[1] if parts else np.empty(0, np.int64)
            counts = counts[counts > 1].astype(np.int64)
            out[label_of(names)] = int((counts * (counts - 1) // 2).sum())
        return out

    @property
    def total_pairs(self) -> int:
        return self.records * (self.records - 1) // 2


def rates(counters: Sequence[PairCounter]) -> dict[str, float]:
    """The share of within-source pairs agreeing on each combination, pooled over the sources."""
    total = sum(c.total_pairs for c in counters)
    if total == 0:
        return {}
    pooled: dict[str, int] = {}
    for counter in counters:
        for label, n in counter.pairs().items():
            pooled[label] = pooled.get(label, 0) + n
    return {label: n / total for label, n in pooled.items() if n > 0}


def event_mask(levels: Levels, comparisons: Sequence[str]) -> npt.NDArray[np.int64]:
    """Per pair, a bit mask of the events it agrees on (bit i: the i-th of :func:`events_of`)."""
    mask = np.zeros(len(levels), dtype=np.int64)
    for bit, event in enumerate(events_of(comparisons)):
        agree = levels[:, comparisons.index(event.comparison)] >= event.min_level
        mask |= agree.astype(np.int64) << bit
    return mask


def correction(
    levels: Levels,
    log2_u: npt.NDArray[np.float64],
    log2_slip: npt.NDArray[np.float64],
    comparisons: Sequence[str],
    observed: Mapping[str, float],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Per pair: the correction in bits (<= 0) and a bit mask of the events it agreed on.

    ``log2_u`` holds, per pair and comparison, the log2 chance agreement the model used for that pair's
    level (term-frequency adjusted where it was); ``log2_slip`` the log2 chance that a value the two
    records truly share is recorded at that pair's level (``m[level] / m[exact]``: 0 when exact). The
    observed rates count pairs that truly share a value; a twin seen with a mistyped surname is a twin
    and a typo, so its chance is the twins' rate times the typo's.
    """
    events = events_of(comparisons)
    mask = event_mask(levels, comparisons)
    out = np.zeros(len(levels), dtype=np.float64)
    if not observed:
        return out, mask
    for pattern in np.unique(mask):
        agreeing = [e for bit, e in enumerate(events) if pattern >> bit & 1]
        if len(agreeing) < 2:
            continue
        rows = np.flatnonzero(mask == pattern)
        u = {e.name: log2_u[rows, comparisons.index(e.comparison)] for e in agreeing}
        slip = {e.name: log2_slip[rows, comparisons.index(e.comparison)] for e in agreeing}
        independent = np.sum(list(u.values()), axis=0)
        best = independent.copy()
        names = [e.name for e in agreeing]
        for subset in _combinations(agreeing):
            rate = observed.get(label_of(subset), 0.0)
            if rate > 0.0:
                terms = [slip[name] if name in subset else u[name] for name in names]
                best = np.maximum(best, np.log2(rate) + np.sum(terms, axis=0))
        out[rows] = independent - best
    return out, mask


def describe(levels_row: Sequence[int], comparisons: Sequence[str]) -> str:
    """What one pair's household term stands for, for the evidence an auditor reads."""
    agreeing = [e.name for e in events_of(comparisons) if levels_row[comparisons.index(e.comparison)] >= e.min_level]
    return f"{label_of(agreeing)} agree, as in households" if agreeing else "no shared-home pattern"
