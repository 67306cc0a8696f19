"""``welfare-hub policy``: check the purpose register against the schema; print the privacy notice."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING, Any

from hub.config import Settings

if TYPE_CHECKING:
    pass


__all__ = ["add_commands"]

log = logging.getLogger("welfare_hub")


def _cmd_policy_check(settings: Settings, args: argparse.Namespace) -> int:
    from hub.execution.schema import build_schema, load_purposes

    register = load_purposes(settings, build_schema(settings))  # raises ConfigError listing every problem
    grants = sum(len(p.fields) for p in register.purposes.values())
    sizes = f"{len(register.purposes)} purposes, {len(register.org_types)} org types, {grants} field grants"
    print(f"{settings.purposes_path}: {sizes}")
    return 0


def _cmd_policy_notice(settings: Settings, args: argparse.Namespace) -> int:
    from hub.access.notice import field_descriptions, render
    from hub.execution.schema import build_schema, load_purposes

    schema = build_schema(settings)
    register = load_purposes(settings, schema)
    if args.purpose is not None and args.purpose not in register.purposes:
        print(f"no purpose {args.purpose!r} in the register ({', '.join(register.purposes)})", file=sys.stderr)
        return 2
    sys.stdout.write(render(register, field_descriptions(schema._schema), args.format, args.purpose))
    return 0


def _cmd_policy_sdl(settings: Settings, args: argparse.Namespace) -> int:
    from hub.execution.contract import purpose_sdl
    from hub.execution.schema import build_schema, load_purposes

    schema = build_schema(settings)
    register = load_purposes(settings, schema)
    spec = register.purposes.get(args.purpose)
    if spec is None:
        print(f"no purpose {args.purpose!r} in the register ({', '.join(register.purposes)})", file=sys.stderr)
        return 2
    if args.org_type is not None and args.org_type not in spec.org_types:
        known = args.org_type in register.org_types
        why = "is not one the purpose belongs to" if known else "is not in the register"
        print(
            f"organisation type {args.org_type!r} {why}: {args.purpose} is for {', '.join(sorted(spec.org_types))}",
            file=sys.stderr,
        )
        return 2
    sys.stdout.write(purpose_sdl(schema.as_str(), spec))
    return 0


def add_commands(sub: Any) -> None:
    policy = sub.add_parser(
        "policy",
        help="the purpose register",
        description="The purpose register (WELFARE_HUB_PURPOSES, else policy/purposes.toml): which "
        "organisation types may see which fields, for what, on what legal basis.",
    )
    policy_sub = policy.add_subparsers(dest="policy_command", required=True, metavar="COMMAND", title="commands")
    policy_sub.add_parser(
        "check",
        help="validate the register against the schema",
        description="Load the purpose register and check it against the schema; list every problem at once "
        "(exit status 2), or print its size.",
    ).set_defaults(func=_cmd_policy_check)
    notice = policy_sub.add_parser(
        "notice",
        help="the privacy notice, generated from the register",
        description="Print the privacy notice generated from the purpose register and the schema's field "
        "descriptions: what is shared, with whom, why, on what basis, for how long.",
    )
    notice.add_argument("--format", choices=("md", "html"), default="md", help="Markdown or a standalone HTML page")
    notice.add_argument("--purpose", default=None, help="one purpose only (default: every purpose)")
    notice.set_defaults(func=_cmd_policy_notice)
    sdl = policy_sub.add_parser(
        "sdl",
        help="a purpose's schema contract, as SDL",
        description="Print the part of the schema one purpose may ask for (its allow-list in the register, "
        "and what any caller may use without a purpose), as SDL that builds on its own: what a front-end "
        "team for that purpose codes against, like a router's contract variant. The hub serves the same at "
        "GET /graphql/contract?purpose=P to a caller the purpose is granted to.",
    )
    sdl.add_argument("--purpose", required=True, help="the purpose, as the register names it (e.g. BLUE_BADGE)")
    sdl.add_argument(
        "--org-type",
        default=None,
        help="refuse unless the purpose belongs to this organisation type (default: any of its types)",
    )
    sdl.set_defaults(func=_cmd_policy_sdl)
