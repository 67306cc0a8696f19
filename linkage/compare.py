"""Comparison of candidate record pairs, field by field, into agreement levels.

A comparison turns the two sides' values of one field into an integer level per pair: 0 means the
values disagree, higher levels mean closer agreement (the last level is exact agreement), and -1 means a
value is missing on either side (no evidence either way). The Fellegi-Sunter model gives each level of
each comparison its own weight.

Everything is vectorised over pairs: values are factorised, each distinct *pair of values* is compared
once (names and postcodes repeat a lot), and string similarity comes from rapidfuzz's C scorers.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from rapidfuzz.distance import Indel, JaroWinkler
from rapidfuzz.process import cpdist

from linkage.nicknames import equivalent
from linkage.normalise import address_tokens, normalise_dob, normalise_name, normalise_postcode, postcode_parts
from linkage.placeholders import PLACEHOLDER_DOBS

__all__ = [
    "COMPARISONS",
    "Columns",
    "Comparison",
    "compare",
    "prepare",
]

Columns = Mapping[str, npt.NDArray[np.object_]]
_OUTWARD = re.compile(r"[A-Z]{1,2}[0-9][A-Z0-9]?")
Levels = npt.NDArray[np.int8]
MISSING = -1


@dataclass(frozen=True)
class Comparison:
    """One field's comparison: ``labels[level]`` names each level, the last being exact agreement.

    ``tf_column`` names the column whose value's frequency adjusts the weight of exact agreement (a match
    on a rare surname is stronger evidence than one on "SMITH").
    """

    name: str
    labels: tuple[str, ...]
    columns: tuple[str, ...]
    levels: Callable[[Pairs], Levels]
    tf_column: str | None = None


def _pairs_once(
    a: npt.NDArray[np.object_], b: npt.NDArray[np.object_], fn: Callable[[list[str], list[str]], Sequence[int]]
) -> Levels:
    """Apply ``fn`` to each distinct (a, b) value pair once and scatter the levels back; None -> MISSING."""
    out = np.full(len(a), MISSING, dtype=np.int8)
    present = np.fromiter((x is not None and y is not None for x, y in zip(a, b, strict=True)), bool, len(a))
    if not present.any():
        return out
    values, codes = np.unique(np.concatenate([a[present], b[present]]).astype(str), return_inverse=True)
    n = int(present.sum())
    pair_codes = codes[:n].astype(np.int64) * len(values) + codes[n:]
    unique_pairs, inverse = np.unique(pair_codes, return_inverse=True)
    left = values[unique_pairs // len(values)].tolist()
    right = values[unique_pairs % len(values)].tolist()
    out[present] = np.asarray(fn(left, right), dtype=np.int8)[inverse]
    return out


def _jw(left: list[str], right: list[str]) -> npt.NDArray[np.float64]:
    return np.asarray(cpdist(left, right, scorer=JaroWinkler.normalized_similarity, workers=1), dtype=np.float64)


def _given_fn(left: list[str], right: list[str]) -> list[int]:
    # Levels: 0 different, 1 initial only, 2 alike (JW >= .7), 3 similar (JW >= .88), 4 nickname/variant,
    # 5 exact. On the first given name; a middle name on one side does not count against.
    first_left, first_right = [x.split(" ")[0] for x in left], [y.split(" ")[0] for y in right]
    sims = _jw(first_left, first_right)
    levels = []
    for x, y, fx, fy, sim in zip(left, right, first_left, first_right, sims, strict=True):
        if x == y or fx == fy:
            levels.append(5)
        elif equivalent(fx, fy):
            levels.append(4)
        elif sim >= 0.88:
            levels.append(3)
        elif (len(fx) == 1 or len(fy) == 1) and fx[0] == fy[0]:
            levels.append(1)
        elif sim >= 0.7:
            levels.append(2)
        else:
            levels.append(0)
    return levels


def _family_fn(left: list[str], right: list[str]) -> list[int]:
    # Levels: 0 different, 1 shares a word (double-barrelled, changed), 2 similar (JW >= .88), 3 exact.
    sims = _jw(left, right)
    out = []
    for x, y, sim in zip(left, right, sims, strict=True):
        if x == y:
            out.append(3)
        elif sim >= 0.88:
            out.append(2)
        elif set(x.split(" ")) & set(y.split(" ")):
            out.append(1)
        else:
            out.append(0)
    return out


_GIVEN_SIMILAR, _FAMILY_SIMILAR = 3, 2


class _Names:
    """Given and family name levels of the same pairs, computed together: a name written in the other
    name's box (a common data-entry error, typos and all) counts as agreement on that name."""

    def __init__(self, a: Columns, b: Columns) -> None:
        self.given = _pairs_once(a["given_name"], b["given_name"], _given_fn)
        self.family = _pairs_once(a["family_name"], b["family_name"], _family_fn)
        candidates = np.flatnonzero(
            (self.given >= 0) & (self.given < _GIVEN_SIMILAR) & (self.family >= 0) & (self.family < _FAMILY_SIMILAR)
        )
        if len(candidates) == 0:
            return
        crossed_given = _pairs_once(a["given_name"][candidates], b["family_name"][candidates], _given_fn)
        crossed_family = _pairs_once(a["family_name"][candidates], b["given_name"][candidates], _family_fn)
        # Either name in the other's box (the other one changed or lost) still counts for that name.
        self.given[candidates] = np.maximum(self.given[candidates], crossed_given)
        self.family[candidates] = np.maximum(self.family[candidates], crossed_family)


