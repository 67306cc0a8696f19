"""A TCP proxy on loopback between the hub and one PostgreSQL database, that can forward, refuse, hang or
cut: the faults a network and a database server really show, injected without touching the server.

- forward: bytes pass both ways.
- hang: connections (open and new) are accepted and kept, but nothing passes either way: a black hole,
  not a reset, as a frozen server, a stuck storage volume or a silently dropping firewall looks to the
  hub. Bytes held while hung are delivered when forwarding resumes (the frozen server wakes up).
- refuse: the port stops listening, so a new connection is refused (the server is down).
- drop: every open connection is cut (the server restarted).
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit, urlunsplit

__all__ = ["FaultProxy"]


class FaultProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._open: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.accepted = 0

    @classmethod
    async def for_url(cls, url: str) -> tuple[FaultProxy, str]:
        """A started proxy in front of ``url``'s server, and ``url`` pointed at the proxy."""
        parts = urlsplit(url)
        proxy = cls(parts.hostname or "127.0.0.1", parts.port or 5432)
        await proxy.start()
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@127.0.0.1:{proxy.port}" if userinfo else f"127.0.0.1:{proxy.port}"
        return proxy, urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    # -- the faults -------------------------------------------------------------------------------------

    def hang(self) -> None:
        """Stop passing bytes, both ways, on every connection, open or new; accept and keep them all."""
        self._flowing.clear()

    async def forward(self) -> None:
        """Pass bytes again (what was held is delivered), and listen again if refusing."""
        self._flowing.set()
        if self._server is None:
            await self.start()

    def refuse(self) -> None:
        """Stop listening: a new connection is refused. Open connections are left as they are."""
        if self._server is not None:
            self._server.close()
            self._server = None

    def drop(self) -> None:
        """Cut every open connection, both sides."""
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    async def close(self) -> None:
        self.refuse()
        self.drop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- plumbing --------------------------------------------------------------------------------------

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._open.add(client_w)
        try:
            upstream_r, upstream_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_w.transport.abort()
            self._open.discard(client_w)
            return
        self._open.add(upstream_w)
        for reader, writer in ((client_r, upstream_w), (upstream_r, client_w)):
            task = asyncio.create_task(self._pump(reader, writer))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._flowing.wait()  # hung: hold the bytes (and so, soon, the sender's buffers)
                writer.write(data)
                await writer.drain()
            await self._flowing.wait()
        except (ConnectionError, OSError):
            pass
        finally:
            self._open.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()
