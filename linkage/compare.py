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
from typing import Any

import numpy as np
import numpy.typing as npt
from rapidfuzz.distance import Indel, JaroWinkler, Levenshtein
from rapidfuzz.process import cpdist

from linkage.naming import CONVENTION_SURNAMES, Names, read_names
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
    #: The frequency only ever weakens exact agreement: a value far commoner than chance (a date of birth
    #: estimated as 1 January) counts for less, a rare one no more than the level's own weight. For
    #: values with too many distinct values for any one to be seen often (dates of birth).
    tf_common_only: bool = False


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


#: A typo's reach: a "similar" name is at most this many edits away (Jaro-Winkler alone calls a name and
#: a longer one it begins (Carl, Caroline: .90) similar, and they are a brother and sister's).
_TYPO_EDITS = 2


def _given_fn(left: list[str], right: list[str]) -> list[int]:
    # Levels: 0 different, 1 initial only, 2 alike (JW >= .7), 3 similar (JW >= .88 and a typo's reach),
    # 4 nickname/variant, 5 exact. On the first given name; a middle name on one side does not count against.
    first_left, first_right = [x.split(" ")[0] for x in left], [y.split(" ")[0] for y in right]
    sims = _jw(first_left, first_right)
    edits = cpdist(first_left, first_right, scorer=Levenshtein.distance, workers=1)
    levels = []
    for x, y, fx, fy, sim, edit in zip(left, right, first_left, first_right, sims, edits, strict=True):
        if x == y or fx == fy:
            levels.append(5)
        elif equivalent(fx, fy):
            levels.append(4)
        elif sim >= 0.88 and edit <= _TYPO_EDITS:
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


_GIVEN_SIMILAR, _GIVEN_VARIANT, _FAMILY_SIMILAR = 3, 4, 2
#: Other names and previous family names compared per record, at most (a fourth middle name is rare).
_OTHER_SLOTS, _PREVIOUS_SLOTS = 3, 2


def _slot(column: npt.NDArray[np.object_], j: int) -> npt.NDArray[np.object_]:
    """The ``j``-th word (other names) or name (previous family names, '|'-separated) of each value."""
    out = np.empty(len(column), dtype=object)
    for i, value in enumerate(column):
        parts = value.split("|") if value is not None else ()
        out[i] = parts[j] if j < len(parts) else None
    return out


class _Names:
    """Given and family name levels of the same pairs, computed together, from every name a record
    holds (:mod:`linkage.naming`):

    - a name written in the other name's box (a common data-entry error, typos and all) counts as
      agreement on that name;
    - a first name that agrees with one of the other side's other names (a middle name used as the
      first, a "known as" name) counts as a variant, at most;
    - a family name that agrees with one of the other side's previous family names counts as similar;
    - a family name that is only a convention surname (Kaur, Begum) against a family name proper is no
      evidence either way;
    - two different generational suffixes (Jnr and Snr) are different given names, whatever else agrees.
    """

    def __init__(self, a: Columns, b: Columns) -> None:
        self.given = _pairs_once(a["given_name"], b["given_name"], _given_fn)
        self.family = _pairs_once(a["family_name"], b["family_name"], _family_fn)
        self._crossed(a, b)
        self._other_names(a, b)
        self._previous_names(a, b)
        self._conventions(a, b)
        self._suffixes(a, b)

    def _crossed(self, a: Columns, b: Columns) -> None:
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

    def _other_names(self, a: Columns, b: Columns) -> None:
        if "other_names" not in a or "other_names" not in b:
            return
        has_other = np.fromiter(
            (x is not None or y is not None for x, y in zip(a["other_names"], b["other_names"], strict=True)),
            bool,
            len(self.given),
        )
        candidates = np.flatnonzero(has_other & (self.given < _GIVEN_VARIANT))
        if len(candidates) == 0:
            return
        a_first, b_first = a["given_name"][candidates], b["given_name"][candidates]
        a_other, b_other = a["other_names"][candidates], b["other_names"][candidates]
        best = np.full(len(candidates), MISSING, dtype=np.int8)
        for j in range(_OTHER_SLOTS):
            for left, right in ((_slot(a_other, j), b_first), (a_first, _slot(b_other, j))):
                best = np.maximum(best, _pairs_once(left, right, _given_fn))
        # A middle initial against a first initial, or names only alike, say too little to count.
        alternative = np.where(best >= _GIVEN_SIMILAR, np.minimum(best, _GIVEN_VARIANT), MISSING).astype(np.int8)
        self.given[candidates] = np.maximum(self.given[candidates], alternative)

    def _previous_names(self, a: Columns, b: Columns) -> None:
        if "previous_family" not in a or "previous_family" not in b:
            return
        has_previous = np.fromiter(
            (x is not None or y is not None for x, y in zip(a["previous_family"], b["previous_family"], strict=True)),
            bool,
            len(self.family),
        )
        candidates = np.flatnonzero(has_previous & (self.family < _FAMILY_SIMILAR))
        if len(candidates) == 0:
            return
        a_family, b_family = a["family_name"][candidates], b["family_name"][candidates]
        a_previous, b_previous = a["previous_family"][candidates], b["previous_family"][candidates]
        best = np.full(len(candidates), MISSING, dtype=np.int8)
        for j in range(_PREVIOUS_SLOTS):
            for left, right in ((_slot(a_previous, j), b_family), (a_family, _slot(b_previous, j))):
                best = np.maximum(best, _pairs_once(left, right, _family_fn))
        earlier = np.where(best >= _FAMILY_SIMILAR, _FAMILY_SIMILAR, MISSING).astype(np.int8)
        self.family[candidates] = np.maximum(self.family[candidates], earlier)

    def _conventions(self, a: Columns, b: Columns) -> None:
        differ = np.flatnonzero(self.family == 0)
        if len(differ) == 0:
            return
        a_convention = np.fromiter((v in CONVENTION_SURNAMES for v in a["family_name"][differ]), bool, len(differ))
        b_convention = np.fromiter((v in CONVENTION_SURNAMES for v in b["family_name"][differ]), bool, len(differ))
        self.family[differ[a_convention != b_convention]] = MISSING

    def _suffixes(self, a: Columns, b: Columns) -> None:
        if "suffix" not in a or "suffix" not in b:
            return
        clash = np.fromiter(
            (x is not None and y is not None and x != y for x, y in zip(a["suffix"], b["suffix"], strict=True)),
            bool,
            len(self.given),
        )
        self.given[clash] = 0


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
    # Levels: 0 different, 1 estimated (one side 1 January, the same year: the date a system records when
    # only the year is known, for many people born abroad), 2 two digits off, 3 one digit off or two
    # adjacent digits swapped, 4 day and month transposed, 5 exact. A 1 January two digits from the
    # other date is read as estimated: the likelier story.
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
        new_year = np.frombuffer(b"0101", dtype=np.uint8)
        estimated = (la[:, :4] == ra[:, :4]).all(axis=1) & (
            (la[:, 4:] == new_year).all(axis=1) | (ra[:, 4:] == new_year).all(axis=1)
        )
        levels: list[int] = np.select(
            [exact, transposed, one_edit, estimated, n_differ == 2], [5, 4, 3, 1, 2], 0
        ).tolist()
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
            (
                "different",
                "estimated (1 January)",
                "two digits off",
                "one digit off or swapped",
                "day/month transposed",
                "exact",
            ),
            ("dob",),
            _dob_levels,
            tf_column="dob",
            tf_common_only=True,
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


