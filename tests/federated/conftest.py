"""The hub over its sources' subgraphs: the three reference subgraphs, each a real ``welfare-hub subgraph``
process over the session's source stores (the test people), verifying the purpose assertions the hub
signs with its own key; and a hub configured to call them rather than read the stores."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.config import Settings, store_role_names
from hub.ops.issuer import IssuerKey
from hub.types import StoreName
from tests.conftest import running_client
from tests.subgraphs.conftest import Running, db_url, start_subgraph

SOURCES = ("dwp", "hb", "social_care")
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
        for source in SOURCES:
            running[source] = start_subgraph(source, subgraph_env(settings, source, hub_jwks), logs / f"{source}.log")
        yield running
    finally:
        for r in running.values():
            r.process.terminate()
        for r in running.values():
            r.process.wait(10)


def over(subgraphs: dict[str, Running], settings: Settings, **changes: Any) -> Settings:
    """``settings`` with every source answered by its subgraph."""
    urls = {name: r.url.removesuffix("/graphql") for name, r in subgraphs.items()}
    return dataclasses.replace(settings, subgraph_urls=urls, **changes)


@pytest.fixture(scope="session")
async def federated(settings: Settings, subgraphs: dict[str, Running]) -> AsyncIterator[httpx.AsyncClient]:
    async with running_client(over(subgraphs, settings)) as client:
        yield client
