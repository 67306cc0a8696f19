"""Assumed 2026/27 benefit rates: the amounts the DWP and Housing Benefit stages pay. Pure data."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Final

__all__ = ["REF", "REFERENCE_AMOUNTS_2026", "WEEKLY_RATES_2026"]


_D = Decimal
#: Weekly rates assumed for 2026/27. Disability, carer and working-age rates are the 2025/26 rates
#: uprated by September 2025 CPI (3.8%). For plausible synthetic data only: not the statutory table.
WEEKLY_RATES_2026: Final[Mapping[tuple[str, str | None, str | None], Decimal]] = {
    ("DLA", "care", "lowest"): _D("30.30"),
    ("DLA", "care", "middle"): _D("76.70"),
    ("DLA", "care", "highest"): _D("114.60"),
    ("DLA", "mobility", "lower"): _D("30.30"),
    ("DLA", "mobility", "higher"): _D("80.00"),
    ("PIP", "daily_living", "standard"): _D("76.70"),
    ("PIP", "daily_living", "enhanced"): _D("114.60"),
    ("PIP", "mobility", "standard"): _D("30.30"),
    ("PIP", "mobility", "enhanced"): _D("80.00"),
    ("AA", None, "lower"): _D("76.70"),
    ("AA", None, "higher"): _D("114.60"),
    ("CA", None, None): _D("86.45"),
}
#: Reference amounts for awards that depend on circumstances (weekly; UC converted from monthly x12/52).
#: State Pension and the Pension Credit guarantee rise with earnings (4.8%, the triple lock); UC by the
#: Universal Credit Act 2025 uplift. Approximate, as above.
REFERENCE_AMOUNTS_2026: Final[Mapping[str, Decimal]] = {
    "state_pension_new_full": _D("241.30"),
    "state_pension_basic_full": _D("184.90"),
    "pension_credit_guarantee_single": _D("238.00"),
    "pension_credit_guarantee_couple": _D("363.25"),
    "pension_credit_savings_max_single": _D("17.94"),
    "personal_allowance_25_plus": _D("95.55"),  # JSA, ESA, IS
    "personal_allowance_under_25": _D("75.65"),
    "esa_support_component": _D("49.50"),
    "uc_standard_single_25_plus": _D("98.05"),
    "uc_standard_single_under_25": _D("77.68"),
    "uc_standard_couple_25_plus": _D("153.92"),
    "uc_child_element": _D("70.14"),
    "uc_lcwra_element": _D("101.39"),
    "hb_non_dependant_deduction": _D("19.30"),
}
#: :data:`REFERENCE_AMOUNTS_2026` as floats, for the stages' arithmetic (rounded back to pence by ``draws.money``).
REF = {key: float(value) for key, value in REFERENCE_AMOUNTS_2026.items()}
