"""``welfare-hub``: serve, migrate, seed, demo, keys, tokens, links and the audit log.

Configuration comes from the environment (see :mod:`hub.config`); with no database configured, the
commands start an embedded PostgreSQL under the data directory (``WELFARE_HUB_DATA_DIR``, default
``./.welfare-hub``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
from collections.abc import Sequence

from hub.cli import audit, keys, link, orgs, policy, serving, stores, subgraph
from hub.cli.common import unreachable
from hub.config import Settings
from hub.errors import ConfigError

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="welfare-hub", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    # The order of --help: migrate, seed, serve, demo, keys, audit, link, orgs, policy, token.
    for group in (stores, serving, keys, audit, link, orgs, policy, subgraph):
        group.add_commands(sub)
    keys.add_token_command(sub)
    return parser


class JsonLines(logging.Formatter):
    """One JSON object a line (what a log platform ingests): time, level, logger, message, and an
    exception's type only (its message may quote data; the hub's own messages never do)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = record.exc_info[0].__name__
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(*, json_lines: bool) -> None:
    """Plain lines for a person at a terminal; JSON lines in production."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonLines() if json_lines else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    if not root.handlers:  # as logging.basicConfig: a host that set up logging (a test runner) keeps its own
        root.addHandler(handler)
        root.setLevel(logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    production = os.environ.get("WELFARE_HUB_ENV", "").strip().lower() == "production"
    configure_logging(json_lines=production)
    try:
        settings = Settings.from_environ(os.environ)
    except ConfigError as e:
        print(f"welfare-hub: {e}", file=sys.stderr)
        return 2
    try:
        if args.command == "token" and settings.production:
            raise ConfigError(["tokens come from your identity provider in production, not from the hub"])
        code: int = args.func(settings, args)
    except ConfigError as e:
        print(f"welfare-hub: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        # Every command, in one place: an unreachable database is the operator's to fix, not a traceback.
        from hub.ops.embedded import EmbeddedPostgresError

        if isinstance(e, EmbeddedPostgresError):
            print(f"welfare-hub: the embedded PostgreSQL: {e}", file=sys.stderr)
            return 1
        message = unreachable(settings, e)
        if message is None:
            raise
        command = " ".join(v for k, v in vars(args).items() if k.endswith("command") and isinstance(v, str))
        print(f"welfare-hub {command}: {message}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
