"""What the HTTP benchmarks share: the hub as its own uvicorn process, ready before the clock starts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping

import aiohttp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def hub_server(
    env: Mapping[str, str], *, ready_seconds: float = 30, module: str = "hub"
) -> AsyncIterator[tuple[str, int]]:
    """Start ``python -m <module> serve`` (the hub, or ``bench.unguarded``) with ``env`` on a free port; yield
    (GraphQL URL, pid) once /readyz is 200."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", module, "serve"],
        env={**os.environ, **env, "WELFARE_HUB_PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(int(ready_seconds * 10)):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/readyz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("the hub did not become ready")
        yield f"http://127.0.0.1:{port}/graphql", server.pid
    finally:
        server.terminate()
        server.wait(10)
