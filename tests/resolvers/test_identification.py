"""How strongly details must identify someone, by the purpose's tier (resolvers.identity.check_identification)."""

from __future__ import annotations

import datetime as dt

import pytest

from hub.errors import BadUserInput
from linkage import Demographics
from resolvers.identity import check_identification

TODAY = dt.date(2026, 12, 3)
DOB = dt.date(1950, 3, 14)
G, F = "Margaret", "Okafor"

# (description, details, tier, accepted)
CASES = [
    ("two real parts, benefit status", Demographics(family_name=F, dob=DOB), "benefit_status", True),
    ("a blank given name does not count", Demographics(given_name=" ", family_name=F), "identity", False),
    ("punctuation is not a name", Demographics(given_name="'-.", dob=DOB), "identity", False),
    ("two parts are not enough for financial data", Demographics(family_name=F, dob=DOB), "financial", False),
    (
        "a placeholder date of birth is not one",
        Demographics(family_name=F, dob=dt.date(1900, 1, 1)),
        "identity",
        False,
    ),
    (
        "nor does it make the third part financial data needs",
        Demographics(given_name=G, family_name=F, dob=dt.date(1900, 1, 1)),
        "financial",
        False,
    ),
    ("three parts are, for financial data", Demographics(given_name=G, family_name=F, dob=DOB), "financial", True),
    (
        "special category needs more than the three",
        Demographics(given_name=G, family_name=F, dob=DOB),
        "special_category",
        False,
    ),
    (
        "special category with a UK postcode",
        Demographics(given_name=G, family_name=F, dob=DOB, postcode="sw1a 1aa"),
        "special_category",
        True,
    ),
    (
        "special category with a malformed postcode",
        Demographics(given_name=G, family_name=F, dob=DOB, postcode="12345"),
        "special_category",
        False,
    ),
    (
        "special category with a valid NHS number",
        Demographics(given_name=G, family_name=F, dob=DOB, nhs_number="943 476 5919"),
        "special_category",
        True,
    ),
    (
        "special category with a wrong check digit",
        Demographics(given_name=G, family_name=F, dob=DOB, nhs_number="9434765918"),
        "special_category",
        False,
    ),
    (
        "special category on family name and date of birth",
        Demographics(family_name=F, dob=DOB, postcode="SW1A 1AA"),
        "special_category",
        False,
    ),
    (
        "a date of birth in the future",
        Demographics(given_name=G, family_name=F, dob=dt.date(9999, 12, 31)),
        "identity",
        False,
    ),
    (
        "a date of birth before 1900",
        Demographics(given_name=G, family_name=F, dob=dt.date(1899, 12, 31)),
        "identity",
        False,
    ),
    ("a date of birth today", Demographics(given_name=G, dob=TODAY), "identity", True),
    ("a name too long to be one", Demographics(given_name="A" * 101, family_name=F), "identity", False),
]


@pytest.mark.parametrize(("description", "details", "tier", "accepted"), CASES, ids=[c[0] for c in CASES])
def test_identification_strength(description: str, details: Demographics, tier: str, accepted: bool) -> None:
    if accepted:
        check_identification(details, tier, today=TODAY)
    else:
        with pytest.raises(BadUserInput):
            check_identification(details, tier, today=TODAY)
