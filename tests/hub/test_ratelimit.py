"""Rate limits, as attacks on the running app: a user or an organisation over its budget is answered 429
with Retry-After and RATE_LIMITED, whichever hub instance it asks (the buckets are in PostgreSQL); fishing
(refusals, "not found") runs out faster than casework; the buckets refill; the limits follow the
organisation's type; and a flood of bad tokens from one address is answered without checking them.

Each test calls as organisations of its own (the buckets outlive an app), with limits from a file of its own.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn

from hub.config import Settings
from tests import people as P
from tests.conftest import AUDIENCE, ISSUER, codes, free_port, gql, replace, running_client, serving

BLUE_BADGE = "query($nino: String!) { person(nino: $nino, purpose: BLUE_BADGE) { subjectId dwp { blueBadgeAutomaticEligibility } } }"
FORBIDDEN = "query($nino: String!) { person(nino: $nino, purpose: BLUE_BADGE) { dwp { declaredIncome { kind } } } }"
CHEAP = "{ __typename }"


def limits_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / f"ratelimits-{uuid.uuid4().hex[:6]}.toml"
    path.write_text(
        body
        + """
[address]
capacity = 1000
per_second = 100
"""
    )
    return path


def with_limits(
    settings: Settings,
    tmp_path: Path,
    *,
    user: tuple[float, float],
    org: tuple[float, float],
    refusal: float = 5,
    extra: str = "",
) -> Settings:
    body = f"""
