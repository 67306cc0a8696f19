"""Batch linkage: train the model, and build or refresh the link index across whole sources.

Reads the sources through their read-only adapters (the same ones the service uses) and writes the
hub's link index. Bounded memory (one chunk at a time), idempotent (upserts keyed by source record),
resumable (the run records the last record id each source reached) and incremental (a record whose
keyed fingerprint and model version are unchanged is skipped).
"""

from hub.ops.linking.build import build_links
from hub.ops.linking.rekey import rekey
from hub.ops.linking.sources import LinkCounts
from hub.ops.linking.train import load_model, save_model, train_model

__all__ = ["LinkCounts", "build_links", "load_model", "rekey", "save_model", "train_model"]
