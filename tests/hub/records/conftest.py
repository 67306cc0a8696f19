"""What the records' own tests share: a small pool on the real hub database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from hub.config import Settings
from hub.db import create_store_pool


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_store_pool(settings.service_url("hub"), max_size=2)
    try:
        yield pool
    finally:
        await pool.close()
