"""The purpose guard: the purpose check before execution, the per-field check during it, the audit after it.

Per request, in order:
1. ``on_execute``, before any resolver runs: the caller's organisation as the register holds it; the chosen
   operation walked (:mod:`hub.execution.walk`), its declared purpose read (literal or variable), and the
   whole operation refused unless the register allows every selected field to this caller; consent where
   the purpose rests on it; the user's own record and the caller's area read once. This runs for every
   request and is never cached: it depends on the caller and the variables;
2. execution, with every field checked again as it resolves (defence in depth), noting what is released;
3. the audit record written (:mod:`hub.execution.record`); if that fails, the result is replaced by an
   error (fail closed). If it is written, the response carries the caller's receipt for it in
   ``extensions.auditReceipt`` (:mod:`hub.audit.receipts`; :meth:`PurposeGuard.get_results`): every
   response that releases or refuses, each caller's own proof of its record.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from graphql import (
    ExecutionResult as GraphQLExecutionResult,
)
from graphql import (
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSyntaxError,
    OperationDefinitionNode,
    OperationType,
)
from graphql.execution.values import get_variable_values
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext
from strawberry.types import ExecutionResult as StrawberryExecutionResult

from hub.access.orgs import check as check_organisation
from hub.access.policy import decide
from hub.audit.chain import AuditRecord
from hub.audit.tracing import NS, span
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
    PurposeForbidsField,
    UnknownPurpose,
)
from hub.execution import record as audit
from hub.execution.cost import too_many_tokens
from hub.execution.redaction import sanitise_message
from hub.execution.walk import argument_of, field_coordinates, purpose_of, root_fields
from linkage import check_nino, subject_hash
from resolvers.context import RequestContext
from resolvers.notice import PUBLIC_ROOTS, is_public

__all__ = ["PurposeGuard"]

log = logging.getLogger("welfare_hub.graphql")

_INTROSPECTION_ROOTS = frozenset({"__schema", "__type"})
#: The response's ``extensions`` key for the caller's audit receipt.
RECEIPT = "auditReceipt"


def _refusal(error: HubError) -> GraphQLExecutionResult:
    return GraphQLExecutionResult(
        data=None, errors=[GraphQLError(error.message, extensions=error.extensions, original_error=error)]
    )


class PurposeGuard(SchemaExtension):
    """Purpose check before execution, per-field check during it, audit record after it."""

    def __init__(self, *, execution_context: ExecutionContext | None = None) -> None:
        if execution_context is not None:
            self.execution_context = execution_context
        self._receipt: dict[str, Any] | None = None  # once this request's audit record is written

    async def _write(self, ctx: RequestContext, record: AuditRecord) -> None:
        """Append the record and sign the caller's receipt for it; raises (and gives no receipt) if the
        record is not stored."""
        audit.annotate(record)
        appended = await audit.write(ctx.services.audit, record)
        self._receipt = ctx.services.receipts.issue(record, appended).document()

    def get_results(self) -> dict[str, Any]:
        # strawberry merges this into the response's ``extensions`` once the operation is done.
        return {RECEIPT: self._receipt} if self._receipt is not None else {}

    def _check(self, ctx: RequestContext) -> None:
        ec = self.execution_context
        document = ec.graphql_document
        assert document is not None
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        # What the request named: strawberry's ``operation_name`` falls back to the first operation's name,
        # and the GraphQL spec says a document of several operations without a name is refused, not guessed.
        named: str | None = getattr(ec, "_provided_operation_name", None)
        if named is not None:
            operations = [o for o in operations if o.name is not None and o.name.value == named]
        if len(operations) != 1:
            raise OperationNotSupported("name exactly one operation to run (operationName)")
        operation = operations[0]
        if operation.operation not in (OperationType.QUERY, OperationType.MUTATION):
            raise OperationNotSupported(f"{operation.operation.value} operations are not offered")
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        settings: Settings = ctx.services.settings
        roots = list(root_fields(operation.selection_set, fragments))
        introspection = [f for f in roots if f.name.value in _INTROSPECTION_ROOTS]
        if introspection and settings.production and not ctx.caller.is_admin:
            raise IntrospectionDisabled("introspection is disabled for your role in production")
        data_roots = [f for f in roots if not f.name.value.startswith("__") and f.name.value not in PUBLIC_ROOTS]
        if not data_roots:
            return  # __typename, (permitted) introspection or the privacy notice only: no personal data
        schema = ec.schema._schema
        # One error is enough to refuse, and graphql-core's messages quote the whole value: stop at the first.
        coerced = get_variable_values(schema, operation.variable_definitions or (), ec.variables or {}, max_errors=1)
        if isinstance(coerced, list):
            # The executor would refuse these variables too; refuse now, before any source is read.
            if any("'Purpose' enum" in e.message for e in coerced):
                raise UnknownPurpose("the purpose is not in the register")
            raise BadUserInput("the variables do not fit the operation: " + sanitise_message(coerced[0].message))
        root_type = schema.get_root_type(operation.operation)
        purposes = {
            purpose_of(f, root_type.fields.get(f.name.value) if root_type else None, coerced) for f in data_roots
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
        # What the sources are asked for: the caller's selection, within the allow-list (decide has refused
        # anything outside it); a field the purpose does not allow is never asked of a source.
        ctx.selected_fields = frozenset(coordinates) & ctx.allowed_fields
        if ctx.purpose.consent_required and operation.operation is OperationType.QUERY:
            # Whose consent: the person named by NINO (a consent-based lookup names one, so it can be checked
            # before anything is read; demographics alone could not be).
            ninos = {
                argument_of(f, root_type.fields.get(f.name.value) if root_type else None, coerced, "nino")
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
        found = await ctx.services.orgs.get(ctx.caller.org)  # a failed read raises OrgRegisterUnavailable
        ctx.organisation = check_organisation(found, claimed_type=ctx.caller.org_type, today=dt.date.today())

    async def _area(self, ctx: RequestContext) -> None:
        """The caller's area, read once before the lookups run, for the legitimate-relationship check."""
        org, orgs, spec = ctx.organisation, ctx.services.orgs, ctx.purpose
        if spec is None or not spec.local_tie or org is None or org.national:
            return
        council = await orgs.council_served(org)
        ctx.area = (council, await orgs.districts_of(council) if council is not None else frozenset())

    async def _require_consent(self, ctx: RequestContext) -> None:
        assert ctx.purpose is not None
        assert ctx.consent_subject is not None
        ctx.consent = await ctx.services.consent.live(  # raises ConsentUnavailable
            ctx.consent_subject, ctx.purpose.id, recipient_org=ctx.caller.org
        )
        if ctx.consent is None:
            raise ConsentRequired(
                f"purpose {ctx.purpose.id} needs the person's consent, and none is live", purpose=ctx.purpose.id
            )

    async def _notify_subject(self, ctx: RequestContext) -> None:
        """The person asked to be told of each share: record the notice before the data leaves."""
        spec, consent, store = ctx.purpose, ctx.consent, ctx.services.consent
        if spec is None or consent is None or ctx.consent_subject is None or not ctx.released:
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
            refusal = await self._admit(ctx)
            if refusal is not None:
                # Refused before its document is parsed or validated: an organisation the register does
                # not admit costs the hub a cached read, whatever it sends.
                await self._audit_unexecuted(ctx, [str(refusal.extensions["code"])])
                raise refusal
            try:
                yield
            except GraphQLError as e:
                # Not GraphQL at all, as the caller is told (the token limit is a cost limit, though the parser
                # raises it).
                parse = isinstance(e, GraphQLSyntaxError) and not too_many_tokens(e.message)
                await self._audit_unexecuted(ctx, ["GRAPHQL_PARSE_FAILED" if parse else "GRAPHQL_VALIDATION_FAILED"])
                raise
            if not ctx.audited:
                await self._audit_unexecuted(ctx, None)

    async def _admit(self, ctx: RequestContext) -> HubError | None:
        """The organisation check, the first of every operation's: the refusal, or None."""
        try:
            await self._check_organisation(ctx)
        except HubError as refusal:
            with span("welfare_hub.purpose") as decision:
                decision.set_attribute(f"{NS}.decision", "refused")
                decision.set_attribute(f"{NS}.reason_code", str(refusal.extensions["code"]))
            return refusal
        return None

    async def _audit_unexecuted(self, ctx: RequestContext, codes: list[str] | None) -> None:
        # Nothing was read or released, so a failed write has nothing to withhold; it is logged.
        ctx.refused = True
        record = audit.from_request(ctx, self.execution_context, self.execution_context.result)
        if codes is not None:
            record = dataclasses.replace(record, reason_codes=codes)
        try:
            await self._write(ctx, record)
        except Exception as e:
            log.error("audit write of a refused document failed: %s", type(e).__name__)
            return
        result = self.execution_context.result
        if isinstance(result, StrawberryExecutionResult):
            # A document refused by validation has its response made (and get_results read) before this
            # hook resumes: the receipt joins it here.
            result.extensions = {**(result.extensions or {}), **self.get_results()}

    async def on_execute(self) -> AsyncIterator[None]:
        ctx: RequestContext = self.execution_context.context
        ctx.audited = True
        with span("welfare_hub.purpose") as decision:
            try:
                self._check(ctx)  # the organisation was admitted in on_operation, before parsing
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
        try:
            await self._notify_subject(ctx)
        except Exception as e:
            log.error("share notification failed, nothing released: %s", type(e).__name__)
            ctx.released.clear()
            self._withhold(
                ConsentUnavailable("the person asked to be told of each share and the notice could not be recorded")
            )
        result = self.execution_context.result
        try:
            await self._write(ctx, audit.from_request(ctx, self.execution_context, result))
        except Exception as e:
            log.error("audit write failed, nothing released: %s", type(e).__name__)
            self._withhold(AuditUnavailable("the audit record could not be written, so no data was released"))

    def _withhold(self, error: HubError) -> None:
        """Answer ``error`` instead of what execution produced. In place: strawberry returns the result
        object it already holds once this hook resumes, so replacing ``execution_context.result`` would
        leave the data in the answer while the audit record said nothing was released."""
        result = self.execution_context.result
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