[default]
user = {{ capacity = {user[0]}, per_second = {user[1]} }}
organisation = {{ capacity = {org[0]}, per_second = {org[1]} }}
refusal_cost = {refusal}
{extra}
"""
    return replace(settings, rate_limits_path=limits_file(tmp_path, body))


def org_name() -> str:
    return f"rl-{uuid.uuid4().hex[:8]}"


def mint_user(issuer: Any, token: Any, org_type: str, org: str, user: str, *purposes: str) -> str:
    token(org_type, *purposes, org=org)  # registers the organisation
    return str(
        issuer.mint(issuer=ISSUER, audience=AUDIENCE, org=org, org_type=org_type, user=user, purposes=list(purposes))
    )


async def allowed_until_limited(
    client: httpx.AsyncClient, t: str, query: str, variables: Any = None, *, most: int = 50
) -> tuple[int, httpx.Response]:
    """How many requests were answered before the first 429, and that 429."""
    for n in range(most):
        r = await gql(client, t, query, variables)
        if r.status_code == 429:
            return n, r
        assert r.status_code == 200, r.text
    raise AssertionError(f"no 429 in {most} requests")


def assert_rate_limited(r: httpx.Response, limit: str) -> int:
    assert r.status_code == 429
    body = r.json()
    assert codes(body) == ["RATE_LIMITED"]
    assert body["errors"][0]["extensions"]["limit"] == limit
    assert "data" not in body
    wait = int(r.headers["Retry-After"])
    assert wait >= 1
    assert body["errors"][0]["extensions"]["retryAfter"] == wait
    return wait


async def test_a_user_over_their_budget_gets_429_with_retry_after(
    settings: Settings, people: Any, token: Any, tmp_path: Path, admin: dict[str, asyncpg.Connection]
) -> None:
    # 5 requests of burst, refilled at one every 10 s: the 6th must wait 10 s (rounded up).
    limited = with_limits(settings, tmp_path, user=(5, 0.1), org=(100, 10))
    org = org_name()
    t = token("council_blue_badge", "BLUE_BADGE", org=org)
    async with running_client(limited) as client:
        n, r = await allowed_until_limited(client, t, CHEAP)
        assert n == 5
        wait = assert_rate_limited(r, "user")
        assert 9 <= wait <= 10
        # Nothing is parsed or read past the limit, even a lookup.
        again = await gql(client, t, BLUE_BADGE, {"nino": P.BADGE_DLA})
        assert_rate_limited(again, "user")
        # Asking on while limited is answered from memory: a flood of 429s writes nothing to the store.
        touched = "SELECT max(updated_at) FROM hub.rate_bucket WHERE bucket = $1"
        before = await admin["hub"].fetchval(touched, f"org:{org}")
        for _ in range(30):
            assert_rate_limited(await gql(client, t, CHEAP), "user")
        assert await admin["hub"].fetchval(touched, f"org:{org}") == before
    # Audited once (the refusal, the caller, the reason), not once per 429.
    rows = await admin["hub"].fetch(
        "SELECT decision, reason_codes, caller_user_hash FROM hub.audit_event WHERE caller_org = $1 "
        "AND 'RATE_LIMITED' = ANY(reason_codes)",
        org,
    )
    assert len(rows) == 1
    assert rows[0]["decision"] == "refused"
    # The user as the audit knows them elsewhere (a keyed hash), so an auditor can tie it to their lookups.
    hashes = await admin["hub"].fetch(
        "SELECT DISTINCT caller_user_hash FROM hub.audit_event WHERE caller_org = $1", org
    )
    assert [h["caller_user_hash"] for h in hashes] == [rows[0]["caller_user_hash"]]
    assert rows[0]["caller_user_hash"]


async def test_the_organisation_bucket_limits_its_users_together(
    settings: Settings, people: Any, token: Any, issuer: Any, tmp_path: Path
) -> None:
    limited = with_limits(settings, tmp_path, user=(4, 0.01), org=(6, 0.01), refusal=2)
    org = org_name()
    first = mint_user(issuer, token, "council_blue_badge", org, "officer-a", "BLUE_BADGE")
    second = mint_user(issuer, token, "council_blue_badge", org, "officer-b", "BLUE_BADGE")
    async with running_client(limited) as client:
        n, r = await allowed_until_limited(client, first, CHEAP)
        assert n == 4
        assert_rate_limited(r, "user")
        # The second user has a full bucket of their own, but the organisation has 2 left.
        n, r = await allowed_until_limited(client, second, CHEAP)
        assert n == 2
        assert_rate_limited(r, "organisation")
        # Another organisation is not touched.
        other = token("council_blue_badge", "BLUE_BADGE", org=org_name())
        assert (await gql(client, other, CHEAP)).status_code == 200


async def test_two_hub_instances_share_one_bucket(settings: Settings, people: Any, token: Any, tmp_path: Path) -> None:
    limited = with_limits(settings, tmp_path, user=(6, 0.01), org=(100, 1))
    t = token("council_blue_badge", "BLUE_BADGE", org=org_name())
    headers = {"Authorization": f"Bearer {t}"}
    async with serving(limited) as one, serving(limited) as two, httpx.AsyncClient(timeout=10) as http:
        answered = []
        for n in range(10):
            base = (one, two)[n % 2]
            r = await http.post(f"{base}/graphql", json={"query": CHEAP}, headers=headers)
            answered.append(r.status_code)
    # Alternating between the two servers, the user still gets 6 in all, not 6 from each.
    assert answered == [200] * 6 + [429] * 4


async def test_refusals_and_not_found_cost_more_than_releases(
    settings: Settings, people: Any, token: Any, tmp_path: Path
) -> None:
    limited = with_limits(settings, tmp_path, user=(10, 0.01), org=(1000, 10), refusal=5)
    async with running_client(limited) as client:
        outcomes: dict[str, int] = {}
        for name, query, nino in [
            ("released", BLUE_BADGE, P.BADGE_DLA),
            ("refused", FORBIDDEN, P.BADGE_DLA),  # PURPOSE_FORBIDS_FIELD, before any source is read
            ("not found", BLUE_BADGE, P.ABSENT),  # SUBJECT_NOT_FOUND
            ("not yours", BLUE_BADGE, P.OUTSIDER),  # answered SUBJECT_NOT_FOUND, audited NO_LEGITIMATE_RELATIONSHIP
        ]:
            t = token("council_blue_badge", "BLUE_BADGE", org=org_name())
            first = (await gql(client, t, query, {"nino": nino})).json()
            expected = {"released": [], "refused": ["PURPOSE_FORBIDS_FIELD"]}.get(name, ["SUBJECT_NOT_FOUND"])
            assert codes(first) == expected, name
            n, r = await allowed_until_limited(client, t, query, {"nino": nino})
            outcomes[name] = n + 1
            assert_rate_limited(r, "user")
    # 10 tokens: a release costs 1, and each of the others 5, the same for all three.
    assert outcomes == {"released": 10, "refused": 2, "not found": 2, "not yours": 2}


async def test_each_aliased_lookup_that_names_no_one_is_priced(
    settings: Settings, people: Any, token: Any, tmp_path: Path
) -> None:
    """Eight aliased lookups of no one in one document cost eight refusals, not one: fishing by aliases
    runs out as fast as fishing request by request."""
    limited = with_limits(settings, tmp_path, user=(40, 0.01), org=(1000, 10), refusal=5)
    eight = (
        "query { "
        + " ".join(
            f'p{n}: person(nino: "{nino}", purpose: BLUE_BADGE) {{ subjectId }}'
            for n, nino in enumerate([P.ABSENT, P.OUTSIDER] * 4)
        )
        + " }"
    )
    t = token("council_blue_badge", "BLUE_BADGE", org=org_name())
    async with running_client(limited) as client:
        first = (await gql(client, t, eight, {})).json()
        assert codes(first) == ["SUBJECT_NOT_FOUND"] * 8
        second = await gql(client, t, eight, {})
    # 40 tokens: the first document cost 1 + 39 more (8 x 5 in all); the second finds the bucket empty.
    assert_rate_limited(second, "user")


async def test_the_bucket_refills(settings: Settings, people: Any, token: Any, tmp_path: Path) -> None:
    """The bucket refills by the database's clock, up to its capacity and no further. The rate is slow
    enough (one token in 0.8 s) that three requests on a loaded CI runner finish before the next refill:
    at 4 a second, two slow requests let a third through (CI saw it)."""
    limited = with_limits(settings, tmp_path, user=(2, 1.25), org=(1000, 10), refusal=2)
    t = token("council_blue_badge", "BLUE_BADGE", org=org_name())
    async with running_client(limited) as client:
        n, r = await allowed_until_limited(client, t, CHEAP)
        assert n == 2
        assert_rate_limited(r, "user")
        assert r.headers["Retry-After"] == "1"  # at most 0.8 s, rounded up
        await asyncio.sleep(1.7)  # more than two refills: the bucket stops at its capacity of two
        started = time.monotonic()
        assert (await gql(client, t, CHEAP)).status_code == 200
        assert (await gql(client, t, CHEAP)).status_code == 200
        third = await gql(client, t, CHEAP)
        elapsed = time.monotonic() - started
        assert third.status_code == 429, f"three requests took {elapsed:.2f} s, under a refill of 0.8 s"


async def test_limits_follow_the_organisation_type(settings: Settings, people: Any, token: Any, tmp_path: Path) -> None:
    extra = """
