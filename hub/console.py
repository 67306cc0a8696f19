"""The auditor console: server-rendered pages (Starlette + Jinja2, no JavaScript) over the audit log.

Every page runs its GraphQL operations through the hub's own schema with the signed-in user as the caller,
so the console is held to exactly what the API allows (purpose AUDIT, auditor organisations) and every page
view is itself in the audit log. Signing in verifies the pasted token as the API does; the token then rides
in an HttpOnly, SameSite=Strict cookie scoped to the console, expiring with the token.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from importlib import resources
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from hub.access.tokens import Caller
from hub.errors import AuthError
from resolvers.context import RequestContext, Services

__all__ = ["console_routes"]

ROOT = "/audit/console"
COOKIE = "wh_console"
_MAX_FORM = 16_384
_COOKIE_SECONDS = 8 * 3600  # a working day at most; the token's own expiry ends it sooner
_HEADERS = {
    # No script at all; styles from the console's own stylesheet; nothing framed, nothing sent elsewhere.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("hub", "templates"), autoescape=True, undefined=jinja2.StrictUndefined
)

EVENTS = """query Console($since: DateTime, $until: DateTime, $org: String, $purpose: String, $decision: String,
    $subject: String, $after: ID) {
  auditEvents(purpose: AUDIT, since: $since, until: $until, organisation: $org, forPurpose: $purpose,
      decision: $decision, subjectNino: $subject, first: 50, after: $after) {
    events { eventId occurredAt callerOrg purpose decision reasonCodes fieldsReleased }
    nextCursor } }"""
OVERVIEW = """query ConsoleOverview { auditVerification(purpose: AUDIT) { ok verifiedAt records lastEventId
    checkpoints lastCheckpointEventId unsignedRecords problems { kind eventId message } publicKeys { keyId } }
  auditAnomalies(purpose: AUDIT) { kind organisation user count detail firstEventId lastEventId } }"""
EVENT = """query ConsoleEvent($id: ID!) { auditEvent(purpose: AUDIT, eventId: $id) { eventId occurredAt requestId
    operationType operationName callerOrg callerOrgType callerUser purpose legalBasis subjects linkMethod
    linkProbability modelVersion fieldsReleased sourcesRead decision reasonCodes traceId recordHash
    trace { spanId parentSpanId name kind startedAt durationMs status attributes { key value } } } }"""


def _page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _ENV.get_template(f"console/{template}").render({"root": ROOT, "errors": [], "caller": None, **context})
    return HTMLResponse(html, status, headers=_HEADERS)


def _date(text: str | None, *, end: bool = False) -> dt.datetime | None:
    if not text:
        return None
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        return None
    at = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return at + dt.timedelta(days=1) if end else at


def _waterfall(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Bars for the trace: each span's offset and width as a share of the whole trace, children under
    their parents."""
    if not spans:
        return []
    starts = {s["spanId"]: dt.datetime.fromisoformat(s["startedAt"]) for s in spans}
    begin = min(starts.values())
    end = max(starts[s["spanId"]] + dt.timedelta(milliseconds=s["durationMs"]) for s in spans)
    total = max((end - begin).total_seconds() * 1000, 0.001)
    children: dict[str | None, list[dict[str, Any]]] = {}
    ids = set(starts)
    for s in spans:
        parent = s["parentSpanId"] if s["parentSpanId"] in ids else None
        children.setdefault(parent, []).append(s)
    bars: list[dict[str, Any]] = []

    def walk(parent: str | None, depth: int) -> None:
        for s in sorted(children.get(parent, []), key=lambda x: starts[x["spanId"]]):
            offset = (starts[s["spanId"]] - begin).total_seconds() * 1000
            bars.append(
                {
                    "name": s["name"],
                    "kind": s["kind"],
                    "status": s["status"],
                    "indent": "\u00a0\u00a0" * depth,
                    "offset": 100 * offset / total,
                    "width": 100 * s["durationMs"] / total,
                    "ms": s["durationMs"],
                    "attributes": s["attributes"],
                }
            )
            walk(s["spanId"], depth + 1)

    walk(None, 0)
    return bars


