"""NINO rules (HMRC NIM39110): every rule has a named case, and no error message repeats its input."""

from __future__ import annotations

import string

import pytest

from linkage import InvalidNino, LinkageError, check_nino, normalise_nino

# (description, input, expected reason: None when valid)
CASES = [
    ("plain upper case", "AB123456C", None),
    ("spaces as printed on a card", "AB 12 34 56 C", None),
    ("lower case", "ab123456c", None),
    ("mixed case with spaces", "aB 12 34 56 c", None),
    ("hyphens", "AB-12-34-56-C", None),
    ("dots", "AB.12.34.56.C", None),
    ("surrounding whitespace and tabs", "  AB\t123456 C\n", None),
    ("suffix A", "JZ123456A", None),
    ("suffix B", "JZ123456B", None),
    ("suffix D", "JZ123456D", None),
    ("first letter D", "DA123456A", "BAD_FIRST_LETTER"),
    ("first letter F", "FA123456A", "BAD_FIRST_LETTER"),
    ("first letter I", "IA123456A", "BAD_FIRST_LETTER"),
    ("first letter Q (HMRC's own example QQ)", "QQ123456C", "BAD_FIRST_LETTER"),
    ("first letter U", "UA123456A", "BAD_FIRST_LETTER"),
    ("first letter V", "VA123456A", "BAD_FIRST_LETTER"),
    ("first letter D in lower case", "da123456a", "BAD_FIRST_LETTER"),
    ("second letter D", "AD123456A", "BAD_SECOND_LETTER"),
    ("second letter F", "AF123456A", "BAD_SECOND_LETTER"),
    ("second letter I", "AI123456A", "BAD_SECOND_LETTER"),
    ("second letter O", "AO123456A", "BAD_SECOND_LETTER"),
    ("second letter Q", "AQ123456A", "BAD_SECOND_LETTER"),
    ("second letter U", "AU123456A", "BAD_SECOND_LETTER"),
    ("second letter V", "AV123456A", "BAD_SECOND_LETTER"),
    ("O is allowed as the first letter", "OA123456A", None),
    ("unallocated prefix BG", "BG123456A", "UNALLOCATED_PREFIX"),
    ("unallocated prefix GB", "GB123456A", "UNALLOCATED_PREFIX"),
    ("unallocated prefix KN", "KN123456A", "UNALLOCATED_PREFIX"),
    ("unallocated prefix NK", "NK123456A", "UNALLOCATED_PREFIX"),
    ("unallocated prefix NT", "NT123456A", "UNALLOCATED_PREFIX"),
    ("unallocated prefix TN", "TN123456A", "UNALLOCATED_PREFIX"),
    ("unallocated prefix ZZ", "ZZ123456A", "UNALLOCATED_PREFIX"),
    ("unallocated prefix in lower case with spaces", "zz 12 34 56 a", "UNALLOCATED_PREFIX"),
    ("suffix E", "AB123456E", "BAD_SUFFIX"),
    ("suffix Z", "AB123456Z", "BAD_SUFFIX"),
    # A digit where the suffix letter goes breaks the shape (two letters, six digits, a letter) itself.
    ("suffix is a digit", "AB1234567", "BAD_FORMAT"),
    ("suffix missing", "AB123456", "MISSING_SUFFIX"),
    ("suffix missing, with spaces", "AB 12 34 56", "MISSING_SUFFIX"),
    ("five digits", "AB12345C", "BAD_FORMAT"),
    ("seven digits", "AB1234567C", "BAD_FORMAT"),
    ("two suffix letters", "AB123456CD", "BAD_FORMAT"),
    ("one prefix letter", "A123456C", "BAD_FORMAT"),
    ("three prefix letters", "ABC123456C", "BAD_FORMAT"),
    ("a letter among the digits", "AB12X456C", "BAD_FORMAT"),
    ("non-ASCII digits", "AB\u0661\u0662\u0663\u0664\u0665\u0666C", "BAD_FORMAT"),
    ("other punctuation", "AB/12/34/56/C", "BAD_FORMAT"),
    ("temporary reference number", "63T12345", "TEMPORARY_REFERENCE"),
    ("temporary reference number with a space", "63T 12345", "TEMPORARY_REFERENCE"),
    ("temporary reference number in lower case", "01a 98765", "TEMPORARY_REFERENCE"),
    ("empty", "", "EMPTY"),
    ("only separators", " - . \t", "EMPTY"),
]


