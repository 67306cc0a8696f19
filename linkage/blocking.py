"""Candidate pairs: records that agree exactly on at least one blocking key.

Blocking keeps linkage tractable (compare thousands of pairs, not millions), and must be generous enough
that true matches survive the errors real data carries: so several keys, any one of which is enough
(date of birth; postcode; surname sound with year of birth; ...). Keys are computed by the caller
(here, or by SQL over an indexed source), so the same rule works in batch and online.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jellyfish
import numpy as np
import numpy.typing as npt

from linkage.compare import Columns

__all__ = [
    "BLOCKED_COMPARISONS",
    "BLOCKING_KEYS",
    "LOOKUPS",
    "SPINE_KEYS",
    "SpineIndex",
    "block",
    "blocking_keys",
    "sessions",
]

Pairs = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]


def _soundex(value: object) -> str | None:
    return jellyfish.soundex(value.replace(" ", "")) if isinstance(value, str) and value else None


def _key(*parts: object) -> str | None:
    return None if any(p is None for p in parts) else "|".join(str(p) for p in parts)


def blocking_keys(columns: Columns) -> dict[str, list[str | None]]:
    """The blocking keys of each record (None when a part is missing)."""
    given, family, dob, postcode = columns["given_name"], columns["family_name"], columns["dob"], columns["postcode"]
    year = [d[:4] if d else None for d in dob]
    month_day = [d[4:] if d else None for d in dob]
    family_sound = [_soundex(f) for f in family]
    given_initial = [g[0] if g else None for g in given]
    return {
        "dob": list(dob),
        "postcode": list(postcode),
        "family_sound_year": [_key(s, y) for s, y in zip(family_sound, year, strict=True)],
        # Day/month transposed or year mistyped: the same birthday with the same surname sound.
        "family_sound_birthday": [_key(s, md) for s, md in zip(family_sound, month_day, strict=True)],
        "given_family_initial": [_key(i, f) for i, f in zip(given_initial, family, strict=True)],
        "given_family_sound": [_key(g, s) for g, s in zip(given, family_sound, strict=True)],
        # Same home, whatever the errors in names, date of birth and postcode (a house number and a street).
        "address": [a if a and " " in a else None for a in columns["address"]],
        # Names entered in the wrong boxes: the pair of names regardless of order.
        "name_set": [_key(*sorted((g, f))) if g and f else None for g, f in zip(given, family, strict=True)],
        # Moved house but stayed in town, with a date of birth error.
        "given_town": [_key(g, t) for g, t in zip(given, columns["town"], strict=True)],
        "family_sound_town": [_key(s, t) for s, t in zip(family_sound, columns["town"], strict=True)],
    }


BLOCKING_KEYS = (
    "dob",
    "postcode",
    "family_sound_year",
    "family_sound_birthday",
    "given_family_initial",
    "given_family_sound",
    "address",
    "name_set",
    "given_town",
    "family_sound_town",
)
#: Comparisons a blocking key (nearly) fixes: pairs found by that key cannot teach the model their m
#: (they agree by construction), so EM leaves them out of that key's session.
BLOCKED_COMPARISONS: dict[str, tuple[str, ...]] = {
    "dob": ("dob",),
    "postcode": ("postcode", "town", "address", "residence"),  # one postcode is a street or two
    "family_sound_year": ("family_name", "dob"),
    "family_sound_birthday": ("family_name", "dob"),
    "given_family_initial": ("given_name", "family_name"),
    "given_family_sound": ("given_name", "family_name"),
    "address": ("address", "residence", "postcode", "town"),
    "name_set": ("given_name", "family_name"),
    "given_town": ("given_name", "town"),
    "family_sound_town": ("family_name", "town"),
}


def block(
    left: Mapping[str, Sequence[str | None]],
    right: Mapping[str, Sequence[str | None]],
    keys: Sequence[str] = BLOCKING_KEYS,
    *,
    max_block: int = 5000,
) -> Pairs:
    """Union of exact joins on each key. Blocks larger than ``max_block`` pairs on one key value are
    skipped for that key (a postcode of a tower block, a common birthday), to bound the work."""
    found: list[npt.NDArray[np.int64]] = []
    n_right = len(next(iter(right.values())))
    for key in keys:
        on_left = _positions(left[key])
        on_right = _positions(right[key])
        for value, ia in on_left.items():
            ib = on_right.get(value)
            if ib is None or len(ia) * len(ib) > max_block:
                continue
            found.append((np.asarray(ia, np.int64)[:, None] * n_right + np.asarray(ib, np.int64)[None, :]).ravel())
    codes = np.unique(np.concatenate(found)) if found else np.empty(0, np.int64)
    return codes // n_right, codes % n_right


def _positions(values: Sequence[str | None]) -> dict[str, list[int]]:
    """Where each value occurs (missing values are never a key)."""
    out: dict[str, list[int]] = {}
    for i, value in enumerate(values):
        if value is not None and value == value:  # None and NaN are missing
            out.setdefault(value, []).append(i)
    return out


def sessions(
    left: Mapping[str, Sequence[str | None]],
    right: Mapping[str, Sequence[str | None]],
    pairs: Pairs,
    keys: Sequence[str] = BLOCKING_KEYS,
) -> dict[str, tuple[npt.NDArray[np.bool_], tuple[str, ...]]]:
    """For each key: which candidate pairs it found, and the comparisons EM must leave out for them."""
    ia, ib = pairs
    out = {}
    for key in keys:
        a = np.asarray(left[key], dtype=object)[ia]
        b = np.asarray(right[key], dtype=object)[ib]
        found = np.fromiter((x is not None and x == y for x, y in zip(a, b, strict=True)), bool, len(ia))
        out[key] = (found, BLOCKED_COMPARISONS.get(key, ()))
    return out


# -- two-fact keys, for a whole spine held in memory ------------------------------------------------------

#: The spine's keys: each pairs two facts, so a block is a handful of people even in a national-size
#: source, and each survives a different kind of error. The same keys as the sources' indexed SQL
#: look-ups (``resolvers/sources/demographics.py``), which serve one query at a time online.
SPINE_KEYS: dict[str, tuple[str, ...]] = {
    "dob_sound": ("dob", "sound"),
    "dob_postcode": ("dob", "postcode"),
    "sound_month": ("sound", "month"),
    "postcode_initial": ("postcode", "initial"),
    "names_postcode": ("family_name", "given_name", "postcode"),
    "names_year": ("family_name", "given_name", "year"),
    "names": ("family_name", "given_name"),
    "dob_given": ("dob", "given_name"),
}
#: (what it catches, the spine key, the query's parts that look it up)
LOOKUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("moved: date of birth and surname sound", "dob_sound", ("dob", "sound")),
    ("day and month transposed", "dob_sound", ("dob_swapped", "sound")),
    ("name mistyped: date of birth and postcode", "dob_postcode", ("dob", "postcode")),
    ("day mistyped: surname sound and birth month", "sound_month", ("sound", "month")),
    ("surname changed: postcode and given name initial", "postcode_initial", ("postcode", "initial")),
    ("date of birth wrong: both names and the postcode", "names_postcode", ("family_name", "given_name", "postcode")),
    (
        "date of birth and postcode wrong: both names and birth year",
        "names_year",
        ("family_name", "given_name", "year"),
    ),
    ("names swapped between boxes", "names", ("given_name", "family_name")),
    # A new surname (marriage) at a new address: nothing above survives both.
    ("surname changed and moved: date of birth and given name", "dob_given", ("dob", "given_name")),
)


def _parts(columns: Columns) -> dict[str, Any]:
    dob = columns["dob"]

    def swapped(d: str | None) -> str | None:
        if d is None or int(d[6:]) > 12 or d[4:6] == d[6:]:
            return None
        return d[:4] + d[6:] + d[4:6]

    return {
        "dob": dob,
        "dob_swapped": [swapped(d) for d in dob],
        "month": [d[:6] if d else None for d in dob],
        "year": [d[:4] if d else None for d in dob],
        "sound": [_soundex(f) for f in columns["family_name"]],
        "postcode": columns["postcode"],
        "initial": [g[0] if g else None for g in columns["given_name"]],
        "given_name": columns["given_name"],
        "family_name": columns["family_name"],
    }


def _hashed(parts: Mapping[str, Any], names: Sequence[str]) -> npt.NDArray[np.int64]:
    """One 64-bit hash per record of the named parts, -1 for a record missing a part (CPython never
    returns -1 as a hash: it is its error value). Stable within the process, which is all a look-up
    needs; a collision only adds a candidate, which the model then scores."""
    columns = [parts[n] for n in names]
    n = len(columns[0])
    return np.fromiter(
        (-1 if any(v is None for v in values) else hash(values) for values in zip(*columns, strict=True)),
        np.int64,
        n,
    )


class SpineIndex:
    """A spine's two-fact blocking keys, sorted for look-up: batch linkage's blocking, in memory.

    Memory: two int64 arrays per key (16 bytes a record a key). Like the SQL look-ups, each key gives
    a query record at most ``limit`` candidates, so that a very common key cannot flood the comparison.
    """

    def __init__(self, spine: Columns) -> None:
        parts = _parts(spine)
        self.size = len(spine["dob"])
        self._sorted: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]] = {}
        for key, names in SPINE_KEYS.items():
            hashes = _hashed(parts, names)
            present = np.flatnonzero(hashes != -1)
            order = present[np.argsort(hashes[present], kind="stable")]
            self._sorted[key] = (hashes[order], order)

    def candidates(self, query: Columns, *, limit: int = 100) -> Pairs:
        """(query row, spine row) pairs sharing at least one key, each pair once."""
        parts = _parts(query)
        found: list[npt.NDArray[np.int64]] = []
        for _, key, names in LOOKUPS:
            keys, order = self._sorted[key]
            wanted = _hashed(parts, names)
            lo = np.searchsorted(keys, wanted, side="left")
            hi = np.searchsorted(keys, wanted, side="right")
            counts = np.where(wanted == -1, 0, np.minimum(hi - lo, limit))
            total = int(counts.sum())
            if total == 0:
                continue
            rows = np.repeat(np.arange(len(wanted), dtype=np.int64), counts)
            starts = np.repeat(lo, counts)
            offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
            found.append(rows * self.size + order[starts + offsets])
        if not found:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        codes = np.unique(np.concatenate(found))
        return codes // self.size, codes % self.size
