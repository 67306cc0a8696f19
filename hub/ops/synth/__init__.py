"""Synthetic source data: a deterministic population with known truth, and two ways to load it.

``generate(SynthParams(people=100_000, seed=1))`` is pure; ``await load(conns, data)`` writes it by COPY
(fast: the tests' way); ``await import_extracts(conns, data)`` writes it as the systems' CSV extracts and
loads them through ``welfare-hub import``'s code (``welfare-hub seed``'s way).
"""

from hub.ops.synth.extracts import Extract, GeneratedRowRejected, import_extracts, write_extracts
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
    "Extract",
    "GeneratedRowRejected",
    "Row",
    "SynthData",
    "SynthParams",
    "Table",
    "generate",
    "import_extracts",
    "load",
    "name_variants",
    "nhs_number_valid",
    "write_extracts",
]