@pytest.mark.parametrize(("description", "value", "reason"), CASES, ids=[c[0] for c in CASES])
def test_check_nino(description: str, value: str, reason: str | None) -> None:
    result = check_nino(value)
    assert result.reason == reason
    assert result.valid is (reason is None)
    if reason is None:
        expected = "".join(ch for ch in value.upper() if ch.isalnum())
        assert result.nino == expected
    else:
        assert result.nino is None
        assert result.explanation


@pytest.mark.parametrize(("description", "value", "reason"), CASES, ids=[c[0] for c in CASES])
def test_normalise_nino_raises_with_the_same_reason(description: str, value: str, reason: str | None) -> None:
    if reason is None:
        assert normalise_nino(value) == check_nino(value).nino
    else:
        with pytest.raises(InvalidNino) as caught:
            normalise_nino(value)
        assert caught.value.reason == reason
        assert str(caught.value) == check_nino(value).explanation


def test_invalid_nino_is_a_value_error_and_a_linkage_error() -> None:
    with pytest.raises(ValueError, match="suffix"):
        normalise_nino("AB123456E")
    assert issubclass(InvalidNino, LinkageError)


# Inputs avoid the digits of the docstring example ('AB 12 34 56 C'), so a hit means the input leaked.
LEAK_PROBES = [
    "JZ987650E",
    "jz 98 76 50 e",
    "DA987650A",
    "AO987650B",
    "NK987650C",
    "JZ987650",
    "JZ 98 76 50",
    "JZ98765",
    "JZ9876501C",
    "JZ98X650C",
    "79T98765",
    "JZ987650CD",
    "JZ\u0669\u0668\u0667\u0666\u0665\u0660C",
]


@pytest.mark.parametrize("value", LEAK_PROBES)
def test_error_never_contains_the_input(value: str) -> None:
    # A NINO is personal data and error messages reach logs and callers.
    with pytest.raises(InvalidNino) as caught:
        normalise_nino(value)
    compact = "".join(ch for ch in value if not ch.isspace())
    shown = " ".join([str(caught.value), repr(caught.value), *map(str, caught.value.args)])
    for fragment in {value.strip(), compact, compact.upper(), compact.lower()}:
        assert fragment not in shown
    # Nor the digit block alone, in the forms it was given.
    assert "98765" not in shown
    assert "\u0669\u0668\u0667" not in shown


@pytest.mark.parametrize("value", [c[1] for c in CASES if c[2] is None])
def test_normalisation_is_idempotent(value: str) -> None:
    once = normalise_nino(value)
    assert normalise_nino(once) == once
    assert check_nino(once).valid


# The rules as HMRC states them (see linkage/nino.py's docstring), written out again here on purpose.
_NOT_FIRST = set("DFIQUV")
_NOT_SECOND = set("DFIOQUV")
_NOT_ALLOCATED = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}


def _broken_rules(prefix: str) -> set[str]:
    broken = set()
    if prefix[0] in _NOT_FIRST:
        broken.add("BAD_FIRST_LETTER")
    if prefix[1] in _NOT_SECOND:
        broken.add("BAD_SECOND_LETTER")
    if prefix in _NOT_ALLOCATED:
        broken.add("UNALLOCATED_PREFIX")
    return broken


def test_every_prefix_and_suffix_follows_the_hmrc_rules() -> None:
    checked = valid = 0
    for first in string.ascii_uppercase:
        for second in string.ascii_uppercase:
            prefix = first + second
            broken = _broken_rules(prefix)
            for suffix in "ABCD":
                result = check_nino(f"{prefix}314159{suffix}")
                assert result.valid is (not broken), f"{prefix}…{suffix}"
                if broken:
                    # When several rules are broken, any one of them is a right answer.
                    assert result.reason in broken, f"{prefix}…{suffix}"
                else:
                    assert result.nino == f"{prefix}314159{suffix}"
                    valid += 1
                checked += 1
    assert checked == 26 * 26 * 4
    # 20 allowed first letters x 19 allowed second letters, less the 7 unallocated prefixes (all of which
    # are otherwise allowed), times 4 suffixes.
    assert valid == (20 * 19 - 7) * 4
