"""The hub's public keys, as the subgraph knows them: a JWKS file or URL, re-read on an unknown key id.

A key rotation at the hub shows up here as an assertion signed by a key id not yet known: the key set is
read again, at most once a minute (so forged key ids cannot make the subgraph hammer the hub), and the
assertion verified once more.

The read has one deadline over all of it (connecting, the headers, every byte of the body): a socket
timeout is per read, and a JWKS endpoint that drips a byte a second would otherwise hold the refresh for
hours. While a refresh runs, another assertion with an unknown key id does not wait for it: it is answered
at once as signed by an unknown key (the hub retries a refused call; a request queued behind a stalled
refresh would hold its connection and its client for as long as the stall).
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import jwt

from resolvers.sources.assertion import Assertion, InvalidAssertion
from subgraphs.verify import FastVerifier

__all__ = ["HubKeys", "parse_jwks", "read_jwks"]

_REFRESH_SECONDS = 60.0
_MAX_JWKS_BYTES = 1 << 16


def parse_jwks(raw: bytes) -> dict[str, Any]:
    """A JWKS document from its bytes (a ValueError when it is not one)."""
    if len(raw) > _MAX_JWKS_BYTES:
        raise ValueError("the hub's JWKS document is too large")
    document = json.loads(raw)
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document")
    return document


async def read_jwks(*, path: Path | None = None, url: str | None = None, deadline: float = 5.0) -> dict[str, Any]:
    """The JWKS document, read within ``deadline`` seconds in all (a TimeoutError past it)."""
    async with asyncio.timeout(deadline):
        if path is not None:
            raw = await asyncio.to_thread(lambda: path.read_bytes()[: _MAX_JWKS_BYTES + 1])
        elif url is not None:
            # The URL was checked at start-up: https, or http on loopback (SubgraphConfig). Cancelling the
            # read (the deadline) closes its connection: nothing is left running behind it.
            async with (
                aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session,
                session.get(url, allow_redirects=False) as response,
            ):
                response.raise_for_status()
                raw = b""
                while len(raw) <= _MAX_JWKS_BYTES:
                    chunk = await response.content.read(_MAX_JWKS_BYTES + 1 - len(raw))
                    if not chunk:
                        break
                    raw += chunk
        else:
            raise ValueError("a JWKS path or URL is needed")
    return parse_jwks(raw)


class HubKeys:
    """Verifies assertions with the hub's current keys, for one audience (this source)."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        path: Path | None = None,
        url: str | None = None,
        deadline: float = 5.0,
        now: Any = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.deadline = deadline
        self._path, self._url = path, url
        self._now = now
        self._verifier = FastVerifier({"keys": []}, issuer=issuer, audience=audience)
        self._loaded_at: float | None = None
        self._refreshing = False

    async def load(self) -> None:
        document = await read_jwks(path=self._path, url=self._url, deadline=self.deadline)
        self._verifier = FastVerifier(document, issuer=self.issuer, audience=self.audience)
        self._loaded_at = self._now()

    async def verify(self, token: str, body: bytes) -> Assertion:
        try:
            return self._verifier.verify(token, body)
        except InvalidAssertion as e:
            if e.reason != "unknown signing key" or not await self._refresh():
                raise
        return self._verifier.verify(token, body)

    async def _refresh(self) -> bool:
        """Read the key set again unless it was read within the last minute or is being read now; whether
        it was read (one event loop: the check and the flag are set with no await between them)."""
        if self._refreshing:
            return False  # never queue behind a read in progress: it may be the one that stalls
        if self._loaded_at is not None and self._now() - self._loaded_at < _REFRESH_SECONDS:
            return False
        self._loaded_at = self._now()  # a failed read counts too: no retry storm against the hub
        self._refreshing = True
        try:
            await self.load()
        except (OSError, ValueError, TimeoutError, aiohttp.ClientError, jwt.PyJWTError):
            return False
        finally:
            self._refreshing = False
        return True
