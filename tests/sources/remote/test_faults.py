"""A subgraph that misbehaves costs the fields it serves, with a clear per-source error, and nothing else.

Malformed answers (wrong count, order or type, fields not asked for, bad scalars, not JSON, too large,
a gzip bomb), server errors, redirects, resets and refused connections are SourceUnavailable; slowness
is SourceTimeout within the source's timeout; a refusal is SourceRefused. No message or log line quotes
what the subgraph said. The breaker opens after consecutive failures, fails fast without a request
reaching the subgraph, lets one probe through after its cool-down, and closes on the probe's success.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.errors import SourceError, SourceRefused, SourceTimeout, SourceUnavailable
from resolvers.sources.assertion import AssertionSigner
from resolvers.sources.remote import CircuitBreaker, DwpSubgraph
from tests.sources.remote.conftest import ISSUER, MARGARET_NINO, make_ask
from tests.sources.remote.fake_subgraph import LEAK, Serving

SELECTION = {
    "DwpPerson": frozenset({"name", "dateOfBirth", "awardsInPayment", "address"}),
    "PersonName": frozenset({"givenName"}),
    "BenefitAward": frozenset({"benefit"}),
    "Address": frozenset({"postcode"}),
}
KEYS = [("nino", MARGARET_NINO), ("id", "2")]


def _quiet(error: BaseException, caplog: pytest.LogCaptureFixture) -> None:
    """Nothing the subgraph said is in the error or the logs."""
    assert LEAK not in str(error)
    assert LEAK not in repr(error.args)
    assert MARGARET_NINO not in str(error)
    for record in caplog.records:
        assert LEAK not in record.getMessage()
        assert MARGARET_NINO not in record.getMessage()


@pytest.mark.parametrize(
    "mode",
    [
        "wrong_count",
        "wrong_order",
        "wrong_typename",
        "extra_field",
        "nested_extra",
        "bad_date",
        "bad_enum",
        "error_no_path",
        "error_out_of_range",
        "data_null",
        "not_json",
        "html",
        "huge",
        "huge_chunked",
        "gzip_bomb",
        "status_500",
        "status_503_json",
        "redirect",
        "reset",
    ],
)
async def test_a_malformed_or_failed_answer_fails_the_batch(
    mode: str, subgraphs: Any, connect: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    subgraphs["dwp"].fake.misbehave = mode
    source = connect("dwp")
    started = time.monotonic()
    with pytest.raises(SourceUnavailable) as caught:
        await source.fetch(KEYS, make_ask(SELECTION))
    assert time.monotonic() - started < 2.0  # cut, not read to the end (the bomb inflates to 50 MiB)
    assert caught.value.extensions == {"code": "SOURCE_UNAVAILABLE", "source": "dwp"}
    _quiet(caught.value, caplog)
    assert source.breaker.state == "closed"
    assert source.breaker._failures == 1
    assert len(subgraphs["dwp"].received) == 1  # a redirect is not followed


async def test_the_body_cap_counts_decompressed_bytes(subgraphs: Any, connect: Any) -> None:
    subgraphs["dwp"].fake.misbehave = "gzip_bomb"
    with pytest.raises(SourceUnavailable, match="larger than 65536 bytes"):
        await connect("dwp", max_body_bytes=65536).fetch(KEYS, make_ask(SELECTION))


async def test_one_subjects_error_fails_that_key_only(subgraphs: Any, connect: Any) -> None:
    subgraphs["dwp"].fake.misbehave = "slot_error"
    source = connect("dwp")
    first, second = await source.fetch(KEYS, make_ask(SELECTION))
    assert first.name.given_name == "Margaret"
    assert isinstance(second, SourceUnavailable)
    assert LEAK not in str(second)
    assert source.breaker._failures == 0  # the subgraph is up
    with pytest.raises(SourceUnavailable):  # the hub's own questions need every answer
        await source.people_of(KEYS, make_ask(SELECTION))


async def test_a_connection_refused_is_unavailable(connect: Any) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    source = connect("dwp", url=f"http://127.0.0.1:{port}")
    with pytest.raises(SourceUnavailable) as caught:
        await source.fetch(KEYS, make_ask(SELECTION))
    assert isinstance(caught.value.__cause__, OSError)


@pytest.mark.parametrize("mode", ["slow", "drip"])
async def test_a_slow_subgraph_is_cut_at_the_timeout(mode: str, subgraphs: Any, connect: Any) -> None:
    fake = subgraphs["dwp"].fake
    if mode == "slow":
        fake.delay = 5.0
    else:
        fake.misbehave = "drip"  # headers at once, then a byte every 0.1 s: only a deadline on the whole call cuts it
    source = connect("dwp", timeout=0.5)
    started = time.monotonic()
    with pytest.raises(SourceTimeout) as caught:
        await source.fetch(KEYS, make_ask(SELECTION))
    elapsed = time.monotonic() - started
    assert 0.45 <= elapsed < 0.8, elapsed
    assert caught.value.extensions["code"] == "SOURCE_TIMEOUT"
    assert source.breaker._failures == 1


@pytest.mark.parametrize("mode", ["refuse_401", "status_403", "field_not_allowed", "policy", "slot_refusal"])
async def test_a_refusal_is_refused_and_not_a_breaker_failure(
    mode: str, subgraphs: Any, connect: Any, caplog: pytest.LogCaptureFixture
) -> None:
    fake = subgraphs["dwp"].fake
    ask = make_ask(SELECTION)
    if mode == "field_not_allowed":
        fake.withheld = {ask.purpose: {"DwpPerson.address"}}  # the subgraph's own policy, not the hub's
    elif mode == "policy":
        fake.withheld = {ask.purpose: {"PersonName.givenName"}}
    else:
        fake.misbehave = mode
    source = connect("dwp", breaker=CircuitBreaker(threshold=2, cool_down=60))
    for _ in range(4):
        with pytest.raises(SourceRefused) as caught:
            await source.fetch(KEYS, ask)
        assert caught.value.extensions == {"code": "SOURCE_REFUSED", "source": "dwp"}
        _quiet(caught.value, caplog)
    assert source.breaker.state == "closed"
    assert len(fake.received) == 4


async def test_a_forged_assertion_is_refused_by_the_subgraph(subgraphs: Any) -> None:
    forger = AssertionSigner(Ed25519PrivateKey.generate(), "hub-assertion-1", issuer=ISSUER)  # the hub's kid
    source = DwpSubgraph(subgraphs["dwp"].url, signer=forger, timeout=2.0)
    try:
        with pytest.raises(SourceRefused):
            await source.fetch(KEYS, make_ask(SELECTION))
    finally:
        await source.aclose()
    assert subgraphs["dwp"].received[0].assertion is None


# -- the breaker, on the wire ----------------------------------------------------------------------------


async def test_the_breaker_opens_fails_fast_half_opens_and_closes(subgraphs: Any, connect: Any) -> None:
    fake = subgraphs["dwp"].fake
    fake.misbehave = "status_500"
    source = connect("dwp", breaker=CircuitBreaker(threshold=3, cool_down=0.4))
    ask = make_ask(SELECTION)
    for _ in range(3):
        with pytest.raises(SourceUnavailable, match="HTTP 500"):
            await source.fetch(KEYS, ask)
    assert source.breaker.state == "open"
    started = time.monotonic()
    for _ in range(20):
        with pytest.raises(SourceUnavailable, match="circuit open"):
            await source.fetch(KEYS, ask)
    assert time.monotonic() - started < 0.1  # fast
    assert len(fake.received) == 3  # not one of the twenty reached the subgraph

    await asyncio.sleep(0.45)
    assert source.breaker.state == "half_open"
    with pytest.raises(SourceUnavailable, match="HTTP 500"):  # the probe fails: open again
        await source.fetch(KEYS, ask)
    assert source.breaker.state == "open"
    assert len(fake.received) == 4
    with pytest.raises(SourceUnavailable, match="circuit open"):
        await source.fetch(KEYS, ask)

    await asyncio.sleep(0.45)
    fake.misbehave = None
    fake.delay = 0.2
    # Half-open: of five concurrent calls, one is the probe; the rest fail fast without a request.
    results = await asyncio.gather(*(source.fetch(KEYS, ask) for _ in range(5)), return_exceptions=True)
    answered = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, SourceUnavailable)]
    assert len(answered) == 1
    assert len(refused) == 4
    assert len(fake.received) == 5
    assert source.breaker.state == "closed"
    fake.delay = 0
    assert (await source.fetch(KEYS, ask))[0].name.given_name == "Margaret"


async def test_a_cancelled_probe_leaves_the_next_call_to_probe(subgraphs: Any, connect: Any) -> None:
    fake = subgraphs["dwp"].fake
    fake.misbehave = "status_500"
    source = connect("dwp", breaker=CircuitBreaker(threshold=1, cool_down=0.2))
    ask = make_ask(SELECTION)
    with pytest.raises(SourceUnavailable):
        await source.fetch(KEYS, ask)
    await asyncio.sleep(0.25)
    fake.misbehave = None
    fake.delay = 1.0
    probe = asyncio.create_task(source.fetch(KEYS, ask))
    await asyncio.sleep(0.1)
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    fake.delay = 0
    assert (await source.fetch(KEYS, ask))[0] is not None
    assert source.breaker.state == "closed"


async def test_errors_are_source_errors_for_the_graphql_layer(subgraphs: Any, connect: Any) -> None:
    subgraphs["dwp"].fake.misbehave = "status_500"
    with pytest.raises(SourceError):
        await connect("dwp").ties(KEYS, make_ask(SELECTION))


async def test_keep_alive_reuses_one_connection(subgraphs: Any, connect: Any) -> None:
    source = connect("dwp")
    for _ in range(5):
        await source.fetch(KEYS, make_ask(SELECTION))
    peers = {r.peer for r in subgraphs["dwp"].received}
    assert len(peers) == 1
    await source.aclose()
    await source.fetch(KEYS, make_ask(SELECTION))  # a new session after aclose
    assert len({r.peer for r in subgraphs["dwp"].received}) == 2


async def test_a_connection_the_server_closed_while_idle_is_not_reused(subgraphs: Any, signer: Any) -> None:
    # The subgraph's server drops idle connections after 0.2 s: each call after a pause finds its pooled
    # connection closed by the server, and opens another rather than failing.
    with Serving(subgraphs["dwp"].fake.handle, keepalive_timeout=0.2) as serving:
        source = DwpSubgraph(serving.url, signer=signer, timeout=2.0)
        try:
            for _ in range(4):
                assert (await source.fetch(KEYS, make_ask(SELECTION)))[0] is not None
                await asyncio.sleep(0.3)
        finally:
            await source.aclose()
    assert len({r.peer for r in subgraphs["dwp"].received}) == 4