[org_types.council_hb]
user = { capacity = 7, per_second = 0.01 }
refusal_cost = 2
"""
    limited = with_limits(settings, tmp_path, user=(3, 0.01), org=(1000, 10), refusal=3, extra=extra)
    badge = token("council_blue_badge", "BLUE_BADGE", org=org_name())
    hb = token("council_hb", "HB_OVERNIGHT_CARER_ROOM", org=org_name())
    async with running_client(limited) as client:
        assert (await allowed_until_limited(client, badge, CHEAP))[0] == 3
        assert (await allowed_until_limited(client, hb, CHEAP))[0] == 7
        # The type's own price of a refusal: 2 (its bucket of 7 pays for 3, then 1 left).
        hb_refused = token("council_hb", "HB_OVERNIGHT_CARER_ROOM", org=org_name())
        n, _ = await allowed_until_limited(client, hb_refused, FORBIDDEN, {"nino": P.BADGE_DLA})
        assert n == 4


async def test_a_flood_of_bad_tokens_is_limited_per_address(
    settings: Settings, people: Any, token: Any, tmp_path: Path, admin: dict[str, asyncpg.Connection]
) -> None:
    body = """
[default]
user = { capacity = 100, per_second = 10 }
organisation = { capacity = 1000, per_second = 100 }
refusal_cost = 5

