"""Normalisation: every rule has a named case; missing or unusable input is None, never a guess."""

from __future__ import annotations

import datetime as dt

import pytest

from linkage.normalise import address_tokens, normalise_dob, normalise_name, normalise_postcode, postcode_parts

# (description, input, expected)
NAMES = [
    ("plain", "Smith", "SMITH"),
    ("already upper case", "SMITH", "SMITH"),
    ("two words, extra spaces", "  mary   ann ", "MARY ANN"),
    ("tab and newline", "Mary\tAnn\n", "MARY ANN"),
    ("title Mr", "Mr John Smith", "JOHN SMITH"),
    ("title Mrs with a full stop", "Mrs. Smith", "SMITH"),
    ("title Dr with a full stop, no space", "Dr.Jones", "JONES"),
    ("titles Prof and Sir together", "Prof Sir Tim", "TIM"),
    ("title in lower case", "ms jones", "JONES"),
    ("title Mx", "Mx Taylor", "TAYLOR"),
    ("only a title", "Mr", None),
    ("a title-like prefix inside a word is kept", "Drummond", "DRUMMOND"),
    ("acute accent", "José", "JOSE"),
    ("diaeresis", "Zoë", "ZOE"),
    ("circumflex (Welsh)", "Siân", "SIAN"),
    ("fada (Irish)", "Seán Ó Briain", "SEAN O BRIAIN"),
    ("cedilla", "François", "FRANCOIS"),
    ("decomposed accent (combining mark)", "Zoe\u0308", "ZOE"),
    # Letters NFKD cannot decompose must still become their plain letter, not vanish.
    ("Polish L with stroke", "Łukasz", "LUKASZ"),
    ("German sharp s", "Strauß", "STRAUSS"),
    ("apostrophe joined", "O'Neill", "ONEILL"),
    ("typographic apostrophe joined", "O\u2019Neill", "ONEILL"),
    ("apostrophe inside", "D'Arcy", "DARCY"),
    ("hyphen splits double-barrelled", "Smith-Jones", "SMITH JONES"),
    ("hyphen with spaces", "Smith - Jones", "SMITH JONES"),
    ("comma", "Smith, John", "SMITH JOHN"),
    ("initial with a full stop", "J.", "J"),
    ("initials", "J.R.R.", "J R R"),
    ("digits dropped", "John2", "JOHN"),
    ("empty", "", None),
    ("spaces only", "   ", None),
    ("punctuation only", "-.'", None),
    ("missing", None, None),
]


@pytest.mark.parametrize(("description", "value", "expected"), NAMES, ids=[c[0] for c in NAMES])
def test_normalise_name(description: str, value: str | None, expected: str | None) -> None:
    assert normalise_name(value) == expected


DOBS: list[tuple[str, str | dt.date | None, str | None]] = [
    ("date", dt.date(1990, 5, 14), "19900514"),
    ("datetime (a date subclass)", dt.datetime(1990, 5, 14, 13, 30), "19900514"),
    ("ISO", "1990-05-14", "19900514"),
    ("compact", "19900514", "19900514"),
    ("slashes, year first", "1990/05/14", "19900514"),
    ("surrounding spaces", " 1990-05-14 ", "19900514"),
    ("leap day in a leap year", "2000-02-29", "20000229"),
    ("leap day in a century that is not a leap year", "1900-02-29", None),
    ("30 February", "1990-02-30", None),
    ("31 April", "1990-04-31", None),
    ("month 13", "1990-13-01", None),
    ("month 0", "1990-00-10", None),
    ("day 0", "1990-05-00", None),
    # Day-first dates are refused, never misread: their "month" would be the 19 or 20 of the year.
    ("UK day-first order", "14/05/1990", None),
    ("UK day-first order, day <= 12", "05/11/1990", None),
    ("unpadded month and day", "1990-5-14", None),
    ("too many digits", "1990-05-141", None),
    ("two-digit year", "90-05-14", None),
    ("text", "unknown", None),
    ("empty", "", None),
    ("missing", None, None),
    # A date object and its ISO string must agree, zero-padded, before the year 1000 too.
    ("date before the year 1000", dt.date(999, 3, 14), "09990314"),
    ("ISO string before the year 1000", "0999-03-14", "09990314"),
    # A system's "not known" is no date of birth (linkage.placeholders), whatever its form.
    ("placeholder 1900-01-01", dt.date(1900, 1, 1), None),
    ("placeholder 1900-01-01 as a datetime", dt.datetime(1900, 1, 1, 0, 0), None),
    ("placeholder 1900-01-01, ISO", "1900-01-01", None),
    ("placeholder 1901-01-01, compact", "19010101", None),
    ("placeholder 0001-01-01 (a .NET minimum)", dt.date(1, 1, 1), None),
    ("placeholder 0001-01-01, ISO", "0001-01-01", None),
    ("placeholder 1899-12-30 (day zero of a spreadsheet)", "1899-12-30", None),
    ("not a placeholder: the day after one", "1900-01-02", "19000102"),
    ("not a placeholder: the Unix epoch is a real birthday", "1970-01-01", "19700101"),
]


