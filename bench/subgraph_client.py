"""What one call to a subgraph costs the hub in CPU: the subgraph transport (resolvers/sources/remote) beside
the same HTTP hop made with aiohttp alone and with httpx, against one local server in its own process.

The server (aiohttp.web, a separate process, so its CPU is not counted) answers every POST with the same
well-formed ``_entities`` answer for a batch of three DWP people (names, date of birth, address, awards).
The client process measures its own CPU (``time.process_time``) over N keep-alive calls per target (one or
``--concurrency`` in flight), after a warm-up, the targets interleaved in blocks, for several rounds (the
machine drifts: compare within a round):

- ``transport``: ``DwpSubgraph.fetch`` as the hub calls it: mint the assertion, build the document (cached),
  POST, read capped, parse, check and decode into records.
- ``aiohttp hop``: the same bytes POSTed with an aiohttp session, the answer read capped and parsed.
- ``httpx hop``: the same with an ``httpx.AsyncClient`` (streamed read, parsed).
- ``no network``: the transport's own work without the hop (mint + decode), for the split.

    python -m bench.subgraph_client --calls 3000 --rounds 3 [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import platform
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import httpx
import orjson
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.results_file import this_command, write_result
from resolvers.sources.assertion import AssertionSigner
from resolvers.sources.contract import Ask
from resolvers.sources.remote import DwpSubgraph
from resolvers.sources.remote.wire import entity_plan, representation

SELECTION = {
    "DwpPerson": frozenset({"name", "dateOfBirth", "address", "awardsInPayment"}),
    "PersonName": frozenset({"givenName", "familyName"}),
    "Address": frozenset({"line1", "town", "postcode"}),
    "BenefitAward": frozenset({"benefit", "component", "rate", "weeklyAmount", "startDate"}),
}
KEYS = [("nino", "AB123456C"), ("nino", "CE654321A"), ("id", "42")]


def _item(i: int, key: tuple[str, str]) -> dict[str, Any]:
    item: dict[str, Any] = {
        "__typename": "DwpPerson",
        "name": {"givenName": f"Given{i}", "familyName": "Family"},
        "dateOfBirth": "1950-03-04",
        "address": {"line1": f"{i} High Street", "town": "Newtown", "postcode": "NT1 1AA"},
        "awardsInPayment": [
            {
                "benefit": "PIP",
                "component": "daily_living",
                "rate": "enhanced",
                "weeklyAmount": "108.55",
                "startDate": "2020-01-06",
            },
            {"benefit": "AA", "component": None, "rate": "higher", "weeklyAmount": "108.55", "startDate": "2019-01-01"},
        ],
    }
    item["nino" if key[0] == "nino" else "recordId"] = key[1]
    if key[0] == "nino":
        item["recordId"] = str(100 + i)
    else:
        item["nino"] = None
    return item


ANSWER = orjson.dumps({"data": {"_entities": [_item(i, k) for i, k in enumerate(KEYS)]}})


def _serve(port: int, ready: Any) -> None:
    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=ANSWER, content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/graphql", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        await asyncio.Event().wait()

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


def _ask() -> Ask:
    return Ask(
        "CARE_CHARGING",
        "SSWA 1992 s.7B",
        "council-newtown",
        "council",
        uuid.uuid4(),
        SELECTION,
        frozenset({"E06000001"}),
    )


BLOCKS = 6  # each target runs in this many interleaved blocks, so drift on a shared machine hits all alike


async def _interleaved(
    targets: dict[str, Callable[[], Awaitable[Any]]], calls: int, warmup: int, concurrency: int
) -> list[dict[str, Any]]:
    async def block(call: Callable[[], Awaitable[Any]], n: int) -> None:
        async def worker(k: int) -> None:
            for _ in range(k):
                await call()

        share = [n // concurrency + (1 if i < n % concurrency else 0) for i in range(concurrency)]
        await asyncio.gather(*(worker(k) for k in share))

    for call in targets.values():
        await block(call, warmup)
    cpu = dict.fromkeys(targets, 0.0)
    wall = dict.fromkeys(targets, 0.0)
    per_block = max(1, calls // BLOCKS)
    for _ in range(BLOCKS):
        for name, call in targets.items():
            c, w = time.process_time(), time.perf_counter()
            await block(call, per_block)
            cpu[name] += time.process_time() - c
            wall[name] += time.perf_counter() - w
    n = per_block * BLOCKS
    return [
        {"target": name, "cpu_us_per_call": cpu[name] / n * 1e6, "wall_us_per_call": wall[name] / n * 1e6}
        for name in targets
    ]


async def _round(url: str, calls: int, warmup: int, concurrency: int) -> list[dict[str, Any]]:
    signer = AssertionSigner(Ed25519PrivateKey.generate(), "bench-1", issuer="welfare-hub-bench")
    ask = _ask()
    source = DwpSubgraph(url, signer=signer, timeout=5.0)
    plan = entity_plan("DwpPerson", SELECTION, frozenset(k for k, _ in KEYS))
    reps = [representation("DwpPerson", k) for k in KEYS]
    body = orjson.dumps({"query": plan.query, "variables": {"r": reps}})
    headers = {
        "Authorization": "Bearer " + signer.mint(audience="dwp", ask=ask, fields=plan.fields, body=body),
        "Content-Type": "application/json",
        "Accept": "application/json",
    }
    cap = 1 << 20

    got = await source.fetch(KEYS, ask)
    assert all(r is not None for r in got), "the canned answer must decode"

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32, keepalive_timeout=30))

    async def aiohttp_hop() -> Any:
        async with session.post(url + "/graphql", data=body, headers=headers, allow_redirects=False) as r:
            buf = bytearray()
            async for chunk in r.content.iter_chunked(1 << 16):
                buf += chunk
                if len(buf) > cap:
                    raise ValueError("too large")
        return orjson.loads(buf)

    client = httpx.AsyncClient(limits=httpx.Limits(max_connections=32, max_keepalive_connections=32))

    async def httpx_hop() -> Any:
        async with client.stream("POST", url + "/graphql", content=body, headers=headers) as r:
            buf = bytearray()
            async for chunk in r.aiter_bytes():
                buf += chunk
                if len(buf) > cap:
                    raise ValueError("too large")
        return orjson.loads(buf)

    payload = orjson.loads(ANSWER)

    async def no_network() -> Any:
        token = signer.mint(audience="dwp", ask=ask, fields=plan.fields, body=body)
        p = entity_plan("DwpPerson", ask.selection, frozenset(k for k, _ in KEYS))
        decoded = p.decode(orjson.loads(ANSWER), reps)
        return token, [source._record(e, ask) for e in decoded]  # type: ignore[arg-type]

    assert payload
    try:
        targets: dict[str, Callable[[], Awaitable[Any]]] = {
            "transport (DwpSubgraph.fetch)": lambda: source.fetch(KEYS, ask),
            "aiohttp hop": aiohttp_hop,
            "httpx hop": httpx_hop,
            "no network (mint + decode)": no_network,
        }
        return await _interleaved(targets, calls, warmup, concurrency)
    finally:
        await source.aclose()
        await session.close()
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=1, help="calls in flight at once, per target")
    args = parser.parse_args()

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    server = ctx.Process(target=_serve, args=(port, ready), daemon=True)
    server.start()
    try:
        assert ready.wait(20), "the server did not start"
        url = f"http://127.0.0.1:{port}"
        try:
            import uvloop

            runner: Callable[[Any], Any] = uvloop.run
        except ImportError:
            runner = asyncio.run
        rounds = [runner(_round(url, args.calls, args.warmup, args.concurrency)) for _ in range(args.rounds)]
    finally:
        server.terminate()
        server.join(10)

    targets = [r["target"] for r in rounds[0]]
    rows = [
        "| target | "
        + " | ".join(f"round {i + 1} CPU µs/call" for i in range(len(rounds)))
        + " | wall µs/call (last) |",
        "|---|" + "---|" * (len(rounds) + 1),
    ]
    for t in targets:
        cells = [next(r for r in rd if r["target"] == t) for rd in rounds]
        rows.append(
            f"| {t} | "
            + " | ".join(f"{c['cpu_us_per_call']:.0f}" for c in cells)
            + f" | {cells[-1]['wall_us_per_call']:.0f} |"
        )
    ratios = []
    for rd in rounds:
        by = {r["target"]: r["cpu_us_per_call"] for r in rd}
        ratios.append(
            {
                "httpx_hop_over_aiohttp_hop": by["httpx hop"] / by["aiohttp hop"],
                "transport_over_httpx_hop": by["transport (DwpSubgraph.fetch)"] / by["httpx hop"],
                "transport_over_aiohttp_hop": by["transport (DwpSubgraph.fetch)"] / by["aiohttp hop"],
            }
        )
    table = "\n".join(rows)
    ratio_text = "; ".join(
        f"round {i + 1}: httpx hop {r['httpx_hop_over_aiohttp_hop']:.2f}x the aiohttp hop, the whole transport "
        f"{r['transport_over_httpx_hop']:.2f}x the httpx hop alone ({r['transport_over_aiohttp_hop']:.2f}x the aiohttp hop)"
        for i, r in enumerate(ratios)
    )
    print(table)
    print(ratio_text)
    write_result(
        f"subgraph-client-c{args.concurrency}",
        "Subgraph client: CPU per call, transport vs aiohttp vs httpx",
        this_command("bench.subgraph_client"),
        [
            f"{args.calls} keep-alive calls per target ({args.concurrency} in flight at once) after "
            f"{args.warmup} warm-up calls, {args.rounds} rounds, the targets interleaved in {BLOCKS} blocks within "
            f"each round, against one aiohttp.web server in its own process on loopback answering a "
            f"3-entity DWP `_entities` answer ({len(ANSWER)} bytes). CPU is the client process's own "
            f"(time.process_time). Python {platform.python_version()}, aiohttp {aiohttp.__version__}, "
            f"httpx {httpx.__version__}, orjson {orjson.__version__}.",
            ratio_text + ".",
        ],
        table,
        {"rounds": rounds, "ratios": ratios, "answer_bytes": len(ANSWER)},
    )


if __name__ == "__main__":
    main()
