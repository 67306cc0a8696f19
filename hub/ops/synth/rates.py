"""Assumed 2026/27 benefit rates: the amounts the DWP and Housing Benefit stages pay; and how often a council
record holds no date of birth, or a placeholder for one. Pure data."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Final

__all__ = [
    "DOB_PLACEHOLDER_DATES",
    "HB_DOB_MISSING",
    "HB_DOB_PLACEHOLDER",
    "NON_DEPENDANT_DOB_MISSING",
    "NON_DEPENDANT_DOB_PLACEHOLDER",
    "NON_DEPENDANT_NINO_HELD",
    "REF",
    "REFERENCE_AMOUNTS_2026",
    "SOCIAL_CARE_DOB_MISSING",
    "SOCIAL_CARE_DOB_PLACEHOLDER",
    "WEEKLY_RATES_2026",
]


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


# -- dates of birth councils do not hold -------------------------------------------------------------
#
# Shares of council records, per kind of record, whose date of birth is not known: stored as NULL
# (``*_DOB_MISSING``) where the system allows it, or as a placeholder (``*_DOB_PLACEHOLDER``: what a system
# that must hold a date writes, 1900-01-01 mostly, :data:`DOB_PLACEHOLDER_DATES`). Set from how each record
# comes to be, not from any test's outcome:
# - a Housing Benefit claim needs the claimant's date of birth (it decides pension-age or working-age rules,
#   and is verified with the claim), so a claim lacks one only when taken before the evidence came or carried
#   over from an older system: 0.3% missing, 0.2% placeholder;
# - a non-dependant's date of birth is the claimant's say-so and matters only for the deduction's age
#   bands: 2% missing, 1% placeholder;
# - an adult social care client is often recorded at first contact (a hospital discharge, a safeguarding
#   referral, someone who cannot give their details) before anyone confirms a date: 2% missing, and 1.5%
#   placeholder (the 1900-01-01 social care systems record when a date is required).
HB_DOB_MISSING: Final = 0.003
HB_DOB_PLACEHOLDER: Final = 0.002
NON_DEPENDANT_DOB_MISSING: Final = 0.02
NON_DEPENDANT_DOB_PLACEHOLDER: Final = 0.01
SOCIAL_CARE_DOB_MISSING: Final = 0.02
SOCIAL_CARE_DOB_PLACEHOLDER: Final = 0.015
#: The placeholders written, with their weights: 1900-01-01 nearly always; 1901-01-01 where a system refuses
#: dates before 1901.
DOB_PLACEHOLDER_DATES: Final[tuple[tuple[date, float], ...]] = ((date(1900, 1, 1), 0.85), (date(1901, 1, 1), 0.15))


# -- how systems hold a person's names and dates apart (hub.ops.synth.realities) ---------------------
#
# Shares set from how records come to differ, not from any test's outcome:
# - about one adult in sixteen with a middle name goes by it (the registered given name is on the NINO
#   record; councils key what the person says); most men named Mohammed (any spelling) with a second name
#   are called by that second name;
# - councils hold middle names on some records only (HB forms ask for them, 40%; social care, taken at
#   first contact, 30%), and a "known as" box mostly in social care;
# - a son named after his father at one address is recorded Jnr/Snr on some records (DWP seldom);
# - most women who married a partner of the same surname changed theirs; DWP keeps the earlier surname on
#   most such records, a council sometimes still holds the earlier one (a claim or case opened before);
# - Sikh women and men are recorded as Kaur/Singh, with the family (clan) name, or with the family name
#   alone, differently in each system; a Bangladeshi or Pakistani woman recorded as Begum or Bibi may be
#   recorded elsewhere under her husband's family name;
# - people born abroad before 1985 sometimes have an estimated date of birth (1 January of the year) on
#   their NINO record; a council may hold the real date.
GOES_BY_MIDDLE: Final = 0.06
GOES_BY_AFTER_MOHAMMED: Final = 0.6
COUNCIL_KEYS_GOES_BY: Final = 0.7
HB_HOLDS_MIDDLE: Final = 0.4
SOCIAL_CARE_HOLDS_MIDDLE: Final = 0.3
HB_HOLDS_KNOWN_AS: Final = 0.1
SOCIAL_CARE_HOLDS_KNOWN_AS: Final = 0.35
DWP_HOLDS_SUFFIX: Final = 0.2
COUNCIL_HOLDS_SUFFIX: Final = 0.35
CHANGED_ON_MARRIAGE: Final = 0.85
DWP_HOLDS_PREVIOUS_SURNAME: Final = 0.7
COUNCIL_HOLDS_PREVIOUS_SURNAME: Final = 0.15
COUNCIL_HOLDS_EARLIER_SURNAME: Final = 0.06
SIKH_CLAN_NAME: Final = 0.7
BEGUM_HUSBANDS_NAME: Final = 0.4
ESTIMATED_DOB_BORN_ABROAD: Final = 0.04
COUNCIL_HOLDS_ACTUAL_DOB: Final = 0.15

# -- DWP's own duplicates --------------------------------------------------------------------------------
#
# One person registered twice on DWP's customer system: a second claim taken before the first record was
# found, a record migrated from an older system. The second record carries the same NINO and the names as
# registered that time. Set as one in 250 people; DWP's own data-quality work finds and merges most, the
# rest stay.
DWP_DUPLICATE: Final = 0.004

# -- Who else on an HB claim is a record -------------------------------------------------------------------
#
# A couple claims HB jointly: the partner's name, date of birth and NINO are on the claim (the NINO is
# required of both, and held as often as the claimant's). Non-dependants (adult children, relatives) are
# recorded for the deduction they bring: names and a date of birth, the NINO now and then.
NON_DEPENDANT_NINO_HELD: Final = 0.25
