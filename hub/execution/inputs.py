"""Input values, bounded before anything reads them: every list at most ``max_list_items`` long, every input
object at most as many keys, all the variables together at most ``max_list_items`` squared values, and no
text carrying control or format characters (a NUL byte, which PostgreSQL cannot store; escapes and line
separators that forge log lines; bidirectional overrides that disguise text shown to an auditor).

Both the document's literals (checked once per parsed document, with its cost) and the request's variables
(checked per request, before they are coerced: thousands of invalid list items, or unknown keys of an
input object, would otherwise each cost a coercion error quoting the whole value) are walked here, in time
linear in their size. A breach is BAD_USER_INPUT, and its message never quotes the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from graphql import DocumentNode, GraphQLError, ListValueNode, ObjectValueNode, StringValueNode, Visitor, visit

__all__ = ["document_input_errors", "variable_input_errors"]

#: C0 controls but tab, line feed and carriage return (free text has lines), DEL, C1 controls, the line and
#: paragraph separators, and the bidirectional and zero-width format characters.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def _error(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "BAD_USER_INPUT"})


def _too_long(max_items: int) -> GraphQLError:
    return _error(f"a list may hold at most {max_items} items")


def _control() -> GraphQLError:
    return _error("text may not contain control characters (such as a NUL byte)")


def _too_many_keys(max_items: int) -> GraphQLError:
    return _error(f"an input object may have at most {max_items} fields")


def _too_many_values(max_values: int) -> GraphQLError:
    return _error(f"the variables may hold at most {max_values} values in all")


class _Literals(Visitor):
    def __init__(self, max_items: int) -> None:
        super().__init__()
        self.max_items = max_items
        self.errors: list[GraphQLError] = []

    def enter_list_value(self, node: ListValueNode, *_: object) -> object:
        if len(node.values) > self.max_items:
            self.errors.append(_too_long(self.max_items))
            return self.BREAK
        return None

    def enter_object_value(self, node: ObjectValueNode, *_: object) -> object:
        if len(node.fields) > self.max_items:
            self.errors.append(_too_many_keys(self.max_items))
            return self.BREAK
        return None

    def enter_string_value(self, node: StringValueNode, *_: object) -> object:
        if _CONTROL.search(node.value):
            self.errors.append(_control())
            return self.BREAK
        return None


def document_input_errors(document: DocumentNode, *, max_items: int) -> list[GraphQLError]:
    """The first breach among the document's literal values, or none."""
    literals = _Literals(max_items)
    visit(document, literals)
    return literals.errors


def _walk(value: object) -> Iterator[object]:
    """Every value inside ``value`` (a decoded JSON document), iteratively: nesting cannot overflow the stack."""
    stack = [value]
    while stack:
        item = stack.pop()
        yield item
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def variable_input_errors(variables: object, *, max_items: int) -> list[GraphQLError]:
    """The first breach among the request's variables (decoded JSON), or none."""
    if isinstance(variables, dict) and len(variables) > max_items:
        return [_too_many_keys(max_items)]
    max_values = max_items * max_items
    for count, item in enumerate(_walk(variables)):
        if count > max_values:
            return [_too_many_values(max_values)]
        if isinstance(item, list) and len(item) > max_items:
            return [_too_long(max_items)]
        if isinstance(item, dict) and len(item) > max_items:
            return [_too_many_keys(max_items)]
        if isinstance(item, str) and _CONTROL.search(item):
            return [_control()]
    return []