def console_routes(
    *,
    services: Callable[[], Services],
    schema: Any,
    verify: Callable[[str], Awaitable[Caller]],
    secure_cookie: bool,
) -> list[Route]:
    """The console's routes; ``verify`` turns a token into a caller exactly as the API does (or raises)."""

    async def caller_of(request: Request) -> Caller | None:
        token = request.cookies.get(COOKIE)
        if not token:
            return None
        try:
            return await verify(token)
        except AuthError:
            return None

    async def run(caller: Caller, query: str, variables: Mapping[str, Any]) -> tuple[dict[str, Any], list[Any]]:
        context = RequestContext(services=services(), caller=caller)
        result = await schema.execute(query, variable_values=dict(variables), context_value=context)
        errors = [
            {"code": (e.extensions or {}).get("code", "ERROR"), "message": e.message} for e in (result.errors or [])
        ]
        return result.data or {}, errors

    def signed_out() -> Response:
        return RedirectResponse(f"{ROOT}/login", 303, headers=_HEADERS)

    async def index(request: Request) -> Response:
        caller = await caller_of(request)
        if caller is None:
            return signed_out()
        q = request.query_params
        filters = {
            "organisation": q.get("organisation") or None,
            "purpose": q.get("purpose") or None,
            "decision": q.get("decision") or None,
            "since_text": q.get("since") or None,
            "until_text": q.get("until") or None,
        }
        variables = {
            "since": (s := _date(q.get("since"))) and s.isoformat(),
            "until": (u := _date(q.get("until"), end=True)) and u.isoformat(),
            "org": filters["organisation"],
            "purpose": filters["purpose"],
            "decision": filters["decision"],
            "subject": q.get("subject") or None,  # hashed by the API on the way in; never echoed back
            "after": q.get("after") or None,
        }
        overview, errors = await run(caller, OVERVIEW, {})
        found, more_errors = await run(caller, EVENTS, variables)
        page = found.get("auditEvents") if found else None
        older = None
        if page and page["nextCursor"]:
            kept = {k: v for k, v in q.items() if k not in {"after", "subject"} and v}
            older = f"{ROOT}?" + urllib.parse.urlencode({**kept, "after": page["nextCursor"]})
        return _page(
            "index.html",
            caller=caller,
            errors=errors + more_errors,
            verification=(overview or {}).get("auditVerification"),
            anomalies=(overview or {}).get("auditAnomalies") or [],
            events=page["events"] if page else None,
            next_cursor=page["nextCursor"] if page else None,
            older_url=older,
            filters=filters,
        )

    async def event(request: Request) -> Response:
        caller = await caller_of(request)
        if caller is None:
            return signed_out()
        found, errors = await run(caller, EVENT, {"id": request.path_params["event_id"]})
        record = found.get("auditEvent") if found else None
        spans = record["trace"] if record else []
        return _page(
            "event.html",
            404 if record is None and not errors else 200,
            caller=caller,
            errors=errors,
            event=record,
            waterfall=_waterfall(spans),
        )

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return _page("login.html")
        body = await request.body()
        if len(body) > _MAX_FORM:
            return _page("login.html", 413, errors=[{"code": "BAD_REQUEST", "message": "the form is too large"}])
        token = (urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("token") or [""])[0].strip()
        try:
            await verify(token)
        except AuthError as e:
            return _page("login.html", 401, errors=[{"code": e.extensions["code"], "message": e.message}])
        response = RedirectResponse(ROOT, 303, headers=_HEADERS)
        # Each page verifies the token again (signature, expiry, audience, issuer): the cookie only carries it.
        response.set_cookie(
            COOKIE, token, max_age=_COOKIE_SECONDS, path=ROOT, httponly=True, secure=secure_cookie, samesite="strict"
        )
        return response

    async def logout(request: Request) -> Response:
        response = RedirectResponse(f"{ROOT}/login", 303, headers=_HEADERS)
        response.delete_cookie(COOKIE, path=ROOT, httponly=True, secure=secure_cookie, samesite="strict")
        return response

    async def style(request: Request) -> Response:
        css = resources.files("hub").joinpath("templates/console/style.css").read_text()
        return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})

    return [
        Route(ROOT, index),
        Route(f"{ROOT}/login", login, methods=["GET", "POST"]),
        Route(f"{ROOT}/logout", logout, methods=["POST"]),
        Route(f"{ROOT}/events/{{event_id:int}}", event),
        Route(f"{ROOT}/style.css", style),
    ]
