"""A bounded load loop on loopback: a few concurrent clients asking the hub the same question for a few
seconds while a fault is injected, every answer kept with its latency for the assertions.

Each request carries its own operation name, so its audit record can be found by it: a response that
released data must have one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

__all__ = ["Answer", "Load", "unaudited"]


@dataclass(frozen=True)
class Answer:
    name: str  # the operation name the request carried (unique)
    sent: float  # seconds since the load started
    latency: float
    status: int
    body: dict[str, Any]

    @property
    def codes(self) -> list[str]:
        return sorted({str(e.get("extensions", {}).get("code")) for e in self.body.get("errors", [])})

    @property
    def released(self) -> bool:
        """Did this response carry any of a person's data?"""
        data = self.body.get("data") or {}
        person = data.get("person")
        return isinstance(person, dict) and any(v is not None for v in person.values())


@dataclass
class Load:
    """``clients`` concurrent callers of ``query`` (with ``variables``) until stopped."""

    client: httpx.AsyncClient
    token: str
    query: str  # with an operation name placeholder: ``query {name}(...) {...}``
    variables: dict[str, Any]
    clients: int = 4
    answers: list[Answer] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _started: float = 0.0

    def now(self) -> float:
        return time.monotonic() - self._started

    async def _caller(self, c: int) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            name = f"Load_c{c}_n{n}"
            sent = time.monotonic()
            r = await self.client.post(
                "/graphql",
                json={"query": self.query.format(name=name), "variables": self.variables, "operationName": name},
                headers={"Authorization": f"Bearer {self.token}"},
            )
            body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
            self.answers.append(Answer(name, sent - self._started, time.monotonic() - sent, r.status_code, body))

    async def run(self, scenario: Callable[[Load], Awaitable[None]]) -> list[Answer]:
        """Run the callers while ``scenario`` injects its fault (and heals it); stop when it returns."""
        self._started = time.monotonic()
        callers = [asyncio.create_task(self._caller(c)) for c in range(self.clients)]
        try:
            await scenario(self)
        finally:
            self._stop.set()
            await asyncio.gather(*callers)
        return sorted(self.answers, key=lambda a: a.sent)


async def unaudited(admin_hub: asyncpg.Connection, answers: list[Answer]) -> list[str]:
    """The operation names of responses that released data with no audit record of their request."""
    released = [a.name for a in answers if a.released]
    rows = await admin_hub.fetch(
        "SELECT operation_name FROM hub.audit_event WHERE operation_name = ANY($1::text[])", released
    )
    return sorted(set(released) - {r["operation_name"] for r in rows})
