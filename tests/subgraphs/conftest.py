"""The reference subgraphs as the hub meets them: each a real ``welfare-hub subgraph`` process on loopback,
over its own uniquely named PostgreSQL store (the hub's migrations and the shared test people, plus a few
people of another council here), verifying assertions signed with a real Ed25519 key.

These fixtures need nothing of the hub's app: the subgraphs stand beside it (run this folder alone with
``--confcutdir tests/subgraphs`` while the hub's app is being rebuilt).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import orjson
import pytest

from hub.config import Settings, store_role_names
from hub.ops.issuer import IssuerKey
from hub.ops.migrate import drop_stores, migrate
from hub.types import SOURCE_STORES, StoreName
from resolvers.sources.assertion import AssertionSigner
from resolvers.sources.contract import Ask, coordinates
from tests.people import PIP_MOVING, insert_people

HUB_ISSUER = "https://hub.test.invalid"
COUNCIL = "E09000901"  # the shared test people's council
OTHER_COUNCIL = "E09000902"
OTHER_ONLY = "JK102038A"  # held by HB and social care at the other council only (and by DWP)
SECRET = "subgraph-test-secret-0123456789abcdef"
SOURCES = ("dwp", "hb", "social_care")


def db_url(base: str, database: str, user: str | None) -> str:
    parts = urlsplit(base)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{user}@{host}:{parts.port or 5432}" if user else parts.netloc
    return urlunsplit((parts.scheme, netloc, f"/{database}", "", ""))


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    from hub.ops.embedded import start_embedded

    server = start_embedded(Path(os.environ.get("TMPDIR", "/tmp")) / f"pg-sub-{uuid.uuid4().hex[:8]}")
    try:
        yield server.dsn
    finally:
        server.stop()


@pytest.fixture(scope="session")
async def stores(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Settings]:
    """The four stores, migrated (the sources' migrations include their access logs), with test people."""
    s = Settings(database_url=server_url, db_prefix=f"t{uuid.uuid4().hex[:10]}_", data_dir=tmp_path_factory.mktemp("d"))
    await migrate(s)
    admin = {store: await asyncpg.connect(s.admin_url(store)) for store in SOURCE_STORES}
    try:
        await insert_people(admin)  # type: ignore[arg-type]
        await _insert_others(admin)
    finally:
        await asyncio.gather(*(c.close() for c in admin.values()))
    try:
        yield s
    finally:
        await drop_stores(s)


async def _insert_others(admin: dict[StoreName, asyncpg.Connection]) -> None:
    dwp, hb, sc = admin["src_dwp"], admin["src_hb"], admin["src_social_care"]
    await dwp.execute(
        """INSERT INTO dwp.person (person_id, nino, given_name, family_name, date_of_birth, address_line1, town,
               postcode, address_protected)
           VALUES (40, $1, 'Ruth', 'Adeyemi', '1961-11-30', '9 Far Road', 'Southtown', 'ST1 1AA', true)""",
        OTHER_ONLY,
    )
    await hb.execute(
        """INSERT INTO hb.claim (claim_ref, council_code, nino, given_name, family_name, date_of_birth, address_line1,
               postcode, tenancy_type, weekly_rent, weekly_award, bedroom_entitlement, overnight_carer_room, start_date)
           VALUES ('HB0000040', $2, $1, 'Ruth', 'Adeyemi', '1961-11-30', '9 Far Road', 'ST1 1AA',
                   'lha', 120.00, 100.00, 1, false, '2021-02-01'),
                  ('HB0000041', $2, $3, 'Samira', 'Khan', '1972-05-05', '4 Far Road', 'ST1 1AB',
                   'social', 90.00, 70.00, 1, false, '2022-03-01')""",
        OTHER_ONLY,
        OTHER_COUNCIL,
        PIP_MOVING,
    )
    await sc.execute(
        """INSERT INTO social_care.client (client_id, council_code, nhs_number, nino, given_name, family_name,
               date_of_birth, postcode) VALUES ('SC000040', $2, '9434765828', $1, 'Ruth', 'Adeyemi', '1961-11-30',
               'ST1 1AA')""",
        OTHER_ONLY,
        OTHER_COUNCIL,
    )


def owner_url(settings: Settings, store: StoreName) -> str:
    assert settings.database_url is not None
    return db_url(settings.database_url, settings.database_name(store), store_role_names(settings.db_prefix, store)[0])


def reader_url(settings: Settings, store: StoreName) -> str:
    """The store's read-only role: a subgraph given it cannot write its access log."""
    assert settings.database_url is not None
    return db_url(settings.database_url, settings.database_name(store), store_role_names(settings.db_prefix, store)[1])


@pytest.fixture(scope="session")
def hub_key() -> IssuerKey:
    return IssuerKey.generate("hub-assert-1")


@pytest.fixture(scope="session")
def jwks_file(hub_key: IssuerKey, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("jwks") / "jwks.json"
    path.write_text(json.dumps(hub_key.jwks()))
    return path


@pytest.fixture(scope="session")
def signer(hub_key: IssuerKey) -> AssertionSigner:
    return AssertionSigner(hub_key.private_key, hub_key.kid, issuer=HUB_ISSUER)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Running:
    source: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_subgraph(source: str, env: dict[str, str], log_path: Path) -> Running:
    """``welfare-hub subgraph <source> serve`` in its own process, once it answers."""
    port = free_port()
    spelled = "social-care" if source == "social_care" else source
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "hub", "subgraph", spelled, "serve", "--port", str(port)],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/graphql"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"subgraph {source} exited: {log_path.read_text()}")
        with contextlib.suppress(httpx.TransportError):
            httpx.post(url, content=b"{}", timeout=1)
            return Running(source, url, process, log_path)
        time.sleep(0.1)
    process.terminate()
    raise AssertionError(f"subgraph {source} did not start: {log_path.read_text()}")


def subgraph_env(settings: Settings, source: str, jwks: Path, *, url: str | None = None) -> dict[str, str]:
    store: StoreName = f"src_{source}"  # type: ignore[assignment]
    return {
        "WELFARE_SUBGRAPH_DATABASE_URL": url or owner_url(settings, store),
        "WELFARE_SUBGRAPH_HUB_JWKS": str(jwks),
        "WELFARE_SUBGRAPH_HUB_ISSUER": HUB_ISSUER,
        "WELFARE_SUBGRAPH_SECRET": SECRET,
        "WELFARE_SUBGRAPH_TIMEOUT": "2",
    }


@pytest.fixture(scope="session")
def subgraphs(
    stores: Settings, jwks_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Running]]:
    """The three subgraphs, each its own process over its own store."""
    logs = tmp_path_factory.mktemp("logs")
    running: dict[str, Running] = {}
    try:
        for source in SOURCES:
            running[source] = start_subgraph(source, subgraph_env(stores, source, jwks_file), logs / f"{source}.log")
        yield running
    finally:
        for r in running.values():
            r.process.terminate()
        for r in running.values():
            r.process.wait(10)