def _column(values: Sequence[object], fn: Callable[[Any], object]) -> npt.NDArray[np.object_]:
    out = np.empty(len(values), dtype=object)
    cache: dict[object, object] = {}
    for i, value in enumerate(values):
        if value not in cache:
            cache[value] = fn(value)
        out[i] = cache[value]
    return out


def _column_of(names: npt.NDArray[np.object_], fn: Callable[[Names], str | None]) -> npt.NDArray[np.object_]:
    out = np.empty(len(names), dtype=object)
    out[:] = [fn(x) for x in names]
    return out


def _address(parts: tuple[object, ...]) -> str | None:
    tokens = address_tokens(*(p if isinstance(p, str) else None for p in parts))
    return " ".join(sorted(tokens)) or None


def prepare(
    records: Mapping[str, Sequence[object]], *, placeholder_dobs: frozenset[dt.date] = PLACEHOLDER_DOBS
) -> dict[str, npt.NDArray[np.object_]]:
    """Normalise raw columns into the comparison columns.

    ``records`` may hold: given_name, family_name, middle_names, known_as, name_suffix,
    previous_family_names (read together: :func:`linkage.naming.read_names`), dob (date or string),
    postcode, address_line1, address_line2 (joined into ``address``), town, nhs_number. Absent columns
    become all-missing. A date of birth in ``placeholder_dobs`` is missing (:mod:`linkage.placeholders`):
    compared, it would agree with every other record carrying it and disagree with the person's real one,
    and key one huge block.

    The name columns: ``given_name`` is the first name alone, ``other_names`` the rest of a person's given
    names ('|'-separated), ``family_name`` without convention surnames or a suffix, ``previous_family``
    ('|'-separated) and ``suffix``.
    """
    n = len(next(iter(records.values())))

    def get(name: str) -> Sequence[object]:
        return records.get(name, [None] * n)

    def text(value: object) -> str | None:
        return normalise_name(value) if isinstance(value, str) else None

    lines = list(zip(get("address_line1"), get("address_line2"), strict=True))
    names = _column(
        list(
            zip(
                get("given_name"),
                get("family_name"),
                get("middle_names"),
                get("known_as"),
                get("name_suffix"),
                get("previous_family_names"),
                strict=True,
            )
        ),
        lambda parts: read_names(*parts),
    )
    return {
        "given_name": _column_of(names, lambda x: x.first),
        "other_names": _column_of(names, lambda x: "|".join(x.others) or None),
        "family_name": _column_of(names, lambda x: x.family),
        "previous_family": _column_of(names, lambda x: "|".join(x.previous) or None),
        "suffix": _column_of(names, lambda x: x.suffix),
        "dob": _column(get("dob"), lambda v: normalise_dob(v, placeholder_dobs) if v is not None else None),
        "postcode": _column(get("postcode"), lambda v: normalise_postcode(v) if isinstance(v, str) else None),
        "address": _column(lines, _address),
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
