"""``welfare-hub serve`` and ``welfare-hub demo``: the GraphQL endpoint, for real or over synthetic data."""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from hub.config import Settings

if TYPE_CHECKING:
    pass

from hub.cli.common import database, run_service, stopped_by_ctrl_c, with_local_keys

__all__ = ["add_commands"]

log = logging.getLogger("welfare_hub")


def _cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from hub.serve import serve

    settings = with_local_keys(settings)
    with stopped_by_ctrl_c(), database(settings) as s:
        run_service(serve(s))
    return 0


def _cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from hub.cli.demo import run_demo

    settings = with_local_keys(replace(settings, port=args.port))
    with stopped_by_ctrl_c(), database(settings) as s:
        run_service(run_demo(s, people=args.people, seed=args.seed))
    return 0


def add_commands(sub: Any) -> None:
    sub.add_parser("serve", help="serve the GraphQL endpoint").set_defaults(func=_cmd_serve)
    demo = sub.add_parser("demo", help="embedded database, synthetic data, keys, tokens and the server")
    demo.add_argument("--people", type=int, default=3000)
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--port", type=int, default=8000)
    demo.set_defaults(func=_cmd_demo)
