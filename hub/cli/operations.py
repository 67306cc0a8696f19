"""``welfare-hub operations``: each organisation's registered operations (the safelist a partner's
organisation type must keep to, and what any organisation may send by hash alone)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.cli.common import in_hub
from hub.config import Settings
from hub.errors import ConfigError

if TYPE_CHECKING:
    import asyncpg

__all__ = ["add_commands"]


def _documents(settings: Settings, files: list[str]) -> list[tuple[str, str | None]]:
    """Each file's document, checked against the schema (it parses and validates, one operation at most
    named, no field outside every purpose): every problem listed before anything is written."""
    from graphql import OperationDefinitionNode, parse, validate
    from graphql.error import GraphQLError

    from hub.execution.schema import build_schema

    schema = build_schema(settings)._schema
    out: list[tuple[str, str | None]] = []
    problems: list[str] = []
    for name in files:
        try:
            text = Path(name).read_text()
        except OSError as e:
            problems.append(f"{name}: cannot be read ({e.strerror})")
            continue
        try:
            document = parse(text)
        except GraphQLError as e:
            problems.append(f"{name}: does not parse: {e.message}")
            continue
        errors = validate(schema, document)
        problems += [f"{name}: {e.message}" for e in errors[:5]]
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if len(operations) != 1:
            problems.append(f"{name}: holds {len(operations)} operations; register one a file")
            continue
        out.append((text, operations[0].name.value if operations[0].name else None))
    if problems:
        raise ConfigError(problems)
    return out


def _cmd_add(settings: Settings, args: argparse.Namespace) -> int:
    from hub.records.operations import add_operations

    documents = _documents(settings, args.files)
    hashes: list[str] = []

    async def work(conn: asyncpg.Connection) -> None:
        hashes.extend(await add_operations(conn, args.org, documents))

    in_hub(settings, work)
    for file, sha, (_, operation) in zip(args.files, hashes, documents, strict=True):
        print(f"{sha}  {operation or '(anonymous)'}  {file}")
    print(f"{len(hashes)} operations registered for {args.org} (a client sends the file's exact text, or its hash)")
    return 0


def _cmd_list(settings: Settings, args: argparse.Namespace) -> int:
    from hub.records.operations import RegisteredOperation, list_operations

    found: list[RegisteredOperation] = []

    async def work(conn: asyncpg.Connection) -> None:
        found.extend(await list_operations(conn, args.org))

    in_hub(settings, work)
    for op in found:
        print(f"{op.sha256}  {op.operation_name or '(anonymous)'}")
    print(f"{len(found)} operations registered for {args.org}")
    return 0


def _cmd_remove(settings: Settings, args: argparse.Namespace) -> int:
    from hub.records.operations import remove_operation

    removed: list[bool] = []

    async def work(conn: asyncpg.Connection) -> None:
        removed.append(await remove_operation(conn, args.org, args.sha256))

    in_hub(settings, work)
    if not removed[0]:
        raise ConfigError([f"no operation {args.sha256} is registered for {args.org}"])
    print(f"removed {args.sha256} from {args.org} (running hubs stop accepting it within their cache time)")
    return 0


def add_commands(sub: Any) -> None:
    operations = sub.add_parser(
        "operations",
        help="each organisation's registered operations (persisted queries)",
        description="Each organisation's registered operations: the only ones an organisation of a type in "
        "the register's [operations] required_for (partners: ALMOs, voluntary agencies) may run, and ones "
        "any organisation may send by hash alone (extensions.persistedQuery.sha256Hash, as automatic "
        "persisted queries do). A hash is the sha256 of the document's exact text.",
    )
    commands = operations.add_subparsers(dest="operations_command", required=True, metavar="COMMAND", title="commands")
    add = commands.add_parser(
        "add",
        help="register operations (.graphql files, one operation each) for an organisation",
        description="Register each file's operation for an organisation, checked against the schema first "
        "(every problem listed, nothing written if there is one); prints each one's hash. A repeat changes "
        "nothing.",
    )
    add.add_argument("--org", required=True, help="the organisation's id in the organisation register")
    add.add_argument("files", nargs="+", help="GraphQL documents, one operation a file")
    add.set_defaults(func=_cmd_add)
    listing = commands.add_parser(
        "list",
        help="an organisation's registered operations",
        description="Print an organisation's registered operations: hash and operation name, oldest first.",
    )
    listing.add_argument("--org", required=True, help="the organisation's id in the organisation register")
    listing.set_defaults(func=_cmd_list)
    remove = commands.add_parser(
        "remove",
        help="withdraw one registered operation",
        description="Withdraw an organisation's registered operation by its hash.",
    )
    remove.add_argument("--org", required=True, help="the organisation's id in the organisation register")
    remove.add_argument("sha256", help="the operation's hash, as add and list print it")
    remove.set_defaults(func=_cmd_remove)