[address]
capacity = 10
per_second = 2
"""
    flooded = replace(settings, rate_limits_path=tmp_path / "flood.toml")
    flooded.rate_limits_path.write_text(body)
    good = token("council_blue_badge", "BLUE_BADGE", org=org_name())
    async with running_client(flooded) as client:
        # A valid token gets its unit back: casework from the address never drains it.
        for _ in range(15):
            assert (await gql(client, good, CHEAP)).status_code == 200
        last = await admin["hub"].fetchval("SELECT coalesce(max(event_id), 0) FROM hub.audit_event")
        started = time.monotonic()
        statuses = [(await gql(client, f"bad.{n}.token", CHEAP)).status_code for n in range(200)]
        seconds = time.monotonic() - started
        # 10 of burst, then 2 a second: at most that many tokens were checked (and answered 401).
        checked = statuses.count(401)
        assert 10 <= checked <= 10 + math.ceil(2 * seconds) + 1
        assert statuses.count(429) == 200 - checked
        assert statuses[:10] == [401] * 10
        r = await gql(client, "bad", CHEAP)
        assert_rate_limited(r, "client address")
        # The refused checks were audited as before; the 429s were not (counted in the log).
        written = await admin["hub"].fetchval(
            "SELECT count(*) FROM hub.audit_event WHERE event_id > $1 AND caller_org = '(unauthenticated)'", last
        )
        assert written <= checked + 1
        # A token that verified lately costs no signature check, so it passes: casework behind the same
        # proxy goes on. A token never seen must wait like the flood (its signature is not checked either).
        assert (await gql(client, good, CHEAP)).status_code == 200
        unseen = token("council_blue_badge", "BLUE_BADGE", org=org_name())
        assert_rate_limited(await gql(client, unseen, CHEAP), "client address")


async def test_a_missing_or_unreadable_limit_file_refuses_to_start(settings: Settings, tmp_path: Path) -> None:
    from hub.app import create_app
    from hub.errors import ConfigError

    bad = tmp_path / "bad.toml"
    bad.write_text(
        """
[default]
user = { capacity = 0, per_second = -1, burst = 3 }
organisation = { capacity = 10, per_second = 1 }
refusal_cost = 20

[org_types.council_nowhere]
refusal_cost = 2

