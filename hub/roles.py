"""The background roles every hub pod runs: signing audit checkpoints (at an interval, and after every so many
records), storing and pruning the auditor's copy
of spans, keeping the audit verification fresh, re-checking continuing-entitlement interests, and
dispatching the notification outbox.

They coordinate through the hub database (advisory locks, SKIP LOCKED, leases), so any pod may stop at any
time. A failing round is logged and the next round tries again: these are never a request's work. A loop
that ends all the same (a fault it did not catch) is logged and started again, rather than leaving, say,
the outbox undelivered until the pod restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

import asyncpg

from hub.audit.checkpoints import AuditKeys, write_checkpoint
from hub.config import Settings
from hub.db import Failing
from hub.records import ratelimits, spans
from hub.records.notifications import CorrectionNotices, Dispatcher, Inbox
from hub.records.spans import SpanStore
from hub.types import StoreName
from resolvers.context import Services
from resolvers.interests import answers_from

__all__ = ["Role", "Roles", "roles_for"]

log = logging.getLogger("welfare_hub")

Job = Callable[[], Awaitable[object]]

#: How often a pod looks whether enough records were appended to sign the head: two index reads.
COUNT_CHECK_SECONDS = 1.0
#: How often the outbox's backlog and oldest waiting delivery are measured (welfare_hub.outbox.*).
OUTBOX_MEASURE_SECONDS = 15.0
#: How long a role's loop that ended waits before it is started again, doubling each time, up to a minute.
RESTART_SECONDS = 1.0
RESTART_CAP_SECONDS = 60.0


@dataclass(frozen=True)
class Role:
    every: float  # seconds between rounds
    job: Job
    what: str  # for the log
    limit: float | None  # a round's time limit (None: the job bounds its own waits)


async def _every(role: Role) -> None:
    failing = Failing(role.what, role.every, log=log)
    while True:
        await asyncio.sleep(failing.wait)
        try:
            async with asyncio.timeout(role.limit):
                await role.job()
        except Exception as e:
            failing.failed(e)
        else:
            failing.succeeded()


@dataclass
class Roles:
    """The roles of one process: started with the app's lifespan, stopped (and flushed) with it."""

    roles: Sequence[Role]
    on_stop: Sequence[Job]  # run once at shutdown: keep the last spans, sign what was written
    dispatcher: Dispatcher | None
    dispatch_seconds: float
    stop_timeout: float
    restart_seconds: float = RESTART_SECONDS
    _tasks: list[asyncio.Task[None]] | None = None

    def start(self) -> None:
        self._tasks = []
        for role in self.roles:
            self._keep(role.what, functools.partial(_every, role))
        if self.dispatcher is not None:
            self._keep("dispatching the outbox", functools.partial(self.dispatcher.run_forever, self.dispatch_seconds))

    def _keep(self, what: str, loop: Callable[[], Awaitable[None]], wait: float = 0.0) -> None:
        """Run ``loop`` (after ``wait`` seconds) until stopped; started again, logged, if it ends before."""

        started: list[float] = []

        async def run() -> None:
            await asyncio.sleep(wait)
            started.append(asyncio.get_running_loop().time())
            await loop()

        assert self._tasks is not None
        task = asyncio.create_task(run(), name=f"welfare-hub: {what}")
        self._tasks.append(task)
        task.add_done_callback(functools.partial(self._ended, what, loop, wait, started))

    def _ended(
        self,
        what: str,
        loop: Callable[[], Awaitable[None]],
        wait: float,
        started: list[float],
        task: asyncio.Task[None],
    ) -> None:
        if self._tasks is None or task not in self._tasks:  # stopped: its end was asked for
            return
        self._tasks.remove(task)
        # Only the type (a message may quote data); taking the exception also keeps asyncio from logging
        # it, traceback and message, when the task is collected.
        error = None if task.cancelled() else task.exception()
        ended = "cancelled" if task.cancelled() else "returned" if error is None else type(error).__name__
        # Doubling while it keeps ending at once; a loop that ran a good while before it ended starts afresh.
        ran = asyncio.get_running_loop().time() - started[0] if started else 0.0
        wait = (
            self.restart_seconds
            if ran >= RESTART_CAP_SECONDS
            else min(RESTART_CAP_SECONDS, max(self.restart_seconds, 2 * wait))
        )
        log.error("%s ended unexpectedly: %s (started again in %.1f s)", what, ended, wait)
        self._keep(what, loop, wait)

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks or [], None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for job in self.on_stop:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.stop_timeout):
                    await job()


def roles_for(
    settings: Settings,
    services: Services,
    pools: Mapping[StoreName, asyncpg.Pool],
    *,
    audit_keys: AuditKeys,
    span_store: SpanStore | None,
) -> Roles:
    """The roles this configuration asks for; a role whose interval is 0 is off."""
    hub_pool = pools["hub"]

    async def checkpoint() -> None:
        await write_checkpoint(hub_pool, audit_keys)

    every_records = settings.audit_checkpoint_every_records

    async def checkpoint_by_count() -> None:
        # Signed chain heads by count as well as by time: however busy the hub, at most about this many
        # records are ever unsigned, so cutting the log's end is bounded even where no receipt is checked.
        await write_checkpoint(hub_pool, audit_keys, min_records=every_records)

    async def store_spans() -> None:
        if span_store is not None:
            await span_store.flush(hub_pool)

    async def prune_spans() -> None:
        await spans.prune(hub_pool, days=settings.trace_retention_days)

    async def prune_buckets() -> None:
        await ratelimits.prune(hub_pool, statement_timeout=background)

    answers = answers_from(services.sources.dwp, {p.id: p.legal_basis for p in services.register.purposes.values()})

    async def recheck_interests() -> None:
        await services.interests.recheck(answers)

    background = settings.audit_timeout * 5
    roles = [Role(settings.audit_checkpoint_seconds, checkpoint, "audit checkpoint", background)]
    if every_records > 0:
        roles.append(Role(COUNT_CHECK_SECONDS, checkpoint_by_count, "audit checkpoint by count", background))
    roles.append(Role(600.0, prune_buckets, "pruning refilled rate-limit buckets", None))
    if span_store is not None:
        roles += [
            Role(1.0, store_spans, "storing spans", background),
            Role(3600.0, prune_spans, "pruning spans", background),
        ]
    verification = services.audit_verification
    if settings.audit_verify_seconds > 0:
        # Auditors read a verification kept fresh here, rather than wait for one over the whole log.
        roles.append(Role(settings.audit_verify_seconds, verification.refresh, "audit verification", None))
    if settings.interest_check_seconds > 0:
        # No overall limit: a long list of interests is read in batches, each under its own timeout.
        roles.append(Role(settings.interest_check_seconds, recheck_interests, "re-checking interests", None))
    dispatcher = None
    if settings.dispatch_seconds > 0:
        # Each source writes its own inbox (its adapter's deliver); the hub's own notices stay in its records.
        targets: dict[str, Inbox] = {
            "dwp": services.sources.dwp,
            "hb": services.sources.hb,
            "org": CorrectionNotices(hub_pool, timeout=settings.source_timeout),
        }
        dispatcher = Dispatcher(hub_pool, targets, timeout=settings.source_timeout)
        roles.append(Role(OUTBOX_MEASURE_SECONDS, dispatcher.measure, "measuring the outbox", background))
    return Roles(
        roles=roles,
        on_stop=[store_spans, checkpoint],
        dispatcher=dispatcher,
        dispatch_seconds=settings.dispatch_seconds,
        stop_timeout=settings.audit_timeout,
    )
