"""Settings.from_environ is a pure function of a mapping: a table of environments and what they give."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hub.config import Settings, store_role_names
from hub.errors import ConfigError
from hub.types import SOURCE_STORES, STORES, StoreName

ALL_STORE_URLS = {
    "WELFARE_HUB_HUB_URL": "postgresql://hub_app@db/hub",
    "WELFARE_HUB_DWP_URL": "postgresql://dwp_reader@db/dwp",
    "WELFARE_HUB_HB_URL": "postgresql://hb_reader@db/hb",
    "WELFARE_HUB_SOCIAL_CARE_URL": "postgresql://sc_reader@db/sc",
}
PRODUCTION = {
    "WELFARE_HUB_ENV": "production",
    "WELFARE_HUB_JWKS": "/etc/welfare-hub/jwks.json",
    "WELFARE_HUB_KEYS": "/run/secrets/key-ring.json",
    "WELFARE_HUB_AUDIT_KEYS": "/run/secrets/audit-keys.json",
    "DATABASE_URL": "postgresql://admin@db:5432/postgres",
}

# (description, environment, the settings fields it must give; anything not named keeps its default)
GOOD: list[tuple[str, dict[str, str], dict[str, Any]]] = [
    ("empty environment: development defaults", {}, {}),
    (
        "empty strings mean unset",
        {"DATABASE_URL": "", "WELFARE_HUB_PORT": "", "WELFARE_HUB_DATA_DIR": "", "WELFARE_HUB_JWKS": ""},
        {},
    ),
    ("explicit development mode", {"WELFARE_HUB_ENV": "development"}, {}),
    ("timeouts are given in milliseconds", {"WELFARE_HUB_SOURCE_TIMEOUT_MS": "500"}, {"source_timeout": 0.5}),
    ("fractional millisecond timeout", {"WELFARE_HUB_AUDIT_TIMEOUT_MS": "1.5"}, {"audit_timeout": 0.0015}),
    (
        "limits at their minimums",
        {
            "WELFARE_HUB_MAX_DEPTH": "2",
            "WELFARE_HUB_MAX_TOKENS": "10",
            "WELFARE_HUB_MAX_ALIASES": "0",
            "WELFARE_HUB_SOURCE_TIMEOUT_MS": "1",
        },
        {"max_depth": 2, "max_tokens": 10, "max_aliases": 0, "source_timeout": 0.001},
    ),
    (
        "listener and request size",
        {"WELFARE_HUB_HOST": "0.0.0.0", "WELFARE_HUB_PORT": "9000", "WELFARE_HUB_MAX_BODY_BYTES": "1024"},
        {"host": "0.0.0.0", "port": 9000, "max_body_bytes": 1024},
    ),
    (
        "issuer, audience and paths",
        {
            "WELFARE_HUB_ISSUER": "https://idp.example",
            "WELFARE_HUB_AUDIENCE": "hub-prod",
            "WELFARE_HUB_JWKS": "/k/jwks.json",
            "WELFARE_HUB_KEYS": "/k/ring.json",
            "WELFARE_HUB_AUDIT_KEYS": "/k/audit.json",
            "WELFARE_HUB_AUDIT_CHECKPOINT_SECONDS": "15",
            "WELFARE_HUB_AUDIT_CHECKPOINT_EVERY_RECORDS": "250",
            "WELFARE_HUB_LINK_ABSENT": "0.05",
            "WELFARE_HUB_PURPOSES": "/p/purposes.toml",
            "WELFARE_HUB_DATA_DIR": "/var/lib/hub",
        },
        {
            "issuer": "https://idp.example",
            "audience": "hub-prod",
            "jwks_path": Path("/k/jwks.json"),
            "keys_path": Path("/k/ring.json"),
            "audit_keys_path": Path("/k/audit.json"),
            "audit_checkpoint_seconds": 15.0,
            "audit_checkpoint_every_records": 250,
            "link_absent": 0.05,
            "purposes_path": Path("/p/purposes.toml"),
            "data_dir": Path("/var/lib/hub"),
        },
    ),
    (
        "server URL with a prefix",
        {"DATABASE_URL": "postgresql://admin@db/postgres", "WELFARE_HUB_DB_PREFIX": "wh_"},
        {"database_url": "postgresql://admin@db/postgres", "db_prefix": "wh_"},
    ),
    (
        "all four per-store URLs",
        ALL_STORE_URLS,
        {
            "store_urls": {
                "hub": "postgresql://hub_app@db/hub",
                "src_dwp": "postgresql://dwp_reader@db/dwp",
                "src_hb": "postgresql://hb_reader@db/hb",
                "src_social_care": "postgresql://sc_reader@db/sc",
            }
        },
    ),
    (
        "production with everything it needs",
        PRODUCTION,
        {
            "production": True,
            "jwks_path": Path("/etc/welfare-hub/jwks.json"),
            "keys_path": Path("/run/secrets/key-ring.json"),
            "audit_keys_path": Path("/run/secrets/audit-keys.json"),
            "database_url": "postgresql://admin@db:5432/postgres",
        },
    ),
    (
        "production mode is read case- and space-insensitively",
        {**PRODUCTION, "WELFARE_HUB_ENV": " Production "},
        {
            "production": True,
            "jwks_path": Path("/etc/welfare-hub/jwks.json"),
            "keys_path": Path("/run/secrets/key-ring.json"),
            "audit_keys_path": Path("/run/secrets/audit-keys.json"),
            "database_url": "postgresql://admin@db:5432/postgres",
        },
    ),
    (
        "production with per-store URLs instead of DATABASE_URL",
        {**{k: v for k, v in PRODUCTION.items() if k != "DATABASE_URL"}, **ALL_STORE_URLS},
        {
            "production": True,
            "jwks_path": Path("/etc/welfare-hub/jwks.json"),
            "keys_path": Path("/run/secrets/key-ring.json"),
            "audit_keys_path": Path("/run/secrets/audit-keys.json"),
            "store_urls": {
                "hub": "postgresql://hub_app@db/hub",
                "src_dwp": "postgresql://dwp_reader@db/dwp",
                "src_hb": "postgresql://hb_reader@db/hb",
                "src_social_care": "postgresql://sc_reader@db/sc",
            },
        },
    ),
]


@pytest.mark.parametrize(("description", "env", "expected"), GOOD, ids=[c[0] for c in GOOD])
def test_from_environ(description: str, env: dict[str, str], expected: dict[str, Any]) -> None:
    settings = Settings.from_environ(env)
    defaults = Settings()
    for name in Settings.__dataclass_fields__:
        want = expected.get(name, getattr(defaults, name))
        if isinstance(want, float):
            want = pytest.approx(want)
        assert getattr(settings, name) == want, name


# (description, environment, fragments: one per problem, all reported by the one error)
BAD: list[tuple[str, dict[str, str], list[str]]] = [
    (
        "timeout not a number",
        {"WELFARE_HUB_SOURCE_TIMEOUT_MS": "two seconds"},
        ["WELFARE_HUB_SOURCE_TIMEOUT_MS must be a number, got 'two seconds'"],
    ),
    ("timeout zero", {"WELFARE_HUB_AUDIT_TIMEOUT_MS": "0"}, ["WELFARE_HUB_AUDIT_TIMEOUT_MS must be at least 1"]),
    # NaN compares false with everything, so a bare `value < minimum` lets it through; asyncio then
    # times every source out at once.
    ("timeout NaN", {"WELFARE_HUB_SOURCE_TIMEOUT_MS": "nan"}, ["WELFARE_HUB_SOURCE_TIMEOUT_MS"]),
    ("integer limit given as a fraction", {"WELFARE_HUB_MAX_DEPTH": "2.5"}, ["WELFARE_HUB_MAX_DEPTH must be a number"]),
    ("depth below two", {"WELFARE_HUB_MAX_DEPTH": "1"}, ["WELFARE_HUB_MAX_DEPTH must be at least 2"]),
    ("negative port", {"WELFARE_HUB_PORT": "-1"}, ["WELFARE_HUB_PORT must be at least 0"]),
    ("aliases below zero", {"WELFARE_HUB_MAX_ALIASES": "-1"}, ["WELFARE_HUB_MAX_ALIASES must be at least 0"]),
    ("unknown mode", {"WELFARE_HUB_ENV": "staging"}, ["WELFARE_HUB_ENV must be 'development' or 'production'"]),
    ("prefix with upper case", {"WELFARE_HUB_DB_PREFIX": "Wh_"}, ["WELFARE_HUB_DB_PREFIX must be lower-case"]),
    ("prefix starting with a digit", {"WELFARE_HUB_DB_PREFIX": "1wh"}, ["WELFARE_HUB_DB_PREFIX"]),
    ("prefix with a hyphen", {"WELFARE_HUB_DB_PREFIX": "wh-"}, ["WELFARE_HUB_DB_PREFIX"]),
    ("prefix of 32 characters", {"WELFARE_HUB_DB_PREFIX": "w" * 32}, ["at most 31"]),
    (
        "only the hub's URL",
        {"WELFARE_HUB_HUB_URL": "postgresql://db/hub"},
        ["missing WELFARE_HUB_DWP_URL, WELFARE_HUB_HB_URL, WELFARE_HUB_SOCIAL_CARE_URL"],
    ),
    (
        "three of four store URLs",
        {k: v for k, v in ALL_STORE_URLS.items() if k != "WELFARE_HUB_HB_URL"},
        ["per-store URLs must be given for every store the hub reads; missing WELFARE_HUB_HB_URL"],
    ),
    (
        "production with nothing",
        {"WELFARE_HUB_ENV": "production"},
        ["WELFARE_HUB_JWKS", "WELFARE_HUB_KEYS", "WELFARE_HUB_AUDIT_KEYS", "no database: set DATABASE_URL"],
    ),
    (
        "production without keys",
        {"WELFARE_HUB_ENV": "production", "DATABASE_URL": "postgresql://db/postgres"},
        [
            "WELFARE_HUB_JWKS or WELFARE_HUB_JWKS_URL (the token issuer's public keys) is not set",
            "WELFARE_HUB_KEYS (the hub's HMAC key ring)",
            "WELFARE_HUB_AUDIT_KEYS (the keys that sign audit checkpoints)",
        ],
    ),
    (
        "every kind of problem at once",
        {
            "WELFARE_HUB_ENV": "production",
            "WELFARE_HUB_MAX_TOKENS": "lots",
            "WELFARE_HUB_MAX_ALIASES": "-5",
            "WELFARE_HUB_DB_PREFIX": "BAD",
            "WELFARE_HUB_DWP_URL": "postgresql://db/dwp",
        },
        [
            "WELFARE_HUB_DB_PREFIX",
            "missing WELFARE_HUB_HUB_URL, WELFARE_HUB_HB_URL, WELFARE_HUB_SOCIAL_CARE_URL",
            "WELFARE_HUB_MAX_TOKENS must be a number",
            "WELFARE_HUB_MAX_ALIASES must be at least 0",
            "WELFARE_HUB_JWKS",
            "WELFARE_HUB_KEYS",
            "WELFARE_HUB_AUDIT_KEYS",
        ],
    ),
]


@pytest.mark.parametrize(("description", "env", "fragments"), BAD, ids=[c[0] for c in BAD])
def test_from_environ_lists_every_problem(description: str, env: dict[str, str], fragments: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_environ(env)
    problems = caught.value.problems
    assert len(problems) == len(fragments), problems
    for fragment in fragments:
        assert sum(fragment in problem for problem in problems) == 1, (fragment, problems)
        assert fragment in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_from_environ_reads_only_the_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WELFARE_HUB_ENV", "production")
    monkeypatch.setenv("WELFARE_HUB_PORT", "not-a-port")
    assert Settings.from_environ({}) == Settings()


@pytest.mark.parametrize("prefix", ["", "wh_"])
def test_store_role_names(prefix: str) -> None:
    owners, services = zip(*(store_role_names(prefix, store) for store in STORES), strict=True)
    assert len(set(owners + services)) == 2 * len(STORES)  # one role each, never shared
    assert all(role.startswith(prefix) for role in owners + services)
    assert store_role_names(prefix, "hub") == (f"{prefix}hub_owner", f"{prefix}hub_app")
    for store in SOURCE_STORES:
        # The service role of a source only reads.
        assert store_role_names(prefix, store) == (f"{prefix}{store}_owner", f"{prefix}{store}_reader")


# (description, DATABASE_URL, prefix, server part the derived URLs keep, query string they keep)
SERVERS = [
    ("plain", "postgresql://admin@db.example:5432/postgres", "", "db.example:5432", ""),
    ("with a prefix", "postgresql://admin@db.example:5432/postgres", "wh_", "db.example:5432", ""),
    (
        "password and TLS options",
        "postgresql://admin:s3cret@db.example/postgres?sslmode=require",
        "wh_",
        "db.example",
        "?sslmode=require",
    ),
    ("IPv6 host", "postgresql://admin@[::1]:6543/postgres", "t_", "[::1]:6543", ""),
]


@pytest.mark.parametrize(("description", "url", "prefix", "server", "query"), SERVERS, ids=[c[0] for c in SERVERS])
@pytest.mark.parametrize("store", STORES)
def test_service_url_uses_the_store_role_and_database(
    description: str, url: str, prefix: str, server: str, query: str, store: StoreName
) -> None:
    settings = Settings.from_environ({"DATABASE_URL": url, "WELFARE_HUB_DB_PREFIX": prefix})
    _, service_role = store_role_names(prefix, store)
    # The administrator's name and password never reach the service's URL.
    assert settings.service_url(store) == f"postgresql://{service_role}@{server}/{prefix}{store}{query}"
    assert settings.database_name(store) == f"{prefix}{store}"


@pytest.mark.parametrize(("description", "url", "prefix", "server", "query"), SERVERS, ids=[c[0] for c in SERVERS])
def test_admin_url_keeps_the_admin_role(description: str, url: str, prefix: str, server: str, query: str) -> None:
    settings = Settings.from_environ({"DATABASE_URL": url, "WELFARE_HUB_DB_PREFIX": prefix})
    credentials = url.removeprefix("postgresql://").split("@")[0]
    assert settings.admin_url() == f"postgresql://{credentials}@{server}/postgres{query}"
    for store in STORES:
        assert settings.admin_url(store) == f"postgresql://{credentials}@{server}/{prefix}{store}{query}"


def test_per_store_urls_are_used_as_given() -> None:
    settings = Settings.from_environ({**ALL_STORE_URLS, "DATABASE_URL": "postgresql://admin@other/postgres"})
    assert [settings.service_url(store) for store in STORES] == list(ALL_STORE_URLS.values())


def test_urls_without_a_database_url_name_the_variable_to_set() -> None:
    settings = Settings.from_environ({})
    with pytest.raises(ConfigError, match="WELFARE_HUB_SOCIAL_CARE_URL"):
        settings.service_url("src_social_care")
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        settings.admin_url("hub")
    assert settings.with_database("postgresql://u@h/postgres").service_url("hub") == "postgresql://hub_app@h/hub"


def test_a_source_answered_by_its_subgraph_needs_no_store_url() -> None:
    env = {k: v for k, v in ALL_STORE_URLS.items() if k != "WELFARE_HUB_HB_URL"}
    settings = Settings.from_environ({**env, "WELFARE_HUB_SUBGRAPH_HB_URL": "http://127.0.0.1:4002/"})
    assert dict(settings.subgraph_urls) == {"hb": "http://127.0.0.1:4002"}
    with pytest.raises(ConfigError) as refused:  # the hub's own store is always needed
        Settings.from_environ(
            {**env, "WELFARE_HUB_HUB_URL": "", "WELFARE_HUB_SUBGRAPH_HB_URL": "http://127.0.0.1:4002"}
        )
    assert "WELFARE_HUB_HUB_URL" in " ".join(refused.value.problems)
    with pytest.raises(ConfigError) as off_host:
        Settings.from_environ(
            {
                **ALL_STORE_URLS,
                "WELFARE_HUB_ENV": "production",
                "WELFARE_HUB_SUBGRAPH_DWP_URL": "http://dwp.example.gov.uk",
            }
        )
    assert any("https only in production" in p for p in off_host.value.problems)
