"""The audit record of one request, built in one place from what actually happened.

For an executed operation the request context gathered it (subjects, fields released, sources read); for a
token refused at the door nothing is known but the refusal. Either way the record is written before any
response leaves, and the operation span carries the same facts, in pseudonymous form only.
"""

from __future__ import annotations

import functools
import time
import uuid
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode
from strawberry.types import ExecutionContext

from hub.audit.chain import Appended, AuditRecord, AuditSink
from hub.audit.tracing import NS, current_trace_id, span
from hub.errors import HubError
from hub.execution.redaction import safe_operation_name
from hub.metrics import AUDIT_APPEND, REFUSALS, elapsed
from resolvers.context import RequestContext

__all__ = ["decision_of", "from_request", "refused_token", "write"]

#: Who a refused token came from cannot be known (an unverified token's claims are not evidence).
UNAUTHENTICATED = "(unauthenticated)"


def reasons_of(result: Any) -> list[str]:
    """Each error's true reason, in order: it may say more than the caller was told
    (NO_LEGITIMATE_RELATIONSHIP). The audit record and the rate limit's price both read them."""
    reasons = []
    for error in getattr(result, "errors", None) or []:
        original = error.original_error
        code = original.reason if isinstance(original, HubError) else (error.extensions or {}).get("code")
        reasons.append(str(code or "ERROR"))
    return reasons


def codes_of(result: Any) -> list[str]:
    return sorted(set(reasons_of(result)))


def _is_refusal(error: Any) -> bool:
    """A decision not to release (the error's class says so: :attr:`hub.errors.HubError.refusal`), as
    opposed to a failure to answer. An error the hub did not raise itself is a failure."""
    original = getattr(error, "original_error", None)
    return isinstance(original, HubError) and original.refusal


def decision_of(ctx: RequestContext, result: Any) -> str:
    """``refused`` when the hub decided to release nothing (the operation, or every field that failed, was
    refused), ``error`` when it could not answer, ``partial`` when something was released beside a refusal
    or a failure, ``released`` otherwise."""
    if ctx.refused:
        return "refused"
    data = getattr(result, "data", None)
    errors = getattr(result, "errors", None) or []
    if data is None or all(v is None for v in data.values()):
        # A field-level refusal (PURPOSE_FORBIDS_FIELD, NO_LEGITIMATE_RELATIONSHIP, ...) that left nothing
        # to release is a refusal, so the auditor's "refused" filter finds it; any failure makes it an error.
        return "refused" if errors and all(_is_refusal(e) for e in errors) else "error"
    return "partial" if errors else "released"


def from_request(ctx: RequestContext, ec: ExecutionContext, result: Any) -> AuditRecord:
    codes = codes_of(result)
    decision = decision_of(ctx, result)
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


def annotate(record: AuditRecord, operation: Span | None = None) -> None:
    """The operation span (the current one by default) carries what the audit record says of the request,
    never whom it was about: a tracing backend is another recipient, and the hub-wide keyed hashes would
    let it join one person's requests across callers and purposes. It gets how many subjects there were;
    the audit record (``request_id``, and the trace id it holds) says who."""
    operation = operation or trace.get_current_span()
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
        f"{NS}.subject_count": len(record.subject_hashes),
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


async def write(sink: AuditSink, record: AuditRecord) -> Appended:
    """Append ``record`` (traced and measured): where the chain put it, from which the caller's receipt is
    signed. Raises if the store does not take it, and the caller then releases nothing. A refusal is
    counted by its reason codes once stored."""
    started = time.perf_counter()
    error: str | None = None
    try:
        with span("welfare_hub.audit", attributes={f"{NS}.decision": record.decision}):
            appended = await sink.write(record)
    except BaseException as e:
        error = str(e.extensions["code"]) if isinstance(e, HubError) else type(e).__name__
        raise
    finally:
        AUDIT_APPEND.record(elapsed(started), _appended(record.decision, error))
    if record.decision == "refused":
        purpose = record.purpose or "none"
        for code in record.reason_codes:
            REFUSALS.add(1, _refused(code, purpose))
    return appended


@functools.lru_cache(maxsize=256)
def _appended(decision: str, error: str | None) -> dict[str, str]:
    return {f"{NS}.decision": decision} if error is None else {f"{NS}.decision": decision, "error.type": error}


@functools.lru_cache(maxsize=1024)
def _refused(code: str, purpose: str) -> dict[str, str]:
    return {"error.type": code, f"{NS}.purpose": purpose}


def refused_token(code: str) -> AuditRecord:
    """A request refused before it had a verified caller: nothing was read, and no one can be named."""
    return AuditRecord(
        request_id=uuid.uuid4(),
        caller_org=UNAUTHENTICATED,
        caller_org_type=UNAUTHENTICATED,
        caller_user_hash="",
        decision="refused",
        reason_codes=[code],
        trace_id=current_trace_id(),
    )
