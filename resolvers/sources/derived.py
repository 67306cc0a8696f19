"""Derived, minimised answers: pure functions of source records.

Blue Badge. The Disabled Persons (Badges for Motor Vehicles) (England) Regulations 2000, reg. 4(2), as
amended (SI 2011/1307 for PIP, SI 2019/1255 for the "planning and following journeys" criterion), make a
person eligible without further assessment if they receive:
- the higher rate of the mobility component of Disability Living Allowance; or
- Personal Independence Payment with 8 points or more in the "moving around" activity; or
- Personal Independence Payment with descriptor E (10 points) of "planning and following journeys"
  (cannot undertake any journey because it would cause overwhelming psychological distress).
(War Pensioners' Mobility Supplement and Armed Forces Compensation Scheme tariffs 1-8 qualify too, but
the DWP source holds neither, so the hub cannot answer yes on them; a council still checks those itself.)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Protocol

__all__ = ["blue_badge_automatic", "overnight_care_required"]

PIP_MOVING_AROUND_THRESHOLD = 8
PIP_PSYCHOLOGICAL_DISTRESS_DESCRIPTOR = "e"


class _Award(Protocol):
    @property
    def benefit(self) -> object: ...
    @property
    def component(self) -> str | None: ...
    @property
    def rate(self) -> str | None: ...
    @property
    def pip_moving_around_points(self) -> int | None: ...
    @property
    def pip_planning_journeys_descriptor(self) -> str | None: ...


class _Plan(Protocol):
    @property
    def end_date(self) -> dt.date | None: ...
    @property
    def overnight_care_required(self) -> bool: ...


def _benefit_name(award: _Award) -> str:
    value = award.benefit
    return str(getattr(value, "value", value))


def blue_badge_automatic(awards_in_payment: Iterable[_Award]) -> bool:
    for award in awards_in_payment:
        benefit = _benefit_name(award)
        if benefit == "DLA" and award.component == "mobility" and award.rate == "higher":
            return True
        if benefit == "PIP" and award.component == "mobility":
            if (award.pip_moving_around_points or 0) >= PIP_MOVING_AROUND_THRESHOLD:
                return True
            if award.pip_planning_journeys_descriptor == PIP_PSYCHOLOGICAL_DISTRESS_DESCRIPTOR:
                return True
    return False


def overnight_care_required(plans: Iterable[_Plan], today: dt.date | None = None) -> bool:
    day = today or dt.date.today()
    return any(p.overnight_care_required and (p.end_date is None or p.end_date >= day) for p in plans)
