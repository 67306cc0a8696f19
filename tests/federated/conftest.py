"""The hub over its sources' subgraphs: the three reference subgraphs, each a real ``welfare-hub subgraph``
process over the session's source stores (the test people), verifying the purpose assertions the hub
signs with its own key; and a hub configured to call them rather than read the stores."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from hub.config import Settings
from tests.conftest import running_client
from tests.subgraphs.conftest import Running


def over(subgraphs: dict[str, Running], settings: Settings, **changes: Any) -> Settings:
    """``settings`` with every source answered by its subgraph."""
    urls = {name: r.url.removesuffix("/graphql") for name, r in subgraphs.items()}
    return dataclasses.replace(settings, subgraph_urls=urls, **changes)


@pytest.fixture(scope="session")
async def federated(settings: Settings, subgraphs: dict[str, Running]) -> AsyncIterator[httpx.AsyncClient]:
    async with running_client(over(subgraphs, settings)) as client:
        yield client
