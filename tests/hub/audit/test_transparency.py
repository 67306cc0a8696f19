"""The transparency report's rendering (hub.audit.transparency.render_transparency), on a report built here.

The behaviour suite (tests/hub/test_audit_access.py) counts real operations and spot-checks two lines; this
pins the published shapes: the CSV has one row per count and nothing else, the Markdown shows every
section (an empty one says so), missing decisions are zeros, and nothing but what was counted appears.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest

from hub.audit.transparency import render_transparency

SINCE = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
UNTIL = dt.datetime(2026, 3, 1, 12, 30, tzinfo=dt.UTC)


def report(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "since": SINCE,
        "until": UNTIL,
        "requests": 12,
        "releases": 7,
        "refusals": 4,
        "errors": 1,
        "consent_refusals": 2,
        "by_purpose": {"HB_OVERNIGHT_CARER_ROOM": {"released": 3, "refused": 1}, "BLUE_BADGE": {"released": 4}},
        "by_org_type": {"council_hb": {"released": 3, "refused": 3, "error": 1}, "council_blue_badge": {"partial": 4}},
        "refusal_reasons": {"PURPOSE_NOT_GRANTED": 3, "CONSENT_REQUIRED": 2},
        "linkage_methods": {"nino": 5, "probabilistic": 2},
        "linkage_bands": {"link": 1, "not_linked": 1},
        "review_items": {},
    }
    return base | changes


def parsed_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_the_csv_has_one_row_per_count() -> None:
    data = report()
    header, *rows = parsed_csv(render_transparency(data, "csv"))
    assert header == ["since", "until", "section", "key", "measure", "count"]
    assert {(r[0], r[1]) for r in rows} == {(SINCE.isoformat(), UNTIL.isoformat())}
    body = {(section, key, measure): int(n) for _, _, section, key, measure, n in rows}
    assert len(body) == len(rows), "a count appears twice"
    expected = {("total", "", m): data[m] for m in ("requests", "releases", "refusals", "errors", "consent_refusals")}
    for section, field in (("purpose", "by_purpose"), ("organisation_type", "by_org_type")):
        expected |= {(section, k, d): n for k, by in data[field].items() for d, n in by.items()}
    for section, field in (
        ("refusal_reason", "refusal_reasons"),
        ("linkage_method", "linkage_methods"),
        ("linkage_band", "linkage_bands"),
    ):
        expected |= {(section, k, "count"): n for k, n in data[field].items()}
    assert body == expected


def test_the_csv_lists_purposes_and_their_decisions_in_order() -> None:
    rows = parsed_csv(render_transparency(report(), "csv"))[1:]
    purposes = [(r[3], r[4]) for r in rows if r[2] == "purpose"]
    assert purposes == sorted(purposes)


def test_the_markdown_states_the_period_and_the_totals() -> None:
    md = render_transparency(report(), "md")
    title, *_ = md.splitlines()
    assert title == "# welfare-hub transparency report, 2026-02-01 00:00 to 2026-03-01 12:30 UTC"
    for measure, n in (("requests", 12), ("releases", 7), ("refusals", 4), ("errors", 1), ("consent refusals", 2)):
        assert f"| {measure} | {n} |" in md.splitlines()
    assert md.endswith("\n")


def test_the_markdown_fills_missing_decisions_with_zero() -> None:
    lines = render_transparency(report(), "md").splitlines()
    # Columns: released, partial, refused, error.
    assert "| BLUE_BADGE | 4 | 0 | 0 | 0 |" in lines
    assert "| HB_OVERNIGHT_CARER_ROOM | 3 | 0 | 1 | 0 |" in lines
    assert "| council_blue_badge | 0 | 4 | 0 | 0 |" in lines
    assert "| council_hb | 3 | 0 | 3 | 1 |" in lines


def test_every_section_is_shown_and_an_empty_one_says_so() -> None:
    md = render_transparency(report(), "md")
    sections = [line.removeprefix("## ") for line in md.splitlines() if line.startswith("## ")]
    assert len(sections) == 6
    after_review = md.split("## Uncertain matches sent to a person, by outcome\n", 1)[1]
    assert after_review.strip() == "None in the period."
    # Sections with counts show them, not the empty notice.
    assert md.count("None in the period.") == 1
    assert "| PURPOSE_NOT_GRANTED | 3 |" in md.splitlines()


def test_an_empty_period_renders_in_both_formats() -> None:
    empty = report(
        requests=0,
        releases=0,
        refusals=0,
        errors=0,
        consent_refusals=0,
        by_purpose={},
        by_org_type={},
        refusal_reasons={},
        linkage_methods={},
        linkage_bands={"link": 0, "not_linked": 0},
    )
    md = render_transparency(empty, "md")
    assert md.count("None in the period.") == 5  # all but the bands, which are always counted
    rows = parsed_csv(render_transparency(empty, "csv"))[1:]
    assert {r[2] for r in rows} == {"total", "linkage_band"}
    assert all(r[5] == "0" for r in rows)


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="md or csv"):
        render_transparency(report(), "html")
