"""Serving the hub: the app on uvicorn, configured for production and the demo alike; one process, or several
worker processes on one port.

Several workers are several hubs: each builds its own app (pools, roles, audit writer, in-memory throttles)
in its own process. What must be one across them is in the hub database: the audit chain (one append at a
time under its lock), the rate-limit buckets, the outbox leases, checkpoints (a head signed twice is
refused the second time). A per-process limit (``WELFARE_HUB_USER_IN_FLIGHT``, the address throttle) is
per worker.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import uvicorn
from starlette.applications import Starlette
from uvicorn.supervisors import Multiprocess

from hub.app import create_app
from hub.config import Settings
from hub.errors import ConfigError
from hub.runtime import settle_heap

__all__ = ["serve", "serve_workers", "server_config"]


async def serve(settings: Settings) -> None:
    app = create_app(settings)
    settle_heap()
    await uvicorn.Server(server_config(settings, app)).serve()


def serve_workers(settings: Settings, *, logging_setup: Callable[[], None]) -> None:
    """``settings.workers`` processes on one socket, bound here; uvicorn's supervisor restarts a worker that
    dies and, on SIGTERM or Ctrl-C, stops each (each drains its requests and its audit writer).
    ``logging_setup`` (picklable: a module's function) runs first in each worker, which starts with none."""
    if settings.metrics_port:
        # Each worker would answer for itself on the one port, a scrape seeing one at random.
        raise ConfigError(
            [
                "WELFARE_HUB_METRICS_PORT serves one process's metrics: with several workers, export them by "
                "OTLP (OTEL_METRICS_EXPORTER=otlp) or run one worker a pod"
            ]
        )
    # Each worker is spawned, not forked: it builds its app from the settings (pickled across) in its own
    # process, so no pool, task or lock is shared by accident.
    app = functools.partial(_worker_app, settings, logging_setup)
    config = server_config(settings, app, workers=settings.workers)
    socket = config.bind_socket()
    try:
        Multiprocess(config, sockets=[socket]).run()
    finally:
        socket.close()


def _worker_app(settings: Settings, logging_setup: Callable[[], None]) -> Starlette:
    logging_setup()
    app = create_app(settings)
    settle_heap()
    return app


def server_config(settings: Settings, app: Any, *, workers: int = 1) -> uvicorn.Config:
    """uvicorn's configuration for the hub's app (with several workers, a factory each one calls)."""
    # No per-request access log: the audit log records every operation, and a log line per request
    # costs CPU on the hot path. uvloop and httptools are picked up when installed (they are dependencies).
    # log_config=None: uvicorn's loggers go through the hub's own handlers (JSON lines in production).
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="info",
        lifespan="on",
        access_log=False,
        log_config=None,
        workers=workers,
        factory=workers > 1,
        # The client address the per-address throttle keys on: behind an ingress, its X-Forwarded-For, but
        # only from the proxies named (trusting any would let each request name a fresh address).
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies) or None,
    )
