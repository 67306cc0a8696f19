"""Deciding, for each record, which person (if any) it belongs to. Pure: records in, decisions out.

The spine is one source whose records are people (DWP: every NINO holder is there). Every other record
is decided against the spine records that the caller found for it: by NINO, and by blocking on
demographics. Rules, in order:

1. NINO agreement is strong evidence, not proof: it links only when the names agree with it and the date
   of birth does not clearly disagree (:func:`linkage.bands.nino_match_band`); otherwise the record goes to
   review (a household member's NINO typed on the wrong record), unless its names are another person's
   and the demographics alone link it confidently to that person. A NINO whose names agree is never
   overridden by a probabilistic namesake.
2. Otherwise the Fellegi-Sunter model scores every candidate, households included: what twins, spouses
   and a father and son share (family name, home, date of birth or given name) is scored at the rate
   the data shows different people sharing it (:mod:`linkage.household`), not as independent
   coincidences. A person is in the spine once, so a record's candidates share one probability with
   the chance that its person was not found at all (``Thresholds.absent``): two plausible candidates
   split it. The best candidate decides the band, and when another candidate is also plausible the
   best links only if it is ahead by at least ``MARGIN_BITS`` of match weight (1000 : 1); otherwise a
   person chooses, as they do when candidates within that margin are together plausible though none is
   alone. The hub never guesses between two people.
"""

from __future__ import annotations

import functools
import hashlib
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from linkage.bands import Band, Thresholds, band_for, nino_match_band, nino_names_agree
from linkage.compare import COMPARISONS, Columns, compare, prepare
from linkage.model import FieldWeight, FSModel
from linkage.nino import check_nino
from linkage.records import Demographics, columns_of
from linkage.types import NormalisedNino

__all__ = [
    "Candidate",
    "Decision",
    "SpineDuplicate",
    "decide",
    "decide_pairs",
    "duplicates_among",
    "normalised_nino",
    "person_key_for",
    "spine_duplicates",
]

MARGIN_BITS = 10.0
_DOB_EXACT = len(COMPARISONS["dob"].labels) - 1
PRUNE_BITS = 10.0
_SPINE_NAMESPACE = uuid.UUID("8f6d2c0e-5b1f-4c55-9a57-2f7a1c3e9b10")


def person_key_for(spine_record_id: str) -> uuid.UUID:
    """The hub's person key of a spine record: stable across rebuilds, meaningless outside the hub.
    (``uuid.uuid5(_SPINE_NAMESPACE, spine_record_id)``, without its per-call overhead: a build makes
    millions.)"""
    digest = hashlib.sha1(_SPINE_NAMESPACE.bytes + spine_record_id.encode(), usedforsecurity=False).digest()
    return uuid.UUID(bytes=digest[:16], version=5)


@dataclass(frozen=True, slots=True)
class Candidate:
    spine_record_id: str
    probability: float
    match_weight: float
    evidence: tuple[FieldWeight, ...]


@dataclass(frozen=True, slots=True)
class Decision:
    band: Band
    method: str  # "nino" | "probabilistic"
    chosen: Candidate | None  # the spine record linked (band LINK) or the best candidate otherwise
    review: tuple[Candidate, ...] = field(default=())  # what a reviewer must choose between
    reason: str | None = None  # for review: "nino_conflict" | "probabilistic" | "spine_record_in_review"


@functools.lru_cache(maxsize=65536)
def normalised_nino(nino: str | None) -> NormalisedNino | None:
    # Called for every candidate of every record with a NINO: the same spine NINOs recur chunk after chunk.
    return check_nino(nino).nino if nino else None


def decide(
    records: Sequence[Demographics],
    candidates: Sequence[tuple[int, Demographics]],
    *,
    model: FSModel,
    thresholds: Thresholds,
) -> list[Decision]:
    """One decision per record, from (record index, spine candidate) pairs (NINO hits included)."""
    # A spine record found by several keys (its NINO and a blocking key, say) is one candidate.
    rows: dict[str, int] = {}
    spine: list[Demographics] = []
    pairs: set[tuple[int, int]] = set()
    for i, record in candidates:
        assert record.record_id is not None, "spine candidates carry their record id"
        if record.record_id not in rows:
            rows[record.record_id] = len(spine)
            spine.append(record)
        pairs.add((i, rows[record.record_id]))
    ordered = sorted(pairs)
    right = prepare(columns_of(spine))
    ids = list(rows)
    ninos = [normalised_nino(c.nino) for c in spine]
    return decide_pairs(
        prepare(columns_of(records)),
        [normalised_nino(r.nino) for r in records],
        right,
        _people_of(spine, ids, ninos, model),
        ninos,
        (
            np.fromiter((i for i, _ in ordered), np.int64, len(ordered)),
            np.fromiter((b for _, b in ordered), np.int64, len(ordered)),
        ),
        model=model,
        thresholds=thresholds,
    )


