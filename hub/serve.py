"""Serving the hub: the app on uvicorn, configured for production and the demo alike."""

from __future__ import annotations

import uvicorn

from hub.app import create_app
from hub.config import Settings

__all__ = ["serve"]


async def serve(settings: Settings) -> None:
    app = create_app(settings)
    # No per-request access log: the audit log records every operation, and a log line per request
    # costs CPU on the hot path. uvloop and httptools are picked up when installed (they are dependencies).
    # log_config=None: uvicorn's loggers go through the hub's own handlers (JSON lines in production).
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="info",
        lifespan="on",
        access_log=False,
        log_config=None,
    )
    await uvicorn.Server(config).serve()
