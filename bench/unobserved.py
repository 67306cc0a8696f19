"""The hub with its audit write and its tracing taken out, for measuring what they cost (bench only).

    BENCH_TAKE_OUT=audit,tracing python -m bench.unobserved serve

Patches, in this process only, what ``BENCH_TAKE_OUT`` names (default both): ``audit``, the audit sink
writes nothing; ``tracing``, no span is made (no server span, no operation, purpose, linkage, source or
audit span). Everything else is the product as shipped. Nothing in
the product can switch the audit off: only this module, which the service never imports.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
from collections.abc import Iterator
from typing import Any

from opentelemetry.trace import INVALID_SPAN, Span

import hub.app as hub_app
import hub.audit.tracing as hub_tracing
import hub.execution.schema as hub_graphql
import resolvers.identity as resolver_identity
import resolvers.source_spans as source_spans
from hub.audit.chain import Appended, AuditRecord
from hub.cli import main


class _NoAudit:
    def __init__(self, *_: Any, **__: Any) -> None:
        pass

    async def write(self, record: AuditRecord) -> Appended:
        # A place in no chain: the receipt is signed over it as over a real one (its cost stays in).
        return Appended(0, bytes(32), dt.datetime.now(dt.UTC))

    async def aclose(self) -> None:
        return None


@contextlib.contextmanager
def _no_span(*_: Any, **__: Any) -> Iterator[Span]:
    yield INVALID_SPAN


def _passthrough(app: Any, **_: Any) -> Any:
    return app


def unobserve(parts: set[str]) -> None:
    if "audit" in parts:
        hub_app.PgAuditSink = _NoAudit  # type: ignore[assignment,misc]
    if "tracing" in parts:
        hub_app.TraceMiddleware = _passthrough  # type: ignore[assignment,misc]
        for module in (hub_graphql, resolver_identity, hub_tracing, hub_app.tracing):
            module.span = _no_span  # type: ignore[attr-defined]
        source_spans.db_span = _no_span  # type: ignore[assignment]


if __name__ == "__main__":
    unobserve(set(os.environ.get("BENCH_TAKE_OUT", "audit,tracing").split(",")))
    sys.exit(main(sys.argv[1:]))
