"""A budget of event-loop time per request, and a fair share of the loop while it is spent.

The document's cost is bounded before it runs (:mod:`hub.execution.cost`), and every page is bounded; this
is the defence behind them. Field by field, the time a request holds the loop is counted: the time since
its previous field, when that field was synchronous and no other request's field started in between (one
thread runs the loop, so that time was this request's; after a field that may wait, the count starts
again). Two rules follow:

- a request that has held the loop for ``slice`` seconds without a pause hands it back before its next
  field (the field resolves after ``asyncio.sleep(0)``), so a request sent at the same time is answered
  promptly, however large this one is;
- a request that has held the loop for ``budget`` seconds in all gets REQUEST_BUDGET_EXCEEDED for every
  field it has not resolved yet: it ends soon, releases nothing more, and is audited as usual.
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

    def on_execute(self) -> Iterator[None]:
        self.used = self.stretch = 0.0
        yield
        if _CLOCK.owner is self:
            _CLOCK.owner = None

    def resolve(self, _next: Callable[..., Any], root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        now = time.perf_counter()
        if _CLOCK.owner is self:
            held = now - _CLOCK.at
            self.used += held
            self.stretch += held
        else:
            self.stretch = 0.0
        if self.used > self.budget:
            raise RequestBudgetExceeded(
                f"the request used more than its {self.budget * 1000:g} ms of the hub's time and was stopped"
            )
        if self.stretch > self.slice:
            self.stretch = 0.0
            _CLOCK.owner = None
            return self._after_a_pause(_next, root, info, args, kwargs)
        _CLOCK.owner, _CLOCK.at = self, now
        result = _next(root, info, *args, **kwargs)
        if inspect.isawaitable(result):
            # The field may wait for a database: the loop may then idle, which is no one's time. The count
            # starts again at the next field.
            _CLOCK.owner = None
        return result

    async def _after_a_pause(
        self, _next: Callable[..., Any], root: Any, info: Any, args: Any, kwargs: dict[str, Any]
    ) -> Any:
        await asyncio.sleep(0)  # whoever else is waiting for the loop runs now
        _CLOCK.owner, _CLOCK.at = self, time.perf_counter()
        result = _next(root, info, *args, **kwargs)
        return await result if inspect.isawaitable(result) else result
