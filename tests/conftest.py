"""Shared fixtures: a real PostgreSQL (the configured server, or an embedded one), uniquely named stores
per run (dropped afterwards), real keys, real tokens, and the app with its lifespan.

The stores of one run are created under a random prefix, so runs sharing a server never see each
other's data.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn

from hub.access.keys import new_key_ring_document, write_key_ring
from hub.access.orgs import Organisation
from hub.app import Hooks, create_app
from hub.audit import tracing
from hub.audit.checkpoints import AuditKeys
from hub.config import Settings, store_role_names
from hub.ops.issuer import IssuerKey
from hub.ops.migrate import drop_stores, migrate
from hub.records.orgs import load_areas
from hub.records.orgs import upsert as upsert_orgs
from hub.types import SOURCE_STORES, StoreName
from tests.people import insert_people
from tests.subgraphs.conftest import Running, db_url, start_subgraph
from tests.telemetry import Telemetry, collecting

ISSUER = "test-idp"
AUDIENCE = "welfare-hub-test"


@pytest.fixture(scope="session", autouse=True)
def telemetry() -> Iterator[Telemetry]:
    """Spans (exported over OTLP/HTTP to a receiver on loopback), logs and response errors of the whole
    session, for the PII scan that runs last (tests/test_telemetry_scan.py)."""
    with collecting() as collected:
        provider = tracing.configure({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": collected.receiver.endpoint})
        _COLLECTED.append(collected)
        try:
            yield collected
        finally:
            _COLLECTED.clear()
            provider.force_flush()


_COLLECTED: list[Telemetry] = []  # the session's collector, for running_client to wrap its apps with


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    from hub.ops.embedded import start_embedded

    server = start_embedded(tmp_path_factory.mktemp("pg") / "data")
    try:
        yield server.dsn
    finally:
        server.stop()


@pytest.fixture(scope="session")
def issuer() -> IssuerKey:
    return IssuerKey.generate("test-key-1")


@pytest.fixture(scope="session")
async def settings(
    server_url: str, issuer: IssuerKey, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Settings]:
    keys = tmp_path_factory.mktemp("keys")
    jwks = keys / "jwks.json"
    jwks.write_text(__import__("json").dumps(issuer.jwks()))
    write_key_ring(keys / "ring.json", new_key_ring_document("test-k1"))
    AuditKeys.generate("test-a1").save(keys / "audit.json")
    IssuerKey.generate("test-hub-1").save(keys / "hub-assertion.json")
    s = Settings(
        database_url=server_url,
        db_prefix=f"t{uuid.uuid4().hex[:10]}_",
        data_dir=Path(keys),
        issuer=ISSUER,
        audience=AUDIENCE,
        jwks_path=jwks,
        keys_path=keys / "ring.json",
        audit_keys_path=keys / "audit.json",
        assertion_key_path=keys / "hub-assertion.json",
        source_timeout=1.0,
        org_cache_seconds=0.0,  # tests re-register organisations between requests
        rate_limits_path=Path(__file__).parent / "ratelimits.toml",  # only the rate-limit tests are limited
    )
    await migrate(s)
    hub = await asyncpg.connect(s.admin_url("hub"))
    try:
        # The test people live in Northtown (NT), the test council's area.
        await load_areas(hub, [(f"NT{n}", TEST_COUNCIL) for n in range(1, 10)])
    finally:
        await hub.close()
    try:
        yield s
    finally:
        await drop_stores(s)


@pytest.fixture(scope="session")
async def admin(settings: Settings) -> AsyncIterator[dict[str, asyncpg.Connection]]:
    """Administrator connections to each store: how tests arrange data and inspect what the hub did."""
    conns = {store: await asyncpg.connect(settings.admin_url(store)) for store in (*SOURCE_STORES, "hub")}
    try:
        yield conns
    finally:
        await asyncio.gather(*(c.close() for c in conns.values()))


@pytest.fixture(scope="session")
async def people(admin: dict[str, asyncpg.Connection], telemetry: Telemetry) -> dict[str, Any]:
    inserted = await insert_people(admin)
    await telemetry.remember_people(admin)
    return inserted


class QueryCounter:
    """Counts the person lookups each source actually executes (asyncpg's query logger): record reads in
    ``counts``, legitimate-relationship checks (council and postcode only) in ``tie_counts``."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.tie_counts: dict[str, int] = {}

    async def attach(self, store: str, conn: asyncpg.Connection) -> None:
        def log(record: Any) -> None:
            if "= ANY($1" in record.query:
                bucket = self.tie_counts if "AS council_code" in record.query else self.counts
                bucket[store] = bucket.get(store, 0) + 1

        conn.add_query_logger(log)

    def reset(self) -> None:
        self.counts.clear()
        self.tie_counts.clear()

    @property
    def total(self) -> int:
        return sum(self.counts.values()) + sum(self.tie_counts.values())


@pytest.fixture(scope="session")
def queries() -> QueryCounter:
    return QueryCounter()


@contextlib.asynccontextmanager
async def running_client(settings: Settings, hooks: Hooks | None = None) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, hooks=hooks)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=_COLLECTED[0].wrap(app) if _COLLECTED else app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
            yield client


