"""The purpose register as data: what refuses to load, the full organisation type x purpose x field matrix
of the decision, and the privacy notice generated from the same register."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from hub.access.caller import Caller
from hub.access.notice import field_descriptions, in_words, render
from hub.access.policy import Register, decide, load_register
from hub.config import Settings
from hub.errors import ConfigError, PurposeForbidsField, PurposeNotGranted, UnknownPurpose
from hub.execution.schema import build_schema, load_purposes, schema_coordinates
from hub.types import TIERS
from resolvers.sensitivity import field_tiers
from resolvers.types import Purpose

SCHEMA = build_schema(Settings())
COORDINATES = schema_coordinates(SCHEMA)
TIERS_OF = field_tiers(SCHEMA.as_str())
DESCRIPTIONS = field_descriptions(SCHEMA._schema)
REGISTER = load_purposes(Settings(), SCHEMA)


def _load(path: Path) -> Register:
    return load_purposes(replace(Settings(), purposes_path=path), SCHEMA)


def _edited(tmp_path: Path, old: str, new: str) -> Path:
    text = Settings().purposes_path.read_text()
    assert old in text, old
    path = tmp_path / "purposes.toml"
    path.write_text(text.replace(old, new, 1))
    return path


# -- loading ---------------------------------------------------------------------------------------------

BAD_REGISTERS = [
    ('title = "Deciding a Blue Badge application"', 'titel = "Deciding a Blue Badge application"', "unknown key(s) titel"),
    ('retention = "P2Y"', 'retention = "two years"', "retention 'two years' is not an ISO 8601 duration"),
    ('"DwpRecord.blueBadgeAutomaticEligibility",\n]', '"DwpRecord.blueBadgeAutomaticEligibility", "Person.shoeSize",\n]', "unknown field coordinate 'Person.shoeSize'"),
    ('org_types = ["council_blue_badge"]', 'org_types = ["council_parking"]', "unknown org type 'council_parking'"),
    ('"DwpRecord.blueBadgeAutomaticEligibility",\n]', '"DwpRecord.blueBadgeAutomaticEligibility", "DeclaredIncome.weeklyAmount",\n]', "lists DeclaredIncome.weeklyAmount, which is financial"),
    ('consent_renewal = "P1Y"\n', "", "needs consent_renewal and consent_recorders"),
    ('consent_recorders = ["council_welfare_rights", "voluntary_agency"]', 'consent_recorders = ["council_wellbeing"]', "unknown consent recorder org type 'council_wellbeing'"),
    ('notify_on_share = false', 'notify_on_share = "no"', "notify_on_share must be true or false"),
    ('tier = "special_category"', 'tier = "top_secret"', "tier 'top_secret' is not one of"),
    ('regulator = ', 'regulater = ', "[notice] misses regulator"),
    ("[purposes.AUDIT]", "[purposes.SNOOPING]", "purpose SNOOPING is not a value of the schema's Purpose enum"),
    ('consent_required = true\n', "", "consent_renewal and consent_recorders apply only with consent_required"),
    ('gdpr_article9 = "9(2)(b) social security law"\norg_types = ["dwp_benefits"]', 'org_types = ["dwp_benefits"]', "special-category data needs a UK GDPR Art. 9 condition"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "problem"), BAD_REGISTERS, ids=[b[2][:40] for b in BAD_REGISTERS])
def test_a_faulty_register_refuses_to_load_and_says_why(tmp_path: Path, old: str, new: str, problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        _load(_edited(tmp_path, old, new))
    assert any(problem in p for p in raised.value.problems), raised.value.problems


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    path = _edited(tmp_path, 'retention = "P2Y"', 'retention = "2y"\ncolour = "blue"')
    with pytest.raises(ConfigError) as raised:
        _load(path)
    assert len(raised.value.problems) >= 2


def test_a_field_without_a_description_cannot_be_released() -> None:
    # The privacy notice describes every field a purpose releases: an undescribed one refuses to load.
    blanked = {**DESCRIPTIONS, "DwpRecord.blueBadgeAutomaticEligibility": ""}
    with pytest.raises(ConfigError, match=r"DwpRecord\.blueBadgeAutomaticEligibility has no description"):
        load_register(
            Settings().purposes_path,
            schema_coordinates=COORDINATES,
            purpose_ids={p.value for p in Purpose},
            field_tiers=TIERS_OF,
            descriptions=blanked,
        )


def test_the_register_covers_every_purpose_of_the_report_and_design() -> None:
    # Report section 5.2 and DESIGN.md, the auditor's purpose, and a consent-based one outside the gateway.
    assert set(REGISTER.purposes) == {p.value for p in Purpose}
    for required in (
        "BLUE_BADGE", "CONCESSIONARY_TRAVEL", "CARE_CHARGING_DOMICILIARY", "CARE_CHARGING_RESIDENTIAL",
        "DISABLED_FACILITIES_GRANT", "SUPPORTING_PEOPLE", "DISCRETIONARY_HOUSING_PAYMENT",
        "HOMELESSNESS_PREVENTION", "HB_OVERNIGHT_CARER_ROOM", "CHANGE_OF_CIRCUMSTANCES", "AUDIT",
    ):  # fmt: skip
        assert required in REGISTER.purposes
    assert any(p.consent_required and p.gdpr_article6.startswith("6(1)(a)") for p in REGISTER.purposes.values())
    assert "Scotland" in REGISTER.purposes["DISABLED_FACILITIES_GRANT"].legal_basis


def test_minimised_purposes_get_a_yes_or_no_and_nothing_behind_it() -> None:
    # Blue Badge needs a yes/no, not the award; the overnight-carer room a yes/no only (report 2.18).
    badge = REGISTER.purposes["BLUE_BADGE"].fields
    feed = {c for c in badge if c.split(".")[0] in {"Interest", "EntitlementChange", "EntitlementChangePage"}}
    assert badge - feed == {
        "Query.person", "Person.subjectId", "Person.dwp", "DwpRecord.blueBadgeAutomaticEligibility",
        "Mutation.registerInterest", "Mutation.withdrawInterest", "Query.entitlementChanges",
    }  # fmt: skip
    # Continuing entitlement carries that same yes/no again, with its bookkeeping, and nothing else.
    assert {c for c in feed if c.endswith((".answer", ".subjectId"))} == {
        "Interest.answer", "Interest.subjectId", "EntitlementChange.answer", "EntitlementChange.subjectId"
    }  # fmt: skip
    assert all(c.endswith(("Id", "At", ".answer", ".items", ".nextCursor")) for c in feed)
    assert REGISTER.purposes["HB_OVERNIGHT_CARER_ROOM"].fields == {
        "Query.person", "Person.subjectId", "Person.socialCare", "SocialCareRecord.overnightCareRequired"
    }  # fmt: skip
    # Care charging needs benefits in payment, income, capital and the household (report 3.24).
    charging = REGISTER.purposes["CARE_CHARGING_DOMICILIARY"].fields
    assert {"DwpRecord.awardsInPayment", "DwpRecord.declaredIncome", "DwpRecord.declaredCapital"} <= charging
    assert "DwpRecord.householdMembers" in charging


def test_no_purpose_lists_a_field_above_its_tier() -> None:
    for spec in REGISTER.purposes.values():
        above = [f for f in spec.fields if TIERS.index(TIERS_OF[f]) > TIERS.index(spec.tier)]
        assert not above, (spec.id, above)


# -- the decision, exhaustively ----------------------------------------------------------------------------


def _caller(org_type: str, *purposes: str) -> Caller:
    return Caller(org="o", org_type=org_type, user="u", role="user", purposes=frozenset(purposes))


def test_the_full_matrix_of_org_type_purpose_and_field() -> None:
    """Every organisation type x purpose x field coordinate of the schema: allowed exactly when the register
    gives the purpose to the org type and lists the field; otherwise the specific refusal. (Consent is
    checked after this, with the subject: tests/hub/test_consent.py.)"""
    checked = 0
    for org_type in REGISTER.org_types:
        for pid, spec in REGISTER.purposes.items():
            caller = _caller(org_type, pid)
            for coordinate in sorted(COORDINATES):
                checked += 1
                if org_type not in spec.org_types:
                    with pytest.raises(PurposeNotGranted):
                        decide(REGISTER, caller, pid, {coordinate})
                elif coordinate in spec.fields:
                    assert decide(REGISTER, caller, pid, {coordinate}) is spec
                else:
                    with pytest.raises(PurposeForbidsField):
                        decide(REGISTER, caller, pid, {coordinate})
    assert checked == len(REGISTER.org_types) * len(REGISTER.purposes) * len(COORDINATES)


def test_a_purpose_the_token_does_not_grant_is_refused_even_for_the_right_org_type() -> None:
    for pid, spec in REGISTER.purposes.items():
        for org_type in spec.org_types:
            with pytest.raises(PurposeNotGranted):
                decide(REGISTER, _caller(org_type), pid, {"Query.person"})
    with pytest.raises(UnknownPurpose):
        decide(REGISTER, _caller("council_hb", "SNOOPING"), "SNOOPING", {"Query.person"})


# -- the privacy notice ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("purpose", sorted(REGISTER.purposes))
def test_the_notice_lists_exactly_the_fields_the_register_allows(purpose: str) -> None:
    spec = REGISTER.purposes[purpose]
    markdown = render(REGISTER, DESCRIPTIONS, "md", purpose)
    assert set(re.findall(r"^- .*\(`([A-Za-z]+\.[A-Za-z]+)`\)$", markdown, re.M)) == set(spec.fields)
    page = render(REGISTER, DESCRIPTIONS, "html", purpose)
    assert set(re.findall(r"<li>.*?\(<code>([A-Za-z]+\.[A-Za-z]+)</code>\)</li>", page)) == set(spec.fields)
    for text in (spec.title, in_words(spec.retention), REGISTER.notice["regulator"]):
        assert text in markdown
    for org_type in spec.org_types:
        assert REGISTER.org_types[org_type] in markdown
    if spec.consent_required:
        assert "withdraw" in markdown


def test_the_notice_escapes_html() -> None:
    page = render(REGISTER, {**DESCRIPTIONS, "Query.person": "<script>alert(1)</script>"}, "html")
    assert "<script>" not in page
    assert "&lt;script&gt;" in page


@pytest.mark.parametrize(("duration", "words"), [("P2Y", "2 years"), ("P1Y", "1 year"), ("P1Y6M", "1 year and 6 months"), ("P30D", "30 days")])  # fmt: skip
def test_durations_in_words(duration: str, words: str) -> None:
    assert in_words(duration) == words


def test_the_cli_renders_the_notice(capsys: Any) -> None:
    from hub.cli import main

    assert main(["policy", "notice", "--format", "html"]) == 0
    page = capsys.readouterr().out
    assert page.startswith("<!doctype html>")
    assert all(f'<section id="{p}">' in page for p in REGISTER.purposes)
    assert main(["policy", "check"]) == 0


async def test_the_notice_over_graphql_is_the_register(client: Any, token: Any, queries: Any) -> None:
    from tests.conftest import gql

    t = token("council_blue_badge", "BLUE_BADGE")
    q = "{ privacyNotice { regulator purposes { purpose shared { coordinate description } retention } } }"
    queries.reset()
    body = (await gql(client, t, q)).json()
    assert "errors" not in body, body
    notice = body["data"]["privacyNotice"]
    assert notice["regulator"] == REGISTER.notice["regulator"]
    got = {p["purpose"]: {f["coordinate"] for f in p["shared"]} for p in notice["purposes"]}
    assert got == {pid: set(spec.fields) for pid, spec in REGISTER.purposes.items()}
    assert queries.total == 0, "the notice reads no source"
    one = (await gql(client, t, "{ privacyNotice(purpose: AUDIT) { purposes { purpose } } }")).json()
    assert one["data"]["privacyNotice"]["purposes"] == [{"purpose": "AUDIT"}]


async def test_the_notice_beside_a_lookup_widens_nothing(client: Any, token: Any) -> None:
    from tests import people as P
    from tests.conftest import codes, gql

    q = """query($n: String!) { privacyNotice { controller }
           person(nino: $n, purpose: BLUE_BADGE) { dwp { declaredIncome { weeklyAmount } } } }"""
    body = (await gql(client, token("council_blue_badge", "BLUE_BADGE"), q, {"n": P.BADGE_DLA})).json()
    assert codes(body) == ["PURPOSE_FORBIDS_FIELD"]
    assert "data" not in body  # refused before execution: a request error
