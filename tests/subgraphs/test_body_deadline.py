"""Reading a request's body has a deadline (it is read before the assertion is checked), and the server's
connection limits are configured: a client dripping its body is answered 408 at the deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from hub.config import Settings
from hub.errors import ConfigError
from subgraphs.config import SubgraphConfig
from tests.subgraphs.conftest import SECRET, Running, start_subgraph, subgraph_env


@pytest.fixture(scope="module")
def impatient(stores: Settings, jwks_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    env = {**subgraph_env(stores, "hb", jwks_file), "WELFARE_SUBGRAPH_BODY_TIMEOUT": "1"}
    running = start_subgraph("hb", env, tmp_path_factory.mktemp("impatient") / "hb.log")
    try:
        yield running
    finally:
        running.process.terminate()
        running.process.wait(10)


async def _drip(url: str, body: bytes, every: float) -> tuple[bytes, float]:
    """POST ``body`` a byte every ``every`` seconds on a raw connection; (the answer, seconds to it)."""
    host, _, rest = url.removeprefix("http://").partition(":")
    port = int(rest.split("/", 1)[0])
    reader, writer = await asyncio.open_connection(host, port)
    started = time.monotonic()
    writer.write(
        b"POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body)
    )
    await writer.drain()

    async def send() -> None:
        for byte in body:
            await asyncio.sleep(every)
            writer.write(bytes([byte]))
            await writer.drain()

    sender = asyncio.create_task(send())
    try:
        async with asyncio.timeout(10):
            answer = await reader.read(65536)
            while answer and b"\r\n\r\n" not in answer:
                answer += await reader.read(65536)
            head, _, rest_ = answer.partition(b"\r\n\r\n")
            length = next(int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length"))
            while len(rest_) < length:
                rest_ += await reader.read(65536)
        return head + b"\r\n\r\n" + rest_, time.monotonic() - started
    finally:
        sender.cancel()
        writer.close()


async def test_a_drip_fed_body_is_cut_at_the_deadline(impatient: Running) -> None:
    body = orjson.dumps({"query": "{ __typename }", "variables": {}})
    answer, took = await _drip(impatient.url, body, every=0.3)  # ~10 s for the whole body
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), head
    assert orjson.loads(payload)["errors"][0]["extensions"]["code"] == "BODY_TIMEOUT"
    assert 0.9 < took < 3, took


async def test_a_body_in_time_is_read(impatient: Running) -> None:
    body = orjson.dumps({"query": "{ __typename }", "variables": {}})
    answer, _ = await _drip(impatient.url, body, every=0.01)
    assert answer.startswith(b"HTTP/1.1 401"), answer  # read in full, then refused: it carries no assertion


GOOD = {"WELFARE_SUBGRAPH_DATABASE_URL": "postgresql://x@127.0.0.1/db", "WELFARE_SUBGRAPH_SECRET": SECRET}


@pytest.mark.parametrize(
    ("env", "body_timeout", "max_connections"),
    [
        pytest.param({}, 5.0, 200, id="defaults"),
        pytest.param(
            {"WELFARE_SUBGRAPH_BODY_TIMEOUT": "2.5", "WELFARE_SUBGRAPH_MAX_CONNECTIONS": "50"}, 2.5, 50, id="set"
        ),
    ],
)
def test_the_connection_limits_are_configured(env: dict[str, str], body_timeout: float, max_connections: int) -> None:
    config = SubgraphConfig.from_environ({**GOOD, **env}, source="hb", serving=False)
    assert (config.body_timeout, config.max_connections) == (body_timeout, max_connections)


@pytest.mark.parametrize(
    "env",
    [
        {"WELFARE_SUBGRAPH_BODY_TIMEOUT": "0"},
        {"WELFARE_SUBGRAPH_BODY_TIMEOUT": "soon"},
        {"WELFARE_SUBGRAPH_MAX_CONNECTIONS": "1.5"},
        {"WELFARE_SUBGRAPH_MAX_CONNECTIONS": "-3"},
    ],
)
def test_bad_connection_limits_fail_at_start_up(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=next(iter(env))):
        SubgraphConfig.from_environ({**GOOD, **env}, source="hb", serving=False)
