"""A subgraph on real HTTP (aiohttp.web on loopback, in a thread with its own event loop), for testing the
hub's side of the wire before the reference subgraphs exist on this branch.

It answers as the contract says a subgraph does: it verifies the purpose assertion against the exact
body it received (AssertionVerifier), refuses a document that names a field the assertion does not, or
that its own policy withholds from the purpose (FIELD_NOT_ALLOWED), and answers ``_entities`` from full
records through the contract's own ``answer`` (scope, derived answers, projection), rendering only the
fields the document selects. Every request is recorded as received (raw bytes, headers, the fields
its document names), so tests can prove what crossed the wire.

It can also misbehave, on demand (``misbehave``): the faults a real subgraph, or whatever answers in its
place, shows.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import gzip
import socket
import struct
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import web
from graphql import FieldNode, InlineFragmentNode, OperationDefinitionNode, SelectionSetNode, parse

from resolvers.sources.assertion import Assertion, AssertionVerifier, InvalidAssertion
from resolvers.sources.contract import CONTRACT_FIELDS, ENTITIES, Ask, answer

#: The marker a misbehaving answer carries: no error message or log line may ever repeat it.
LEAK = "ZZ999999Z-leak-marker"


@dataclass
class Held:
    """One record a fake source holds: the full record, and its answers to the hub's own questions."""

    record: Any
    own: dict[str, Any]  # recordId, nino, councils, postcodeDistricts, recordIds, homeKeys, openClaims


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]
    assertion: Assertion | None
    fields: set[str]  # the Type.field coordinates the document names
    peer: tuple[str, int] | None


def _attribute(name: str) -> str:
    return "held_address" if name == "address" else "".join("_" + c.lower() if c.isupper() else c for c in name)


def _scalar(v: Any) -> Any:
    if isinstance(v, enum.Enum):
        return v.name
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return str(v)
    return v


def _render(value: Any, type_name: str, selection: SelectionSetNode | None, own: Mapping[str, Any]) -> Any:
    if value is None:
        return None
    if isinstance(value, tuple | list):
        return [_render(v, type_name, selection, own) for v in value]
    if selection is None:
        return _scalar(value)
    out: dict[str, Any] = {}
    for node in selection.selections:
        assert isinstance(node, FieldNode)
        name = node.name.value
        if name == "__typename":
            out[name] = type_name
            continue
        child = CONTRACT_FIELDS[type_name][name]
        if isinstance(value, dict):
            raw = value.get(name)
        elif name in own:
            raw = own[name]
        else:
            raw = getattr(value, _attribute(name))
        out[name] = _render(raw, child or "", node.selection_set, {}) if child else _scalar(raw)
    return out


def _fields(selection: SelectionSetNode, type_name: str, into: set[str]) -> None:
    for node in selection.selections:
        if isinstance(node, InlineFragmentNode):
            assert node.type_condition is not None
            _fields(node.selection_set, node.type_condition.name.value, into)
            continue
        assert isinstance(node, FieldNode)
        if node.name.value == "__typename":
            continue
        into.add(f"{type_name}.{node.name.value}")
        if node.selection_set is not None:
            child = CONTRACT_FIELDS.get(type_name, {}).get(node.name.value)
            _fields(node.selection_set, child or "Candidate", into)


