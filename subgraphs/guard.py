"""The document check, before anything is read: what the hub's document selects, and whether it may.

Every field the document selects, in any operation or fragment, must be a contract coordinate that both
the assertion names and this source's own policy allows for the assertion's purpose (the root's
``_entities`` and ``_service`` are the federation's, and need none). Introspection is refused. The cost is
bounded (depth, fields, aliases, tokens) and computed once per fragment, so fragments spreading fragments
cannot multiply the work (the trap strawberry's own limiters fall into). Only one data root field a
document: one batched fetch a request.

What the text alone decides (the parse, the cost, the walk's coordinates, the refusals that need no
assertion) is memoised per document text by :class:`DocumentChecks`; the assertion's allowed set, the
variables and the representations are checked on every request.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    get_named_type,
    parse,
    visit,
)
from graphql.utilities import value_from_ast_untyped

__all__ = ["CheckedDocument", "DocumentChecks", "Limits", "Refused", "check_document"]

_FEDERATION_ROOTS = frozenset({"_entities", "_service"})
_DATA_ROOTS = frozenset({"_entities", "_service", "candidates", "peopleByNino", "feed", "deliverChanges"})


@dataclass(frozen=True)
class Limits:
    max_depth: int = 10
    max_fields: int = 2000
    max_aliases: int = 20
    max_tokens: int = 10_000
    max_representations: int = 1000
    max_fragments: int = 100


class Refused(Exception):
    """A document answered with an error before anything was read; ``code`` is its extensions.code."""

    def __init__(self, code: str, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extensions = {"code": code, **extensions}


@dataclass(frozen=True)
class CheckedDocument:
    document: DocumentNode
    coordinates: frozenset[str]  # the contract coordinates selected ("Type.field")
    root: str | None  # "_entities", "candidates", "peopleByNino", "feed", "deliverChanges", "_service", or None
    representations: tuple[object, ...]
    #: The root field's arguments, variables substituted (unchecked: the schema's validation comes next).
    arguments: Mapping[str, Any] = field(default_factory=dict)


class _Cost:
    """Depth, field and alias counts of selection sets, memoised per fragment (a cycle is refused)."""

    def __init__(self, fragments: Mapping[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self.memo: dict[str, tuple[int, int, int]] = {}
        self.open: set[str] = set()

    def of(self, selection_set: SelectionSetNode | None) -> tuple[int, int, int]:
        """(depth, fields, aliases)."""
        if selection_set is None:
            return 0, 0, 0
        depth = fields = aliases = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                d, f, a = self.of(selection.selection_set)
                depth, fields = max(depth, d + 1), fields + f + 1
                aliases += a + (1 if selection.alias is not None else 0)
            elif isinstance(selection, InlineFragmentNode):
                d, f, a = self.of(selection.selection_set)
                depth, fields, aliases = max(depth, d), fields + f, aliases + a
            elif isinstance(selection, FragmentSpreadNode):
                d, f, a = self.fragment(selection.name.value)
                depth, fields, aliases = max(depth, d), fields + f, aliases + a
        return depth, fields, aliases

    def fragment(self, name: str) -> tuple[int, int, int]:
        if name in self.memo:
            return self.memo[name]
        if name in self.open:
            raise Refused("GRAPHQL_VALIDATION_FAILED", f"fragment {name} spreads itself")
        definition = self.fragments.get(name)
        if definition is None:
            raise Refused("GRAPHQL_VALIDATION_FAILED", f"unknown fragment {name}")
        self.open.add(name)
        self.memo[name] = self.of(definition.selection_set)
        self.open.discard(name)
        return self.memo[name]


@dataclass(frozen=True, slots=True)
class _Analysis:
    """What a document's text alone decides, whatever the assertion: the selection in visit order, the refusal
    it earns on its own (after the coordinates visited before it), its data roots."""

    document: DocumentNode | None
    steps: tuple[str, ...]  # the coordinates, in the order the walk meets them (a refusal names the first)
    coordinates: frozenset[str]
    refusal: tuple[str, str] | None  # (code, message): refused whatever the assertion allows
    roots: tuple[FieldNode, ...]


def _analyse(schema: GraphQLSchema, query: str, limits: Limits) -> _Analysis:
    try:
        document = parse(query, no_location=False, max_tokens=limits.max_tokens)
    except GraphQLError as e:
        return _Analysis(None, (), frozenset(), ("GRAPHQL_PARSE_FAILED", e.message), ())
    try:
        _bounded(schema, document, limits)
    except Refused as refused:
        return _Analysis(document, (), frozenset(), (refused.code, refused.message), ())

    type_info = TypeInfo(schema)
    query_name = schema.query_type.name if schema.query_type is not None else "Query"
    mutation_name = schema.mutation_type.name if schema.mutation_type is not None else None
    steps: list[str] = []
    roots: list[FieldNode] = []

    class Walk(Visitor):
        def enter_field(self, node: FieldNode, *_: object) -> None:
            name = node.name.value
            if name == "__typename":
                return
            if name.startswith("__"):
                raise Refused("INTROSPECTION_DISABLED", "introspection is not answered")
            parent = type_info.get_parent_type()
            if parent is None:
                raise Refused("FIELD_NOT_ALLOWED", "a field of an unknown type is not allowed")
            parent_name = get_named_type(parent).name
            if parent_name == query_name:
                if name in _DATA_ROOTS:
                    roots.append(node)
                if name in _FEDERATION_ROOTS:
                    return
                parent_name = "Query"
            elif parent_name == mutation_name:
                if name in _DATA_ROOTS:
                    roots.append(node)
                parent_name = "Mutation"
            elif parent_name == "_Service":
                return
            steps.append(f"{parent_name}.{name}")

    refusal: tuple[str, str] | None = None
    try:
        visit(document, TypeInfoVisitor(type_info, Walk()))
    except Refused as refused:  # the walk stops here: what follows it is never looked at
        refusal = (refused.code, refused.message)
    return _Analysis(document, tuple(steps), frozenset(steps), refusal, tuple(roots))


def _bounded(schema: GraphQLSchema, document: DocumentNode, limits: Limits) -> None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    kinds = {OperationType.QUERY} | ({OperationType.MUTATION} if schema.mutation_type is not None else set())
    if len(operations) != 1 or operations[0].operation not in kinds:
        raise Refused("OPERATION_NOT_SUPPORTED", "one query (or, to an inbox, mutation) operation a document")
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    if len(fragments) > limits.max_fragments:
        raise Refused("QUERY_TOO_COMPLEX", f"at most {limits.max_fragments} fragments a document")
    cost = _Cost(fragments)
    try:
        for name in fragments:
            cost.fragment(name)
        depth, fields, aliases = cost.of(operations[0].selection_set)
    except RecursionError:  # fragments nested past Python's stack: far past any limit below
        raise Refused("QUERY_TOO_COMPLEX", "the document nests too deeply") from None
    if depth > limits.max_depth or fields > limits.max_fields or aliases > limits.max_aliases:
        raise Refused(
            "QUERY_TOO_COMPLEX",
            f"the document is too costly (depth {depth}/{limits.max_depth}, fields {fields}/{limits.max_fields}, "
            f"aliases {aliases}/{limits.max_aliases})",
        )


def _checked(
    analysis: _Analysis, variables: Mapping[str, Any] | None, allowed: frozenset[str], limits: Limits
) -> CheckedDocument:
    """This request's verdict on an analysed document: its assertion's ``allowed`` set and its variables."""
    if analysis.refusal is not None or not analysis.coordinates <= allowed:
        for coordinate in analysis.steps:  # the first one not allowed is the one named
            if coordinate not in allowed:
                raise Refused(
                    "FIELD_NOT_ALLOWED",
                    f"{coordinate} is not allowed: the assertion does not name it, or this source does not "
                    "answer it for the purpose",
                )
        assert analysis.refusal is not None
        raise Refused(*analysis.refusal)
    assert analysis.document is not None
    roots = analysis.roots
    if len(roots) > 1:
        raise Refused("OPERATION_NOT_SUPPORTED", "one data root field a document (one batched read or delivery)")
    root = roots[0].name.value if roots else None
    arguments = (
        {a.name.value: value_from_ast_untyped(a.value, dict(variables or {})) for a in roots[0].arguments or ()}
        if roots
        else {}
    )
    representations: tuple[object, ...] = ()
    if root == "_entities":
        value = arguments.get("representations")
        if not isinstance(value, list):
            raise Refused("GRAPHQL_VALIDATION_FAILED", "_entities needs a list of representations")
        if len(value) > limits.max_representations:
            raise Refused("QUERY_TOO_COMPLEX", f"at most {limits.max_representations} representations a call")
        representations = tuple(value)
    return CheckedDocument(analysis.document, analysis.coordinates, root, representations, arguments)


def check_document(
    schema: GraphQLSchema,
    query: str,
    variables: Mapping[str, Any] | None,
    *,
    allowed: frozenset[str],
    limits: Limits = Limits(),
) -> CheckedDocument:
    """The document's selection, if every coordinate in it is ``allowed``; else :class:`Refused`."""
    return _checked(_analyse(schema, query, limits), variables, allowed, limits)


