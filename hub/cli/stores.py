"""``welfare-hub migrate`` and ``welfare-hub seed``: the four stores' schemas, and synthetic people in the sources."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

from hub.cli.common import database, migrate_serialised
from hub.config import Settings

__all__ = ["add_commands"]

log = logging.getLogger("welfare_hub")


def _cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from hub.ops.migrate import migrate

    with database(settings) as s:
        for report in asyncio.run(migrate_serialised(s, migrate)):
            print(f"{report.store}: applied {list(report.applied) or 'nothing new'}; already {list(report.already)}")
    return 0


def _cmd_seed(settings: Settings, args: argparse.Namespace) -> int:
    from hub.ops.demo import seed_sources
    from hub.ops.synth import GeneratedRowRejected

    extracts = Path(args.extracts) if args.extracts else None
    with database(settings) as s:
        try:
            counts = asyncio.run(
                seed_sources(
                    s,
                    people=args.people,
                    seed=args.seed,
                    hb_coverage=args.hb_coverage,
                    care_coverage=args.care_coverage,
                    extracts=extracts,
                    progress=not args.quiet,
                )
            )
        except GeneratedRowRejected as e:
            print(f"welfare-hub seed: {e}", file=sys.stderr)
            return 1
    for table, n in counts.items():
        print(f"{table}: {n} rows")
    if extracts is not None:
        print(f"the extracts and their mappings: {extracts} (welfare-hub import SOURCE FILE --mapping MAP loads one)")
    return 0


def add_commands(sub: Any) -> None:
    sub.add_parser(
        "migrate",
        help="create (if allowed) and migrate the four stores",
        description="Create the hub's store and the three sources' (when DATABASE_URL names a role that may "
        "create databases and roles), then apply every migration not yet applied. Safe to run again.",
    ).set_defaults(func=_cmd_migrate)
    seed = sub.add_parser(
        "seed",
        help="fill the three sources with synthetic people",
        description="Migrate, then replace the three sources' contents (DWP, Housing Benefit, social care) "
        "with synthetic people: invented, reproducible from --seed. They go in as each source's system would "
        "export them: a CSV extract and a mapping per table, loaded by the import (welfare-hub import), every "
        "row checked; a row it rejects fails the seed with nothing committed. See docs/import.md.",
    )
    seed.add_argument("--people", type=int, default=5000, help="how many synthetic people")
    seed.add_argument("--seed", type=int, default=1, help="the random seed: the same seed makes the same people")
    seed.add_argument(
        "--hb-coverage", type=float, default=None, help="share of people with a Housing Benefit claim (default: 0.3)"
    )
    seed.add_argument(
        "--care-coverage", type=float, default=None, help="share of people known to social care (default: 0.15)"
    )
    seed.add_argument(
        "--extracts",
        metavar="DIR",
        default=None,
        help="keep the CSV extracts and their mapping files in DIR (default: a temporary directory, removed)",
    )
    seed.add_argument("--quiet", action="store_true", help="no progress bars (there are none unless on a terminal)")
    seed.set_defaults(func=_cmd_seed)