@dataclass
class FakeSubgraph:
    source: str
    verifier: AssertionVerifier
    held: dict[tuple[str, str], Held] = field(default_factory=dict)
    #: Coordinates the subgraph's own policy withholds, per purpose (defence in depth at the data owner).
    withheld: dict[str, set[str]] = field(default_factory=dict)
    #: (query index, BlockingQuery) -> the candidates to answer (full Candidate objects but ``query``).
    candidates: Callable[[int, dict[str, Any]], list[dict[str, Any]]] = lambda i, q: []
    misbehave: str | None = None
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    extensions: dict[str, Any] | None = None

    @property
    def entity(self) -> str:
        return ENTITIES[self.source]

    def hold(self, record: Any, **own: Any) -> None:
        held = Held(record, own)
        self.held[("id", own["recordId"])] = held
        if own.get("nino"):
            self.held[("nino", own["nino"])] = held

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        peer = request.transport.get_extra_info("peername") if request.transport else None
        try:
            assertion: Assertion | None = self.verifier.verify(token, body)
        except InvalidAssertion:
            assertion = None
        document = orjson.loads(body)
        op = parse(document["query"]).definitions[0]
        assert isinstance(op, OperationDefinitionNode)
        coordinates: set[str] = set()
        _fields(op.selection_set, "Query", coordinates)
        coordinates.discard("Query._entities")
        self.received.append(Received(body, dict(request.headers), assertion, coordinates, peer))
        if self.delay:
            await asyncio.sleep(self.delay)
        fault = await self._fault(request)
        if fault is not None:
            return fault
        if assertion is None:
            return _json({"errors": [{"message": "invalid", "extensions": {"code": "ASSERTION_INVALID"}}]}, 401)
        refused = coordinates - assertion.fields | (coordinates & self.withheld.get(assertion.purpose, set()))
        if refused:
            return _json({"data": None, "errors": [{"message": "no", "extensions": {"code": "FIELD_NOT_ALLOWED"}}]})
        root = op.selection_set.selections[0]
        assert isinstance(root, FieldNode)
        if root.name.value == "candidates":
            answer_ = self._candidates(document["variables"]["q"], root.selection_set)
        else:
            answer_ = self._entities(document["variables"]["r"], root.selection_set, assertion)
        if self.extensions is not None:
            answer_["extensions"] = self.extensions
        return self._spoil(answer_)

    def _entities(self, reps: list[dict[str, str]], selection: Any, assertion: Assertion) -> dict[str, Any]:
        fragment = next(s for s in selection.selections if isinstance(s, InlineFragmentNode))
        ask = Ask(
            purpose=assertion.purpose,
            legal_basis=assertion.legal_basis,
            org=assertion.org,
            org_type=assertion.org_type,
            audit_id=assertion.audit_id,
            selection=_selection(fragment.selection_set, self.entity),
            councils=assertion.councils,
        )
        items: list[Any] = []
        errors: list[dict[str, Any]] = []
        for i, rep in enumerate(reps):
            kind, value = ("nino", rep["nino"]) if "nino" in rep else ("id", rep["recordId"])
            held = self.held.get((kind, value))
            scoped = None if held is None else answer(self.source, [held.record], ask)[0]
            if held is None or scoped is None:
                items.append(None)
                continue
            # The key fields echo the representation (as the reference subgraphs do): the other key is null.
            own = {**held.own, "nino": value if kind == "nino" else None, "recordId": value if kind == "id" else None}
            item = {"__typename": self.entity, **_render(scoped, self.entity, fragment.selection_set, own)}
            if getattr(scoped, "address_protected", None) and "address" in item:
                item["address"] = None
                errors.append(
                    {
                        "message": "protected",
                        "path": ["_entities", i, "address"],
                        "extensions": {"code": "ADDRESS_PROTECTED"},
                    }
                )
            items.append(item)
        out: dict[str, Any] = {"data": {"_entities": items}}
        if errors:
            out["errors"] = errors
        return out

    def _candidates(self, queries: list[dict[str, Any]], selection: Any) -> dict[str, Any]:
        wanted = [s.name.value for s in selection.selections]
        found = [{**c, "query": i} for i, q in enumerate(queries) for c in self.candidates(i, q)]
        return {"data": {"candidates": [{k: c.get(k) for k in wanted} for c in found]}}

    async def _fault(self, request: web.Request) -> web.StreamResponse | None:
        mode = self.misbehave
        if mode == "status_500":
            return web.Response(status=500, text=f"boom {LEAK}")
        if mode == "status_503_json":
            return _json({"errors": [{"message": LEAK}]}, 503)
        if mode == "status_403":
            return web.Response(status=403, text=LEAK)
        if mode == "redirect":
            return web.Response(status=307, headers={"Location": "http://127.0.0.1:9/graphql"})
        if mode == "html":
            return web.Response(status=200, text=f"<html>{LEAK}</html>", content_type="text/html")
        if mode == "not_json":
            return web.Response(
                status=200, body=b'{"data": {"_entities": [' + LEAK.encode(), content_type="application/json"
            )
        if mode == "huge":
            return web.Response(
                status=200, body=b'{"data":' + b" " * (5 << 20) + b"null}", content_type="application/json"
            )
        if mode == "huge_chunked":
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            await response.prepare(request)
            await response.write(b'{"data":')
            for _ in range(96):
                await response.write(b" " * 65536)
            await response.write_eof(b"null}")
            return response
        if mode == "gzip_bomb":
            bomb = gzip.compress(b'{"data":' + b" " * (50 << 20) + b"null}", compresslevel=9)
            return web.Response(
                status=200, body=bomb, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}
            )
        if mode == "drip":
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            await response.prepare(request)
            for _ in range(100):
                await response.write(b" ")
                await asyncio.sleep(0.1)
            return response
        if mode == "reset":
            sock: socket.socket | None = request.transport.get_extra_info("socket") if request.transport else None
            if sock is not None:  # close with RST, not FIN: what a crashed peer or a middlebox looks like
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            assert request.transport is not None
            request.transport.abort()
            raise asyncio.CancelledError
        if mode == "data_null":
            return _json({"data": None, "errors": [{"message": LEAK}]})
        if mode == "refuse_401":
            return _json({"errors": [{"message": LEAK, "extensions": {"code": "ASSERTION_INVALID"}}]}, 401)
        return None

    def _spoil(self, answer_: dict[str, Any]) -> web.Response:
        """The well-formed answer, spoilt as ``misbehave`` says."""
        mode = self.misbehave
        items = (answer_.get("data") or {}).get("_entities")
        if mode == "wrong_count" and items is not None:
            items.append(None)
        elif mode == "wrong_order" and items is not None:
            items.reverse()
        elif mode == "wrong_typename" and items:
            items[0]["__typename"] = "SomethingElse"
        elif mode == "extra_field" and items:
            items[0][LEAK] = "extra"
        elif mode == "nested_extra" and items:
            first = next(v for v in items[0].values() if isinstance(v, dict))
            first["smuggled"] = LEAK
        elif mode == "bad_date" and items:
            items[0]["dateOfBirth"] = LEAK
        elif mode == "bad_enum" and items:
            items[0]["awardsInPayment"][0]["benefit"] = LEAK
        elif mode == "slot_error" and items:
            items[1] = None
            answer_.setdefault("errors", []).append(
                {"message": LEAK, "path": ["_entities", 1], "extensions": {"code": "INTERNAL"}}
            )
        elif mode == "slot_refusal" and items:
            answer_.setdefault("errors", []).append(
                {"message": LEAK, "path": ["_entities", 0], "extensions": {"code": "FIELD_NOT_ALLOWED"}}
            )
        elif mode == "error_no_path":
            answer_.setdefault("errors", []).append({"message": LEAK})
        elif mode == "error_out_of_range" and items is not None:
            answer_.setdefault("errors", []).append({"message": LEAK, "path": ["_entities", len(items)]})
        elif mode == "candidate_out_of_range":
            answer_["data"]["candidates"].append({**answer_["data"]["candidates"][0], "query": 10_000})
        return _json(answer_)


def _selection(selection: SelectionSetNode, type_name: str) -> dict[str, frozenset[str]]:
    found: dict[str, set[str]] = {}
    coordinates: set[str] = set()
    _fields(selection, type_name, coordinates)
    for c in coordinates:
        t, _, f = c.partition(".")
        found.setdefault(t, set()).add(f)
    return {t: frozenset(fs) for t, fs in found.items()}


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(payload), content_type="application/json")


class Serving:
    """aiohttp.web serving ``handle`` on loopback from its own thread and event loop."""

    def __init__(self, handle: Callable[[web.Request], Any], *, keepalive_timeout: float = 75.0) -> None:
        self._handle = handle
        self._keepalive = keepalive_timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    def __enter__(self) -> Serving:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _start(self) -> None:
        app = web.Application(client_max_size=4 << 20)
        app.router.add_post("/graphql", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, keepalive_timeout=self._keepalive)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


__all__ = ["LEAK", "FakeSubgraph", "Held", "Received", "Serving"]
