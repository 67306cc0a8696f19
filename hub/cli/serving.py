"""``welfare-hub serve`` and ``welfare-hub demo``: the GraphQL endpoint, for real or over synthetic data."""

from __future__ import annotations

import argparse
import functools
import logging
from dataclasses import replace
from typing import Any

from hub.cli.common import database, stopped_by_ctrl_c, with_local_keys
from hub.config import Settings
from hub.runtime import run_service

__all__ = ["add_commands"]

log = logging.getLogger("welfare_hub")


def _cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from hub.cli import configure_logging
    from hub.serve import serve, serve_workers

    settings = with_local_keys(settings if args.workers is None else replace(settings, workers=args.workers))
    with stopped_by_ctrl_c(), database(settings) as s:
        if s.workers > 1:
            # The workers share this process's database (an embedded one stays up for them).
            serve_workers(s, logging_setup=functools.partial(configure_logging, json_lines=s.production))
        else:
            run_service(serve(s))
    return 0


def _workers(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError("workers must be between 1 and 64")
    return value


def _cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from hub.cli.demo import run_demo

    settings = with_local_keys(replace(settings, port=args.port))
    with stopped_by_ctrl_c(), database(settings) as s:
        run_service(run_demo(s, people=args.people, seed=args.seed))
    return 0


def add_commands(sub: Any) -> None:
    serve = sub.add_parser("serve", help="serve the GraphQL endpoint")
    serve.add_argument(
        "--workers", type=_workers, default=None, help="worker processes on the one port (WELFARE_HUB_WORKERS; 1)"
    )
    serve.set_defaults(func=_cmd_serve)
    demo = sub.add_parser("demo", help="embedded database, synthetic data, keys, tokens and the server")
    demo.add_argument("--people", type=int, default=3000)
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--port", type=int, default=8000)
    demo.set_defaults(func=_cmd_demo)
