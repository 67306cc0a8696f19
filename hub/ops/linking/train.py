"""Training the Fellegi-Sunter model on samples of the sources (u from random pairs, m from NINO-agreeing
pairs, household rates from within the spine), and the model file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from hub.config import Settings
from hub.ops.linking.sources import COMPARISONS, open_sources
from linkage import (
    FSModel,
    block,
    blocking_keys,
    check_nino,
    columns_of,
    compare,
    prepare,
    sessions,
)
from linkage.household import PairCounter
from resolvers.sources.pg import PgSource

__all__ = ["load_model", "save_model", "train_model"]


async def _household_pairs(spine: PgSource, *, chunk: int = 50_000, progress: bool) -> PairCounter:
    counter = PairCounter(COMPARISONS)
    bar = tqdm(total=await spine.count(), desc="household pairs", unit="rec", disable=not progress)
    after = spine.people.first_cursor
    # Every pair counted must be two people: a record whose NINO an earlier record carries (DWP's duplicates
    # of one person) is left out, or one person registered twice would count as housemates sharing it all.
    seen: set[str] = set()
    while records := await spine.scan(after, chunk):
        people = []
        for record in records:
            nino = check_nino(record.nino).nino if record.nino else None
            if nino is None or nino not in seen:
                people.append(record)
            if nino is not None:
                seen.add(nino)
        counter.add(prepare(columns_of(people)))
        last = records[-1].record_id
        after = int(last) if spine.people.id_type == "bigint" and last is not None else last
        bar.update(len(records))
    bar.close()
    return counter


async def train_model(settings: Settings, *, sample: int = 50_000, seed: int = 0, progress: bool = False) -> FSModel:
    """Fit the model on a random sample of council records against the DWP spine.

    u from random pairs; term frequencies from the sample; m from the council records whose valid NINO
    finds a DWP record (same NINO, so the same person but for the odd household mix-up); the prior
    from the spine's nature: every council record's person is in DWP once, so a council record and a
    random DWP record match with probability 1 / |DWP|; and what households share (twins, a father and
    son) from every pair of people in the whole spine, read once in chunks (one record per person there,
    so every pair is two people).
    """
    async with open_sources(settings) as (dwp, hb, sc):
        household = await _household_pairs(dwp, progress=progress)
        spine = await dwp.sample(sample)
        council = await hb.sample(sample // 2) + await sc.sample(sample // 2)
        spine_size = await dwp.count()
        ninos = sorted({n for r in council if r.nino and (n := check_nino(r.nino).nino) is not None})
        labelled_spine = await dwp.people_by_nino(ninos)
    left, right = prepare(columns_of(council)), prepare(columns_of(spine))
    model = FSModel(COMPARISONS)
    model.estimate_u(left, right, seed=seed)
    model.estimate_tf(left, right)
    model.estimate_household([household])
    by_nino = {p.nino: p for p in labelled_spine}
    pairs = [(r, by_nino[n]) for r in council if r.nino and (n := check_nino(r.nino).nino) in by_nino]
    if len(pairs) >= 500:
        lab_left = prepare(columns_of([a for a, _ in pairs]))
        lab_right = prepare(columns_of([b for _, b in pairs]))
        index = np.arange(len(pairs), dtype=np.int64)
        levels = compare(lab_left, lab_right, (index, index), COMPARISONS)
        model.estimate_m_from_matches(levels, population_pairs=spine_size, expected_matches=1.0)
    else:  # too few NINOs to learn from: unsupervised EM over blocked candidates
        kl, kr = blocking_keys(left), blocking_keys(right)
        candidates = block(kl, kr)
        levels = compare(left, right, candidates, COMPARISONS)
        model.estimate_m(levels, sessions(kl, kr, candidates), population_pairs=len(council) * len(spine))
    model.trained_on.update(spine_records=len(spine), council_records=len(council), spine_size=spine_size)
    return model


def save_model(model: FSModel, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(model.dumps())


def load_model(path: Path) -> FSModel:
    return FSModel.loads(path.read_text())