def _people_of(
    spine: Sequence[Demographics], ids: Sequence[str], ninos: Sequence[str | None], model: FSModel
) -> list[str]:
    """Each candidate's person, as the batch build names them (:func:`spine_duplicates`): its own id, or for
    the spine's second record of one person (one NINO, names and date of birth that agree) the id of the
    first, so that a person registered twice is one candidate, not two splitting its probability. The
    first is the lowest id, the spine's own order."""
    held = [n for n in ninos if n is not None]
    if len(set(held)) == len(held):
        return list(ids)
    duplicates = duplicates_among(spine, model=model)
    return [d.original.spine_record_id if (d := duplicates.get(i)) and d.same else i for i in ids]


def duplicates_among(records: Sequence[Demographics], *, model: FSModel) -> dict[str, SpineDuplicate]:
    """:func:`spine_duplicates` of spine records given in any order (they carry their ids and NINOs): put in
    the spine's own order first, so that the earlier record of a NINO is the one the batch build names."""
    ordered = sorted(records, key=lambda r: _spine_order(r.record_id or ""))
    return spine_duplicates(
        prepare(columns_of(ordered)),
        [r.record_id or "" for r in ordered],
        [normalised_nino(r.nino) for r in ordered],
        model=model,
    )


def _spine_order(record_id: str) -> tuple[int, int | str]:
    # DWP's person ids are numbers: in their order, as the spine is read; any other id after them, as text.
    return (0, int(record_id)) if record_id.isascii() and record_id.isdigit() else (1, record_id)


def decide_pairs(
    left: Columns,
    left_ninos: Sequence[str | None],
    right: Columns,
    right_ids: Sequence[str],
    right_ninos: Sequence[str | None],
    pairs: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
    *,
    model: FSModel,
    thresholds: Thresholds,
) -> list[Decision]:
    """One decision per left record (prepared columns; NINOs normalised), from candidate ``pairs`` of
    (left row, right row) into the spine's prepared columns, ids and normalised NINOs.

    ``right_ids`` names each spine row's person: its record id, or for a duplicate of a spine record (one
    person registered twice: :func:`spine_duplicates`) the id of the record it duplicates, so that the
    two are one candidate and do not split the person's probability between them."""
    ia, ib, levels = _levels(left, left_ninos, right, right_ninos, pairs, model=model, thresholds=thresholds)
    if len(ia) == 0:
        return [Decision(Band.NON_LINK, "probabilistic", None) for _ in left_ninos]
    weights = model.weights(levels, right, ib)
    match_weight = weights.sum(axis=1) + np.log2(model.prior / (1 - model.prior))
    given_col = model.comparisons.index("given_name") if "given_name" in model.comparisons else None
    dob_col = model.comparisons.index("dob") if "dob" in model.comparisons else None
    family_col = model.comparisons.index("family_name") if "family_name" in model.comparisons else None

    per_record: dict[int, list[int]] = {}
    for row, i in enumerate(ia.tolist()):
        per_record.setdefault(i, []).append(row)
    spine_row = ib.tolist()
    probability = np.zeros(len(ia), dtype=np.float64)

    def candidate(row: int) -> Candidate:
        return Candidate(
            right_ids[spine_row[row]],
            float(probability[row]),
            float(match_weight[row]),
            tuple(model.explain(levels[row].tolist(), weights[row].tolist())),
        )

    decisions = []
    for i, nino in enumerate(left_ninos):
        rows = per_record.get(i, [])
        # One candidate per person: a spine record found by several keys, or the spine's duplicates of one
        # person (which carry one id: see ``right_ids``), the best-scored; ordered by strength of evidence.
        best_by_person: dict[str, int] = {}
        for r in rows:
            person = right_ids[spine_row[r]]
            if person not in best_by_person or match_weight[r] > match_weight[best_by_person[person]]:
                best_by_person[person] = r
        ranked = sorted(best_by_person.values(), key=lambda r: -match_weight[r])
        _share(ranked, match_weight, thresholds.absent, probability)
        nino_rows = [r for r in ranked if nino is not None and right_ninos[spine_row[r]] == nino]
        if nino_rows:

            def nino_band(r: int) -> tuple[Band, int, int]:
                lv = levels[r]
                given_level = int(lv[given_col]) if given_col is not None else -1
                family_level = int(lv[family_col]) if family_col is not None else -1
                dob_level = int(lv[dob_col]) if dob_col is not None else -1
                band = nino_match_band(
                    given_name_level=given_level,
                    dob_level=dob_level,
                    family_name_level=family_level,
                    dob_exact=dob_level == _DOB_EXACT,
                )
                return band, given_level, family_level

            bands = [nino_band(r) for r in nino_rows]
            linking = [r for r, (band, _, _) in zip(nino_rows, bands, strict=True) if band is Band.LINK]
            if len(linking) > 1:
                # The NINO is on the spine records of more than one person, and the record fits more than
                # one of them: a person chooses.
                chosen = tuple(candidate(r) for r in linking)
                decisions.append(Decision(Band.REVIEW, "nino", chosen[0], chosen, "nino_conflict"))
                continue
            if linking:
                decisions.append(Decision(Band.LINK, "nino", candidate(linking[0])))
                continue
            r, (_, given_level, family_level) = nino_rows[0], bands[0]
            holders = {right_ids[spine_row[x]] for x in nino_rows}
            others = [x for x in ranked if right_ids[spine_row[x]] not in holders]
            probabilistic = _probabilistic(others, probability, match_weight, thresholds, candidate)
            names_agree = nino_names_agree(given_name_level=given_level, family_name_level=family_level)
            if probabilistic.band is Band.LINK and not names_agree:
                # The names are another person's, and the demographics find that person: a housemate's
                # NINO on the record.
                decisions.append(probabilistic)
                continue
            # A NINO whose names agree is never overridden by a namesake: a person chooses.
            alternatives = probabilistic.review or ((probabilistic.chosen,) if probabilistic.band is Band.LINK else ())
            review = (*(candidate(x) for x in nino_rows), *(c for c in alternatives if c is not None))
            decisions.append(Decision(Band.REVIEW, "nino", candidate(r), review, "nino_conflict"))
            continue
        decisions.append(_probabilistic(ranked, probability, match_weight, thresholds, candidate))
    return decisions


