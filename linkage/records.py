"""The shape of a person record as linkage sees it, whatever system it came from."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, fields

__all__ = ["Demographics", "columns_of"]


@dataclass(frozen=True, slots=True)
class Demographics:
    """What a source holds (or a caller gives) to identify a person; any field may be missing."""

    given_name: str | None = None
    family_name: str | None = None
    #: Middle names, space-separated, as held.
    middle_names: str | None = None
    #: The name the person goes by, if the system records one ("Bob"; a middle name used as the first).
    known_as: str | None = None
    #: A generational suffix (Jnr, Snr, II, III), as held.
    name_suffix: str | None = None
    #: Earlier family names (on marriage, by deed poll), ';'-separated, as held.
    previous_family_names: str | None = None
    dob: dt.date | str | None = None
    postcode: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    town: str | None = None
    nhs_number: str | None = None
    nino: str | None = None
    record_id: str | None = None


def columns_of(records: Sequence[Demographics]) -> dict[str, list[object]]:
    """Column-wise view for :func:`linkage.compare.prepare`."""
    return {f.name: [getattr(r, f.name) for r in records] for f in fields(Demographics)}