@pytest.mark.parametrize(("description", "value", "expected"), DOBS, ids=[c[0] for c in DOBS])
def test_normalise_dob(description: str, value: str | dt.date | None, expected: str | None) -> None:
    assert normalise_dob(value) == expected


# (description, value, the source's placeholders, expected)
SOURCE_PLACEHOLDERS: list[tuple[str, str | dt.date, frozenset[dt.date], str | None]] = [
    ("none configured: dates as held", "1900-01-01", frozenset(), "19000101"),
    ("a source's own placeholder", "1970-01-01", frozenset({dt.date(1970, 1, 1)}), None),
    ("a source's own placeholder, as a date", dt.date(1970, 1, 1), frozenset({dt.date(1970, 1, 1)}), None),
    ("another date of that source", "1970-01-02", frozenset({dt.date(1970, 1, 1)}), "19700102"),
]


@pytest.mark.parametrize(
    ("description", "value", "placeholders", "expected"), SOURCE_PLACEHOLDERS, ids=[c[0] for c in SOURCE_PLACEHOLDERS]
)
def test_normalise_dob_with_a_sources_placeholders(
    description: str, value: str | dt.date, placeholders: frozenset[dt.date], expected: str | None
) -> None:
    assert normalise_dob(value, placeholders) == expected


POSTCODES = [
    ("A9 9AA", "M1 1AE", "M1 1AE"),
    ("A99 9AA", "B33 8TH", "B33 8TH"),
    ("AA9 9AA", "CR2 6XH", "CR2 6XH"),
    ("AA99 9AA", "DN55 1PT", "DN55 1PT"),
    ("A9A 9AA", "W1A 0AX", "W1A 0AX"),
    ("AA9A 9AA", "EC1A 1BB", "EC1A 1BB"),
    ("lower case", "sw1a 1aa", "SW1A 1AA"),
    ("no space", "SW1A1AA", "SW1A 1AA"),
    ("lower case, no space, short", "m11ae", "M1 1AE"),
    ("extra spaces", "  SW1A   1AA ", "SW1A 1AA"),
    ("space in the wrong place", "SW 1A1AA", "SW1A 1AA"),
    ("hyphen", "SW1A-1AA", "SW1A 1AA"),
    ("non-UK: French", "75008", "75008"),
    ("non-UK: Irish Eircode", "D02 X285", "D02X285"),
    ("non-UK: US ZIP+4", "90210-1234", "902101234"),
    ("non-UK: Dutch", "1234 ab", "1234AB"),
    ("partial UK: outward code only", "sw1a", "SW1A"),
    ("empty", "", None),
    ("spaces only", "   ", None),
    ("punctuation only", "--", None),
    ("missing", None, None),
]


@pytest.mark.parametrize(("description", "value", "expected"), POSTCODES, ids=[c[0] for c in POSTCODES])
def test_normalise_postcode(description: str, value: str | None, expected: str | None) -> None:
    assert normalise_postcode(value) == expected


PARTS = [
    ("A9 9AA", "M1 1AE", ("M1 1AE", "M1 1", "M1", "M")),
    ("A99 9AA", "B33 8TH", ("B33 8TH", "B33 8", "B33", "B")),
    ("AA9 9AA", "CR2 6XH", ("CR2 6XH", "CR2 6", "CR2", "CR")),
    ("AA99 9AA", "DN55 1PT", ("DN55 1PT", "DN55 1", "DN55", "DN")),
    ("A9A 9AA", "W1A 0AX", ("W1A 0AX", "W1A 0", "W1A", "W")),
    ("AA9A 9AA", "EC1A 1BB", ("EC1A 1BB", "EC1A 1", "EC1A", "EC")),
    ("non-UK code", "75008", None),
    ("partial UK code", "SW1A", None),
    ("missing", None, None),
]


