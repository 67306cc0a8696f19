"""The hub's keys as the subgraph reads them: one deadline over a whole JWKS read, no request queued behind
a refresh in progress, and a key set with one key that cannot be used still serving its good keys."""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from hub.ops.issuer import IssuerKey
from resolvers.sources.assertion import AssertionSigner, AssertionVerifier, InvalidAssertion
from resolvers.sources.contract import Ask
from subgraphs.keys import HubKeys


def _ask() -> Ask:
    return Ask("BLUE_BADGE", "basis", "org", "council_blue_badge", uuid.uuid4(), {})


def _mint(key: IssuerKey, body: bytes = b"{}") -> str:
    return AssertionSigner(key.private_key, key.kid, issuer="hub").mint(
        audience="dwp", ask=_ask(), fields=[], body=body
    )


class _Hub:
    """A JWKS endpoint on loopback: the first read answers at once, every later one drips a byte a second."""

    def __init__(self, document: bytes) -> None:
        self.reads = 0
        self.stop = threading.Event()
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hub.reads += 1
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(document)))
                self.end_headers()
                if hub.reads == 1:
                    self.wfile.write(document)
                    return
                for byte in document:  # well within any per-read socket timeout, never done
                    if hub.stop.wait(1.0):
                        return
                    try:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                    except OSError:
                        return

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"

    @property
    def thread(self) -> threading.Thread:
        return threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def slow_hub() -> Iterator[tuple[_Hub, IssuerKey]]:
    key = IssuerKey.generate("hub-slow-1")
    hub = _Hub(json.dumps(key.jwks()).encode())
    hub.thread.start()
    try:
        yield hub, key
    finally:
        hub.stop.set()
        hub.server.shutdown()
        hub.server.server_close()


async def test_a_dripping_jwks_endpoint_is_given_up_on_at_the_deadline(slow_hub: tuple[_Hub, IssuerKey]) -> None:
    hub, key = slow_hub
    keys = HubKeys(issuer="hub", audience="dwp", url=hub.url, deadline=1.0)
    await keys.load()  # the first read is quick
    assert (await keys.verify(_mint(key), b"{}")).audience == "dwp"
    assert keys._loaded_at is not None
    keys._loaded_at -= 120  # read two minutes ago: an unknown key id may have it read again

    unknown = IssuerKey.generate("hub-slow-2")
    started = time.monotonic()
    refresh = asyncio.create_task(keys.verify(_mint(unknown), b"{}"))
    await asyncio.sleep(0.2)  # the refresh is reading, a byte a second
    # Another unknown key id meanwhile: answered at once, not queued behind the stalled read.
    queued = time.monotonic()
    with pytest.raises(InvalidAssertion, match="unknown signing key"):
        async with asyncio.timeout(0.5):
            await keys.verify(_mint(unknown), b"{}")
    assert time.monotonic() - queued < 0.2
    # A known key is never held up by it either.
    assert (await keys.verify(_mint(key), b"{}")).audience == "dwp"
    with pytest.raises(InvalidAssertion, match="unknown signing key"):
        async with asyncio.timeout(3):  # the whole read's deadline is 1 s, however slowly it drips
            await refresh
    assert time.monotonic() - started < 2.5
    assert hub.reads == 2


def _bad_keys(good: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"kty": "OKP", "crv": "Ed25519", "kid": "broken", "x": "not-base64-!!"},  # does not parse
        {"kty": "OKP", "crv": "Ed25519", "kid": "short", "x": "AAAA"},  # not an Ed25519 point's length
        {"kty": "EC", "crv": "P-256", "kid": "ec", "x": "AAAA", "y": "AAAA"},  # another algorithm, broken too
        {"kty": "RSA", "kid": "rsa"},  # no modulus
        {"kty": "nonsense", "kid": "what"},
        {"kid": "no-type"},
        "not an object",
        {**good, "kid": 7},  # a kid that is not a string
    ]


def test_one_unparsable_key_does_not_reject_the_key_set() -> None:
    key = IssuerKey.generate("hub-good-1")
    good = key.jwk()
    for bad in _bad_keys(good):
        verifier = AssertionVerifier({"keys": [bad, good]}, issuer="hub", audience="dwp")
        assert verifier.verify(_mint(key), b"{}").audience == "dwp", bad


async def test_a_refresh_to_a_key_set_with_a_bad_key_learns_its_good_keys(tmp_path: Any) -> None:
    old, new = IssuerKey.generate("hub-old"), IssuerKey.generate("hub-new")
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(old.jwks()))
    keys = HubKeys(issuer="hub", audience="dwp", path=path, now=lambda: 0.0)
    await keys.load()
    keys._loaded_at = -120.0  # read two minutes ago: an unknown key id may read it again
    path.write_text(json.dumps({"keys": [*_bad_keys(new.jwk()), new.jwk()]}))
    assert (await keys.verify(_mint(new), b"{}")).audience == "dwp"