class Pairs:
    """Both sides' columns of the candidate pairs, and what several comparisons share."""

    def __init__(self, a: Columns, b: Columns) -> None:
        self.a, self.b = a, b
        self._names: _Names | None = None

    @property
    def names(self) -> _Names:
        if self._names is None:
            self._names = _Names(self.a, self.b)
        return self._names


def _given_levels(pairs: Pairs) -> Levels:
    return pairs.names.given


def _family_levels(pairs: Pairs) -> Levels:
    return pairs.names.family


def _dob_levels(pairs: Pairs) -> Levels:
    # Levels: 0 different, 1 two digits off, 2 one digit off or two adjacent digits swapped, 3 day and
    # month transposed, 4 exact.
    def fn(left: list[str], right: list[str]) -> list[int]:
        la = np.frombuffer("".join(left).encode(), dtype=np.uint8).reshape(-1, 8)
        ra = np.frombuffer("".join(right).encode(), dtype=np.uint8).reshape(-1, 8)
        differ = la != ra
        n_differ = differ.sum(axis=1)
        exact = n_differ == 0
        transposed = (
            (la[:, :4] == ra[:, :4]).all(axis=1)
            & (la[:, 4:6] == ra[:, 6:8]).all(axis=1)
            & (la[:, 6:8] == ra[:, 4:6]).all(axis=1)
        )
        # Two neighbouring digits swapped ("1973" for "1937"): they differ, and each is the other's.
        adjacent = (differ[:, :-1] & differ[:, 1:] & (la[:, :-1] == ra[:, 1:]) & (la[:, 1:] == ra[:, :-1])).any(
            axis=1
        ) & (n_differ == 2)
        one_edit = (n_differ == 1) | adjacent
        levels: list[int] = np.select([exact, transposed, one_edit, n_differ == 2], [4, 3, 2, 1], 0).tolist()
        return levels

    return _pairs_once(pairs.a["dob"], pairs.b["dob"], fn)


def _postcode_levels(pairs: Pairs) -> Levels:
    # Levels: 0 different, 1 same area, 2 same district, 3 same sector, 4 same unit (full postcode).
    def fn(left: list[str], right: list[str]) -> list[int]:
        out = []
        for x, y in zip(left, right, strict=True):
            px, py = postcode_parts(x), postcode_parts(y)
            if (px is None) != (py is None) and _OUTWARD.fullmatch(x if px is None else y):
                # One side has only the outward code: the district is all that can agree.
                full, outward = (py, x) if px is None else (px, y)
                assert full is not None
                out.append(2 if full[2] == outward else 1 if full[3] == re.match(r"[A-Z]+", outward).group(0) else 0)  # type: ignore[union-attr]
                continue
            if px is None or py is None:  # not UK-shaped: compare by common prefix instead
                common = next((i for i, (c, d) in enumerate(zip(x, y, strict=False)) if c != d), min(len(x), len(y)))
                out.append(4 if x == y else min(3, common))
                continue
            out.append(next((4 - i for i, (u, v) in enumerate(zip(px, py, strict=True)) if u == v), 0))
        return out

    return _pairs_once(pairs.a["postcode"], pairs.b["postcode"], fn)


