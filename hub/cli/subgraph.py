"""``welfare-hub subgraph dwp|hb|social-care serve|migrate|access-log``: a source's reference subgraph.

Configured from its own environment (``WELFARE_SUBGRAPH_*``, see :mod:`subgraphs.config`), not the hub's:
the subgraph is the source organisation's process, over its own store, trusting only the hub's public keys.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import uuid
from typing import Any

from hub.config import Settings
from hub.errors import ConfigError

__all__ = ["add_commands"]


def _config(args: argparse.Namespace, *, serving: bool) -> Any:
    from subgraphs.config import SubgraphConfig, source_name

    return SubgraphConfig.from_environ(os.environ, source=source_name(args.source), serving=serving)


def _cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from hub.runtime import settle_heap
    from subgraphs.app import create_app

    config = _config(args, serving=True)
    print(f"subgraph {config.source}: http://{args.host}:{args.port}/graphql", flush=True)
    app = create_app(config)
    settle_heap()  # as the hub's own processes do
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        # Bounded before the assertion is checked: connections at once (503 beyond), an idle keep-alive's
        # life, and (in the app) the time a body may take to arrive.
        limit_concurrency=config.max_connections,
        timeout_keep_alive=config.keep_alive_timeout,
    )
    return 0


def _cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from subgraphs.store import migrate_store

    report = asyncio.run(migrate_store(_config(args, serving=False)))
    print(f"{report.store}: applied {list(report.applied) or 'nothing new'}; already {list(report.already)}")
    return 0


def _cmd_access_log(settings: Settings, args: argparse.Namespace) -> int:
    from subgraphs.access_log import AccessLog

    config = _config(args, serving=False)
    if (args.nino is None) == (args.audit_id is None):
        raise ConfigError(["name a person (--nino) or a hub audit record (--audit-id)"])
    try:
        audit_id = None if args.audit_id is None else uuid.UUID(args.audit_id)
    except ValueError:
        raise ConfigError(["--audit-id: the hub audit record's id (a UUID)"]) from None

    async def run() -> list[Any]:
        import asyncpg

        pool = await asyncpg.create_pool(config.database_url, min_size=1, max_size=1)
        try:
            log = AccessLog(pool, schema=config.schema_name, secret=config.secret, timeout=config.timeout)
            return await log.about(nino=args.nino, audit_id=audit_id)
        finally:
            await pool.close()

    try:
        rows = asyncio.run(run())
    except ValueError as e:  # an invalid NINO: say why, never echo it
        raise ConfigError([f"--nino: {e}"]) from None
    for row in rows:
        print(
            json.dumps(
                {
                    "receivedAt": row.received_at.isoformat(),
                    "auditId": None if row.audit_id is None else str(row.audit_id),
                    "org": row.org,
                    "orgType": row.org_type,
                    "purpose": row.purpose,
                    "legalBasis": row.legal_basis,
                    "fields": list(row.fields),
                    "outcome": row.outcome,
                    "reason": row.reason,
                }
            )
        )
    if not rows:
        print("no access recorded", flush=True)
    return 0


def add_commands(sub: Any) -> None:
    parser = sub.add_parser(
        "subgraph",
        help="a source's reference subgraph (serve, migrate, access-log)",
        description="A source's reference subgraph, as its owner (DWP, a council) runs it: configured from "
        "WELFARE_SUBGRAPH_* (see subgraphs/README.md), over its own store, trusting only the hub's public keys.",
    )
    parser.add_argument("source", choices=["dwp", "hb", "social-care"], help="which source it serves")
    commands = parser.add_subparsers(dest="subgraph_command", required=True, metavar="COMMAND", title="commands")
    serve = commands.add_parser(
        "serve",
        help="serve the subgraph (POST /graphql)",
        description="Serve the subgraph's GraphQL endpoint (POST /graphql), answering only questions the hub "
        "signed, and recording each in its access log.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=4001, help="port to listen on")
    serve.set_defaults(func=_cmd_serve)
    commands.add_parser(
        "migrate",
        help="migrate the subgraph's own store",
        description="Bring the subgraph's own store up to date with the source's migrations (its access log "
        "included), with the subgraph's own credentials.",
    ).set_defaults(func=_cmd_migrate)
    access = commands.add_parser(
        "access-log",
        help="who asked about a person, for what, under which audit record",
        description="The subgraph's own record of the hub's questions: about one person (--nino), or under "
        "one hub audit record (--audit-id); give one of them.",
    )
    access.add_argument("--nino", default=None, help="the person's National Insurance number")
    access.add_argument("--audit-id", default=None, help="the hub audit record's id (a receipt's requestId)")
    access.set_defaults(func=_cmd_access_log)
