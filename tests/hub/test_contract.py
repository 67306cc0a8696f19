"""A purpose's schema contract, checked against the register it is cut from: for every purpose, exactly
the fields the register allows it (and what any caller may use), a schema that builds, and nothing else —
no other purpose, no field another purpose may see."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx
import pytest
from graphql import GraphQLEnumType, GraphQLObjectType, build_schema, parse, validate

from hub.access.notice import field_descriptions, render
from hub.access.policy import Register
from hub.config import Settings
from hub.execution.contract import PURPOSE_ENUM, purpose_sdl
from hub.execution.schema import HubSchema, load_purposes
from hub.execution.schema import build_schema as build_hub_schema
from resolvers.notice import is_public
from tests.conftest import codes


@pytest.fixture(scope="module")
def hub_schema() -> HubSchema:
    return build_hub_schema(Settings())


@pytest.fixture(scope="module")
def register(hub_schema: HubSchema) -> Register:
    return load_purposes(Settings(), hub_schema)


def _coordinates(sdl: str) -> set[str]:
    schema = build_schema(sdl)
    return {
        f"{name}.{field}"
        for name, t in schema.type_map.items()
        if isinstance(t, GraphQLObjectType) and not name.startswith("__")
        for field in t.fields
    }


def test_every_purpose_s_contract_is_its_allow_list_and_what_anyone_may_use(
    hub_schema: HubSchema, register: Register
) -> None:
    full = hub_schema.as_str()
    everything = _coordinates(full)
    public = {c for c in everything if is_public(c)}
    for pid, spec in register.purposes.items():
        sdl = purpose_sdl(full, spec)
        shown = _coordinates(sdl)
        assert shown - public == set(spec.fields) - public, pid  # the register's fields and no other
        assert set(spec.fields) <= shown, pid  # all of them
        assert shown <= everything
        enum = build_schema(sdl).type_map[PURPOSE_ENUM]
        assert isinstance(enum, GraphQLEnumType)
        assert list(enum.values) == [pid]  # no other purpose is named


def test_the_blue_badge_contract_is_a_yes_or_no_from_dwp(hub_schema: HubSchema, register: Register) -> None:
    sdl = purpose_sdl(hub_schema.as_str(), register.purposes["BLUE_BADGE"])
    schema = build_schema(sdl)
    dwp = schema.type_map["DwpRecord"]
    assert isinstance(dwp, GraphQLObjectType)
    assert list(dwp.fields) == ["blueBadgeAutomaticEligibility"]
    person = schema.type_map["Person"]
    assert isinstance(person, GraphQLObjectType)
    assert set(person.fields) == {"subjectId", "dwp"}
    assert "HousingBenefitClaim" not in schema.type_map
    assert "SocialCareRecord" not in schema.type_map
    ok = parse('{ person(purpose: BLUE_BADGE, nino: "x") { subjectId dwp { blueBadgeAutomaticEligibility } } }')
    assert validate(schema, ok) == []
    wider = parse('{ person(purpose: BLUE_BADGE, nino: "x") { dwp { awardsInPayment { benefit } } } }')
    assert validate(schema, wider)  # a field outside the purpose is not in its contract at all
    other = parse('{ person(purpose: CARE_CHARGING_RESIDENTIAL, nino: "x") { subjectId } }')
    assert validate(schema, other)


def test_the_cli_prints_the_contract_and_refuses_a_purpose_not_the_type_s(
    hub_schema: HubSchema, register: Register
) -> None:
    run = [sys.executable, "-m", "hub", "policy", "sdl", "--purpose", "BLUE_BADGE"]
    printed = subprocess.run(run, capture_output=True, text=True, check=True, timeout=60).stdout
    assert printed == purpose_sdl(hub_schema.as_str(), register.purposes["BLUE_BADGE"])
    for extra, why in ((["--org-type", "almo"], "not one the purpose belongs to"), (["--org-type", "x"], "not in")):
        refused = subprocess.run([*run, *extra], capture_output=True, text=True, timeout=60)
        assert refused.returncode == 2
        assert why in refused.stderr
        assert refused.stdout == ""
    unknown = subprocess.run([*run[:-1], "NO_SUCH"], capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2
    assert "no purpose 'NO_SUCH'" in unknown.stderr


async def test_the_hub_serves_a_purpose_s_contract_to_its_callers_alone(
    client: httpx.AsyncClient, token: Any, hub_schema: HubSchema, register: Register
) -> None:
    badge = token("council_blue_badge", "BLUE_BADGE", org="contract-badge")

    async def get(purpose: str, t: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {t}"} if t else {}
        return await client.get("/graphql/contract", params={"purpose": purpose}, headers=headers)

    got = await get("BLUE_BADGE", badge)
    assert got.status_code == 200
    assert got.headers["content-type"] == "text/plain; charset=utf-8"
    assert got.text == purpose_sdl(hub_schema.as_str(), register.purposes["BLUE_BADGE"])
    # Not in the register, not this organisation type's, not in this token: one answer.
    refusals = [
        await get("NO_SUCH_PURPOSE", badge),
        await get("CARE_CHARGING_RESIDENTIAL", badge),
        await get("BLUE_BADGE", token("council_hb", "HB_OVERNIGHT_CARER_ROOM", org="contract-hb")),
        await get("HB_OVERNIGHT_CARER_ROOM", badge),
    ]
    assert {(r.status_code, r.content) for r in refusals} == {(404, refusals[0].content)}
    assert codes(refusals[0].json()) == ["NOT_FOUND"]
    assert (await get("BLUE_BADGE", None)).status_code == 401


def test_the_privacy_notice_links_each_purpose_to_its_contract(hub_schema: HubSchema, register: Register) -> None:
    descriptions = field_descriptions(hub_schema._schema)
    for form in ("md", "html"):
        notice = render(register, descriptions, form, None)
        for pid in register.purposes:
            assert f"/graphql/contract?purpose={pid}" in notice, (form, pid)
