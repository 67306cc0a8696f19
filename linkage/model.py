"""The Fellegi-Sunter model: m and u probabilities per comparison level, estimated without labels.

For a candidate pair, each comparison's level ``l`` contributes the Bayes factor ``m_l / u_l`` where
``m_l = P(level l | same person)`` and ``u_l = P(level l | different people)``; the match weight is
``log2(prior odds) + sum(log2(m_l / u_l))`` and the match probability follows from it. Missing values
contribute nothing.

Estimation, as Splink does it and for the same reasons:
- ``u`` from random pairs of records (almost all are different people), so it is not biased by blocking;
- ``m`` and the prior by EM over the *distinct* comparison patterns of the blocked candidate pairs with
  their counts (cost independent of the number of pairs), ``u`` held fixed;
- exact agreement on a value is adjusted by that value's frequency (term-frequency adjustment): agreeing
  on a rare surname is worth more than agreeing on "SMITH". Only values seen at least
  ``TF_MIN_COUNT`` times are kept in the model file (an aggregate, not a list of rare names); rarer
  values are scored as if seen ``TF_MIN_COUNT`` times;
- what independence gets wrong in households (a twin shares family name, home and date of birth) is
  corrected from within-source pair counts (:mod:`linkage.household`): one more term, never positive,
  shown to the auditor as "household".

Why not recordlinkage's ECMClassifier: its deterministic ("jaro") start takes binary features only, its
multi-level mode starts from random parameters (results vary from run to run), it re-estimates u from the
blocked pairs (biased towards agreement), and it has no term-frequency adjustment. The benchmarks run it
side by side (``bench/linkage``).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from linkage.compare import COMPARISONS, Columns, Levels, compare
from linkage.household import PairCounter, correction, describe, rates

__all__ = ["MODEL_FORMAT", "FSModel", "FieldWeight"]

MODEL_FORMAT = "welfare-hub-fs/3"
HOUSEHOLD = "household"
TF_MIN_COUNT = 5
_EPS = 1e-6


@dataclass(frozen=True, slots=True)
class FieldWeight:
    """One comparison's contribution to a pair's score: what the auditor sees."""

    comparison: str
    level: str
    weight: float  # log2 Bayes factor


@dataclass
class FSModel:
    comparisons: tuple[str, ...]
    m: dict[str, list[float]] = field(default_factory=dict)
    u: dict[str, list[float]] = field(default_factory=dict)
    prior: float = 1e-4
    tf: dict[str, dict[str, float]] = field(default_factory=dict)
    tf_floor: dict[str, float] = field(default_factory=dict)
    #: Share of within-source pairs (different people) agreeing on each combination of household events.
    household: dict[str, float] = field(default_factory=dict)
    em_iterations: int = 0
    trained_on: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = [c for c in self.comparisons if c not in COMPARISONS]
        if unknown:
            raise ValueError(f"unknown comparisons: {', '.join(unknown)}")

    # -- estimation ---------------------------------------------------------------------------------

    def estimate_u(self, left: Columns, right: Columns, *, sample: int = 200_000, seed: int = 0) -> None:
        """u from uniformly random pairs (nearly all non-matches), with add-one smoothing per level."""
        rng = np.random.default_rng(seed)
        n_left, n_right = len(next(iter(left.values()))), len(next(iter(right.values())))
        size = min(sample, n_left * n_right)
        pairs = (rng.integers(0, n_left, size), rng.integers(0, n_right, size))
        levels = compare(left, right, pairs, self.comparisons)
        for j, name in enumerate(self.comparisons):
            n_levels = len(COMPARISONS[name].labels)
            column = levels[:, j]
            counts = np.bincount(column[column >= 0], minlength=n_levels).astype(np.float64) + 1.0
            self.u[name] = (counts / counts.sum()).tolist()
        self.trained_on["u_sample_pairs"] = int(size)

    def estimate_tf(self, *sides: Columns) -> None:
        """Value frequencies of the TF-adjusted columns over the given records."""
        for name in self.comparisons:
            column = COMPARISONS[name].tf_column
            if column is None:
                continue
            values = np.concatenate([side[column] for side in sides])
            present = values[np.fromiter((v is not None for v in values), bool, len(values))].astype(str)
            if len(present) == 0:
                continue
            uniques, counts = np.unique(present, return_counts=True)
            total = float(len(present))
            keep = counts >= TF_MIN_COUNT
            self.tf[name] = {str(v): float(c) / total for v, c in zip(uniques[keep], counts[keep], strict=True)}
            self.tf_floor[name] = TF_MIN_COUNT / total

    def estimate_household(self, counters: Sequence[PairCounter]) -> None:
        """Household rates from within-source pair counts, one counter per source (each source holds one
        record per person, so every pair it counts is two different people)."""
        self.household = rates(counters)
        self.trained_on["household_pairs"] = sum(c.total_pairs for c in counters)

    def estimate_m(
        self,
        levels: Levels,
        sessions: Mapping[str, tuple[npt.NDArray[np.bool_], Sequence[str]]],
        *,
        population_pairs: int,
        max_iter: int = 200,
        tol: float = 1e-6,
    ) -> None:
        """m by EM, one session per blocking key, then the prior.

        A session uses the pairs its blocking key found and leaves out the comparisons that key fixes
        (they agree by construction there, so they say nothing about m). Each comparison's m is the
        average over the sessions that could estimate it, weighted by the matches each found. The prior
        is then fitted over all candidates with m and u fixed, and turned into the probability that two
        random records match (``population_pairs`` = |left| x |right|), which is what random-pair u
        calls for.
        """
        if not self.u:
            raise ValueError("estimate u before m")
        estimates: dict[str, list[tuple[float, npt.NDArray[np.float64]]]] = {c: [] for c in self.comparisons}
        iterations = 0
        for mask, excluded in sessions.values():
            included = [j for j, c in enumerate(self.comparisons) if c not in excluded]
            if not mask.any() or not included:
                continue
            session = levels[mask][:, included]
            names = [self.comparisons[j] for j in included]
            m, prior, its = self._em(session, names, fit_m=True, max_iter=max_iter, tol=tol)
            iterations = max(iterations, its)
            matches = prior * float(mask.sum())
            for name in names:
                estimates[name].append((matches, m[name]))
        missing = [c for c, found in estimates.items() if not found]
        if missing:
            raise ValueError(f"no blocking session could estimate m for: {', '.join(missing)}")
        self.m = {
            name: (np.sum([w * m for w, m in found], axis=0) / max(sum(w for w, _ in found), _EPS)).tolist()
            for name, found in estimates.items()
        }
        _, candidate_prior, _ = self._em(levels, list(self.comparisons), fit_m=False, max_iter=max_iter, tol=tol)
        expected_matches = candidate_prior * len(levels)
        self.prior = float(np.clip(expected_matches / max(population_pairs, 1), _EPS * _EPS, 0.5))
        self.em_iterations = iterations
        self.trained_on.update(
            candidate_pairs=len(levels), population_pairs=population_pairs, expected_matches=round(expected_matches, 1)
        )

    def estimate_m_from_matches(self, levels: Levels, *, population_pairs: int, expected_matches: float) -> None:
        """m from pairs known to be the same person (in this domain: the same valid NINO on both sides),
        with add-one smoothing; the prior from how many matches the population holds.

        Where the data carries such an identifier this is more reliable than EM, which on real
        populations tends to find "same household" (shared surname, address and postcode) instead of
        "same person". A household member's NINO on the wrong record adds a little noise, no more.
        """
        for j, name in enumerate(self.comparisons):
            column = levels[:, j]
            counts = np.bincount(column[column >= 0], minlength=len(COMPARISONS[name].labels)).astype(np.float64)
            counts += 1.0
            self.m[name] = (counts / counts.sum()).tolist()
        self.prior = float(np.clip(expected_matches / max(population_pairs, 1), _EPS * _EPS, 0.5))
        self.trained_on.update(
            labelled_pairs=len(levels),
            population_pairs=population_pairs,
            expected_matches=expected_matches,
            m_from="nino_agreement",
        )

    def _em(
        self, levels: Levels, names: Sequence[str], *, fit_m: bool, max_iter: int, tol: float
    ) -> tuple[dict[str, npt.NDArray[np.float64]], float, int]:
        """EM over distinct patterns with counts; u fixed, m fitted (or held at self.m), prior fitted."""
        patterns, counts_int = np.unique(levels, axis=0, return_counts=True)
        counts = counts_int.astype(np.float64)

        def log_table(table: Mapping[str, Any]) -> npt.NDArray[np.float64]:
            out = np.zeros((len(patterns), len(names)))
            for j, name in enumerate(names):
                col = patterns[:, j]
                out[:, j] = np.where(col >= 0, np.log(np.asarray(table[name]))[np.clip(col, 0, None)], 0.0)
            return out

        log_u = log_table(self.u)
        if fit_m:
            m = {}
            for name in names:
                # Start: matches mostly agree exactly, rarely disagree.
                start = np.linspace(0.05, 1.0, len(COMPARISONS[name].labels)) ** 3
                start[-1] = 4.0
                m[name] = start / start.sum()
        else:
            m = {name: np.asarray(self.m[name]) for name in names}
        prior, iteration = 0.1, 0
        for iteration in range(1, max_iter + 1):  # noqa: B007 - reported
            a = math.log(prior) + log_table(m).sum(axis=1)
            b = math.log(1 - prior) + log_u.sum(axis=1)
            weighted = counts / (1.0 + np.exp(np.clip(b - a, -700, 700)))
            new_prior = float(np.clip(weighted.sum() / counts.sum(), _EPS, 1 - _EPS))
            change = abs(new_prior - prior)
            prior = new_prior
            if fit_m:
                for j, name in enumerate(names):
                    col = patterns[:, j]
                    n_levels = len(COMPARISONS[name].labels)
                    totals = np.bincount(col[col >= 0], weights=weighted[col >= 0], minlength=n_levels) + _EPS
                    new_m = totals / totals.sum()
                    change = max(change, float(np.abs(new_m - m[name]).max()))
                    m[name] = new_m
            if change < tol:
                break
        return m, prior, iteration

    # -- scoring --------------------------------------------------------------------------------------

    def _tf_values(self, name: str, right: Columns | None, ib: npt.NDArray[np.int64] | None) -> Any:
        column = COMPARISONS[name].tf_column
        if column is None or name not in self.tf or right is None or ib is None:
            return None
        table, floor = self.tf[name], self.tf_floor.get(name, _EPS)
        if COMPARISONS[name].tf_common_only:
            floor = 0.0  # a value too rare to be in the table keeps the level's own chance agreement
        values = right[column][ib]
        return np.fromiter((table.get(v, floor) if v is not None else 1.0 for v in values), np.float64, len(ib))

    def _terms(
        self, name: str, col: Levels, right: Columns | None, ib: npt.NDArray[np.int64] | None
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """One comparison's (log2 Bayes factor, log2 u used, log2 slip) per pair."""
        m, u = np.asarray(self.m[name]), np.asarray(self.u[name])
        level = np.clip(col, 0, None)
        log2_slip = np.minimum(np.log2(m[level] / m[-1]), 0.0)
        log2_u = np.log2(u[level])
        tf_values = self._tf_values(name, right, ib)
        if tf_values is not None:
            exact = col == len(m) - 1
            # Replace the average chance agreement at the exact level with this value's own.
            tf_u = np.maximum(tf_values[exact], _EPS)
            if COMPARISONS[name].tf_common_only:
                tf_u = np.maximum(tf_u, u[-1])
            log2_u[exact] = np.log2(tf_u)
        return np.where(col >= 0, np.log2(m[level]) - log2_u, 0.0), log2_u, log2_slip

    def field_weights(
        self,
        levels: Levels,
        names: Sequence[str],
        right: Columns | None = None,
        ib: npt.NDArray[np.int64] | None = None,
    ) -> npt.NDArray[np.float64]:
        """log2 Bayes factors of the ``names`` comparisons only (``levels`` has their columns, in order)."""
        out = np.zeros(levels.shape, dtype=np.float64)
        for j, name in enumerate(names):
            out[:, j] = self._terms(name, levels[:, j], right, ib)[0]
        return out

    def max_weight(self, name: str) -> float:
        """The most one comparison can add: its best level, or exact agreement on its rarest value."""
        m, u = np.asarray(self.m[name]), np.asarray(self.u[name])
        best = float(np.max(np.log2(m / u)))
        if name in self.tf and not COMPARISONS[name].tf_common_only:
            best = max(best, float(np.log2(m[-1] / max(self.tf_floor.get(name, _EPS), _EPS))))
        return best

    def weights(
        self, levels: Levels, right: Columns | None = None, ib: npt.NDArray[np.int64] | None = None
    ) -> npt.NDArray[np.float64]:
        """log2 Bayes factors: one column per comparison (exact levels TF-adjusted when values are given),
        then the household correction (:mod:`linkage.household`, never positive)."""
        out = np.zeros((levels.shape[0], levels.shape[1] + 1), dtype=np.float64)
        log2_u = np.zeros(levels.shape, dtype=np.float64)
        log2_slip = np.zeros(levels.shape, dtype=np.float64)
        for j, name in enumerate(self.comparisons):
            out[:, j], log2_u[:, j], log2_slip[:, j] = self._terms(name, levels[:, j], right, ib)
        out[:, -1], _ = correction(levels, log2_u, log2_slip, self.comparisons, self.household)
        return out

    def match_weight(
        self, levels: Levels, right: Columns | None = None, ib: npt.NDArray[np.int64] | None = None
    ) -> npt.NDArray[np.float64]:
        weights: npt.NDArray[np.float64] = self.weights(levels, right, ib).sum(axis=1)
        return math.log2(self.prior / (1 - self.prior)) + weights

    @staticmethod
    def probability(match_weight: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return 1.0 / (1.0 + np.exp2(-np.clip(match_weight, -1000, 1000)))

    def explain(self, levels_row: Sequence[int], weights_row: Sequence[float]) -> list[FieldWeight]:
        """Per comparison, and the household correction where there is one: they add up to the match
        weight less the prior."""
        *per_field, household = weights_row
        out = [
            FieldWeight(name, "missing" if lvl < 0 else COMPARISONS[name].labels[lvl], round(float(w), 3))
            for name, lvl, w in zip(self.comparisons, levels_row, per_field, strict=True)
        ]
        if household < 0:
            out.append(FieldWeight(HOUSEHOLD, describe(levels_row, self.comparisons), round(float(household), 3)))
        return out

    # -- persistence ----------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        body = {
            "format": MODEL_FORMAT,
            # A list, not a mapping: the order of the comparisons is the order of a levels matrix's columns.
            "comparisons": [
                {"name": name, "levels": list(COMPARISONS[name].labels), "m": self.m[name], "u": self.u[name]}
                for name in self.comparisons
            ],
            "prior": self.prior,
            "tf": self.tf,
            "tf_floor": self.tf_floor,
            "household": self.household,
            "em_iterations": self.em_iterations,
            "trained_on": self.trained_on,
        }
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]
        return {"version": f"fs-{digest}", **body}

    @property
    def version(self) -> str:
        return str(self.to_dict()["version"])

    def dumps(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)

    @classmethod
    def loads(cls, text: str) -> FSModel:
        doc: Mapping[str, Any] = json.loads(text)
        if doc.get("format") != MODEL_FORMAT:
            raise ValueError(f"not a {MODEL_FORMAT} model file")
        problems = []
        specs = {spec["name"]: spec for spec in doc["comparisons"]}
        for name, spec in specs.items():
            if name not in COMPARISONS:
                problems.append(f"unknown comparison {name!r}")
            elif list(COMPARISONS[name].labels) != spec["levels"]:
                problems.append(f"comparison {name!r} has levels {spec['levels']}, code has {COMPARISONS[name].labels}")
        if problems:
            raise ValueError("model file does not match this code: " + "; ".join(problems))
        model = cls(
            comparisons=tuple(spec["name"] for spec in doc["comparisons"]),
            m={k: v["m"] for k, v in specs.items()},
            u={k: v["u"] for k, v in specs.items()},
            prior=float(doc["prior"]),
            tf=doc.get("tf", {}),
            tf_floor=doc.get("tf_floor", {}),
            household=doc.get("household", {}),
            em_iterations=int(doc.get("em_iterations", 0)),
            trained_on=dict(doc.get("trained_on", {})),
        )
        if model.version != doc.get("version"):
            raise ValueError("model file version does not match its contents (edited by hand?)")
        return model