def _share(
    rows: Sequence[int], match_weight: npt.NDArray[np.float64], absent: float, out: npt.NDArray[np.float64]
) -> None:
    """Write each candidate's probability of being the record's person into ``out[rows]``.

    A match weight is log2 of the posterior odds that one pair is the same person, taken alone. But a
    person is in the spine once, so a record's candidates are alternatives: with odds o_k for each, and
    ``absent`` the prior that the person is not among them at all, candidate j is the person with
    probability o_j / (absent / (1 - absent) + sum_k o_k). Two plausible candidates (twins, a father and
    son) split it and neither links; a lone candidate links on less evidence than a pair taken alone
    would need, because the spine holds nobody else it could be.
    """
    if not rows:
        return
    weights = match_weight[list(rows)]
    top = float(weights.max())
    odds = np.exp2(weights - top)  # scaled by 2**-top, as is the constant below
    elsewhere = absent / (1 - absent) * math.exp2(min(-top, 1000.0))
    out[list(rows)] = odds / (elsewhere + odds.sum())


#: Compared first: cheap, and enough to rule most blocked candidates out (a neighbour with the same
#: initial, a stranger born in the same month).
_FIRST = ("dob", "given_name", "family_name")


def _levels(
    left: Columns,
    left_ninos: Sequence[str | None],
    right: Columns,
    right_ninos: Sequence[str | None],
    pairs: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
    *,
    model: FSModel,
    thresholds: Thresholds,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int8]]:
    """Levels of the candidate pairs that could matter, and those pairs.

    A pair is compared on the cheap comparisons first; if even the best possible agreement on the rest
    could not lift it to the review band, it cannot be linked, queued or chosen over anyone plausible,
    and is dropped before the costly ones (addresses). Pairs that share a NINO are always kept: the
    NINO rule reads their levels.
    """
    ia, ib = pairs
    first = [c for c in model.comparisons if c in _FIRST]
    rest = [c for c in model.comparisons if c not in _FIRST]
    if len(ia) == 0 or not first or not rest:
        return ia, ib, compare(left, right, pairs, model.comparisons)
    early = compare(left, right, pairs, first)
    bound = (
        math.log2(model.prior / (1 - model.prior))
        + model.field_weights(early, first, right, ib).sum(axis=1)
        + sum(model.max_weight(c) for c in rest)
    )
    same_nino = np.fromiter(
        (
            n is not None and n == right_ninos[b]
            for n, b in zip((left_ninos[a] for a in ia.tolist()), ib.tolist(), strict=True)
        ),
        bool,
        len(ia),
    )
    # A candidate's share of its record (see _share) is below o / (absent / (1 - absent) + o), so review
    # needs o >= review / (1 - review) * absent / (1 - absent). Dropped pairs are also left out of the
    # shares of the pairs kept: dropping only those a further 2**-PRUNE_BITS below that keeps what they
    # could have taken from anyone negligible (a thousand of them: one part in 2**PRUNE_BITS / 1000).
    floor = (
        math.log2(thresholds.review / (1 - thresholds.review))
        + math.log2(thresholds.absent / (1 - thresholds.absent))
        - PRUNE_BITS
    )
    keep = np.flatnonzero((bound >= floor) | same_nino)
    ia, ib = ia[keep], ib[keep]
    late = compare(left, right, (ia, ib), rest)
    levels = np.empty((len(keep), len(model.comparisons)), dtype=np.int8)
    for j, name in enumerate(model.comparisons):
        levels[:, j] = early[keep, first.index(name)] if name in first else late[:, rest.index(name)]
    return ia, ib, levels


