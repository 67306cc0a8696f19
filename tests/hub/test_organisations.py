"""The organisation register: a caller the register does not know, whose token claims another type, or whose
accreditation has expired gets a specific refusal, audited, with nothing read from any source."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from hub.access.orgs import Organisation, parse_file
from hub.config import Settings
from hub.errors import ConfigError
from hub.execution.schema import build_schema, load_purposes
from hub.ops.issuer import IssuerKey
from hub.records.operations import add_operations
from hub.records.orgs import upsert
from tests import people as P
from tests.conftest import AUDIENCE, ISSUER, QueryCounter, codes, gql

BLUE_BADGE = "query($n: String!) { person(nino: $n, purpose: BLUE_BADGE) { dwp { blueBadgeAutomaticEligibility } } }"
ADVICE = "query($n: String!) { person(nino: $n, purpose: INCOME_MAXIMISATION) { subjectId } }"


def _mint(issuer: IssuerKey, org: str, org_type: str, *purposes: str) -> str:
    return issuer.mint(
        issuer=ISSUER, audience=AUDIENCE, org=org, org_type=org_type, user="someone", purposes=list(purposes)
    )


async def _refused(
    client: httpx.AsyncClient, t: str, query: str, queries: QueryCounter, admin: dict[str, asyncpg.Connection], org: str
) -> list[str]:
    queries.reset()
    body = (await gql(client, t, query, {"n": P.BADGE_DLA})).json()
    assert "data" not in body  # refused before execution: a request error
    assert queries.total == 0, "refused before any source is read"
    row = await admin["hub"].fetchrow(
        "SELECT decision, reason_codes FROM hub.audit_event WHERE caller_org = $1 ORDER BY event_id DESC LIMIT 1", org
    )
    assert row is not None, "the refusal is audited"
    assert row["decision"] == "refused"
    assert row["reason_codes"] == codes(body)
    return codes(body)


async def test_an_organisation_the_register_does_not_know_is_refused(
    client: httpx.AsyncClient, issuer: IssuerKey, queries: QueryCounter, admin: dict[str, asyncpg.Connection]
) -> None:
    t = _mint(issuer, "nobody-we-know", "council_blue_badge", "BLUE_BADGE")
    assert await _refused(client, t, BLUE_BADGE, queries, admin, "nobody-we-know") == ["UNKNOWN_ORGANISATION"]


async def test_the_register_not_the_token_says_what_an_organisation_is(
    client: httpx.AsyncClient, issuer: IssuerKey, queries: QueryCounter, admin: dict[str, asyncpg.Connection]
) -> None:
    await upsert(admin["hub"], [Organisation("grants-team-x", "Grants team X", "council_grants")])
    # A grants team's token claiming to be a Blue Badge team.
    t = _mint(issuer, "grants-team-x", "council_blue_badge", "BLUE_BADGE")
    assert await _refused(client, t, BLUE_BADGE, queries, admin, "grants-team-x") == ["ORG_TYPE_MISMATCH"]


async def test_an_inactive_organisation_is_refused(
    client: httpx.AsyncClient, issuer: IssuerKey, queries: QueryCounter, admin: dict[str, asyncpg.Connection]
) -> None:
    await upsert(admin["hub"], [Organisation("closed-team", "Closed", "council_blue_badge", active=False)])
    t = _mint(issuer, "closed-team", "council_blue_badge", "BLUE_BADGE")
    assert await _refused(client, t, BLUE_BADGE, queries, admin, "closed-team") == ["UNKNOWN_ORGANISATION"]


@pytest.mark.parametrize(("days", "expired"), [(-1, True), (0, False), (30, False)])
async def test_a_partner_gets_nothing_after_its_accreditation_expires(
    client: httpx.AsyncClient,
    issuer: IssuerKey,
    queries: QueryCounter,
    admin: dict[str, asyncpg.Connection],
    days: int,
    expired: bool,
) -> None:
    org = f"advice-agency-{days}"
    until = dt.date.today() + dt.timedelta(days=days)
    await upsert(admin["hub"], [Organisation(org, "An advice agency", "voluntary_agency", accredited_until=until)])
    await add_operations(admin["hub"], org, [(ADVICE, None)])  # a partner runs registered operations only
    t = _mint(issuer, org, "voluntary_agency", "INCOME_MAXIMISATION")
    if expired:
        assert await _refused(client, t, ADVICE, queries, admin, org) == ["ACCREDITATION_EXPIRED"]
    else:
        # Accredited: the next check applies (no consent recorded for this person).
        assert codes((await gql(client, t, ADVICE, {"n": P.BADGE_DLA})).json()) == ["CONSENT_REQUIRED"]


async def test_a_withdrawn_accreditation_applies_to_the_next_request(
    client: httpx.AsyncClient, token: Any, admin: dict[str, asyncpg.Connection]
) -> None:
    t = token("council_blue_badge", "BLUE_BADGE", org="badge-team-w")
    assert "errors" not in (await gql(client, t, BLUE_BADGE, {"n": P.BADGE_DLA})).json()
    await admin["hub"].execute("UPDATE hub.organisation SET active = false WHERE org_id = 'badge-team-w'")
    assert codes((await gql(client, t, BLUE_BADGE, {"n": P.BADGE_DLA})).json()) == ["UNKNOWN_ORGANISATION"]


REGISTER = load_purposes(Settings(), build_schema(Settings()))


def test_the_example_file_loads() -> None:
    orgs = parse_file(Path(__file__).parents[2] / "policy" / "organisations.example.toml", org_types=REGISTER.org_types)
    by_id = {o.org_id: o for o in orgs}
    assert by_id["northshire-homes"].controller_org == "northshire-hb"
    assert by_id["northshire-homes"].accredited_until == dt.date(2027, 3, 31)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('[organisations.a]\nname = "A"\norg_type = "council_parking"\n', "unknown org type 'council_parking'"),
        ('[organisations.a]\nname = "A"\norg_type = "almo"\ncolour = "red"\n', "unknown key 'colour'"),
        ('[organisations.a]\nname = "A"\norg_type = "almo"\ncontroller_org = "b"\n', "controller 'b' is not in"),
        ('[organisations.a]\nname = "A"\norg_type = "almo"\naccredited_until = "soon"\n', "must be a date"),
        ('[organisations.a]\norg_type = "almo"\n', "missing name"),
    ],
)
def test_a_faulty_organisation_file_is_refused(tmp_path: Path, body: str, problem: str) -> None:
    path = tmp_path / "orgs.toml"
    path.write_text(body)
    with pytest.raises(ConfigError) as raised:
        parse_file(path, org_types=REGISTER.org_types)
    assert any(problem in p for p in raised.value.problems), raised.value.problems
