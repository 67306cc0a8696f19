"""Validation, bounded: a document's cost is measured first (:mod:`hub.execution.cost`, linear in its size),
with its literal values (:mod:`hub.execution.inputs`), and only a document within the limits meets
graphql-core's rules. Both verdicts are cached per parsed document (the parser cache hands back the same
document for the same text), so a repeated query costs a lookup. The variables are bounded per request,
before anything coerces them; the purpose check, which depends on the caller and the variables, is never
cached.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

from graphql import DocumentNode, GraphQLError, GraphQLSchema
from graphql.validation import ASTValidationRule
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from hub.execution.cost import Limits, over_limits
from hub.execution.inputs import document_input_errors, variable_input_errors

__all__ = ["BoundedValidation"]


@lru_cache(maxsize=256)
def _verdict(
    schema: GraphQLSchema,
    document: DocumentNode,
    rules: tuple[type[ASTValidationRule], ...],
    limits: Limits,
) -> list[GraphQLError]:
    return (
        over_limits(document, limits)
        or document_input_errors(document, max_items=limits.max_list_items)
        or validate_document(schema, document, rules)
    )


class BoundedValidation(SchemaExtension):
    """In place of strawberry's depth and alias limiters and its validation cache (a factory: one per request)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits

    def on_validate(self) -> Iterator[None]:
        ec = self.execution_context
        if ec.graphql_document is not None and ec.pre_execution_errors is None:
            # strawberry skips its own validation once errors are set (an empty list: no errors).
            ec.pre_execution_errors = variable_input_errors(
                ec.variables, max_items=self.limits.max_list_items
            ) or _verdict(ec.schema._schema, ec.graphql_document, ec.validation_rules, self.limits)
        yield
