"""Candidate pairs: records that agree exactly on at least one blocking key.

Blocking keeps linkage tractable (compare thousands of pairs, not millions), and must be generous enough
that true matches survive the errors real data carries: so several keys, any one of which is enough
(date of birth; postcode; surname sound with year of birth; ...). Keys are computed by the caller
(here, or by SQL over an indexed source), so the same rule works in batch and online.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jellyfish
import numpy as np
import numpy.typing as npt
import pandas as pd

from linkage.compare import Columns

__all__ = ["BLOCKED_COMPARISONS", "BLOCKING_KEYS", "block", "blocking_keys", "sessions"]

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
        a = pd.DataFrame({"k": left[key], "ia": np.arange(len(left[key]))}).dropna()
        b = pd.DataFrame({"k": right[key], "ib": np.arange(len(right[key]))}).dropna()
        sizes = a["k"].value_counts().mul(b["k"].value_counts(), fill_value=0)
        small = sizes[sizes <= max_block].index
        joined = a[a["k"].isin(small)].merge(b[b["k"].isin(small)], on="k")
        found.append(joined["ia"].to_numpy(np.int64) * n_right + joined["ib"].to_numpy(np.int64))
    codes = np.unique(np.concatenate(found)) if found else np.empty(0, np.int64)
    return codes // n_right, codes % n_right


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