def _address_levels(pairs: Pairs) -> Levels:
    # Levels: 0 different, 1 some tokens shared (Jaccard >= .34), 2 the same letters but for a slip
    # (a space moved, two letters swapped: Indel similarity >= .9 without spaces, the numbers equal), 3 most tokens
    # (Jaccard >= .67), 4 same tokens. Jaccard counts a word typed with a slip ("MAKROOL" for "MARKOOL")
    # as shared: see :func:`_shared_tokens`.
    def fn(left: list[str], right: list[str]) -> list[int]:
        text = np.asarray(
            cpdist(
                [x.replace(" ", "") for x in left],
                [y.replace(" ", "") for y in right],
                scorer=Indel.normalized_similarity,
                workers=1,
            ),
            dtype=np.float64,
        )
        out = []
        for x, y, t in zip(left, right, text, strict=True):
            tx, ty = frozenset(x.split(" ")), frozenset(y.split(" "))
            if tx == ty:
                out.append(4)
                continue
            shared = _shared_tokens(tx, ty)
            jaccard = shared / (len(tx) + len(ty) - shared)
            slip = t >= 0.9 and _numbers(tx) == _numbers(ty)
            out.append(3 if jaccard >= 0.67 else 2 if slip else 1 if jaccard >= 0.34 else 0)
        return out

    return _pairs_once(pairs.a["address"], pairs.b["address"], fn)


#: A word of an address this long or longer counts as the same word with one slip (Indel similarity
#: >= .8: a letter added, dropped, changed or two swapped in a word of eight); numbers must be equal.
_WORD_SLIP = 0.8
_WORD_MIN = 4


def _numbers(tokens: frozenset[str]) -> frozenset[str]:
    return frozenset(w for w in tokens if not w.isalpha())


def _shared_tokens(tx: frozenset[str], ty: frozenset[str]) -> int:
    """Tokens the two addresses share: equal ones, then each remaining word paired greedily with its
    closest remaining word on the other side if they differ only by a slip. House numbers are never
    near-equal: 12 and 21 are different doors."""
    exact = tx & ty
    rest_y = [w for w in ty - exact if len(w) >= _WORD_MIN and w.isalpha()]
    shared = len(exact)
    for w in tx - exact:
        if not rest_y or len(w) < _WORD_MIN or not w.isalpha():
            continue
        scores = [Indel.normalized_similarity(w, v) for v in rest_y]
        best = max(range(len(scores)), key=scores.__getitem__)
        if scores[best] >= _WORD_SLIP:
            shared += 1
            rest_y.pop(best)
    return shared


def _residence_levels(pairs: Pairs) -> Levels:
    """Where the person lives, as one comparison: a move changes postcode and address together, and as
    two comparisons it was counted (and penalised) twice.

    Levels: 0 different, 1 same area, 2 same district, 3 same sector (or most address tokens), 4 same
    postcode or the same address tokens, 5 same postcode and (most of) the same address.
    """
    pc = _postcode_levels(pairs).astype(np.int16)
    ad = _address_levels(pairs).astype(np.int16)
    out = np.where(pc >= 1, pc, 0)  # area, district, sector, unit (4)
    out = np.where(ad == 4, np.maximum(out, 4), out)
    out = np.where((ad >= 2) & (out < 3), 3, out)
    out = np.where((pc == 4) & (ad >= 2), 5, out)
    out = np.where((pc < 0) & (ad < 0), MISSING, out)
    return out.astype(np.int8)


def _town_levels(pairs: Pairs) -> Levels:
    def fn(left: list[str], right: list[str]) -> list[int]:
        sims = _jw(left, right)
        return [2 if x == y else 1 if s >= 0.9 else 0 for x, y, s in zip(left, right, sims, strict=True)]

    return _pairs_once(pairs.a["town"], pairs.b["town"], fn)