@pytest.mark.parametrize(("description", "value", "expected"), PARTS, ids=[c[0] for c in PARTS])
def test_postcode_parts(description: str, value: str | None, expected: tuple[str, str, str, str] | None) -> None:
    assert postcode_parts(normalise_postcode(value)) == expected


def test_postcode_parts_of_raw_lower_case_input_after_normalising() -> None:
    assert postcode_parts(normalise_postcode("ec1a1bb")) == postcode_parts("EC1A 1BB")


ADDRESSES: list[tuple[str, tuple[str | None, ...], set[str]]] = [
    ("number and street kept", ("12 High Street",), {"12", "HIGH", "STREET"}),
    ("St", ("12 High St",), {"12", "HIGH", "STREET"}),
    ("Rd", ("4 Station Rd",), {"4", "STATION", "ROAD"}),
    ("Ave and Av", ("1 Park Ave", "2 Park Av"), {"1", "2", "PARK", "AVENUE"}),
    ("Ln", ("7 Mill Ln",), {"7", "MILL", "LANE"}),
    ("Ct and Crt", ("Kings Ct", "Kings Crt"), {"KINGS", "COURT"}),
    ("Dr", ("9 Manor Dr",), {"9", "MANOR", "DRIVE"}),
    ("Cl", ("3 Oak Cl",), {"3", "OAK", "CLOSE"}),
    ("Pl and Sq", ("Bath Pl", "Berkeley Sq"), {"BATH", "PLACE", "BERKELEY", "SQUARE"}),
    ("Gdns", ("Rose Gdns",), {"ROSE", "GARDENS"}),
    ("Ter and Terr", ("Alma Ter", "Alma Terr"), {"ALMA", "TERRACE"}),
    ("Cres", ("Queens Cres",), {"QUEENS", "CRESCENT"}),
    ("Grn and Pk", ("Lee Grn", "Lee Pk"), {"LEE", "GREEN", "PARK"}),
    ("Hse", ("Ash Hse",), {"ASH", "HOUSE"}),
    ("Flt and Apt mean flat", ("Flt 3", "Apt 3"), {"FLAT", "3"}),
    ("compass points", ("N Road", "S Road", "E Road", "W Road"), {"NORTH", "SOUTH", "EAST", "WEST", "ROAD"}),
    ("house number with a letter", ("12a Park Road",), {"12A", "PARK", "ROAD"}),
    ("flat number and house number both kept", ("Flat 3, 12 High St",), {"FLAT", "3", "12", "HIGH", "STREET"}),
    ("lower case and punctuation", ("flat 3; 12 high st.",), {"FLAT", "3", "12", "HIGH", "STREET"}),
    ("accents folded", ("1 Rue de l'Église",), {"1", "RUE", "DE", "L", "EGLISE"}),
    (
        "two lines joined, a missing line skipped",
        ("12 High St", None, "Northtown"),
        {"12", "HIGH", "STREET", "NORTHTOWN"},
    ),
    # An apostrophe must not split a word into a stray letter (MARY'S -> MARY + S -> MARY + SOUTH).
    ("apostrophe in a street name", ("1 St Mary's Road",), {"1", "STREET", "MARYS", "ROAD"}),
    ("nothing", (), set()),
    ("only missing lines", (None, None), set()),
    ("only empty and punctuation", ("", " , "), set()),
]


@pytest.mark.parametrize(("description", "lines", "expected"), ADDRESSES, ids=[c[0] for c in ADDRESSES])
def test_address_tokens(description: str, lines: tuple[str | None, ...], expected: set[str]) -> None:
    assert address_tokens(*lines) == frozenset(expected)


SAME_ADDRESS = [
    ("abbreviated and in full", "12 High St", "12 High Street"),
    ("case and punctuation", "12, HIGH STREET.", "12 high street"),
    ("word order", "Flat 3 12 High Street", "12 High Street Flat 3"),
    ("apartment and flat", "Apt 2, 5 Mill Ln", "Flat 2, 5 Mill Lane"),
]


@pytest.mark.parametrize(("description", "a", "b"), SAME_ADDRESS, ids=[c[0] for c in SAME_ADDRESS])
def test_address_variants_give_the_same_tokens(description: str, a: str, b: str) -> None:
    assert address_tokens(a) == address_tokens(b)


def test_address_tokens_keep_different_house_numbers_apart() -> None:
    assert address_tokens("12 High Street") != address_tokens("21 High Street")
