"""``welfare-hub orgs``: the organisation register and who the hub's users are as people."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.config import Settings
from hub.errors import ConfigError

if TYPE_CHECKING:
    import asyncpg


from hub.cli.common import in_hub, with_local_keys

__all__ = ["add_commands"]

log = logging.getLogger("welfare_hub")


def _cmd_orgs_load(settings: Settings, args: argparse.Namespace) -> int:
    from hub.access.orgs import parse_file
    from hub.execution.schema import build_schema, load_purposes
    from hub.records.orgs import upsert

    register = load_purposes(settings, build_schema(settings))
    orgs = parse_file(Path(args.file), org_types=register.org_types)
    in_hub(settings, lambda conn: upsert(conn, orgs))
    print(f"{len(orgs)} organisations added or updated")
    return 0


def _cmd_orgs_staff(settings: Settings, args: argparse.Namespace) -> int:
    import csv

    from hub.access.keys import load_key_ring
    from hub.records.links import person_key_of
    from hub.records.orgs import record_staff
    from linkage import check_nino, subject_hash, user_hash

    settings = with_local_keys(settings)
    assert settings.keys_path is not None
    ring = load_key_ring(settings.keys_path)
    staff, problems = [], []
    with open(args.file, newline="") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            nino = check_nino(row.get("nino") or "")
            if not row.get("org") or not row.get("user") or nino.nino is None:
                problems.append(f"line {line}: needs org, user and a valid nino")
                continue
            staff.append((user_hash(ring, row["org"], row["user"]), nino.nino))
    if problems:
        raise ConfigError(problems)

    async def record(conn: asyncpg.Connection) -> None:
        # Each user's hub person key too, from the link index, so their record is refused however reached.
        rows = [
            (user, subject_hash(ring, nino), await person_key_of(conn, [k.value for k in ring.hash_all(nino)]))
            for user, nino in staff
        ]
        await record_staff(conn, rows)

    in_hub(settings, record)
    print(f"{len(staff)} users recorded (keyed hashes and person keys only)")
    return 0


def add_commands(sub: Any) -> None:
    orgs = sub.add_parser(
        "orgs",
        help="the organisation register",
        description="The organisation register: which organisations may call the hub, as which type, for "
        "which council, until when; and who their users are as people (so no one looks themselves up).",
    )
    orgs_sub = orgs.add_subparsers(dest="orgs_command", required=True, metavar="COMMAND", title="commands")
    load = orgs_sub.add_parser(
        "load",
        help="add or update organisations from a TOML file ([organisations.<id>])",
        description="Add or update organisations from a TOML file of [organisations.<id>] tables (see "
        "policy/organisations.example.toml); every problem in the file is listed before anything is written.",
    )
    load.add_argument("file", help="the TOML file (e.g. policy/organisations.example.toml)")
    load.set_defaults(func=_cmd_orgs_load)
    staff = orgs_sub.add_parser(
        "staff",
        help="who the hub's users are as people (CSV: org,user,nino; hashed on load)",
        description="Record who the hub's users are as people, from a CSV file with the columns org, user "
        "and nino: only keyed hashes (and each person's hub key) are kept, so a user's own record is refused "
        "to them however it is reached.",
    )
    staff.add_argument("file", help="the CSV file (header: org,user,nino)")
    staff.set_defaults(func=_cmd_orgs_staff)