@pytest.fixture(scope="session")
async def store_conns(stores: Settings) -> AsyncIterator[dict[str, asyncpg.Connection]]:
    conns = {s: await asyncpg.connect(stores.admin_url(f"src_{s}")) for s in SOURCES}  # type: ignore[arg-type]
    try:
        yield conns
    finally:
        await asyncio.gather(*(c.close() for c in conns.values()))


# -- asking, as the hub does ------------------------------------------------------------------------------

ENTITY = {"dwp": "DwpPerson", "hb": "HbPerson", "social_care": "CareClient"}


def ask(
    selection: dict[str, frozenset[str]],
    *,
    purpose: str = "CARE_CHARGING_DOMICILIARY",
    councils: frozenset[str] | None = frozenset({COUNCIL}),
) -> Ask:
    return Ask(
        purpose=purpose,
        legal_basis="SI 2012/1483 reg. 5(1)(c)",
        org="council-care-finance-test",
        org_type="council_care_finance",
        audit_id=uuid.uuid4(),
        selection=selection,
        councils=councils,
    )


@dataclass
class Call:
    status: int
    body: dict[str, Any]
    ask: Ask
    jti: str = ""
    token: str = ""
    raw: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def codes(self) -> list[str]:
        return [e.get("extensions", {}).get("code") for e in self.body.get("errors", [])]

    @property
    def spans(self) -> list[dict[str, Any]]:
        return list(self.body.get("extensions", {}).get("spans", []))


async def post(
    url: str,
    body: bytes,
    *,
    token: str | None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    h = {"content-type": "application/json", "x-welfare-hub-spans": "1", **(headers or {})}
    if token is not None:
        h["authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(url, content=body, headers=h)
    return response.status_code, response.json()


def entities_document(entity: str, selection_text: str) -> str:
    return (
        "query($r: [_Any!]!) { _entities(representations: $r) { __typename ... on "
        f"{entity} {{ {selection_text} }} }} }}"
    )


async def call(
    signer: AssertionSigner,
    running: Running,
    query: str,
    variables: dict[str, Any] | None,
    the_ask: Ask,
    *,
    fields: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> Call:
    """POST the document with a fresh assertion naming ``fields`` (by default, the ask's coordinates)."""
    body = orjson.dumps({"query": query, "variables": variables or {}})
    named = fields if fields is not None else coordinates(ENTITY[running.source], the_ask.selection)
    token = signer.mint(audience=running.source, ask=the_ask, fields=named, body=body)
    import jwt

    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    status, answer = await post(running.url, body, token=token, headers=headers)
    return Call(status, answer, the_ask, jti=jti, token=token, raw=body)


def today() -> dt.date:
    return dt.date.today()
