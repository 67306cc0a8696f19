"""A source's subgraph over HTTP: the boundary the hub's calls cross, in the order of the checks.

``POST /graphql`` only (anything else 405 or 404), the body capped at 1 MiB (413) and in full within the
body deadline (408), JSON or 400. Then:

1. the purpose assertion (``Authorization: Bearer``) verifies: the hub's key, this source as audience, the
   hub as issuer, unexpired, bound to this exact body (else 401 ``ASSERTION_INVALID``, logged as refused);
2. only then is the hub's ``traceparent`` the parent of this request's spans;
3. the document is checked before anything is read (:mod:`subgraphs.guard`): every field in the
   assertion and in this source's own policy for the purpose, no introspection, bounded cost;
4. the access is logged in the source's own store, which also refuses a replayed assertion; when the log
   cannot be written, no data is answered (``ACCESS_LOG_UNAVAILABLE``);
5. the document runs: one fetch through the source's direct adapter for all representations (or the
   linkage question, or the delivery into the inbox, through the same adapter).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import orjson
from graphql import GraphQLError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.db import create_store_pool
from hub.errors import HubError
from linkage import check_nino
from resolvers.sources.assertion import Assertion, InvalidAssertion
from resolvers.sources.contract import Ask
from resolvers.sources.dwp import DwpSource
from resolvers.sources.hb import HousingBenefitSource
from resolvers.sources.pg import PgSource
from resolvers.sources.social_care import SocialCareSource
from subgraphs.access_log import AccessEntry, AccessLog, Replayed
from subgraphs.config import SubgraphConfig
from subgraphs.guard import CheckedDocument, DocumentChecks, Limits, Refused
from subgraphs.keys import HubKeys
from subgraphs.policy import SubgraphPolicy, load_policy
from subgraphs.schema import BadRepresentation, ContractSchema, SubgraphRequest, build_schema, representation_key
from subgraphs.spans import Trace, current_trace, db_span

__all__ = ["MAX_BODY_BYTES", "Subgraph", "create_app"]

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20
_ADAPTERS: Mapping[str, type[PgSource]] = {
    "dwp": DwpSource,
    "hb": HousingBenefitSource,
    "social_care": SocialCareSource,
}
_SOURCE_FAILURES = frozenset({"SOURCE_UNAVAILABLE", "SOURCE_TIMEOUT"})


def _error(code: str, message: str, **extensions: Any) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code, **extensions}}


def _selection(coordinates: frozenset[str]) -> dict[str, frozenset[str]]:
    found: dict[str, set[str]] = {}
    for coordinate in coordinates:
        type_name, _, name = coordinate.partition(".")
        found.setdefault(type_name, set()).add(name)
    return {t: frozenset(f) for t, f in found.items()}


class _TooLarge(Exception):
    pass


async def _read_capped(request: Request, deadline: float) -> bytes | None:
    """The body, or None when all of it did not arrive within ``deadline`` seconds (it is read before the
    assertion is checked: anyone who can connect could otherwise hold a request open by dripping it)."""
    try:
        async with asyncio.timeout(deadline):
            return await _read_body(request)
    except TimeoutError:
        return None


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _TooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise _TooLarge
    return bytes(body)


@dataclass
class _Answer:
    status: int
    body: dict[str, Any]
    verified: bool = False


@dataclass
class Subgraph:
    """One source's subgraph: its configuration, schema, policy, keys, store and adapter."""

    config: SubgraphConfig
    schema: ContractSchema
    policy: SubgraphPolicy
    keys: HubKeys
    limits: Limits = field(default_factory=Limits)
    pool: asyncpg.Pool | None = None
    source: PgSource | None = None
    access_log: AccessLog | None = None
    checks: DocumentChecks = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.checks = DocumentChecks(self.schema._schema, self.limits)

    async def start(self) -> None:
        await self.keys.load()  # bad keys fail at start-up, not on the first call
        self.pool = await create_store_pool(self.config.database_url, acquire_timeout=self.config.timeout)
        namespace = urlsplit(self.config.database_url).path.lstrip("/") or self.config.source
        # Dates of birth as held, placeholders included: which dates mean "not known" is the hub's to apply
        # (its per-source configuration), and the hub's question keys never carry one.
        self.source = _ADAPTERS[self.config.source](
            self.pool, timeout=self.config.timeout, namespace=namespace, db_span=db_span, placeholder_dobs=frozenset()
        )
        self.access_log = AccessLog(
            self.pool, schema=self.config.schema_name, secret=self.config.secret, timeout=self.config.timeout
        )

    async def stop(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    # -- one request --------------------------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        trace = Trace()
        reset = current_trace.set(trace)
        try:
            with trace.span("POST /graphql", "server", **{"http.request.method": "POST"}) as server:
                try:
                    answer = await self._answer(request, trace)
                except Exception as e:
                    # Whatever failed, the hub gets the wire's shape (and no message that could quote data).
                    log.error("subgraph %s: request failed: %s", self.config.source, type(e).__name__)
                    answer = _Answer(500, {"data": None, "errors": [_error("INTERNAL", "internal error")]})
                server.attributes["http.response.status_code"] = answer.status
                if answer.status >= 400 or answer.body.get("errors"):
                    codes = [e.get("extensions", {}).get("code", "") for e in answer.body.get("errors", [])]
                    server.attributes["welfare_hub.error_codes"] = ",".join(sorted(set(codes)))
        finally:
            current_trace.reset(reset)
        if request.headers.get("x-welfare-hub-spans") == "1":
            answer.body.setdefault("extensions", {})["spans"] = trace.wire()
        # A body cut off at its deadline leaves the rest of it unread on the connection: close it.
        headers = {"connection": "close"} if answer.status == 408 else None
        return Response(
            orjson.dumps(answer.body), status_code=answer.status, media_type="application/json", headers=headers
        )

    async def _answer(self, request: Request, trace: Trace) -> _Answer:
        try:
            body = await _read_capped(request, self.config.body_timeout)
        except _TooLarge:
            return _Answer(413, {"errors": [_error("BODY_TOO_LARGE", f"at most {MAX_BODY_BYTES} bytes a request")]})
        if body is None:
            limit = f"{self.config.body_timeout:g}"
            return _Answer(408, {"errors": [_error("BODY_TIMEOUT", f"the body did not arrive within {limit} s")]})
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _Answer(400, {"errors": [_error("BAD_REQUEST", "the body is not JSON")]})
        if (
            not isinstance(payload, dict)
            or not isinstance(payload.get("query"), str)
            or not isinstance(payload.get("variables") or {}, dict)
            or not isinstance(payload.get("operationName") or "", str)
        ):
            return _Answer(400, {"errors": [_error("BAD_REQUEST", 'a JSON object {"query", "variables"}')]})

        with trace.span("verify assertion"):
            assertion = await self._verify(request, body)
        if isinstance(assertion, _Answer):
            return assertion
        trace.adopt(request.headers.get("traceparent"))

        allowed = assertion.fields & self.policy.allowed(assertion.purpose)
        try:
            with trace.span("check document"):
                checked = self.checks.check(payload["query"], payload.get("variables"), allowed=allowed)
        except Refused as refused:
            logged = await self._log(self._entry(assertion, (), (), "refused", refused.code), trace)
            if isinstance(logged, _Answer):
                return logged
            return _Answer(200, {"data": None, "errors": [_error(refused.code, refused.message)]}, verified=True)

        subjects = self._subjects(checked)
        logged = await self._log(self._entry(assertion, sorted(checked.coordinates), subjects, "answered", None), trace)
        if isinstance(logged, _Answer):
            return logged
        assert self.source is not None
        assert self.access_log is not None
        ask = Ask(
            purpose=assertion.purpose,
            legal_basis=assertion.legal_basis,
            org=assertion.org,
            org_type=assertion.org_type,
            audit_id=assertion.audit_id,
            selection=_selection(checked.coordinates),
            councils=assertion.councils,
        )
        context = SubgraphRequest(source=self.source, ask=ask)
        with trace.span("execute"):
            result = await self.schema.execute(
                payload["query"],
                variable_values=payload.get("variables"),
                context_value=context,
                operation_name=payload.get("operationName"),
            )
        errors = [self._format(e) for e in result.errors or []]
        failures = {e["extensions"].get("code") for e in errors} & _SOURCE_FAILURES
        if failures:
            with contextlib.suppress(Exception):  # the row already says it was asked; the outcome is a courtesy
                await self.access_log.mark(logged, "failed", sorted(failures)[0])
        out: dict[str, Any] = {"data": result.data}
        if errors:
            out["errors"] = errors
        return _Answer(200, out, verified=True)

    async def _verify(self, request: Request, body: bytes) -> Assertion | _Answer:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        reason = "missing"
        if scheme.lower() == "bearer" and token.strip():
            try:
                return await self.keys.verify(token.strip(), body)
            except InvalidAssertion as e:
                reason = e.reason
        # Logged as refused, without the claims (they did not verify): a forged call is the owner's to see.
        entry = AccessEntry(None, None, None, None, None, None, (), (), "refused", f"assertion {reason}")
        assert self.access_log is not None
        try:
            await self.access_log.write(entry)
        except Exception as e:  # the refusal stands whether or not it could be logged
            log.warning("subgraph %s: a refusal was not logged: %s", self.config.source, type(e).__name__)
        return _Answer(401, {"errors": [_error("ASSERTION_INVALID", f"the purpose assertion is {reason}")]})

    def _entry(self, assertion: Assertion, fields: Any, subjects: Any, outcome: str, reason: str | None) -> AccessEntry:
        return AccessEntry(
            jti=assertion.jti,
            audit_id=assertion.audit_id,
            org=assertion.org,
            org_type=assertion.org_type,
            purpose=assertion.purpose,
            legal_basis=assertion.legal_basis,
            fields=fields,
            subjects=subjects,
            outcome=outcome,
            reason=reason,
        )

    def _subjects(self, checked: CheckedDocument) -> list[str]:
        """Who the question is about, as logged: NINOs as keyed hashes, record ids as they are, a feed as
        the range asked (the arguments are the document's, not yet validated: what is not of the shape is
        skipped, and the schema's validation refuses it next)."""
        assert self.source is not None
        assert self.access_log is not None
        arguments = checked.arguments
        if checked.root == "peopleByNino":
            ninos = arguments.get("ninos")
            found = (check_nino(n).nino for n in ninos if isinstance(n, str)) if isinstance(ninos, list) else ()
            return [self.access_log.subject(("nino", str(n))) for n in found if n is not None]
        if checked.root == "feed":
            after, limit = arguments.get("after"), arguments.get("limit")
            return [
                f"feed:after={after if isinstance(after, str) else ''};limit={limit if isinstance(limit, int) else ''}"
            ]
        if checked.root == "deliverChanges":
            changes = arguments.get("changes")
            refs = (c.get("targetRef") for c in changes if isinstance(c, dict)) if isinstance(changes, list) else ()
            return [f"id:{r}" for r in refs if isinstance(r, str)]
        out: list[str] = []
        for representation in checked.representations:
            try:
                key = representation_key(self.source, representation)
            except BadRepresentation:
                continue
            if key is not None:
                out.append(self.access_log.subject(key))
        return out

    async def _log(self, entry: AccessEntry, trace: Trace) -> int | _Answer:
        """Write the access log row (its id); an answer instead when it must not go on (replayed, not logged)."""
        assert self.access_log is not None
        try:
            with trace.span("access log", "client", **{"db.system.name": "postgresql"}):
                entry_id = await self.access_log.write(entry)
        except Replayed:
            # The second use is logged too (without the id, which the first use holds), and refused.
            again = dataclasses.replace(entry, jti=None, outcome="refused", reason="assertion replayed")
            try:
                await self.access_log.write(again)
            except Exception as e:
                log.warning("subgraph %s: a refusal was not logged: %s", self.config.source, type(e).__name__)
            return _Answer(401, {"errors": [_error("ASSERTION_INVALID", "the purpose assertion was already used")]})
        except Exception as e:
            # Fail closed: a question the owner cannot account for is not answered.
            log.warning("subgraph %s: access log unavailable: %s", self.config.source, type(e).__name__)
            return _Answer(
                503, {"data": None, "errors": [_error("ACCESS_LOG_UNAVAILABLE", "the access log cannot be written")]}
            )
        return entry_id

    def _format(self, error: GraphQLError) -> dict[str, Any]:
        original = error.original_error
        formatted: dict[str, Any] = dict(error.formatted)
        if original is not None and not isinstance(original, GraphQLError | HubError):
            # An unexpected failure's message may quote data: its type is logged, the hub is told INTERNAL.
            log.warning("subgraph %s: resolver failed: %s", self.config.source, type(original).__name__)
            formatted["message"] = "internal error"
            formatted["extensions"] = {"code": "INTERNAL"}
        extensions = formatted.get("extensions") or {}
        if "code" not in extensions:
            extensions = {**extensions, "code": "GRAPHQL_VALIDATION_FAILED" if original is None else "INTERNAL"}
        formatted["extensions"] = extensions
        return formatted


def create_app(config: SubgraphConfig, *, limits: Limits | None = None) -> Starlette:
    """The subgraph's ASGI app; its store and the hub's keys are opened at start-up (lifespan)."""
    assert config.hub_issuer is not None
    subgraph = Subgraph(
        config=config,
        schema=build_schema(config.source),
        policy=load_policy(config.source, config.policy_path),
        keys=HubKeys(issuer=config.hub_issuer, audience=config.source, path=config.jwks_path, url=config.jwks_url),
        limits=limits or Limits(),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await subgraph.start()
        try:
            yield
        finally:
            await subgraph.stop()

    app = Starlette(routes=[Route("/graphql", subgraph.handle, methods=["POST"])], lifespan=lifespan)
    app.state.subgraph = subgraph
    return app
