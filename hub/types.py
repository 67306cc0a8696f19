"""Names the whole hub shares, defined once: stores, sensitivity tiers, how a person is named to a source,
the one spelling of the reference a pseudonym is made from, and a source's own span as its adapter hands
it to the hub's tracing.

Kernel: importable by every part, importing only :mod:`linkage`.
"""

from __future__ import annotations

import uuid
from typing import Literal, NamedTuple

from linkage import NormalisedNino

__all__ = ["SOURCE_STORES", "STORES", "TIERS", "RemoteSpan", "StoreName", "SubjectKey", "subject_reference"]

#: The four PostgreSQL databases: the hub's own and the three sources'.
StoreName = Literal["hub", "src_dwp", "src_hb", "src_social_care"]
STORES: tuple[StoreName, ...] = ("hub", "src_dwp", "src_hb", "src_social_care")
SOURCE_STORES: tuple[StoreName, ...] = ("src_dwp", "src_hb", "src_social_care")

#: Sensitivity tiers, lowest first (``@sensitivity`` in the schema; a purpose's own tier in the register).
TIERS = ("identity", "benefit_status", "financial", "special_category")

#: How a resolver asks a source for a person: ("nino", normalised NINO) or ("id", the source's record id,
#: as the link index knows it).
SubjectKey = tuple[str, str]


def subject_reference(*, person_key: uuid.UUID | None = None, nino: NormalisedNino | None = None) -> str:
    """The stable reference a recipient's pseudonym is derived from: the hub person key once the person is
    in the link index, else the normalised NINO. Every site that makes a pseudonym spells it here, or the
    same person would get two pseudonyms."""
    if person_key is not None:
        return f"person:{person_key}"
    if nino is None:
        raise ValueError("a subject reference needs a person key or a NINO")
    return f"nino:{nino}"


class RemoteSpan(NamedTuple):
    """One of a subgraph's own spans of a call, as its adapter checked it (of the call's trace, which the
    hub knows: not repeated here)."""

    span_id: str  # 16 hex digits
    parent_span_id: str | None
    name: str  # at most 128 characters
    kind: str  # server, internal, client
    started_us: int  # microseconds since the epoch
    duration_us: int
    status: str  # unset, ok, error
    attributes: dict[str, str | int]  # bounded keys, values and count
