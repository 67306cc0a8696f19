"""Batch linkage: train the model, and build or refresh the link index across whole sources.

Reads the sources through their read-only adapters (the same ones the service uses) and writes the
hub's link index. Bounded memory (one chunk at a time), idempotent (upserts keyed by source record),
resumable (each partition of a run records the last record id each source reached, with the chunk that
reached it), incremental (a record whose keyed fingerprint and model version are unchanged is skipped) and
partitioned on demand: N processes or pods each decide their own share of the records, one run between
them, which the last to finish ends.
"""

from hub.ops.linking.build import build_links
from hub.ops.linking.rekey import rekey
from hub.ops.linking.rows import Partition, RunCounts
from hub.ops.linking.sources import LinkCounts
from hub.ops.linking.train import load_model, save_model, train_model

__all__ = [
    "LinkCounts",
    "Partition",
    "RunCounts",
    "build_links",
    "load_model",
    "rekey",
    "save_model",
    "train_model",
]
