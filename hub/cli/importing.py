"""``welfare-hub import dwp|hb|social-care FILE --mapping MAP``: a source's own CSV extract into its store,
every rejected or repaired row reported by line (:mod:`hub.ops.importing`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from hub.cli.common import database, migrate_serialised
from hub.config import Settings

__all__ = ["add_commands"]


def _cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    from hub.ops.importing import SOURCES, import_file, load_mapping, write_report
    from hub.ops.migrate import connect_store, migrate

    mapping = load_mapping(Path(args.mapping))  # a ConfigError before any database is started
    path = Path(args.file)
    report_path = Path(args.report) if args.report else path.with_name(path.name + ".report.csv")
    store = SOURCES[args.source][0]

    async def run(s: Settings) -> Any:
        await migrate_serialised(s, migrate)
        async with connect_store(s, store) as conn:
            return await import_file(conn, args.source, path, mapping, batch=args.batch, progress=not args.quiet)

    with database(settings) as s:
        report = asyncio.run(run(s))
    write_report(report_path, report.problems)
    report.report = str(report_path)
    print(json.dumps(report.summary(), indent=2))
    if report.rejected:
        print(f"{report.rejected} rows rejected, {report.repaired} repaired: each is in {report_path}", file=sys.stderr)
    return 1 if report.rejected and args.strict else 0


def add_commands(sub: Any) -> None:
    from hub.ops.importing import SOURCES

    command = sub.add_parser(
        "import",
        help="load a source's CSV extract into its store",
        description="Load a CSV extract from a source's own system (DWP, a council's Housing Benefit or social "
        "care) into one table of that source's store, as a mapping file (TOML) says which CSV column fills "
        "which table column. Every row is checked against the table's types and constraints; rejected and "
        "repaired rows are written to the report by line number and reason (never their values). Rows are "
        "loaded by COPY in batches; a re-run loads nothing twice. See docs/import.md.",
    )
    command.add_argument("source", choices=sorted(SOURCES), help="the source whose store is loaded")
    command.add_argument("file", metavar="FILE", help="the CSV extract, with a header line")
    command.add_argument("--mapping", metavar="MAP", required=True, help="the mapping file (TOML): see docs/import.md")
    command.add_argument(
        "--report", metavar="PATH", default=None, help="where the report goes (default: FILE.report.csv beside FILE)"
    )
    command.add_argument("--batch", type=int, default=5000, help="rows loaded per COPY and statement")
    command.add_argument("--strict", action="store_true", help="exit 1 when any row was rejected (default: 0)")
    command.add_argument("--quiet", action="store_true", help="no progress bar (there is none unless on a terminal)")
    command.set_defaults(func=_cmd_import)
