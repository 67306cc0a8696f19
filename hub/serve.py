"""Serving the hub: the app on uvicorn, configured for production and the demo alike."""

from __future__ import annotations

from typing import Any

import uvicorn

from hub.app import create_app
from hub.config import Settings

__all__ = ["serve", "server_config"]


async def serve(settings: Settings) -> None:
    await uvicorn.Server(server_config(settings, create_app(settings))).serve()


def server_config(settings: Settings, app: Any) -> uvicorn.Config:
    """uvicorn's configuration for the hub's app."""
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
        # The client address the per-address throttle keys on: behind an ingress, its X-Forwarded-For, but
        # only from the proxies named (trusting any would let each request name a fresh address).
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies) or None,
    )
