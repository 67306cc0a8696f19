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
    from hub.cli.demo import data_dir_line, run_demo

    settings = with_local_keys(replace(settings, port=args.port))
    embedded = settings.database_url is None and not settings.store_urls
    print(data_dir_line(settings, embedded=embedded), flush=True)  # before the wait a first start takes
    with stopped_by_ctrl_c(), database(settings) as s:
        run_service(run_demo(s, people=args.people, seed=args.seed, embedded=embedded))
    return 0


def add_commands(sub: Any) -> None:
    serve = sub.add_parser(
        "serve",
        help="serve the GraphQL endpoint",
        description="Serve the GraphQL endpoint (POST /graphql), the auditor console (/audit/console), "
        "/healthz and /readyz on WELFARE_HUB_HOST:WELFARE_HUB_PORT (127.0.0.1:8000). The stores must be "
        "migrated first (welfare-hub migrate); outside production the demo keys in the data directory are "
        "used for any key not configured.",
    )
    serve.add_argument(
        "--workers",
        type=_workers,
        default=None,
        help="worker processes on the one port, 1 to 64 (default: WELFARE_HUB_WORKERS, else 1)",
    )
    serve.set_defaults(func=_cmd_serve)
    demo = sub.add_parser(
        "demo",
        help="embedded database, synthetic data, keys, tokens and the server",
        description="Everything on one machine over synthetic people: an embedded PostgreSQL (unless "
        "DATABASE_URL is set), demo keys, the three sources as their own subgraph processes (on the three "
        "ports after --port), the organisations and their tokens (an auditor's too, for the console), the "
        "link index, then the hub. Prints example queries to paste, and the data directory it keeps all of "
        "it in. Ctrl-C stops it.",
    )
    demo.add_argument("--people", type=int, default=3000, help="how many synthetic people to seed")
    demo.add_argument("--seed", type=int, default=1, help="the random seed: the same seed makes the same people")
    demo.add_argument("--port", type=int, default=8000, help="the hub's port (the subgraphs take the next three)")
    demo.set_defaults(func=_cmd_demo)