[address]
capacity = 10
"""
    )
    with pytest.raises(ConfigError) as raised:
        create_app(replace(settings, rate_limits_path=bad))
    problems = "\n".join(raised.value.problems)
    for expected in (
        "default.user: unknown key(s) burst",
        "default.user.capacity: must be at least 1",
        "default.user.per_second: must be above 0",
        "default.organisation.capacity (10) is below refusal_cost (20)",
        "org_types.council_nowhere: not an organisation type of the purpose register",
        "address.per_second: missing",
    ):
        assert expected in problems, problems
    with pytest.raises(ConfigError, match="cannot read the rate-limit file"):
        create_app(replace(settings, rate_limits_path=tmp_path / "absent.toml"))


async def test_a_hung_limiter_store_fails_open_bounded_by_this_pods_buckets(
    settings: Settings, people: Any, token: Any, tmp_path: Path, admin: dict[str, asyncpg.Connection], caplog: Any
) -> None:
    # The buckets' table locked by another session: every check would wait for ever.
    limited = replace(with_limits(settings, tmp_path, user=(4, 0.01), org=(100, 1), refusal=2), rate_limit_timeout=0.3)
    t = token("council_blue_badge", "BLUE_BADGE", org=org_name())
    locker = await asyncpg.connect(settings.admin_url("hub"))
    try:
        async with running_client(limited) as client:
            assert (await gql(client, t, CHEAP)).status_code == 200  # the bucket row exists before the hang
            transaction = locker.transaction()
            await transaction.start()
            await locker.execute("LOCK TABLE hub.rate_bucket IN ACCESS EXCLUSIVE MODE")
            with caplog.at_level(logging.WARNING, logger="welfare_hub.ratelimit"):
                started = time.monotonic()
                statuses = []
                for _ in range(6):
                    r = await gql(client, t, CHEAP)
                    statuses.append(r.status_code)
                seconds = time.monotonic() - started
            await transaction.rollback()
    finally:
        await locker.close()
    # Answered (not a 500, not stuck): one wait of the limiter's timeout, then this pod's own bucket, which
    # holds the same 4 as the shared one and so still limits.
    assert statuses == [200] * 4 + [429] * 2
    assert seconds < 0.3 + 2
    assert "rate-limit store unavailable (TimeoutError)" in caplog.text


def test_the_limits_are_configured_by_file_and_environment() -> None:
    import tomllib

    from hub.access.ratelimit import load_rate_limits
    from hub.errors import ConfigError

    settings = Settings.from_environ(
        {"WELFARE_HUB_RATE_LIMITS": "/p/ratelimits.toml", "WELFARE_HUB_RATE_LIMIT_TIMEOUT_MS": "250"}
    )
    assert settings.rate_limits_path == Path("/p/ratelimits.toml")
    assert settings.rate_limit_timeout == 0.25
    with pytest.raises(ConfigError, match="WELFARE_HUB_RATE_LIMIT_TIMEOUT_MS must be at least 1"):
        Settings.from_environ({"WELFARE_HUB_RATE_LIMIT_TIMEOUT_MS": "0"})
    # The shipped file loads against the shipped register; a refusal costs more than a release everywhere.
    defaults = Settings()
    org_types = tomllib.loads(defaults.purposes_path.read_text())["org_types"]
    limits = load_rate_limits(defaults.rate_limits_path, org_types=org_types)
    assert limits.enabled
    for limits_of_type in [limits.default, *limits.org_types.values()]:
        assert limits_of_type.refusal_cost > 1
    assert limits.for_type("voluntary_agency").user.capacity < limits.default.user.capacity


async def test_refilled_buckets_are_pruned_by_the_service(settings: Settings, people: Any) -> None:
    """A caller seen once keeps no row for ever: a bucket that has refilled is deleted (the same as no row),
    one still short is kept. As the hub's own service role, which may delete from this table only."""
    from hub.records.ratelimits import prune

    admin = await asyncpg.connect(settings.admin_url("hub"))
    service = await asyncpg.create_pool(settings.service_url("hub"), min_size=1, max_size=1)
    try:
        await admin.execute(
            "INSERT INTO hub.rate_bucket (bucket, tokens, capacity, per_second, granted, updated_at) VALUES "
            "('user:prune-full', 10, 10, 1, true, now()), "
            "('user:prune-refilled', 0, 10, 1, false, now() - interval '1 minute'), "
            "('user:prune-short', 0, 10, 1, false, now())"
        )
        assert await prune(service, statement_timeout=5) >= 2
        left = {
            r["bucket"]
            for r in await admin.fetch("SELECT bucket FROM hub.rate_bucket WHERE bucket LIKE 'user:prune-%'")
        }
        assert left == {"user:prune-short"}
    finally:
        await service.close()
        await admin.close()


async def test_bad_console_sign_ins_from_one_address_are_throttled(
    settings: Settings, people: Any, token: Any, tmp_path: Path
) -> None:
    """The console's sign-in is a door for tokens too: one address's bad tokens share the API's throttle,
    and a good token still signs in (it gets its unit back)."""
    limits = tmp_path / "console.toml"
    limits.write_text(
        "[default]\nuser = { capacity = 100, per_second = 1 }\norganisation = { capacity = 100, per_second = 1 }\n"
        "refusal_cost = 2\n[address]\ncapacity = 3\nper_second = 0.01\n"
    )
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    good = token("auditor", "AUDIT", org=org_name())
    async with running_client(replace(settings, rate_limits_path=limits)) as client:
        signed_in = await client.post("/audit/console/login", content=f"token={good}", headers=form)
        assert signed_in.status_code == 303
        statuses = [
            (await client.post("/audit/console/login", content=f"token=bad.{n}.token", headers=form)).status_code
            for n in range(6)
        ]
        # The API's door shares the address's throttle: the sign-ins spent it.
        api = await gql(client, "bad.api.token", CHEAP)
    assert statuses[:3] == [401, 401, 401]
    assert set(statuses[3:]) == {429}
    assert api.status_code == 429


