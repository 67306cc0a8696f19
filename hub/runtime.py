"""How a serving process runs: its event loop (uvloop) and its heap (settled once the app is built). Shared
by the hub's own serving (``hub.serve``) and the reference subgraphs' (``welfare-hub subgraph ... serve``)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["GC_THRESHOLDS", "run_service", "settle_heap"]

T = TypeVar("T")

#: The collector's thresholds while serving (CPython's are 700, 10, 10): a request allocates thousands of
#: objects, and at 700 a young collection ran several times a request. At 32 requests in flight much of
#: what a young collection finds is still in use and is promoted, to be traversed again by every older
#: collection: at 50,000 rather than 10,000 more of it has died first, and the hub's collector CPU under
#: load fell by a third (3.4 s to 2.2 s in a minute's load, measured with gc.callbacks and thread CPU time).
GC_THRESHOLDS = (50_000, 20, 20)


def settle_heap() -> None:
    """Once the app is built: collect, then freeze what start-up made (the schema, the registers, the model,
    the imported modules: ~95,000 objects that live as long as the process), so that the collector never
    traverses them again, and collect the young less often. A full collection of that heap took ~90 ms
    here, and the collector had been ~5 s of a minute's load; with both, the hub's CPU per request fell
    ~11% in the same sitting (docs/performance.md). For a serving process only: frozen garbage is never
    freed, so a process that builds apps again and again (the tests) must not."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def run_service(main: Coroutine[Any, Any, T]) -> T:
    """Run a long-lived service's coroutine on uvloop where it is installed (a dependency off Windows), as
    ``uvicorn.run`` does for the subgraphs: ``asyncio.run`` alone gives the stdlib loop (the hub ran on it
    until issue 15, its selector and socket frames a tenth of its profile)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows, or a build without it
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
