"""The command line a newcomer meets: ``--version`` names the installed distribution's version, and every
command's ``--help`` says what it does and what each argument means, with its default. The walk covers
every subparser, so a command added without help fails here."""

from __future__ import annotations

import argparse
import importlib.metadata
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
WELFARE_HUB = Path(sys.executable).parent / "welfare-hub"  # the console script pip installed beside python


def _distribution() -> str:
    return str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"])


def test_version_prints_the_installed_distributions_version() -> None:
    done = subprocess.run([str(WELFARE_HUB), "--version"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"welfare-hub {importlib.metadata.version(_distribution())}"


def _walk(
    parser: argparse.ArgumentParser, words: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser, str | None]]:
    """Every parser under ``parser`` (itself first): its command words, it, and its line in its parent's list."""
    if not words:
        yield words, parser, parser.description
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            listed = {choice.dest: choice.help for choice in action._choices_actions}
            for name, child in action.choices.items():
                yield (*words, name), child, listed.get(name)
                yield from _walk(child, (*words, name))


COMMANDS = list(_walk(build_parser()))
IDS = [" ".join(words) or "welfare-hub" for words, _, _ in COMMANDS]


def test_the_walk_reaches_every_level() -> None:
    found = {" ".join(words) for words, _, _ in COMMANDS}
    assert {"demo", "token", "audit verify", "subgraph", "subgraph access-log", "link build"} <= found


@pytest.mark.parametrize(("words", "parser", "listed"), COMMANDS, ids=IDS)
def test_every_command_and_argument_is_described(
    words: tuple[str, ...], parser: argparse.ArgumentParser, listed: str | None
) -> None:
    command = " ".join(words) or "welfare-hub"
    assert (listed or "").strip(), f"{command}: no help in its parent's list of commands"
    assert (parser.description or "").strip(), f"{command}: no description for its own --help"
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue  # argparse's own -h; the commands under a subparsers action are walked one by one
        assert (action.help or "").strip(), f"{command} {action.option_strings or action.dest}: no help"


@pytest.mark.parametrize(("words", "parser", "listed"), COMMANDS, ids=IDS)
def test_every_option_says_its_default(
    words: tuple[str, ...], parser: argparse.ArgumentParser, listed: str | None
) -> None:
    """Each option with a default names it in its help as --help prints it: argparse's "(default: 3000)", or
    in words where it is not a value (another option, a variable, the data directory)."""
    formatter = parser._get_formatter()
    for action in parser._actions:
        if not action.option_strings or action.required or action.default is None or action.default is False:
            continue  # positionals, required options, flags, and options that are simply absent when not given
        if isinstance(action, argparse._HelpAction | argparse._VersionAction):
            continue
        shown = formatter._expand_help(action)
        assert "default" in shown.lower(), f"{' '.join(words)} {action.option_strings}: {shown!r}"


def test_a_default_is_shown_as_argparse_would() -> None:
    demo = next(p for words, p, _ in COMMANDS if words == ("demo",))
    text = " ".join(demo.format_help().split())
    assert "how many synthetic people to seed (default: 3000)" in text
    assert "(default: None)" not in " ".join(p.format_help() for _, p, _ in COMMANDS)


@pytest.mark.parametrize("argv", [["--help"], ["demo", "--help"], ["audit", "verify", "--help"]])
def test_help_exits_0(argv: list[str]) -> None:
    done = subprocess.run([str(WELFARE_HUB), *argv], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: welfare-hub")