async def test_the_console_draws_on_the_callers_buckets(
    settings: Settings, people: Any, token: Any, tmp_path: Path
) -> None:
    """An auditor's console pages run queries: they spend the auditor's user bucket as the API does, so the
    console is no way round the limits."""
    limited = with_limits(settings, tmp_path, user=(3, 0.01), org=(1000, 10), refusal=2)
    auditor = token("auditor", "AUDIT", org=org_name())
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    async with running_client(limited) as client:
        assert (await client.post("/audit/console/login", content=f"token={auditor}", headers=form)).status_code == 303
        pages = [(await client.get("/audit/console")).text for _ in range(6)]
    assert "too many requests for this user" not in pages[0]
    assert "too many requests for this user" in pages[-1]


async def test_a_burst_cannot_outrun_the_price_of_its_refusals(
    settings: Settings, people: Any, token: Any, tmp_path: Path
) -> None:
    """Requests sent all at once each pay the base before their outcomes are charged: one user may have at
    most WELFARE_HUB_USER_IN_FLIGHT running at once, so a burst of lookups of no one is cut at that many."""
    limited = replace(with_limits(settings, tmp_path, user=(1000, 100), org=(1000, 100), refusal=5), user_in_flight=3)
    t = token("council_blue_badge", "BLUE_BADGE", org=org_name())
    async with running_client(limited) as client:
        burst = await asyncio.gather(*(gql(client, t, BLUE_BADGE, {"nino": P.ABSENT}) for _ in range(12)))
        after = await gql(client, t, BLUE_BADGE, {"nino": P.BADGE_DLA})
    statuses = [r.status_code for r in burst]
    assert 1 <= statuses.count(200) <= 11
    assert statuses.count(429) >= 1
    assert set(statuses) <= {200, 429}
    assert after.status_code == 200  # the slots are given back


def _proxy_limits(tmp_path: Path) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    limits = tmp_path / "proxy-limits.toml"
    limits.write_text(
        "[default]\nuser = { capacity = 100, per_second = 1 }\norganisation = { capacity = 100, per_second = 1 }\n"
        "refusal_cost = 2\n[address]\ncapacity = 3\nper_second = 0.01\n"
    )
    return limits


async def _statuses_by_forwarded(settings: Settings, tmp_path: Path) -> list[int]:
    """Bad tokens from two forwarded addresses, through the hub's own uvicorn configuration on loopback."""
    from hub.app import create_app
    from hub.serve import server_config

    limits = _proxy_limits(tmp_path)
    port = free_port()
    own = replace(settings, rate_limits_path=limits, host="127.0.0.1", port=port)
    server = uvicorn.Server(server_config(own, create_app(own)))
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(100):
            if server.started:
                break
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

            async def bad(address: str) -> int:
                headers = {"Authorization": "Bearer bad.token.x", "X-Forwarded-For": address}
                return (await client.post("/graphql", json={"query": CHEAP}, headers=headers)).status_code

            return [await bad("203.0.113.7") for _ in range(4)] + [await bad("198.51.100.9")]
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def test_behind_a_trusted_proxy_each_client_has_its_own_throttle(
    settings: Settings, people: Any, tmp_path: Path
) -> None:
    trusted = await _statuses_by_forwarded(replace(settings, trusted_proxies=("127.0.0.1/32",)), tmp_path)
    assert trusted == [401, 401, 401, 429, 401]  # the second client is not throttled by the first's flood
    # Untrusted (the default), X-Forwarded-For is ignored: a caller cannot name a fresh address per request.
    untrusted = await _statuses_by_forwarded(settings, tmp_path / "u")
    assert untrusted == [401, 401, 401, 429, 429]
