"""Synthetic source data: a deterministic population with known truth, and a COPY loader.

``generate(SynthParams(people=100_000, seed=1))`` is pure; ``await load(conns, data)`` writes it.
"""

from hub.ops.synth.generate import generate
from hub.ops.synth.load import load
from hub.ops.synth.names import name_variants
from hub.ops.synth.params import SynthParams
from hub.ops.synth.rates import REFERENCE_AMOUNTS_2026, WEEKLY_RATES_2026
from hub.ops.synth.social_care import nhs_number_valid
from hub.ops.synth.tables import COLUMNS, DATABASES, TRUTH_TABLE, Row, SynthData, Table

__all__ = [
    "COLUMNS",
    "DATABASES",
    "REFERENCE_AMOUNTS_2026",
    "TRUTH_TABLE",
    "WEEKLY_RATES_2026",
    "Row",
    "SynthData",
    "SynthParams",
    "Table",
    "generate",
    "load",
    "name_variants",
    "nhs_number_valid",
]
