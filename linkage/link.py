"""Deciding, for each record, which person (if any) it belongs to. Pure: records in, decisions out.

The spine is one source whose records are people (DWP: every NINO holder is there). Every other record
is decided against the spine records that the caller found for it: by NINO, and by blocking on
demographics. Rules, in order:

1. NINO agreement is strong evidence, not proof: it links unless the given name or date of birth clearly
   disagrees, in which case the record goes to review (a household member's NINO typed on the wrong
   record), unless the demographics alone link it confidently to someone else.
2. Otherwise the Fellegi-Sunter model scores every candidate, households included: what twins, spouses
   and a father and son share (family name, home, date of birth or given name) is scored at the rate
   the data shows different people sharing it (:mod:`linkage.household`), not as independent
   coincidences. The best candidate decides the band, and when another candidate is also plausible the
   best links only if it is ahead by at least ``MARGIN_BITS`` of match weight (1000 : 1); otherwise a
   person chooses. The hub never guesses between two people.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from linkage.bands import Band, Thresholds, band_for, nino_match_band
from linkage.compare import compare, prepare
from linkage.model import FieldWeight, FSModel
from linkage.nino import check_nino
from linkage.records import Demographics, columns_of

__all__ = ["Candidate", "Decision", "decide", "person_key_for"]

MARGIN_BITS = 10.0
_SPINE_NAMESPACE = uuid.UUID("8f6d2c0e-5b1f-4c55-9a57-2f7a1c3e9b10")


def person_key_for(spine_record_id: str) -> uuid.UUID:
    """The hub's person key of a spine record: stable across rebuilds, meaningless outside the hub."""
    return uuid.uuid5(_SPINE_NAMESPACE, spine_record_id)


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
    reason: str | None = None  # for review: "nino_conflict" | "probabilistic"


@functools.lru_cache(maxsize=65536)
def _normalised(nino: str | None) -> str | None:
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
    if not candidates:
        return [Decision(Band.NON_LINK, "probabilistic", None) for _ in records]
    # One spine record may be a candidate for several query records: compare pairwise.
    left = prepare(columns_of(records))
    right = prepare(columns_of([c for _, c in candidates]))
    ia = np.fromiter((i for i, _ in candidates), np.int64, len(candidates))
    ib = np.arange(len(candidates), dtype=np.int64)
    levels = compare(left, right, (ia, ib), model.comparisons)
    weights = model.weights(levels, right, ib)
    match_weight = weights.sum(axis=1) + np.log2(model.prior / (1 - model.prior))
    probability = model.probability(match_weight)
    given_col = model.comparisons.index("given_name") if "given_name" in model.comparisons else None
    dob_col = model.comparisons.index("dob") if "dob" in model.comparisons else None

    per_record: dict[int, list[int]] = {}
    for row, (i, _) in enumerate(candidates):
        per_record.setdefault(i, []).append(row)

    def candidate(row: int) -> Candidate:
        rid = candidates[row][1].record_id
        assert rid is not None, "spine candidates carry their record id"
        return Candidate(
            rid,
            float(probability[row]),
            float(match_weight[row]),
            tuple(model.explain(levels[row].tolist(), weights[row].tolist())),
        )

    decisions = []
    for i, record in enumerate(records):
        rows = per_record.get(i, [])
        nino = _normalised(record.nino)
        nino_rows = [r for r in rows if nino is not None and _normalised(candidates[r][1].nino) == nino]
        # Deduplicate spine records found by several keys; order by strength of evidence.
        best_by_id: dict[str, int] = {}
        for r in rows:
            rid = candidates[r][1].record_id or ""
            if rid not in best_by_id or probability[r] > probability[best_by_id[rid]]:
                best_by_id[rid] = r
        ranked = sorted(best_by_id.values(), key=lambda r: -probability[r])
        if nino_rows:
            r = nino_rows[0]
            lv = levels[r]
            band = nino_match_band(
                given_name_level=int(lv[given_col]) if given_col is not None else -1,
                dob_level=int(lv[dob_col]) if dob_col is not None else -1,
            )
            if band is Band.LINK:
                decisions.append(Decision(Band.LINK, "nino", candidate(r)))
                continue
            others = [x for x in ranked if candidates[x][1].record_id != candidates[r][1].record_id]
            probabilistic = _probabilistic(others, probability, match_weight, thresholds, candidate)
            if probabilistic.band is Band.LINK:
                decisions.append(probabilistic)
            else:
                review = (candidate(r), *probabilistic.review)
                decisions.append(Decision(Band.REVIEW, "nino", candidate(r), review, "nino_conflict"))
            continue
        decisions.append(_probabilistic(ranked, probability, match_weight, thresholds, candidate))
    return decisions


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
    if band is Band.REVIEW:
        return Decision(Band.REVIEW, "probabilistic", make(best), tuple(make(r) for r in plausible), "probabilistic")
    return Decision(band, "probabilistic", make(best))
