"""Who is too young for a service of adults only (HB, adult social care: resolvers.sources.pg.PgSource.youngest):
the batch build offers no such spine person as a blocking candidate (hub.ops.linking.build)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from hub.ops.linking.build import _younger_than


@pytest.mark.parametrize(
    ("today", "born", "under"),
    [
        (dt.date(2026, 12, 8), dt.date(2010, 12, 8), False),  # 16 today
        (dt.date(2026, 12, 8), dt.date(2010, 12, 9), True),  # 16 tomorrow
        (dt.date(2028, 2, 29), dt.date(2012, 2, 29), False),  # born on a leap day, 16 on one
        (dt.date(2028, 2, 29), dt.date(2012, 3, 1), True),
        (dt.date(2027, 2, 28), dt.date(2011, 2, 28), False),
        (dt.date(2026, 12, 8), None, False),  # no date of birth is no one's age
    ],
)
def test_who_is_too_young_for_a_service_of_adults(today: dt.date, born: dt.date | None, under: bool) -> None:
    dobs = np.array([born.strftime("%Y%m%d") if born else None], dtype=object)
    assert _younger_than(dobs, 16, today).tolist() == [under]
