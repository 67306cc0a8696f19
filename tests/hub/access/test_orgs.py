"""The organisation register's pure rules (hub.access.orgs): the verdict on a caller, and the operator's file.

The behaviour suite (tests/hub/test_organisations.py) shows each refusal through the endpoint; this table
pins the rules themselves, including their order when more than one applies (the first one found is the
code the caller gets, so it must not depend on accident).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from hub.access.orgs import Organisation, admitted, check, parse_file
from hub.errors import AccreditationExpired, ConfigError, HubError, OrganisationTypeMismatch, UnknownOrganisation

TODAY = dt.date(2026, 3, 3)
YESTERDAY = TODAY - dt.timedelta(days=1)
TOMORROW = TODAY + dt.timedelta(days=1)


BASE = Organisation("northshire-hb", "Northshire HB", "council_hb")


def org(**changes: Any) -> Organisation:
    return dataclasses.replace(BASE, **changes)


# (description, organisation in the register, type the token claims, the refusal or None when admitted)
CHECKS: list[tuple[str, Organisation | None, str, type[HubError] | None]] = [
    ("registered, active, never needing accreditation", org(), "council_hb", None),
    ("accredited until a later day", org(accredited_until=TOMORROW), "council_hb", None),
    ("accredited until today: the last day still counts", org(accredited_until=TODAY), "council_hb", None),
    ("accreditation ended yesterday", org(accredited_until=YESTERDAY), "council_hb", AccreditationExpired),
    ("not in the register", None, "council_hb", UnknownOrganisation),
    ("in the register but inactive", org(active=False), "council_hb", UnknownOrganisation),
    ("inactive, though accredited", org(active=False, accredited_until=TOMORROW), "council_hb", UnknownOrganisation),
    ("the token claims another type", org(), "council_blue_badge", OrganisationTypeMismatch),
    # More than one thing wrong: unknown before mismatch, mismatch before expiry.
    ("inactive and claiming another type", org(active=False), "council_blue_badge", UnknownOrganisation),
    (
        "claiming another type and expired",
        org(accredited_until=YESTERDAY),
        "council_blue_badge",
        OrganisationTypeMismatch,
    ),
    ("national: no council, still checked by type", org(national=True), "dwp", OrganisationTypeMismatch),
    ("national and of the type claimed", org(org_type="dwp", national=True), "dwp", None),
]


@pytest.mark.parametrize(("description", "registered", "claimed", "refusal"), CHECKS, ids=[c[0] for c in CHECKS])
def test_the_register_decides(
    description: str, registered: Organisation | None, claimed: str, refusal: type[HubError] | None
) -> None:
    if refusal is None:
        assert check(registered, claimed_type=claimed, today=TODAY) is registered
        return
    with pytest.raises(refusal) as raised:
        check(registered, claimed_type=claimed, today=TODAY)
    # The refusal names nothing of the caller's: the register's contents are not disclosed.
    assert "northshire" not in str(raised.value).lower()


@pytest.mark.parametrize(
    ("registered", "expected"),
    [
        (org(), True),
        (org(accredited_until=TODAY), True),
        (org(accredited_until=YESTERDAY), False),
        (org(active=False), False),
        (org(active=False, accredited_until=TOMORROW), False),
    ],
)
def test_admitted_is_active_and_accredited(registered: Organisation, expected: bool) -> None:
    assert admitted(registered, TODAY) is expected


ORG_TYPES = {"council_hb": "Housing benefit", "almo": "Arm's-length management organisation", "dwp": "DWP"}


def test_a_file_becomes_organisations(tmp_path: Path) -> None:
    path = tmp_path / "orgs.toml"
    path.write_text(
        "[organisations.northshire-hb]\n"
        'name = "Northshire HB"\norg_type = "council_hb"\ncouncil_code = "E09000901"\n'
        "[organisations.northshire-homes]\n"
        'name = "Northshire Homes"\norg_type = "almo"\ncontroller_org = "northshire-hb"\n'
        "accredited_until = 2027-03-31\nactive = false\n"
        "[organisations.dwp]\n"
        'name = "DWP"\norg_type = "dwp"\nnational = true\n'
    )
    by_id = {o.org_id: o for o in parse_file(path, org_types=ORG_TYPES)}
    assert by_id["northshire-hb"] == Organisation("northshire-hb", "Northshire HB", "council_hb", "E09000901")
    homes = by_id["northshire-homes"]
    assert (homes.controller_org, homes.accredited_until, homes.active) == (
        "northshire-hb",
        dt.date(2027, 3, 31),
        False,
    )
    assert by_id["dwp"].national
    assert by_id["dwp"].council_code is None
    # Defaults for what the file leaves out: active, no accreditation date, not national.
    assert (
        by_id["northshire-hb"].active,
        by_id["northshire-hb"].accredited_until,
        by_id["northshire-hb"].national,
    ) == (
        True,
        None,
        False,
    )


def test_every_problem_in_a_file_is_listed_at_once(tmp_path: Path) -> None:
    path = tmp_path / "orgs.toml"
    path.write_text(
        '[council]\nname = "stray"\n'
        '[organisations.a]\nname = "A"\norg_type = "parking"\n'
        '[organisations.b]\nname = "B"\norg_type = "almo"\ncolour = "red"\ncontroller_org = "z"\n'
        '[organisations.c]\norg_type = "almo"\n'
    )
    with pytest.raises(ConfigError) as raised:
        parse_file(path, org_types=ORG_TYPES)
    problems = raised.value.problems
    for expected in (
        "unknown top-level table 'council'",
        "organisation a: unknown org type 'parking'",
        "organisation b: unknown key 'colour'",
        "organisation b: controller 'z' is not in the file",
        "organisation c: missing name",
    ):
        assert any(expected in p for p in problems), (expected, problems)


def test_an_unreadable_file_is_a_configuration_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[organisations.a\n")
    with pytest.raises(ConfigError, match="cannot read the organisation file"):
        parse_file(broken, org_types=ORG_TYPES)
    with pytest.raises(ConfigError, match="cannot read the organisation file"):
        parse_file(tmp_path / "absent.toml", org_types=ORG_TYPES)


@pytest.mark.parametrize(
    "entry",
    [
        'org_type = "council_hb"\nnational = true',  # a council's team claiming every council's records
        'org_type = "almo"\ncouncil_code = "E09000901"\nnational = true',  # a council's area and none
    ],
)
def test_a_councils_team_cannot_be_national(tmp_path: Path, entry: str) -> None:
    path = tmp_path / "orgs.toml"
    path.write_text(f'[organisations.x]\nname = "X"\n{entry}\n')
    with pytest.raises(ConfigError) as raised:
        parse_file(path, org_types=ORG_TYPES)
    assert raised.value.problems == ["organisation x: a council's team (or one with a council_code) cannot be national"]
