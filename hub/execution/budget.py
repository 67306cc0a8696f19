"""A budget of event-loop time per request, and a fair share of the loop while it is spent.

The document's cost is bounded before it runs (:mod:`hub.execution.cost`), its input values too
(:mod:`hub.execution.inputs`), and every page is bounded; this is the defence behind them, field by field:

- **the budget**: each field is charged its resolver's own synchronous time, measured around the call,
  and a fixed ``FIELD_COST`` for the executor's work completing it. Nothing else is charged, so another
  request's work, or a database wait, is never billed to this one. A request whose charge passes
  ``budget`` gets REQUEST_BUDGET_EXCEEDED for every field it has not resolved yet: it ends soon, releases
  nothing more, and is audited as usual. (Work after an ``await`` inside an async resolver is not
  charged: the hub's async resolvers wait for sources and batch loads, bounded by the pages and lists.)
- **the fair share**: a request that has held the loop for ``slice`` seconds without a pause, judged by
  the time since its previous field when no other request's field started in between and that field did
  not wait, hands the loop back: from then every field of the request waits at a gate that opens after
  the loop has turned once (graphql-core completes the rest of a selection synchronously before it awaits
  any field, so deferring one field alone would hand nothing back). The fields that resume together hold
  that turn for ``slice`` at most; the rest stay parked for the next gate. A request sent at the same time
  is answered promptly, however large this one is: an introspection of 70,000 fields that held the loop
  1.4 s in one stretch holds it at most ~0.12 s at a time with the default 20 ms slice.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Iterator
from typing import Any

from strawberry.extensions import SchemaExtension

from hub.errors import RequestBudgetExceeded

__all__ = ["LoopBudget"]


#: What the executor's own work completing one field is charged, beside its resolver's time (seconds).
FIELD_COST = 5e-6


class _Clock:
    """Which request last started a field on this process's loop, and when."""

    __slots__ = ("at", "owner")

    def __init__(self) -> None:
        self.owner: object | None = None
        self.at = 0.0


_CLOCK = _Clock()


class LoopBudget(SchemaExtension):
    """One per request (a factory): counts the loop time the request's fields take."""

    def __init__(self, *, budget: float, slice: float) -> None:
        self.budget = budget
        self.slice = slice
        self.used = 0.0
        self.stretch = 0.0
        self.pausing = False  # a pause is due: every field waits for it
        self._gate: asyncio.Future[None] | None = None

    def on_execute(self) -> Iterator[None]:
        self.used = self.stretch = 0.0
        self.pausing = False
        yield
        if _CLOCK.owner is self:
            _CLOCK.owner = None

    def resolve(self, _next: Callable[..., Any], root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        now = time.perf_counter()
        if _CLOCK.owner is self:
            self.stretch += now - _CLOCK.at
        else:
            self.stretch = 0.0
        if self.used > self.budget:
            raise RequestBudgetExceeded(
                f"the request used more than its {self.budget * 1000:g} ms of the hub's time and was stopped"
            )
        if self.pausing or self.stretch > self.slice:
            # The executor goes on through the rest of the selection synchronously before it awaits any
            # field: until the pause has happened, every field of this request waits for it too, so that
            # the pass ends at once and the loop is handed back.
            self.pausing = True  # (the stretch and the clock's owner are reset when the pause's gate opens)
            return self._after_a_pause(_next, root, info, args, kwargs)
        return self._charged(now, _next, root, info, args, kwargs)

    def _charged(
        self, started: float, _next: Callable[..., Any], root: Any, info: Any, args: Any, kwargs: dict[str, Any]
    ) -> Any:
        _CLOCK.owner, _CLOCK.at = self, started
        try:
            result = _next(root, info, *args, **kwargs)
        finally:
            self.used += time.perf_counter() - started + FIELD_COST
        if inspect.isawaitable(result):
            # The field may wait for a database: the loop may then idle, which is no one's time. The fair
            # share's count starts again at the next field.
            _CLOCK.owner = None
        return result

    async def _after_a_pause(
        self, _next: Callable[..., Any], root: Any, info: Any, args: Any, kwargs: dict[str, Any]
    ) -> Any:
        while True:
            # One gate per pause, opened after the loop has turned once (whoever else waits runs first). The
            # fields deferred by it resume together: once this request's own have held that turn for
            # ``slice``, the rest wait, parked (costing nothing), for the next gate.
            gate = self._gate
            if gate is None or gate.done():
                loop = asyncio.get_running_loop()
                gate = self._gate = loop.create_future()
                loop.call_soon(self._open, gate)
            await gate
            now = time.perf_counter()
            if _CLOCK.owner is self:
                self.stretch += now - _CLOCK.at
                _CLOCK.at = now
            else:
                self.stretch = 0.0
            if self.stretch <= self.slice:
                break
        self.pausing = False
        result = self._charged(time.perf_counter(), _next, root, info, args, kwargs)
        return await result if inspect.isawaitable(result) else result

    def _open(self, gate: asyncio.Future[None]) -> None:
        """A turn of the loop has passed since the pause: this request may hold it again, for ``slice``."""
        self.stretch = 0.0
        if _CLOCK.owner is self:
            _CLOCK.owner = None
        if not gate.done():
            gate.set_result(None)
