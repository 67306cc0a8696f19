"""The auditor console: server-rendered pages (Starlette + Jinja2, no JavaScript) over the audit log.

Every page runs its GraphQL operations through the hub's own schema with the signed-in user as the caller,
so the console is held to exactly what the API allows (purpose AUDIT, auditor organisations) and every page
view is itself in the audit log. Signing in verifies the pasted token as the API does; the token then rides
in an HttpOnly, SameSite=Strict cookie scoped to the console, expiring with the token.

- Filters are sent by POST, never in the address: a subject's NINO would otherwise sit in the browser's
  history, in proxies' logs and in a Referer. "Older events" posts the filters back sealed (AES-GCM under a
  key derived from the hub's key ring, bound to the signed-in user, expiring with the cookie): every filter
  survives paging, and the page holds no NINO in clear, only the empty input the auditor types it into.
- The verification panel says what was verified (through which record, when) and how many records written
  since are not yet checked; it is green only when that is none.
- The console's own page views (its operations ``Console``, ``ConsoleOverview``, ``ConsoleEvent`` under
  purpose AUDIT, answered) stay in the log like any read of it, but the event list hides them unless asked
  ("include the console's own page views"), so they do not bury what an auditor came to see. An auditor's
  API read named like one of them is hidden with them; the checkbox shows both.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import os
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any

import jinja2
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from hub.access.tokens import Caller
from hub.errors import AuthError, HubError, RateLimited
from hub.http import AddressThrottle
from linkage import KeyRing
from resolvers.audit import AuditDecision, events_cursor
from resolvers.context import RequestContext, Services
from resolvers.types import Purpose

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

PAGE = 50  # events a page shows
_SCAN = 500  # events read per query while the console's own views are hidden (the API's largest page)
_SCANS = 3  # queries at most per page: a long run of console views ends a page early, with "Older events"
#: The console's own operations: its page views, hidden from the event list unless asked for.
CONSOLE_OPERATIONS = frozenset({"Console", "ConsoleOverview", "ConsoleEvent"})
#: What the filters offer: the schema's own values (a bookmark with the old lower-case ones still works).
PURPOSES = tuple(p.name for p in Purpose)
DECISIONS = tuple(d.name for d in AuditDecision)

EVENTS = """query Console($since: DateTime, $until: DateTime, $org: String, $purpose: Purpose,
    $decision: AuditDecision, $subject: String, $after: ID, $first: Int!) {
  auditEvents(purpose: AUDIT, since: $since, until: $until, organisation: $org, forPurpose: $purpose,
      decision: $decision, subjectNino: $subject, first: $first, after: $after) {
    items { eventId occurredAt operationName callerOrg purpose decision reasonCodes fieldsReleased }
    nextCursor } }"""
OVERVIEW = """query ConsoleOverview { auditVerification(purpose: AUDIT) { ok verifiedAt records lastEventId
    checkpoints lastCheckpointEventId unsignedRecords problems { kind eventId message } publicKeys { keyId } }
  auditAnomalies(purpose: AUDIT) { kind organisation user count detail firstEventId lastEventId } }"""
EVENT = """query ConsoleEvent($id: ID!) { auditEvent(purpose: AUDIT, eventId: $id) { eventId occurredAt requestId
    operationType operationName callerOrg callerOrgType callerUser purpose legalBasis subjects linkMethod
    linkProbability modelVersion fieldsReleased sourcesRead decision reasonCodes traceId recordHash
    trace { spanId parentSpanId name kind startedAt durationMs status attributes { key value } } } }"""


@dataclass(frozen=True)
class Filters:
    """What the auditor filters the event list by (dates as typed: YYYY-MM-DD; purpose and decision as the
    schema names them, BLUE_BADGE, RELEASED)."""

    organisation: str | None = None
    purpose: str | None = None
    decision: str | None = None
    since: str | None = None
    until: str | None = None
    subject: str | None = None  # a NINO: sent by POST or sealed, hashed by the API, never echoed back
    views: bool = False  # include the console's own page views

    @classmethod
    def of(cls, fields: Mapping[str, str], *, subject: bool = True) -> Filters:
        def field(name: str) -> str | None:
            return (fields.get(name) or "").strip()[:200] or None

        def named(name: str) -> str | None:
            value = field(name)
            return value.upper() if value is not None else None

        return cls(
            organisation=field("organisation"),
            purpose=named("purpose"),
            decision=named("decision"),
            since=field("since"),
            until=field("until"),
            subject=field("subject") if subject else None,
            views=fields.get("views") == "on",
        )

    def variables(self) -> dict[str, Any]:
        return {
            "since": (s := _date(self.since)) and s.isoformat(),
            "until": (u := _date(self.until, end=True)) and u.isoformat(),
            "org": self.organisation,
            "purpose": self.purpose,
            "decision": self.decision,
            "subject": self.subject,
        }


class PageState:
    """Filters and cursor sealed for the "Older events" form: AES-GCM, the signed-in user as associated
    data (another user's state does not open), with an expiry. The key is derived from the hub's key ring
    (its stable secret), so every pod opens what another sealed."""

    def __init__(self, ring: KeyRing) -> None:
        self._aead = AESGCM(bytes.fromhex(ring.stable_hash("console-page-state", "aes-256-gcm-key")))

    def seal(self, caller: Caller, filters: Filters, after: str) -> str:
        body = json.dumps({"f": asdict(filters), "after": after, "exp": int(time.time()) + _COOKIE_SECONDS})
        nonce = os.urandom(12)
        sealed = nonce + self._aead.encrypt(nonce, body.encode(), _bound_to(caller))
        return base64.urlsafe_b64encode(sealed).decode("ascii")

    def open(self, caller: Caller, text: str) -> tuple[Filters, str] | None:
        try:
            raw = base64.urlsafe_b64decode(text.encode("ascii"))
            body = json.loads(self._aead.decrypt(raw[:12], raw[12:], _bound_to(caller)))
            if body["exp"] < time.time():
                return None
            return Filters(**body["f"]), str(body["after"])
        except (InvalidTag, ValueError, KeyError, TypeError, UnicodeEncodeError, binascii.Error):
            return None


_EXPIRED = {"code": "BAD_USER_INPUT", "message": "this page of results has expired (or is not yours): filter again"}


def _bound_to(caller: Caller) -> bytes:
    return json.dumps([caller.org, caller.user]).encode()


def _console_view(event: Mapping[str, Any]) -> bool:
    return (
        event.get("purpose") == "AUDIT"
        and event.get("operationName") in CONSOLE_OPERATIONS
        and event.get("decision") in {AuditDecision.RELEASED.name, AuditDecision.PARTIAL.name}
    )


def _page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _ENV.get_template(f"console/{template}").render(
        {"root": ROOT, "errors": [], "caller": None, "purposes": PURPOSES, "decisions": DECISIONS, **context}
    )
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
    throttle: AddressThrottle | None = None,
    rate_limit: Callable[[Caller], Awaitable[int | None]] | None = None,
) -> list[Route]:
    """The console's routes; ``verify`` turns a token into a caller exactly as the API does (or raises).
    With a ``throttle``, a token not verified lately costs its address a unit first, as at the API's door:
    a flood of bad sign-ins or cookies from one address is answered 429 without signature checks. With a
    ``rate_limit`` (the seconds to wait, or None), each page's queries draw on the caller's user and
    organisation buckets like the API's: the console is no way round them."""

    async def checked(request: Request, token: str) -> Caller:
        """The caller ``token`` names, or AuthError; RateLimited when its address is throttled."""
        if throttle is None:
            return await verify(token)
        return await throttle.admit(request.client.host if request.client else "unknown", token, verify)

    async def caller_of(request: Request) -> Caller | None:
        token = request.cookies.get(COOKIE)
        if not token:
            return None
        try:
            return await checked(request, token)
        except (AuthError, RateLimited):
            return None

    async def run(caller: Caller, query: str, variables: Mapping[str, Any]) -> tuple[dict[str, Any], list[Any]]:
        if rate_limit is not None and (wait := await rate_limit(caller)) is not None:
            limited = RateLimited("user", wait)
            return {}, [{"code": limited.extensions["code"], "message": limited.message}]
        context = RequestContext(services=services(), caller=caller)
        result = await schema.execute(query, variable_values=dict(variables), context_value=context)
        errors = [
            {"code": (e.extensions or {}).get("code", "ERROR"), "message": e.message} for e in (result.errors or [])
        ]
        return result.data or {}, errors

    def signed_out() -> Response:
        return RedirectResponse(f"{ROOT}/login", 303, headers=_HEADERS)

    async def events_page(
        caller: Caller, filters: Filters, after: str | None
    ) -> tuple[list[dict[str, Any]] | None, str | None, list[Any]]:
        """A page of events and the cursor for the next, hiding the console's own views unless asked."""
        variables = filters.variables()
        if filters.views:
            found, errors = await run(caller, EVENTS, {**variables, "after": after, "first": PAGE})
            page = found.get("auditEvents") if found else None
            return (page["items"], page["nextCursor"], errors) if page else (None, None, errors)
        shown: list[dict[str, Any]] = []
        cursor = after
        for _ in range(_SCANS):
            found, errors = await run(caller, EVENTS, {**variables, "after": cursor, "first": _SCAN})
            page = found.get("auditEvents") if found else None
            if page is None:
                return None, None, errors
            events = page["items"]
            for i, e in enumerate(events):
                if _console_view(e):
                    continue
                shown.append(e)
                if len(shown) == PAGE:
                    more = i < len(events) - 1 or page["nextCursor"] is not None
                    # The page ends part way through ours: the cursor after its last event shown.
                    return shown, events_cursor(e["eventId"]) if more else None, []
            cursor = page["nextCursor"]
            if cursor is None:
                break
        return shown, cursor, []

    async def verification_panel(caller: Caller) -> tuple[dict[str, Any] | None, list[Any], list[Any]]:
        """The verification with what it has not checked: records written after the one it verified
        through, up to the log's head as it stood before this page's own reads were recorded."""
        log = services().audit_log
        try:
            head: int | None = await log.head()
        except HubError:
            head = None
        overview, errors = await run(caller, OVERVIEW, {})
        verification = (overview or {}).get("auditVerification")
        if verification is None:
            return None, [], errors
        through = int(verification["lastEventId"] or 0)
        unchecked: int | None = None
        if head is not None:
            try:
                unchecked = await log.count_between(through, head)
            except HubError:
                unchecked = None
        state = "bad" if not verification["ok"] else ("ok" if unchecked == 0 else "stale")
        panel = dict(verification, unchecked=unchecked, head=head, through=through, state=state)
        return panel, (overview or {}).get("auditAnomalies") or [], errors

    async def index(request: Request) -> Response:
        caller = await caller_of(request)
        if caller is None:
            return signed_out()
        notes: list[dict[str, str]] = []
        after: str | None = None
        if request.method == "POST":
            body = await request.body()
            if len(body) > _MAX_FORM:
                return _page("login.html", 413, errors=[{"code": "BAD_REQUEST", "message": "the form is too large"}])
            form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace")).items()}
            if "state" in form:
                opened = PageState(services().key_ring).open(caller, form["state"])
                if opened is None:
                    # Never fall back to a page without the filters: it would show other people's events.
                    return _page(
                        "index.html",
                        400,
                        caller=caller,
                        errors=[_EXPIRED],
                        verification=None,
                        anomalies=[],
                        events=None,
                        older_state=None,
                        filters=Filters(),
                    )
                filters, after = opened
            else:
                filters = Filters.of(form)
        else:
            # Bookmarkable filters by address, except a subject: a NINO never goes in a URL.
            filters = Filters.of(request.query_params, subject=False)
            if request.query_params.get("subject"):
                notes.append(
                    {
                        "code": "BAD_USER_INPUT",
                        "message": "a subject is never filtered by address (it would keep the NINO in URLs and "
                        "logs): enter it in the form",
                    }
                )
        verification, anomalies, errors = await verification_panel(caller)
        events, next_cursor, more_errors = await events_page(caller, filters, after)
        return _page(
            "index.html",
            caller=caller,
            errors=notes + errors + more_errors,
            verification=verification,
            anomalies=anomalies,
            events=events,
            older_state=PageState(services().key_ring).seal(caller, filters, next_cursor) if next_cursor else None,
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
            await checked(request, token)
        except AuthError as e:
            return _page("login.html", 401, errors=[{"code": e.extensions["code"], "message": e.message}])
        except RateLimited as e:
            return _page("login.html", 429, errors=[{"code": e.extensions["code"], "message": e.message}])
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
        Route(ROOT, index, methods=["GET", "POST"]),
        Route(f"{ROOT}/login", login, methods=["GET", "POST"]),
        Route(f"{ROOT}/logout", logout, methods=["POST"]),
        Route(f"{ROOT}/events/{{event_id:int}}", event),
        Route(f"{ROOT}/style.css", style),
    ]
