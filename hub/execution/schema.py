"""The schema the hub serves: strawberry's schema with the purpose guard, cached parsing and validation, limits
on tokens, depth and aliases, and error hygiene (every error carries ``extensions.code``; no message carries a
NINO-shaped string or a value the request supplied).

Each step is traced (:mod:`hub.audit.tracing`): the operation span (named by its type, never carrying the
document), the purpose decision, and the audit write, with the trace id kept on the audit record.
"""

from __future__ import annotations

import logging
from typing import Any

import strawberry
from graphql import FieldNode, GraphQLError, GraphQLSyntaxError
from strawberry.extensions import MaxTokensLimiter, ParserCache
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from hub.access.notice import field_descriptions
from hub.access.policy import Register, load_register
from hub.config import Settings
from hub.errors import HubError
from hub.execution.budget import LoopBudget
from hub.execution.cost import Limits, too_many_tokens
from hub.execution.guard import PurposeGuard
from hub.execution.redaction import request_inputs, sanitise_message, without_suggestions
from hub.execution.validation import BoundedValidation
from resolvers.schema import Mutation, Query
from resolvers.sensitivity import field_tiers
from resolvers.types import Purpose

__all__ = ["HubSchema", "build_schema", "load_purposes", "schema_coordinates"]

log = logging.getLogger("welfare_hub.graphql")


class HubSchema(strawberry.Schema):
    """Gives every error a stable code and a message free of NINO-shaped text, then logs it safely."""

    def __init__(self, *args: Any, production: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.production = production

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        inputs = request_inputs(execution_context.query, execution_context.variables) if execution_context else set()
        for error in errors:
            original = error.original_error
            if isinstance(original, HubError):
                error.message = sanitise_message(error.message, inputs)
                error.extensions = dict(original.extensions)
                log.info("refused or failed: %s", original.extensions["code"])
                continue
            if original is not None and not isinstance(original, GraphQLError):
                # An unexpected failure inside the hub: the caller learns only that it happened.
                # Not error.path: its names are the aliases the caller chose (they could be anything, a NINO
                # included). The field's own name passed validation, so it is one of the schema's.
                node = error.nodes[0] if error.nodes else None
                field = node.name.value if isinstance(node, FieldNode) else "(no field)"
                log.error("internal error in field %s: %s", field, type(original).__name__)
                error.message = "internal error"
                error.extensions = {"code": "INTERNAL_SERVER_ERROR"}
                continue
            error.message = sanitise_message(error.message, inputs)
            if self.production:
                # Suggestions name types, fields, arguments and enum values: the schema, piece by piece.
                error.message = without_suggestions(error.message)
            code = (error.extensions or {}).get("code")
            if code is None:
                if "'Purpose'" in error.message and "enum" in error.message:
                    code = "UNKNOWN_PURPOSE"
                elif too_many_tokens(error.message):
                    code = "GRAPHQL_VALIDATION_FAILED"  # a cost limit, as the others are, not a malformed document
                elif isinstance(error, GraphQLSyntaxError) or error.message.startswith("Syntax Error"):
                    code = "GRAPHQL_PARSE_FAILED"  # the document is not GraphQL at all: not a validation failure
                elif error.message.startswith("Variable"):
                    code = "BAD_USER_INPUT"
                else:
                    code = "GRAPHQL_VALIDATION_FAILED"
                error.extensions = {**(error.extensions or {}), "code": code}
            log.info("request error %s: %s", code, error.message)


def build_schema(settings: Settings) -> HubSchema:
    limits = Limits(
        max_depth=settings.max_depth,
        max_aliases=settings.max_aliases,
        max_fields=settings.max_fields,
        max_list_items=settings.max_list_items,
    )
    return HubSchema(
        production=settings.production,
        query=Query,
        mutation=Mutation,
        config=StrawberryConfig(disable_field_suggestions=settings.production),
        extensions=[
            # Factories: strawberry makes fresh extension instances per request (the caches live at
            # module level, shared); a shared instance would mix up concurrent requests. The purpose guard
            # comes first: an unregistered caller is refused before its document is parsed.
            PurposeGuard,
            lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
            lambda: ParserCache(maxsize=256),
            lambda: BoundedValidation(limits),
            lambda: LoopBudget(budget=settings.request_loop_budget, slice=settings.loop_slice),
        ],
    )


def schema_coordinates(schema: HubSchema) -> set[str]:
    return set(field_descriptions(schema._schema))


def load_purposes(settings: Settings, schema: HubSchema) -> Register:
    """The purpose register, checked against the schema this process serves."""
    descriptions = field_descriptions(schema._schema)
    return load_register(
        settings.purposes_path,
        schema_coordinates=set(descriptions),
        purpose_ids={p.value for p in Purpose},
        field_tiers=field_tiers(schema.as_str()),
        descriptions=descriptions,
    )