class DocumentChecks:
    """:func:`check_document` for one schema and limits, the text-only analysis memoised per document text.

    The hub sends a handful of documents over and over (one per selection), so the parse, the cost and the
    walk are done once per text. What depends on the request is done on every one: the assertion's allowed
    set against the document's coordinates, the arguments with its variables, the representations. Bounded:
    at most ``maxsize`` texts (least recently used out first), and only texts of ``max_chars`` or fewer
    (a larger document is analysed on every request, as before, and never held): the hub's documents are
    a few hundred characters, and a parsed document with its locations is tens of times its text.
    """

    def __init__(self, schema: GraphQLSchema, limits: Limits, *, maxsize: int = 128, max_chars: int = 8192) -> None:
        self.schema = schema
        self.limits = limits
        self.maxsize = maxsize
        self.max_chars = max_chars
        self._memo: OrderedDict[str, _Analysis] = OrderedDict()

    def check(self, query: str, variables: Mapping[str, Any] | None, *, allowed: frozenset[str]) -> CheckedDocument:
        analysis = self._memo.get(query)
        if analysis is None:
            analysis = _analyse(self.schema, query, self.limits)
            if len(query) <= self.max_chars:
                self._memo[query] = analysis
                if len(self._memo) > self.maxsize:
                    self._memo.popitem(last=False)
        else:
            self._memo.move_to_end(query)
        return _checked(analysis, variables, allowed, self.limits)
