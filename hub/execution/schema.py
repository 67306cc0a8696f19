"""The GraphQL layer: schema, purpose enforcement, audit hand-off and error hygiene.

Per request, in order:
1. parse and validate, cached (strawberry's ParserCache / ValidationCache), with limits on tokens, depth
   and aliases;
2. :class:`PurposeGuard` ``on_execute``: walk the chosen operation (fragments and inline fragments
   included), read its declared purpose (literal or variable), and refuse the whole operation before any
   resolver runs unless the register allows every selected field to this caller. This runs for every
   request; it is never cached, because it depends on the caller and the variables;
3. execution, with the guard checking every field again as it resolves (defence in depth) and noting
   what is released;
4. the audit record is written; if that fails, the result is replaced by an error (fail closed).

Each step is traced (:mod:`hub.audit.tracing`): the operation span (named by its type, never carrying the
document), the purpose decision, and the audit write, with the trace id kept on the audit record.

Every error leaving the hub carries ``extensions.code``, and no message carries a NINO-shaped string.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import strawberry
from graphql import (
    ExecutionResult as GraphQLExecutionResult,
)
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLNamedType,
    GraphQLObjectType,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
)
from graphql.execution.values import get_argument_values, get_variable_values
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from hub.access.orgs import check as check_organisation
from hub.access.policy import decide
from hub.audit.chain import AuditRecord
from hub.audit.tracing import NS, current_trace_id, span
from hub.config import Settings
from hub.errors import (
    AuditUnavailable,
    BadUserInput,
    ConsentRequired,
    ConsentUnavailable,
    HubError,
    IntrospectionDisabled,
    MixedPurposes,
    OperationNotSupported,
    OrgRegisterUnavailable,
    PurposeForbidsField,
    UnknownPurpose,
)
from linkage import check_nino, subject_hash
from resolvers.context import RequestContext
from resolvers.notice import PUBLIC_ROOTS, is_public
from resolvers.schema import Mutation, Query

__all__ = ["build_schema", "field_coordinates", "sanitise_message"]

log = logging.getLogger("welfare_hub.graphql")

# Anything shaped like a NINO in any form check_nino accepts (any case; spaces, hyphens or dots between
# the characters), and temporary reference numbers: redacted from every message that leaves or is logged.
_SEP = r"[\s.\-]*"
_NINO_SHAPED = re.compile(
    rf"(?i)(?<![a-z0-9])[a-z]{_SEP}[a-z](?:{_SEP}\d){{6}}(?:{_SEP}[a-z])?(?![a-z0-9])"
    rf"|(?<![a-z0-9])\d{_SEP}\d{_SEP}[a-z](?:{_SEP}\d){{5}}(?![a-z0-9])"
)
_SAFE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")
_INTROSPECTION_ROOTS = frozenset({"__schema", "__type"})


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


def _root_fields(selection_set: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode]) -> Iterable[FieldNode]:
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _root_fields(selection.selection_set, fragments)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value in fragments:
            yield from _root_fields(fragments[selection.name.value].selection_set, fragments)


def field_coordinates(
    schema: Any, operation: OperationDefinitionNode, fragments: dict[str, FragmentDefinitionNode]
) -> set[str]:
    """Every ``Type.field`` an operation can resolve, through fragments, inline fragments and aliases."""
    root = schema.get_root_type(operation.operation)
    found: set[str] = set()
    seen: set[tuple[str, str]] = set()

    def walk(selection_set: SelectionSetNode, parent: GraphQLNamedType) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                name = selection.name.value
                found.add(f"{parent.name}.{name}")
                if selection.selection_set is None or not isinstance(parent, GraphQLObjectType):
                    continue
                definition = parent.fields.get(name)
                if definition is not None:
                    walk(selection.selection_set, get_named_type(definition.type))
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                walk(selection.selection_set, schema.get_type(condition.name.value) if condition else parent)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = fragments.get(selection.name.value)
                key = (selection.name.value, parent.name)
                if fragment is None or key in seen:
                    continue
                seen.add(key)
                walk(fragment.selection_set, schema.get_type(fragment.type_condition.name.value) or parent)

    walk(operation.selection_set, root)
    return found


def _argument_of(field: FieldNode, definition: Any, variables: Any, name: str) -> Any:
    """An argument as the executor will see it (variables coerced, defaults applied); enums by value."""
    if definition is None:
        return None
    try:
        value = get_argument_values(definition, field, variables).get(name)
    except GraphQLError:
        return None
    return getattr(value, "value", value) if value is not None else None


def _purpose_of(field: FieldNode, definition: Any, variables: Any) -> str | None:
    value = _argument_of(field, definition, variables, "purpose")
    return value if isinstance(value, str) else None


def _refusal(error: HubError) -> GraphQLExecutionResult:
    return GraphQLExecutionResult(
        data=None, errors=[GraphQLError(error.message, extensions=error.extensions, original_error=error)]
    )


def _codes(result: Any) -> list[str]:
    errors = getattr(result, "errors", None) or []
    codes = []
    for error in errors:
        original = error.original_error
        code = original.extensions["code"] if isinstance(original, HubError) else (error.extensions or {}).get("code")
        codes.append(str(code or "ERROR"))
    return sorted(set(codes))


def _audit_record(ctx: RequestContext, ec: ExecutionContext, result: Any) -> AuditRecord:
    data = getattr(result, "data", None)
    codes = _codes(result)
    if ctx.refused:
        decision = "refused"
    elif data is None or all(v is None for v in data.values()):
        decision = "error"
    else:
        decision = "partial" if codes else "released"
    key_ids = {s.key_id for s in ctx.subjects}
    try:
        operation: str | None = ec.operation_type.value
    except RuntimeError:  # the document did not parse
        operation = None
    return AuditRecord(
        request_id=ctx.request_id,
        operation_type=operation,
        operation_name=safe_operation_name(ec.operation_name),
        caller_org=ctx.caller.org,
        caller_org_type=ctx.caller.org_type,
        caller_user_hash=ctx.user_hash,
        purpose=ctx.purpose.id if ctx.purpose else ctx.claimed_purpose,
        legal_basis=ctx.purpose.legal_basis if ctx.purpose else None,
        subject_key_id=next(iter(key_ids)) if len(key_ids) == 1 else None,
        subject_hashes=[s.value for s in ctx.subjects],
        link_method=ctx.link_method,
        link_probability=ctx.link_probability,
        model_version=ctx.model_version,
        fields_released=sorted(ctx.released) if decision in {"released", "partial"} else [],
        sources_read=sorted(ctx.sources_read | ctx.identity_sources),
        decision=decision,
        reason_codes=codes,
        trace_id=current_trace_id(),
    )


def _annotate(operation: Span, record: AuditRecord) -> None:
    """The operation span carries what the audit record says, in pseudonymous form only."""
    operation.update_name(record.operation_type or "graphql")
    attributes: dict[str, Any] = {
        "graphql.operation.type": record.operation_type or "",
        f"{NS}.request_id": str(record.request_id),
        f"{NS}.caller.org": record.caller_org,
        f"{NS}.caller.org_type": record.caller_org_type,
        f"{NS}.decision": record.decision,
        f"{NS}.fields_released": list(record.fields_released),
        f"{NS}.sources_read": list(record.sources_read),
        f"{NS}.reason_codes": list(record.reason_codes),
        f"{NS}.subjects": list(record.subject_hashes),  # keyed hashes: no one without the hub's key can reverse them
    }
    if record.operation_name:
        attributes["graphql.operation.name"] = record.operation_name
    if record.purpose:
        attributes[f"{NS}.purpose"] = record.purpose
    if record.legal_basis:
        attributes[f"{NS}.legal_basis"] = record.legal_basis
    if record.decision in {"refused", "error"}:
        operation.set_status(Status(StatusCode.ERROR))
    operation.set_attributes(attributes)


async def _write_audit(ctx: RequestContext, record: AuditRecord) -> None:
    _annotate(trace.get_current_span(), record)
    with span("welfare_hub.audit", attributes={f"{NS}.decision": record.decision}):
        await ctx.services.audit.write(record)


class PurposeGuard(SchemaExtension):
    """Purpose check before execution, per-field check during it, audit record after it."""

    def __init__(self, *, execution_context: ExecutionContext | None = None) -> None:
        if execution_context is not None:
            self.execution_context = execution_context

    def _check(self, ctx: RequestContext) -> None:
        ec = self.execution_context
        document = ec.graphql_document
        assert document is not None
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if ec.operation_name is not None:
            operations = [o for o in operations if o.name is not None and o.name.value == ec.operation_name]
        if len(operations) != 1:
            raise OperationNotSupported("name exactly one operation to run (operationName)")
        operation = operations[0]
        if operation.operation not in (OperationType.QUERY, OperationType.MUTATION):
            raise OperationNotSupported(f"{operation.operation.value} operations are not offered")
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        settings: Settings = ctx.services.settings
        roots = list(_root_fields(operation.selection_set, fragments))
        introspection = [f for f in roots if f.name.value in _INTROSPECTION_ROOTS]
        if introspection and settings.production and not ctx.caller.is_admin:
            raise IntrospectionDisabled("introspection is disabled for your role in production")
        data_roots = [f for f in roots if not f.name.value.startswith("__") and f.name.value not in PUBLIC_ROOTS]
        if not data_roots:
            return  # __typename, (permitted) introspection or the privacy notice only: no personal data
        schema = ec.schema._schema
        coerced = get_variable_values(schema, operation.variable_definitions or (), ec.variables or {})
        if isinstance(coerced, list):
            # The executor would refuse these variables too; refuse now, before any source is read.
            if any("'Purpose' enum" in e.message for e in coerced):
                raise UnknownPurpose("the purpose is not in the register")
            raise BadUserInput("the variables do not fit the operation: " + sanitise_message(coerced[0].message))
        root_type = schema.get_root_type(operation.operation)
        purposes = {
            _purpose_of(f, root_type.fields.get(f.name.value) if root_type else None, coerced) for f in data_roots
        }
        if None in purposes:
            raise UnknownPurpose("every lookup must declare a purpose from the register")
        if len(purposes) > 1:
            raise MixedPurposes("one operation may serve one purpose only; send one operation per purpose")
        (purpose_id,) = purposes
        assert purpose_id is not None
        ctx.claimed_purpose = purpose_id
        # The privacy notice is public: selecting it beside a lookup neither needs nor widens a purpose.
        coordinates = {c for c in field_coordinates(schema, operation, fragments) if not is_public(c)}
        ctx.purpose = decide(ctx.services.register, ctx.caller, purpose_id, coordinates)
        ctx.allowed_fields = ctx.purpose.fields
        if ctx.purpose.consent_required and operation.operation is OperationType.QUERY:
            # Whose consent: the person named by NINO (a consent-based lookup names one, so it can be checked
            # before anything is read; demographics alone could not be).
            ninos = {
                _argument_of(f, root_type.fields.get(f.name.value) if root_type else None, coerced, "nino")
                for f in data_roots
            }
            nino = check_nino(ninos.pop()).nino if len(ninos) == 1 and None not in ninos else None
            if nino is None:
                raise ConsentRequired(
                    f"purpose {purpose_id} is based on consent: name the person by a valid NINO, "
                    "whose consent is checked",
                    purpose=purpose_id,
                )
            ctx.consent_subject = subject_hash(ctx.services.key_ring, nino)

    async def _check_organisation(self, ctx: RequestContext) -> None:
        """The caller's organisation as the register holds it: known, active, of the type its token claims,
        and accredited today. Checked for every operation, before anything else."""
        register = ctx.services.orgs
        if register is None:
            raise OrgRegisterUnavailable("the organisation register is not available, so nothing is released")
        found = await register.get(ctx.caller.org)  # a failed read raises OrgRegisterUnavailable
        ctx.organisation = check_organisation(found, claimed_type=ctx.caller.org_type, today=dt.date.today())

    async def _area(self, ctx: RequestContext) -> None:
        """The caller's area, read once before the lookups run, for the legitimate-relationship check."""
        org, orgs, spec = ctx.organisation, ctx.services.orgs, ctx.purpose
        if spec is None or not spec.local_tie or org is None or orgs is None or org.national:
            return
        council = await orgs.council_served(org)
        ctx.area = (council, await orgs.districts_of(council) if council is not None else frozenset())

    async def _require_consent(self, ctx: RequestContext) -> None:
        assert ctx.purpose is not None
        assert ctx.consent_subject is not None
        store = ctx.services.consent
        if store is None:
            raise ConsentUnavailable("consent records cannot be read, so nothing is released")
        ctx.consent = await store.live(ctx.consent_subject, ctx.purpose.id)  # raises ConsentUnavailable
        if ctx.consent is None:
            raise ConsentRequired(
                f"purpose {ctx.purpose.id} needs the person's consent, and none is live", purpose=ctx.purpose.id
            )

    async def _notify_subject(self, ctx: RequestContext) -> None:
        """The person asked to be told of each share: record the notice before the data leaves."""
        spec, consent, store = ctx.purpose, ctx.consent, ctx.services.consent
        if spec is None or consent is None or store is None or ctx.consent_subject is None or not ctx.released:
            return
        if consent.notify_on_share or spec.notify_on_share:
            await store.notify(
                ctx.consent_subject,
                spec.id,
                recipient_org=ctx.caller.org,
                fields=sorted(ctx.released),
                request_id=ctx.request_id,
            )

    async def on_operation(self) -> AsyncIterator[None]:
        # A document refused by parsing or validation never reaches on_execute: audit the refusal here.
        # (With the parser cache, a syntax error is raised through this hook rather than returned.)
        ctx: RequestContext = self.execution_context.context
        with span("graphql"):  # renamed to the operation's type once it is known
            try:
                yield
            except GraphQLError:
                await self._audit_unexecuted(ctx, ["GRAPHQL_VALIDATION_FAILED"])
                raise
            if not ctx.audited:
                await self._audit_unexecuted(ctx, None)

    async def _audit_unexecuted(self, ctx: RequestContext, codes: list[str] | None) -> None:
        # Nothing was read or released, so a failed write has nothing to withhold; it is logged.
        ctx.refused = True
        record = _audit_record(ctx, self.execution_context, self.execution_context.result)
        if codes is not None:
            record = dataclasses.replace(record, reason_codes=codes)
        try:
            await _write_audit(ctx, record)
        except Exception as e:
            log.error("audit write of a refused document failed: %s", type(e).__name__)

    async def on_execute(self) -> AsyncIterator[None]:
        ctx: RequestContext = self.execution_context.context
        ctx.audited = True
        with span("welfare_hub.purpose") as decision:
            try:
                await self._check_organisation(ctx)
                self._check(ctx)
                if ctx.consent_subject is not None:
                    await self._require_consent(ctx)
                if ctx.purpose is not None:
                    await ctx.own_subject()  # read once, before the lookups run (and batch)
                    await self._area(ctx)
            except HubError as refusal:
                ctx.refused = True
                self.execution_context.result = _refusal(refusal)
                decision.set_attribute(f"{NS}.decision", "refused")
                decision.set_attribute(f"{NS}.reason_code", str(refusal.extensions["code"]))
            else:
                decision.set_attribute(f"{NS}.decision", "allowed")
            if ctx.purpose is not None:
                decision.set_attribute(f"{NS}.purpose", ctx.purpose.id)
                decision.set_attribute(f"{NS}.legal_basis", ctx.purpose.legal_basis)
            elif ctx.claimed_purpose is not None:
                decision.set_attribute(f"{NS}.purpose", ctx.claimed_purpose)
        yield
        result = self.execution_context.result
        try:
            await self._notify_subject(ctx)
        except Exception as e:
            log.error("share notification failed, nothing released: %s", type(e).__name__)
            ctx.released.clear()
            self.execution_context.result = result = _refusal(
                ConsentUnavailable("the person asked to be told of each share and the notice could not be recorded")
            )
        try:
            await _write_audit(ctx, _audit_record(ctx, self.execution_context, result))
        except Exception as e:
            log.error("audit write failed, nothing released: %s", type(e).__name__)
            error = AuditUnavailable("the audit record could not be written, so no data was released")
            if isinstance(result, GraphQLExecutionResult):
                result.data = None
                result.errors = [GraphQLError(error.message, extensions=error.extensions)]
            else:
                self.execution_context.result = _refusal(error)

    def resolve(self, _next: Callable[..., Any], root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        # Defence in depth: even if the operation check were bypassed, no field outside the purpose's
        # allow-list resolves.
        name = info.field_name
        # Introspection (__typename, and the __Schema/__Type tree gated in _check) carries no personal data.
        if not name.startswith("__") and not info.parent_type.name.startswith("__"):
            ctx: RequestContext = info.context
            coordinate = f"{info.parent_type.name}.{name}"
            if not is_public(coordinate) and not _allowed_here(ctx, coordinate):
                raise PurposeForbidsField(ctx.purpose.id if ctx.purpose else "(none)", [coordinate])
            result = _next(root, info, *args, **kwargs)
            if inspect.isawaitable(result):
                return _released_when_resolved(result, ctx, coordinate)
            ctx.released.add(coordinate)
            return result
        return _next(root, info, *args, **kwargs)


def _allowed_here(ctx: RequestContext, coordinate: str) -> bool:
    """The field guard's own decision, from the register's purpose and the caller (not from what the
    operation check concluded): the field is listed, the organisation type and the token grant the purpose."""
    spec = ctx.purpose
    return (
        spec is not None
        and coordinate in spec.fields
        and ctx.caller.org_type in spec.org_types
        and spec.id in ctx.caller.purposes
    )


async def _released_when_resolved(result: Awaitable[Any], ctx: RequestContext, coordinate: str) -> Any:
    value = await result  # an error propagates: the field was not released
    ctx.released.add(coordinate)
    return value


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
                log.error("internal error in %s: %s", error.path, type(original).__name__)
                error.message = "internal error"
                error.extensions = {"code": "INTERNAL_SERVER_ERROR"}
                continue
            error.message = sanitise_message(error.message, inputs)
            if self.production:
                # Suggestions name types, fields, arguments and enum values: the schema, piece by piece.
                error.message = _SUGGESTION.sub("", error.message)
            code = (error.extensions or {}).get("code")
            if code is None:
                if "'Purpose'" in error.message and "enum" in error.message:
                    code = "UNKNOWN_PURPOSE"
                elif error.message.startswith("Variable"):
                    code = "BAD_USER_INPUT"
                else:
                    code = "GRAPHQL_VALIDATION_FAILED"
                error.extensions = {**(error.extensions or {}), "code": code}
            log.info("request error %s: %s", code, error.message)


def build_schema(settings: Settings) -> HubSchema:
    # The limit rules are made once: strawberry's limiters make a new rule class per instance, and the
    # validation cache is keyed on the rule classes, so per-request limiters would never hit the cache.
    limits = [
        *QueryDepthLimiter(max_depth=settings.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
    ]
    return HubSchema(
        production=settings.production,
        query=Query,
        mutation=Mutation,
        config=StrawberryConfig(disable_field_suggestions=settings.production),
        extensions=[
            # Factories: strawberry makes fresh extension instances per request (the caches live at
            # module level, shared); a shared instance would mix up concurrent requests.
            lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
            lambda: ParserCache(maxsize=256),
            lambda: AddValidationRules(limits),
            lambda: ValidationCache(maxsize=256),
            PurposeGuard,
        ],
    )
