"""Error hygiene: nothing that leaves the hub or is logged carries a NINO, or any value the request supplied.

GraphQL's own messages quote input (a coercion error repeats the date of birth it could not read), and
suggestions ("Did you mean ...?") spell out the schema piece by piece: both are removed here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = ["request_inputs", "safe_operation_name", "sanitise_message", "without_suggestions"]

# Anything shaped like a NINO in any form check_nino accepts (any case; spaces, hyphens or dots between
# the characters), and temporary reference numbers: redacted from every message that leaves or is logged.
_SEP = r"[\s.\-]*"
_NINO_SHAPED = re.compile(
    rf"(?i)(?<![a-z0-9])[a-z]{_SEP}[a-z](?:{_SEP}\d){{6}}(?:{_SEP}[a-z])?(?![a-z0-9])"
    rf"|(?<![a-z0-9])\d{_SEP}\d{_SEP}[a-z](?:{_SEP}\d){{5}}(?![a-z0-9])"
)
_SAFE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


def sanitise_message(message: str, inputs: Iterable[str] = ()) -> str:
    """A message fit to leave the hub or be logged: no NINO-shaped text, and none of the request's own
    input values (GraphQL's coercion errors quote them: a date of birth, a name, a postcode)."""
    for value in sorted(inputs, key=len, reverse=True):
        message = message.replace(value, "[redacted]")
    return _NINO_SHAPED.sub("[redacted]", message)


# A GraphQL string literal in a document ("..." with escapes); block strings are rare and covered by the
# NINO-shaped rule.
_STRING_LITERAL = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
_NUMBER_LITERAL = re.compile(r"(?<![A-Za-z0-9_$])-?\d[\d.eE+-]*")
_MIN_INPUT = 3  # shorter values are no one's data, and redacting them would garble messages


def request_inputs(query: str | None, variables: Any) -> set[str]:
    """Every value the request itself supplied, as text: the document's string and number literals and
    the variables' leaves, each as given and as graphql-core would print it."""
    found: set[str] = set()

    def leaves(value: Any) -> None:
        if isinstance(value, dict):
            for v in value.values():
                leaves(v)
        elif isinstance(value, list | tuple):
            for v in value:
                leaves(v)
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            found.add(str(value))

    leaves(variables)
    if query:
        found.update(m.group(1) for m in _STRING_LITERAL.finditer(query))
        found.update(m.group(0) for m in _NUMBER_LITERAL.finditer(query))
    return {v for v in found if len(v) >= _MIN_INPUT}


def safe_operation_name(name: str | None) -> str | None:
    """The operation name as the audit may keep it: a plain identifier, never anything NINO-shaped."""
    if name is None:
        return None
    return name if _SAFE_NAME.fullmatch(name) and sanitise_message(name) == name else "[redacted]"


def without_suggestions(message: str) -> str:
    """The message without "Did you mean ...?": in production, suggestions would map the schema for anyone."""
    return _SUGGESTION.sub("", message)