def _probabilistic(
    ranked: Sequence[int],
    probability: npt.NDArray[np.float64],
    match_weight: npt.NDArray[np.float64],
    thresholds: Thresholds,
    make: Callable[[int], Candidate],
) -> Decision:
    if not ranked:
        return Decision(Band.NON_LINK, "probabilistic", None)
    best = ranked[0]
    band = band_for(float(probability[best]), thresholds)
    plausible = [r for r in ranked if probability[r] >= thresholds.review]
    if band is Band.LINK and len(plausible) > 1 and match_weight[best] - match_weight[plausible[1]] < MARGIN_BITS:
        band = Band.REVIEW
    if band is Band.NON_LINK:
        # Two people nothing tells apart (a father and son of one name at one home, no date of birth) split
        # the record's probability, each below the review band; together they are plausibly its person,
        # and a person must choose.
        close = [r for r in ranked if match_weight[best] - match_weight[r] < MARGIN_BITS]
        if len(close) > 1 and float(probability[close].sum()) >= thresholds.review:
            return Decision(Band.REVIEW, "probabilistic", make(best), tuple(make(r) for r in close), "probabilistic")
    if band is Band.REVIEW:
        return Decision(Band.REVIEW, "probabilistic", make(best), tuple(make(r) for r in plausible), "probabilistic")
    return Decision(band, "probabilistic", make(best))


@dataclass(frozen=True, slots=True)
class SpineDuplicate:
    """A spine record whose NINO an earlier record carries: that record, scored against this one (its
    evidence is what a reviewer is shown), and whether the two are one person registered twice."""

    original: Candidate
    same: bool


def spine_duplicates(
    columns: Columns, ids: Sequence[str], ninos: Sequence[str | None], *, model: FSModel
) -> dict[str, SpineDuplicate]:
    """The spine's records that another, earlier record's NINO is also on, by id: the earlier record as
    a candidate with the model's weights for the pair, and whether they are one person registered twice
    (or, as the records say, two people).

    ``columns`` are the spine's prepared columns, in the order of ``ids`` (the spine's own order: the first
    record of a NINO is the one its duplicates are linked to) and ``ninos`` (normalised). One person is one
    NINO holder whose names and date of birth agree as a NINO match must (:func:`nino_match_band`): a
    NINO on records that disagree was issued or typed for two people, and a person decides between them
    (the index names no one by it meanwhile).
    """
    first: dict[str, int] = {}
    pairs: list[tuple[int, int]] = []
    for row, nino in enumerate(ninos):
        if nino is None:
            continue
        if nino in first:
            pairs.append((row, first[nino]))
        else:
            first[nino] = row
    if not pairs:
        return {}
    comparisons = list(model.comparisons)
    a = np.fromiter((p[0] for p in pairs), np.int64, len(pairs))
    b = np.fromiter((p[1] for p in pairs), np.int64, len(pairs))
    levels = compare(columns, columns, (a, b), comparisons)
    weights = model.weights(levels, columns, b)
    match_weight = weights.sum(axis=1) + np.log2(model.prior / (1 - model.prior))
    probability = model.probability(match_weight)

    def level(row: Sequence[int], name: str) -> int:
        return int(row[comparisons.index(name)]) if name in comparisons else -1

    out: dict[str, SpineDuplicate] = {}
    for k, ((dup, original), row) in enumerate(zip(pairs, levels.tolist(), strict=True)):
        dob = level(row, "dob")
        band = nino_match_band(
            given_name_level=level(row, "given_name"),
            dob_level=dob,
            family_name_level=level(row, "family_name"),
            dob_exact=dob == _DOB_EXACT,
        )
        candidate = Candidate(
            ids[original],
            float(probability[k]),
            float(match_weight[k]),
            tuple(model.explain(row, weights[k].tolist())),
        )
        out[ids[dup]] = SpineDuplicate(candidate, band is Band.LINK)
    return out
