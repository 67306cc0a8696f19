"""The hub's public keys, as the subgraph knows them: a JWKS file or URL, re-read on an unknown key id.

A key rotation at the hub shows up here as an assertion signed by a key id not yet known: the key set is
read again, at most once a minute (so forged key ids cannot make the subgraph hammer the hub), off the
event loop, and the assertion verified once more.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

from resolvers.sources.assertion import Assertion, AssertionVerifier, InvalidAssertion

__all__ = ["HubKeys", "read_jwks"]

_REFRESH_SECONDS = 60.0
_MAX_JWKS_BYTES = 1 << 16


def read_jwks(*, path: Path | None = None, url: str | None = None, timeout: float = 5.0) -> dict[str, Any]:
    """The JWKS document (blocking: call it off the event loop)."""
    if path is not None:
        raw = path.read_bytes()[:_MAX_JWKS_BYTES]
    elif url is not None:
        # The URL was checked at start-up: https, or http on loopback (SubgraphConfig).
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            raw = response.read(_MAX_JWKS_BYTES + 1)
        if len(raw) > _MAX_JWKS_BYTES:
            raise ValueError("the hub's JWKS document is too large")
    else:
        raise ValueError("a JWKS path or URL is needed")
    document = json.loads(raw)
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document")
    return document


class HubKeys:
    """Verifies assertions with the hub's current keys, for one audience (this source)."""

    def __init__(
        self, *, issuer: str, audience: str, path: Path | None = None, url: str | None = None, now: Any = time.monotonic
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self._path, self._url = path, url
        self._now = now
        self._verifier = AssertionVerifier({"keys": []}, issuer=issuer, audience=audience)
        self._loaded_at: float | None = None
        self._lock = asyncio.Lock()

    async def load(self) -> None:
        document = await asyncio.to_thread(read_jwks, path=self._path, url=self._url)
        self._verifier = AssertionVerifier(document, issuer=self.issuer, audience=self.audience)
        self._loaded_at = self._now()

    async def verify(self, token: str, body: bytes) -> Assertion:
        try:
            return self._verifier.verify(token, body)
        except InvalidAssertion as e:
            if e.reason != "unknown signing key" or not await self._refresh():
                raise
        return self._verifier.verify(token, body)

    async def _refresh(self) -> bool:
        """Read the key set again unless it was read within the last minute; whether it was."""
        async with self._lock:
            if self._loaded_at is not None and self._now() - self._loaded_at < _REFRESH_SECONDS:
                return False
            self._loaded_at = self._now()  # a failed read counts too: no retry storm against the hub
            try:
                await self.load()
            except (OSError, ValueError):
                return False
            return True