def _exact_levels(column: str) -> Callable[[Pairs], Levels]:
    def levels(pairs: Pairs) -> Levels:
        return _pairs_once(
            pairs.a[column],
            pairs.b[column],
            lambda left, right: [int(x == y) for x, y in zip(left, right, strict=True)],
        )

    return levels


COMPARISONS: dict[str, Comparison] = {
    c.name: c
    for c in (
        Comparison(
            "given_name",
            ("different", "initial", "alike", "similar", "variant", "exact"),
            ("given_name", "family_name"),
            _given_levels,
            tf_column="given_name",
        ),
        Comparison(
            "family_name",
            ("different", "shares a word", "similar", "exact"),
            ("given_name", "family_name"),
            _family_levels,
            tf_column="family_name",
        ),
        Comparison(
            "dob",
            ("different", "two digits off", "one digit off or swapped", "day/month transposed", "exact"),
            ("dob",),
            _dob_levels,
        ),
        Comparison(
            "postcode",
            ("different", "area", "district", "sector", "unit"),
            ("postcode",),
            _postcode_levels,
            tf_column="postcode",
        ),
        Comparison(
            "address",
            ("different", "some tokens", "same letters", "most tokens", "same tokens"),
            ("address",),
            _address_levels,
        ),
        Comparison(
            "residence",
            ("different", "same area", "same district", "same sector", "same postcode or address", "same home"),
            ("postcode", "address"),
            _residence_levels,
        ),
        Comparison("town", ("different", "similar", "exact"), ("town",), _town_levels),
        Comparison("nhs_number", ("different", "exact"), ("nhs_number",), _exact_levels("nhs_number")),
    )
}


def _column(values: Sequence[object], fn: Callable[[object], str | None]) -> npt.NDArray[np.object_]:
    out = np.empty(len(values), dtype=object)
    cache: dict[object, str | None] = {}
    for i, value in enumerate(values):
        if value not in cache:
            cache[value] = fn(value)
        out[i] = cache[value]
    return out


def _address(parts: tuple[object, ...]) -> str | None:
    tokens = address_tokens(*(p if isinstance(p, str) else None for p in parts))
    return " ".join(sorted(tokens)) or None


def prepare(
    records: Mapping[str, Sequence[object]], *, placeholder_dobs: frozenset[dt.date] = PLACEHOLDER_DOBS
) -> dict[str, npt.NDArray[np.object_]]:
    """Normalise raw columns into the comparison columns.

    ``records`` may hold: given_name, family_name, dob (date or string), postcode, address_line1,
    address_line2 (joined into ``address``), town, nhs_number. Absent columns become all-missing. A date of
    birth in ``placeholder_dobs`` is missing (:mod:`linkage.placeholders`): compared, it would agree with
    every other record carrying it and disagree with the person's real one, and key one huge block.
    """
    n = len(next(iter(records.values())))

    def get(name: str) -> Sequence[object]:
        return records.get(name, [None] * n)

    def text(value: object) -> str | None:
        return normalise_name(value) if isinstance(value, str) else None

    lines = list(zip(get("address_line1"), get("address_line2"), strict=True))
    return {
        "given_name": _column(get("given_name"), text),
        "family_name": _column(get("family_name"), text),
        "dob": _column(get("dob"), lambda v: normalise_dob(v, placeholder_dobs) if v is not None else None),  # type: ignore[arg-type]
        "postcode": _column(get("postcode"), lambda v: normalise_postcode(v) if isinstance(v, str) else None),
        "address": _column(lines, _address),  # type: ignore[arg-type]
        "town": _column(get("town"), text),
        "nhs_number": _column(
            get("nhs_number"), lambda v: re.sub(r"[^0-9]", "", v) or None if isinstance(v, str) else None
        ),
    }


def compare(
    left: Columns, right: Columns, pairs: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]], names: Sequence[str]
) -> Levels:
    """Levels matrix (pairs x comparisons) for candidate ``pairs`` = (left row indices, right row indices)."""
    ia, ib = pairs
    a = {k: v[ia] for k, v in left.items()}
    b = {k: v[ib] for k, v in right.items()}
    if len(ia) == 0:
        return np.empty((0, len(names)), dtype=np.int8)
    shared = Pairs(a, b)
    return np.stack([COMPARISONS[name].levels(shared) for name in names], axis=1)