# -- the sources as their owners' subgraphs --------------------------------------------------------------

SUBGRAPH_SOURCES = ("dwp", "hb", "social_care")
SECRET = "federated-test-secret-0123456789abcdef"


def subgraph_env(settings: Settings, source: str, jwks: Path) -> dict[str, str]:
    store: StoreName = f"src_{source}"  # type: ignore[assignment]
    assert settings.database_url is not None
    owner = store_role_names(settings.db_prefix, store)[0]
    return {
        "WELFARE_SUBGRAPH_DATABASE_URL": db_url(settings.database_url, settings.database_name(store), owner),
        "WELFARE_SUBGRAPH_HUB_JWKS": str(jwks),
        "WELFARE_SUBGRAPH_HUB_ISSUER": settings.assertion_issuer,
        "WELFARE_SUBGRAPH_SECRET": SECRET,
        "WELFARE_SUBGRAPH_TIMEOUT": "2",
    }


@pytest.fixture(scope="session")
def hub_jwks(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hub's assertion key set, as each subgraph's operator is given it."""
    assert settings.assertion_key_path is not None
    path = tmp_path_factory.mktemp("hub-jwks") / "jwks.json"
    path.write_text(json.dumps(IssuerKey.load(settings.assertion_key_path).jwks()))
    return path


@pytest.fixture(scope="session")
def subgraphs(
    settings: Settings, people: dict[str, Any], hub_jwks: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Running]]:
    logs = tmp_path_factory.mktemp("subgraph-logs")
    running: dict[str, Running] = {}
    try:
        for source in SUBGRAPH_SOURCES:
            running[source] = start_subgraph(source, subgraph_env(settings, source, hub_jwks), logs / f"{source}.log")
        yield running
    finally:
        for r in running.values():
            r.process.terminate()
        for r in running.values():
            r.process.wait(10)


@pytest.fixture(scope="session")
async def client(
    settings: Settings, people: dict[str, Any], queries: QueryCounter, request: pytest.FixtureRequest
) -> AsyncIterator[httpx.AsyncClient]:
    # WELFARE_HUB_TEST_SOURCES=subgraph runs the hub's tests with every source answered by its subgraph
    # process (the tests that count a source's SQL statements, or read its pools, then fail: they are the
    # direct transport's own).
    if os.environ.get("WELFARE_HUB_TEST_SOURCES") == "subgraph":
        running = request.getfixturevalue("subgraphs")
        settings = replace(settings, subgraph_urls={n: r.url.removesuffix("/graphql") for n, r in running.items()})
    async with running_client(settings, Hooks(on_source_connect=queries.attach)) as c:
        yield c


#: The council the tests' organisations serve (the synthetic data's first).
TEST_COUNCIL = "E09000901"


def make_token(issuer: IssuerKey, settings: Settings, council: str | None = TEST_COUNCIL) -> Any:
    """A token minter for the hub of ``settings``: it registers the organisation (as ``org_type``, serving
    ``council``'s area) in that hub's organisation register first."""
    registered: dict[str, str] = {}

    def register(org: str, org_type: str) -> None:
        if registered.get(org) == org_type:
            return

        async def run() -> None:
            conn = await asyncpg.connect(settings.admin_url("hub"))
            try:
                await upsert_orgs(
                    conn, [Organisation(org, org, org_type, council_code=council, national=council is None)]
                )
            finally:
                await conn.close()

        # Tests mint inside their own event loop: register from another thread, with its own.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, run()).result()
        registered[org] = org_type

    def mint(org_type: str, *purposes: str, org: str | None = None, **kwargs: Any) -> str:
        org = org or f"test-{org_type}"
        register(org, org_type)
        return issuer.mint(
            issuer=ISSUER, audience=AUDIENCE, org=org, org_type=org_type, user="officer-1", purposes=purposes, **kwargs
        )

    return mint


@pytest.fixture(scope="session")
def token(issuer: IssuerKey, settings: Settings) -> Any:
    return make_token(issuer, settings)


async def gql(
    client: httpx.AsyncClient,
    token: str | None,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
    **kw: Any,
) -> httpx.Response:
    """POST a GraphQL request; ``kw`` goes into the JSON body (operationName, ...), ``headers`` on the wire."""
    sent = {"Authorization": f"Bearer {token}"} if token else {}
    return await client.post(
        "/graphql", json={"query": query, "variables": variables or {}, **kw}, headers={**sent, **(headers or {})}
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[str]:
    """The hub on a real uvicorn server on loopback; its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(100):
            if server.started:
                break
            await asyncio.sleep(0.05)
        assert server.started
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


__all__ = ["QueryCounter", "codes", "gql", "make_token", "replace", "running_client"]
