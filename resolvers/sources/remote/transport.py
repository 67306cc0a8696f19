"""One POST to a source's subgraph: signed, traced, bounded, behind the source's circuit breaker.

Every call carries a fresh purpose assertion (:class:`~resolvers.sources.assertion.AssertionSigner`)
bound to the exact bytes sent, and the W3C trace context of the injected client span. What comes back is
bounded before it is trusted: one deadline over the whole exchange (connect, send, read), a cap on the
answer's size counted after decompression (a small gzip body can inflate to gigabytes), aiohttp's limits
on header size and count, no redirect followed (a subgraph does not send the hub elsewhere, with its
assertion), no cookies kept, no proxy taken from the environment.

Failures are the source's errors (:mod:`hub.errors`), with messages in this module's own words: a
subgraph's body may quote anything, so it is never copied into a message, a log line or a span.

    timeout (any part of the exchange)          SourceTimeout      breaker failure
    connection refused or reset, TLS, protocol  SourceUnavailable  breaker failure
    5xx, another unexpected status, redirect    SourceUnavailable  breaker failure
    not JSON, too large, not the shape asked    SourceUnavailable  breaker failure
    401/403, FIELD_NOT_ALLOWED, ASSERTION_INV.  SourceRefused      the subgraph is up: breaker success
    breaker open                                SourceUnavailable  nothing sent
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
import orjson

from hub.errors import SourceError, SourceRefused, SourceTimeout, SourceUnavailable
from resolvers.sources.assertion import AssertionSigner
from resolvers.sources.base import HttpSpan, HttpSpanLike, RemoteSpans, no_http_span
from resolvers.sources.contract import Ask
from resolvers.sources.remote.breaker import CircuitBreaker
from resolvers.sources.remote.spans import checked_spans, trace_id_of
from resolvers.sources.remote.wire import Malformed, Refusal

__all__ = ["MAX_BODY_BYTES", "SubgraphClient"]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: The largest answer read from a subgraph (decompressed): bounds memory and the JSON parse (~10 ms/MiB).
MAX_BODY_BYTES = 1 << 20
#: How long an idle connection is kept: less than the reference subgraphs' server keeps one (uvicorn's
#: 5 s), so the hub, not the server, closes it. A request sent as the server closes its end fails, and is
#: not retried: its assertion is single-use (a subgraph refuses a replayed jti).
KEEPALIVE_SECONDS = 4.0
_JSON_TYPES = frozenset({"application/json", "application/graphql-response+json"})
_CHUNK = 1 << 16


class _BadStatus(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _sampled(context: Mapping[str, str]) -> bool:
    """Whether the W3C trace context sent says the trace is recorded (the ``sampled`` flag)."""
    flags = context.get("traceparent", "")[-2:]
    try:
        return bool(int(flags, 16) & 1)
    except ValueError:
        return False


class SubgraphClient:
    """The HTTP side of one source: its session, deadline, breaker, assertion and spans."""

    def __init__(
        self,
        source: str,
        url: str,
        *,
        signer: AssertionSigner,
        timeout: float,
        breaker: CircuitBreaker | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_connections: int = 32,
        http_span: HttpSpan = no_http_span,
        remote_spans: RemoteSpans | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query or parts.fragment:
            raise ValueError(f"source {source}: the subgraph URL must be http(s)://host[:port][/path]")
        if timeout <= 0 or max_body_bytes <= 0 or max_connections <= 0:
            raise ValueError(f"source {source}: timeout, body cap and connection limit must be positive")
        self.source = source
        self.url = url.rstrip("/") + "/graphql"
        self.signer = signer
        self.timeout = timeout
        self.breaker = breaker or CircuitBreaker()
        self.max_body_bytes = max_body_bytes
        self.max_connections = max_connections
        self.http_span = http_span
        self.remote_spans = remote_spans
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- the session ----------------------------------------------------------------------------------

    def _session_here(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is not None and not self._session.closed:
            if self._loop is not loop:
                raise RuntimeError(f"source {self.source}: its HTTP session belongs to another event loop")
            return self._session
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=self.max_connections, limit_per_host=self.max_connections, keepalive_timeout=KEEPALIVE_SECONDS
            ),
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            cookie_jar=aiohttp.DummyCookieJar(),  # a subgraph does not get to set state on the hub
            max_line_size=8190,
            max_field_size=8190,
            max_headers=64,
        )
        self._loop = loop
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- one call -------------------------------------------------------------------------------------

    async def call(
        self, document: Mapping[str, Any], *, ask: Ask, fields: Sequence[str], decode: Callable[[Any], T], size: int
    ) -> T:
        """POST ``document`` with an assertion for ``ask`` naming ``fields``; ``decode`` the answer (it raises
        :class:`Malformed` or :class:`Refusal`). ``size``: how many keys or queries it carries (for spans)."""
        body = orjson.dumps(document)
        token = self.signer.mint(audience=self.source, ask=ask, fields=fields, body=body)
        # What the URL says (method, address, port, source) is the span factory's to record: it is given them.
        with self.http_span(self.source, self.url) as span:
            span.set_attribute("welfare_hub.source.batch_size", size)
            span.set_attribute("http.request.body.size", len(body))
            context = span.headers()
            headers = {
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
                **context,
            }
            spans_asked = self.remote_spans is not None and _sampled(context)
            if spans_asked:
                # Only for a trace being recorded: an operator's sampler (OTEL_TRACES_SAMPLER) that drops a
                # trace drops its subgraphs' spans too, rather than have them made, sent and checked.
                headers["x-welfare-hub-spans"] = "1"
            # Admitted just before the try, so that nothing between admission and the verdict can leave a
            # half-open breaker's probe slot taken.
            if not self.breaker.admit():
                span.set_attribute("welfare_hub.source.circuit", "open")
                raise self._fail_fast(span)
            try:
                payload = await self._exchange(body, headers, span)
                result = decode(payload)
            except BaseException as e:
                error = self._verdict(e)
                if error is None:
                    raise
                span.record_error(str(error.extensions["code"]))
                # Chained for the hub's own logs; the messages are this module's words, never the answer's.
                raise error from (e if isinstance(e, aiohttp.ClientError | OSError) else None)
            self.breaker.succeeded()
            if spans_asked:  # spans sent unasked are not kept
                self._keep_spans(payload, context)
            return result

    def _fail_fast(self, span: HttpSpanLike) -> SourceUnavailable:
        error = SourceUnavailable(self.source, f"source {self.source} is unavailable (circuit open)")
        span.record_error(str(error.extensions["code"]))
        return error

    def _verdict(self, e: BaseException) -> SourceError | None:
        """The source error for what ended a call, with the breaker told whether the subgraph is up."""
        name = self.source
        if isinstance(e, SourceError):  # one subject's error failing one of the hub's own questions
            self.breaker.succeeded()
            return e
        if isinstance(e, Refusal):
            self.breaker.succeeded()  # a refusal is an answer: the subgraph is up
            log.info("source %s refused the question: %s", name, e.code)
            return SourceRefused(name, f"source {name} refused the question")
        if not isinstance(e, Exception):
            self.breaker.abandoned()  # cancelled: no verdict on the subgraph
            return None
        self.breaker.failed()
        error: SourceError
        if isinstance(e, TimeoutError):
            error = SourceTimeout(name, f"source {name} did not answer within {self.timeout:g} s")
        elif isinstance(e, _BadStatus):
            error = SourceUnavailable(name, f"source {name} answered HTTP {e.status}")
        elif isinstance(e, Malformed):
            error = SourceUnavailable(name, f"source {name} answered malformed: {e}")
        elif isinstance(e, aiohttp.ClientError | OSError):
            error = SourceUnavailable(name, f"source {name} is unavailable")
        else:  # a decoder bug on a strange answer: nothing of it is used, and it counts against the source
            error = SourceUnavailable(name, f"source {name} answered malformed")
        # The exception's own text may carry the URL or the peer's words: its type only.
        log.warning("%s (%s)", error.message, type(e).__name__)
        return error

    async def _exchange(self, body: bytes, headers: dict[str, str], span: HttpSpanLike) -> Any:
        session = self._session_here()
        async with session.post(self.url, data=body, headers=headers, allow_redirects=False) as response:
            span.set_attribute("http.response.status_code", response.status)
            if response.status in (401, 403):
                raise Refusal("ASSERTION_INVALID")
            if response.status != 200:
                raise _BadStatus(response.status)
            if response.content_type not in _JSON_TYPES:
                raise Malformed("the answer is not JSON")
            raw = await self._read_capped(response)
        span.set_attribute("http.response.body.size", len(raw))
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise Malformed("the answer is not valid JSON") from None

    async def _read_capped(self, response: aiohttp.ClientResponse) -> bytes:
        # aiohttp has no cap of its own (read() and json() take everything): count what arrives,
        # decompressed, and stop past the cap. Leaving the block unread drops the connection.
        cap = self.max_body_bytes
        if response.content_length is not None and response.content_length > cap:
            raise Malformed(f"the answer is larger than {cap} bytes")
        buffer = bytearray()
        async for chunk in response.content.iter_chunked(_CHUNK):
            buffer += chunk
            if len(buffer) > cap:
                raise Malformed(f"the answer is larger than {cap} bytes")
        return bytes(buffer)

    def _keep_spans(self, payload: Any, context: Mapping[str, str]) -> None:
        trace_id = trace_id_of(dict(context))
        extensions = payload.get("extensions") if isinstance(payload, dict) else None
        if trace_id is None or not isinstance(extensions, dict) or "spans" not in extensions:
            return
        spans = checked_spans(extensions["spans"], trace_id)  # only what fits is held past the call
        if not spans or self.remote_spans is None:
            return
        try:
            self.remote_spans(self.source, spans)
        except Exception as e:  # the spans are for the auditor's view: they never fail the answer
            log.warning("source %s: the remote span sink failed: %s", self.source, type(e).__name__)
