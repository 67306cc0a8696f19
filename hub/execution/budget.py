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
  not wait, hands the loop back before its next field (which resolves after ``asyncio.sleep(0)``), so a
  request sent at the same time is answered promptly, however large this one is.
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
            self.pausing = True
            self.stretch = 0.0
            _CLOCK.owner = None
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
        await asyncio.sleep(0)  # whoever else is waiting for the loop runs now
        self.pausing = False
        result = self._charged(time.perf_counter(), _next, root, info, args, kwargs)
        return await result if inspect.isawaitable(result) else result
