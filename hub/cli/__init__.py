"""``welfare-hub``: serve, migrate, seed, demo, keys, tokens, links and the audit log.

Configuration comes from the environment (see :mod:`hub.config`). Outside production the commands keep
their keys, tokens and (with no database configured) an embedded PostgreSQL in one data directory:
``--data-dir``, else ``WELFARE_HUB_DATA_DIR``, else a per-user one (:mod:`hub.cli.datadir`).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from hub.cli import audit, importing, keys, link, operations, orgs, policy, serving, stores, subgraph
from hub.cli.common import unreachable
from hub.cli.datadir import ENV_VARIABLE, LEGACY_DIR, DataDir, default_data_dir, resolve_data_dir
from hub.config import Settings
from hub.errors import ConfigError

__all__ = ["DISTRIBUTION", "build_parser", "main"]

#: The distribution that installs this command (``[project] name`` in pyproject.toml): its version is ours.
DISTRIBUTION = "welfare-hub"
#: Commands configured from an environment of their own, or reading nothing the hub keeps: no --data-dir.
_NO_DATA_DIR = frozenset({"subgraph", "policy"})


def _version() -> str:
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "(not installed: pip install -e .)"


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's own, with each option's default appended, as ``ArgumentDefaultsHelpFormatter`` does, but
    not when there is none to show (None, False, an empty list) or the help already says what it is."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        shown = action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE)
        if (
            not shown
            or action.required
            or any(default is nothing for nothing in (None, False, argparse.SUPPRESS))  # 0 is a default to show
            or default == []
            or "default" in text.lower()
            or isinstance(action, argparse._HelpAction | argparse._VersionAction)
        ):
            return text
        return f"{text} (default: %(default)s)"

    def _split_lines(self, text: str, width: int) -> list[str]:
        # Never break a path or a command at its hyphens (welfare-/hub).
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        lines = textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)
        return "\n".join(indent + line for line in lines)


class _Parser(argparse.ArgumentParser):
    """Every (sub)command's parser: ``add_subparsers`` makes its children of the parent's class."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)


def _commands(parser: argparse.ArgumentParser) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser, str]]:
    """Every command under ``parser``, depth first: (its words, its parser, its line in the parent's list).
    argparse has no public way to list a parser's subcommands: this reads its actions."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            listed = {a.dest: a.help or "" for a in action._choices_actions}
            for name, child in action.choices.items():
                yield (name,), child, listed.get(name, "")
                for words, grandchild, line in _commands(child):
                    yield (name, *words), grandchild, line


def _leaf(parser: argparse.ArgumentParser) -> bool:
    return not any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)


def _default_data_dir(env: Mapping[str, str]) -> Path:
    try:
        home = Path.home()
    except RuntimeError:  # an account with no home directory (a container's arbitrary uid): as before, here
        return LEGACY_DIR
    return default_data_dir(env, platform=sys.platform, home=home)


def build_parser(environ: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
    env = os.environ if environ is None else environ
    data_dir_help = (
        "the directory for keys, demo tokens, the linkage model and, with no database configured, the embedded "
        f"PostgreSQL (default: ${ENV_VARIABLE}, else {_default_data_dir(env)})"
    ).replace("%", "%%")
    parser = _Parser(
        prog="welfare-hub",
        description=(
            "The welfare hub: lawful, minimal, provable sharing of social-security data over one GraphQL "
            "endpoint. Configured from the environment (DATABASE_URL, WELFARE_HUB_*: see the README); with no "
            "database configured, the commands share an embedded PostgreSQL in the data directory."
        ),
        epilog="New here? `welfare-hub demo` runs everything on synthetic data. `welfare-hub COMMAND --help` "
        "describes each command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("--data-dir", metavar="DIR", default=None, help=data_dir_help)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")
    # The order of --help: migrate, seed, import, serve, demo, keys, audit, link, orgs, operations, policy,
    # subgraph, token.
    for group in (stores, importing, serving, keys, audit, link, orgs, operations, policy, subgraph):
        group.add_commands(sub)
    keys.add_token_command(sub)
    for words, command, line in _commands(parser):
        command.description = command.description or line
        if _leaf(command) and words[0] not in _NO_DATA_DIR:
            # Also after the command (`scripts/demo --data-dir DIR`); given in both places, this one wins.
            command.add_argument("--data-dir", metavar="DIR", default=argparse.SUPPRESS, help=data_dir_help)
    return parser


def _data_dir(args: argparse.Namespace, env: Mapping[str, str]) -> DataDir:
    chosen = resolve_data_dir(args.data_dir, env, default=_default_data_dir(env))
    return replace(chosen, path=chosen.path.expanduser().absolute())


def _note_legacy(args: argparse.Namespace, settings: Settings, data_dir: DataDir) -> None:
    """The default used to be ./.welfare-hub: say so where one is left, rather than start afresh silently."""
    legacy = LEGACY_DIR.absolute()
    if (
        data_dir.chosen_by == "default"
        and not settings.production
        and args.command not in _NO_DATA_DIR
        and (legacy / "keys").is_dir()
        and legacy != data_dir.path
    ):
        print(
            f"welfare-hub: note: {legacy} (the old default data directory) is no longer used; this command uses "
            f"{data_dir.path}. To keep using the old one: --data-dir {LEGACY_DIR} (or {ENV_VARIABLE})",
            file=sys.stderr,
        )


def configure_logging(*, json_lines: bool) -> None:
    """Plain lines for a person at a terminal; JSON lines in production; OTLP when OTEL_LOGS_EXPORTER says
    so (:mod:`hub.logs`)."""
    from hub import logs

    logs.configure(json_lines=json_lines, env=os.environ)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    production = os.environ.get("WELFARE_HUB_ENV", "").strip().lower() == "production"
    configure_logging(json_lines=production)
    try:
        settings = Settings.from_environ(os.environ)
    except ConfigError as e:
        print(f"welfare-hub: {e}", file=sys.stderr)
        return 2
    # Every command takes its data directory from here (Settings' own default is the current directory's).
    data_dir = _data_dir(args, os.environ)
    settings = replace(settings, data_dir=data_dir.path)
    _note_legacy(args, settings, data_dir)
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
