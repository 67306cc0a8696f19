"""The free-text check (hub.access.freetext): a NINO in any form a person might type is refused; text that
only looks numeric, and machine-made keys, are not."""

from __future__ import annotations

import uuid

import pytest

from hub.access.freetext import free_text, has_nino, refuse_nino
from hub.errors import BadUserInput, NinoInFreeText

HOLDS_A_NINO = [
    ("plain", "JK102030A"),
    ("lower case", "jk102030a"),
    ("spaced", "JK 10 20 30 A"),
    ("dashed", "jk-10-20-30-a"),
    ("dotted", "J.K.1.0.2.0.3.0.A"),
    ("in a sentence", "NINO: JK102030A, see the letter"),
    ("after a colon, unspaced", "ref:JK102030A"),
    ("without its suffix", "JK 10 20 30"),
    ("full-width", "".join(chr(ord(c) + 0xFEE0) for c in "JK102030A")),
    ("a zero-width space inside", "JK10\u200b2030A"),
    ("a soft hyphen inside", "JK10\u00ad2030A"),
    ("an invalid prefix still names someone", "QQ123456C"),
    ("a temporary reference number", "63T 12345"),
]
CLEAN = [
    ("a case reference", "HOLD-2026-0001"),
    ("a short case reference", "CASE-2026-17"),
    ("a date", "Award letter of 2026-10-01 shows the mobility component ended."),
    ("a long number", "ISBN 9780131103627"),
    ("seven digits", "HB0000001"),
    ("an amount", "weekly rent 92.00, not 90.00"),
]


@pytest.mark.parametrize(("description", "text"), HOLDS_A_NINO)
def test_a_nino_in_any_form_is_refused(description: str, text: str) -> None:
    assert has_nino(text), description
    with pytest.raises(NinoInFreeText) as refused:
        free_text(text, "note")
    assert isinstance(refused.value, BadUserInput)
    assert refused.value.extensions["code"] == "NINO_IN_FREE_TEXT"
    assert "102030" not in refused.value.message
    assert "123456" not in refused.value.message


@pytest.mark.parametrize(("description", "text"), CLEAN)
def test_text_without_a_nino_passes(description: str, text: str) -> None:
    assert free_text(f"  {text} ", "note") == text, description


@pytest.mark.parametrize("key", ["JK102030A", "care-home-jk-10-20-30-a-2026", "jk 10 20 30 a"])
def test_a_key_holding_a_whole_nino_is_refused(key: str) -> None:
    with pytest.raises(NinoInFreeText):
        refuse_nino(key, "idempotencyKey", identifier=True)


def test_random_keys_are_never_refused() -> None:
    # Hex is NINO-shaped (two letters, six digits) in about one UUID in five: a key is judged by whole NINOs.
    keys = [f"{prefix}{uuid.uuid4()}" for prefix in ("test-", "k-", "", "a-b-", "n ") for _ in range(20_000)]
    assert sum(has_nino(k) for k in keys) > 0  # the broad rule would refuse some
    assert not any(has_nino(k, identifier=True) for k in keys)


@pytest.mark.parametrize("text", ["", "   ", "x" * 2001, "tab\x00nul"])
def test_empty_long_or_control_text_is_bad_input(text: str) -> None:
    with pytest.raises(BadUserInput):
        free_text(text, "note")


@pytest.mark.parametrize(
    "text",
    [
        "\u0408\u041a102030\u0410",  # Cyrillic Je, Ka and A, which look Latin
        "JK\u0661\u0660\u0662\u0660\u0663\u0660A",  # Arabic-Indic digits
        "JK    102030A",  # a run of spaces
        "JK1O2O3OA",  # the letter O for zero
    ],
)
def test_a_nino_in_disguise_is_still_one(text: str) -> None:
    assert has_nino(text)


def test_ascii_text_is_its_own_folding_as_the_full_fold_would_make_it() -> None:
    import string
    import unicodedata

    from hub.access.freetext import _LOOKALIKES, _folded

    every_ascii = "".join(chr(c) for c in range(128))
    assert _folded(every_ascii) == every_ascii
    # What the fast path relies on: the full folding leaves every ASCII character as it is.
    assert unicodedata.normalize("NFKC", every_ascii).translate(_LOOKALIKES) == every_ascii
    assert all(unicodedata.category(ch) != "Cf" for ch in every_ascii)
    full_width = "\uff21\uff22\uff11\uff12\uff13\uff14\uff15\uff16\uff23"
    assert _folded(full_width) == "AB123456C"  # still folded: not ASCII
    assert string.digits == _folded(string.digits)
